"""Publishing what a writer outside the ledger's consume loop appended (the CLI's deposit, payout).

DESIGN §6: every row of `chat_events` reaches `chat.events`, whoever wrote it. A model's deposit
or payout takes a seq in the model's stream, i.e. its chat: unpublished, every consumer of the
chat would see the seq jump. So the writer publishes its events after its commit, in seq order
(one producer, sends awaited in order, keyed by stream like the ledger's), waiting for the broker
at most `command_timeout_s`. If the broker stays away the rows are still committed (the money
moved): the consumers fill the gap from MySQL at the chat's next event (`readmodels.gap_fill`),
and a broker that lost acknowledged records is healed by the relay (`ledger/relay.py`).
"""

import logging
from collections.abc import Sequence

from chatledger.bus.kafka import BusUnavailable, start_producer
from chatledger.domain.events import Event
from chatledger.ledger.worker import publish
from chatledger.platform.config import Settings
from chatledger.platform.retrying import UNAVAILABLE, until_available

log = logging.getLogger(__name__)


async def publish_written(settings: Settings, events: Sequence[Event]) -> bool:
    """Publish `events` (committed already) to the events topic; False if the broker did not
    acknowledge them in time (logged: the rows stay, the consumers fill the gap)."""
    if not events:
        return True
    deadline = settings.command_timeout_s
    try:
        producer = await start_producer(settings, deadline_s=deadline)
    except BusUnavailable as exc:
        return _unpublished(events, exc)
    try:
        await until_available(lambda: publish(producer, settings.events_topic, events),
                              what="publish", deadline_s=deadline)
        return True
    except UNAVAILABLE as exc:
        return _unpublished(events, exc)
    finally:
        await producer.stop()


def _unpublished(events: Sequence[Event], exc: BaseException) -> bool:
    log.warning("events committed but not published: %r", exc,
                extra={"event_ids": [event.event_id for event in events]})
    return False
