"""The tests' port picker: processes launched together must not be given the same port."""

from pathlib import Path

import pytest

from tests.helpers.service import PORTS, free_port, port_slice


def test_free_port_never_hands_out_a_port_twice() -> None:
    ports = [free_port() for _ in range(2000)]  # bind(0) alone repeated ~130 of 2,000 here
    assert len(set(ports)) == len(ports)


def test_free_port_stays_below_the_range_outgoing_connections_take_ports_from() -> None:
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    assert all(free_port() < int(ephemeral[0]) for _ in range(200))


def test_each_worker_draws_from_a_slice_no_other_worker_draws_from() -> None:
    slices = [set(port_slice(f"gw{n}", 3)) for n in range(3)]
    assert all(len(one) >= 1000 for one in slices)
    assert not slices[0] & slices[1] and not slices[1] & slices[2] and not slices[0] & slices[2]
    assert set().union(*slices) <= set(PORTS)
    assert set(port_slice("", 1)) == set(PORTS)


def test_free_port_draws_from_its_own_workers_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw2")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    assert all(free_port() in port_slice("gw2", 3) for _ in range(50))
