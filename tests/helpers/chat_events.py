"""Write events straight into `chat_events` (e.g. with an old created_at), as the ledger would."""

import uuid
from datetime import UTC, datetime, timedelta

from databases import Database

from chatledger.domain.commands import Actor
from chatledger.domain.events import Event
from chatledger.domain.wire import encode_event
from chatledger.ledger.event_rows import event_to_row


def message(chat: str, seq: int, actor: Actor, text: str, *, age_s: float = 0.0) -> Event:
    return Event(
        event_id=str(uuid.uuid4()),
        command_id=str(uuid.uuid4()),
        stream=chat,
        seq=seq,
        type="message",
        actor=actor,
        is_public=True,
        amount=None,
        created_at=datetime.now(UTC) - timedelta(seconds=age_s),
        payload={"message": text, "to": None},
    )


async def insert(db: Database, events: list[Event]) -> list[bytes]:
    """Append `events` and move their streams' versions on; returns their wire bytes."""
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        await cur.executemany(
            "INSERT INTO chat_events (event_id, command_id, stream, seq, type, actor_uuid,"
            " actor_role, actor_name, is_public, amount, payload, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [event_to_row(event) for event in events],
        )
        versions: dict[str, int] = {}
        for event in events:
            versions[event.stream] = max(versions.get(event.stream, 0), event.seq)
        await cur.executemany(
            "INSERT INTO streams (stream, version) VALUES (%s, %s)"
            " ON DUPLICATE KEY UPDATE version = GREATEST(version, VALUES(version))",
            list(versions.items()),
        )
        await connection.raw_connection.commit()
    return [encode_event(event) for event in events]
