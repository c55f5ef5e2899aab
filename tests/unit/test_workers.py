"""Which roles each `serve --workers N` process runs."""

import pytest

from chatledger.platform.workers import WorkerPlanError, exit_code, worker_roles


def test_api_and_gateway_run_in_every_worker_ledger_and_history_in_the_first_only() -> None:
    assert worker_roles(["api", "gateway", "ledger", "history"], 3, 8080) == [
        ["api", "gateway", "ledger", "history"],
        ["api", "gateway"],
        ["api", "gateway"],
    ]
    assert worker_roles(["ledger", "api"], 2, 8080) == [["ledger", "api"], ["api"]]
    assert worker_roles(["ledger"], 1, 8080) == [["ledger"]]


@pytest.mark.parametrize(
    ("roles", "workers", "port"),
    [(["ledger", "history"], 2, 8080), (["api"], 0, 8080), (["api"], 2, 0)],
)
def test_plans_that_cannot_work_are_refused(roles: list[str], workers: int, port: int) -> None:
    with pytest.raises(WorkerPlanError):
        worker_roles(roles, workers, port)


def test_a_worker_s_end_becomes_a_failing_exit_status() -> None:
    assert exit_code(-9) == 137 and exit_code(3) == 3 and exit_code(0) == 1
