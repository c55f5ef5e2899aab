"""Where processes listen: a shared API port, an own ops port, file_sd target files."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chatledger.platform.config import Settings
from chatledger.platform.listen import bind, forget_dead_targets, target_body, target_file


def test_two_public_processes_share_the_api_port_and_each_has_its_own_ops_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(http_port=port, ops_port=0)
    first, second = bind(settings, ["api"]), bind(settings, ["api", "gateway"])
    try:
        assert first.public == second.public == f"127.0.0.1:{port}"
        assert first.ops != second.ops and not first.ops.endswith(f":{port}")
    finally:
        for sock in first.sockets + second.sockets:
            sock.close()


def test_a_back_end_process_binds_only_its_ops_port() -> None:
    listeners = bind(Settings(http_port=1, ops_port=0), ["ledger", "history"])  # 1: never bound
    try:
        assert listeners.public is None and len(listeners.sockets) == 1
    finally:
        listeners.sockets[0].close()


def test_a_fixed_ops_port_cannot_be_shared() -> None:
    first = bind(Settings(ops_port=0), ["ledger"])
    taken = int(first.ops.rsplit(":", 1)[1])
    try:
        with pytest.raises(OSError):
            bind(Settings(ops_port=taken), ["ledger"])
    finally:
        first.sockets[0].close()


def test_a_target_file_names_the_process_and_its_roles() -> None:
    [entry] = json.loads(target_body("host:9100", ["ledger", "history"], "p."))
    assert entry["targets"] == ["host:9100"]
    assert entry["labels"] == {"job": "chatledger", "roles": "history,ledger",
                               "pid": str(os.getpid()), "prefix": "p."}


def test_files_of_dead_processes_are_forgotten_the_living_kept(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine, gone = target_file(tmp_path, os.getpid()), target_file(tmp_path, dead.pid)
    mine.write_text("[]")
    gone.write_text("[]")
    assert forget_dead_targets(tmp_path) == [gone]
    assert mine.exists() and not gone.exists()
