"""`chatledger serve` told to stop while it is still starting (a role waiting for a broker that
does not answer) closes what had started, as a stop after the start does, and exits 0."""

import uuid

from chatledger.platform.config import Settings
from tests.helpers.service import free_port, launch, stop
from tests.helpers.wait import at_once, eventually


async def test_a_stop_while_waiting_for_the_broker_closes_what_had_started(
    migrated: Settings,
) -> None:
    nobody = free_port()  # nothing listens there: the process retries the broker
    env = {"CHATLEDGER_KAFKA_BOOTSTRAP": f"127.0.0.1:{nobody}",
           "CHATLEDGER_PREFIX": f"{migrated.prefix}stop{uuid.uuid4().hex[:6]}."}
    service = launch(migrated, "api", env)
    try:
        # The MySQL pool is open (the first context), the producer's is still retrying.
        await eventually(lambda: at_once(service.log()),
                         until=lambda log: "Connected to database" in log
                         and "broker failed (attempt" in log,
                         timeout=120, what="the process started and retrying the broker")
    finally:
        stop(service.process)
    log = service.log()
    assert service.process.returncode == 0, log[-2000:]
    assert "Disconnected from database" in log  # the pool was closed by its own context
    assert "asynchronous generator" not in log, log[-2000:]
