"""Reading `chat_events` back: the MySQL side of history, of websocket recovery and of gap fills.

A deleted message (its id in `deleted_messages`, written in the transaction that appended its
`message_deleted`) is never read back: history and a `since` replay leave it out alike.
"""

from datetime import datetime
from typing import Any

from databases import Database

from chatledger.domain import events as ev
from chatledger.domain.wire import event_to_wire
from chatledger.ledger.event_rows import EVENT_COLUMNS, row_to_event

_CHAT_TYPES = ", ".join(f"'{name}'" for name in sorted(ev.CHAT_TYPES))


async def chat_events_after(
    db: Database, chat: str, after_seq: int, limit: int = 1000
) -> list[dict[str, Any]]:
    """Chat events with seq > after_seq, oldest first, in wire form (all visibilities)."""
    return await _chat_events(db, "seq > %s", chat, (after_seq,), limit)


async def chat_events_between(
    db: Database, chat: str, after_seq: int, before_seq: int
) -> list[dict[str, Any]]:
    """Chat events with after_seq < seq < before_seq, oldest first: a consumer's gap, in one
    query (a gap holds at most before_seq - after_seq - 1 rows)."""
    limit = max(before_seq - after_seq - 1, 0)
    if not limit:
        return []
    return await _chat_events(db, "seq > %s AND seq < %s", chat, (after_seq, before_seq), limit)


async def chat_events_since_time(
    db: Database, chat: str, since: datetime, limit: int = 10_000
) -> list[dict[str, Any]]:
    """The NEWEST `limit` chat events created at or after `since` (naive UTC), oldest first, in
    wire form: a history page wants the newest, and a busy window holds more than `limit`."""
    newest_first = await _chat_events(
        db, "created_at >= %s", chat, (since.replace(tzinfo=None),), limit, newest_first=True
    )
    newest_first.reverse()
    return newest_first


async def _chat_events(
    db: Database,
    condition: str,
    chat: str,
    bounds: tuple[object, ...],
    limit: int,
    *,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    order = "DESC" if newest_first else "ASC"
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        await cur.execute(
            f"SELECT {EVENT_COLUMNS} FROM chat_events WHERE stream = %s AND {condition}"
            f" AND type IN ({_CHAT_TYPES})"
            " AND NOT EXISTS (SELECT 1 FROM deleted_messages d"
            " WHERE d.message_id = chat_events.event_id)"
            f" ORDER BY seq {order} LIMIT %s",
            (chat, *bounds, limit),
        )
        rows = await cur.fetchall()
    return [event_to_wire(row_to_event(row)) for row in rows]


async def latest_seq(db: Database, chat: str) -> int:
    value = await db.fetch_val("SELECT version FROM streams WHERE stream = :s", {"s": chat})
    return int(value or 0)

