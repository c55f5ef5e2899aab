"""The ledger's stage stamps (only when tracing: `platform.stages.ON`), kept out of its hot path.

Each command's stamps (the API's, from its record's header, then the ledger's own) are copied
into the wire form of every event it produced, with the moment the publish began.
"""

from collections.abc import Mapping, Sequence

import orjson
from aiokafka import ConsumerRecord

from chatledger.domain.events import Event
from chatledger.domain.wire import encode_event
from chatledger.platform import stages

Stamps = dict[str, dict[str, float]]  # command id -> stage -> time.time()


def command_stamps(
    records: Sequence[ConsumerRecord[bytes, bytes]], ledger: Mapping[str, float | None]
) -> Stamps:
    """Per command id: its record's stamps plus the batch's `ledger` ones."""
    own = {stage: at for stage, at in ledger.items() if at is not None}
    stamps: Stamps = {}
    for record in records:
        try:
            command_id = orjson.loads(record.value)["command_id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue  # the worker logs undecodable commands
        stamps[command_id] = {**stages.from_headers(record.headers), **own}
    return stamps


def stamped(events: Sequence[Event], stamps: Stamps) -> list[bytes]:
    """The events' wire forms (`worker.publish`'s), each carrying its command's stamps."""
    published = stages.now()
    return [
        stages.splice(encode_event(event),
                      {**stamps.get(event.command_id, {}), "ledger_published": published})
        for event in events
    ]
