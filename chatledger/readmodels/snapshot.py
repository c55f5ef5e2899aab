"""Reading `chat_events` and the live projections back from MySQL, for `rebuild` and `audit`.

Both read inside ONE consistent snapshot (REPEATABLE READ, START TRANSACTION WITH CONSISTENT
SNAPSHOT): paging through millions of events by id while the ledger appends would otherwise see
a later event of a stream without an earlier one that committed late (ids are handed out at
insert, not at commit), and the audit would compare projections from one moment with events
from another. The ledger writes events and projections in one transaction, so a snapshot always
holds a matching pair.
"""

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from databases import Database

from chatledger.domain.events import Event
from chatledger.ledger.event_rows import EVENT_COLUMNS, row_to_event
from chatledger.ledger.menu_rows import MenuRow
from chatledger.ledger.projection_rows import (
    BANNED,
    DeletionRow,
    GoalRow,
    RefundRow,
    SponsorRow,
)
from chatledger.platform.db import snapshot
from chatledger.readmodels import extras_audit, show_audit
from chatledger.readmodels.audit import Auditor, AuditReport, Live

CHUNK = 5000


async def last_event_id(cur: Any) -> int:
    await cur.execute("SELECT COALESCE(MAX(id), 0) FROM chat_events")
    (value,) = await cur.fetchone()
    return int(value)


async def event_chunks(
    cur: Any, after: int = 0, chunk: int = CHUNK
) -> AsyncIterator[list[tuple[int, Event]]]:
    """(id, event) in id order, `chunk` rows per query (keyset paging on the primary key)."""
    while True:
        await cur.execute(
            f"SELECT {EVENT_COLUMNS} FROM chat_events WHERE id > %s ORDER BY id LIMIT %s",
            (after, chunk),
        )
        rows = await cur.fetchall()
        if not rows:
            return
        yield [(int(row[0]), row_to_event(row)) for row in rows]
        after = int(rows[-1][0])


async def read_live(cur: Any) -> Live:
    live = Live()
    await cur.execute("SELECT owner_uuid, kind, balance FROM accounts")
    live.accounts = {owner: (kind, Decimal(balance)) for owner, kind, balance in await _all(cur)}
    await cur.execute(
        "SELECT uuid, model_uuid, name, sum, require_sum, is_active, is_queued, queue_seq"
        " FROM goals"
    )
    live.goals = {
        goal_id: GoalRow(model, name, Decimal(sum_), Decimal(require), bool(active),
                         bool(queued), None if place is None else int(place))
        for goal_id, model, name, sum_, require, active, queued, place in await _all(cur)
    }
    await cur.execute("SELECT model_uuid, client_uuid, total FROM donor_totals")
    live.donor_totals = {(m, c): Decimal(total) for m, c, total in await _all(cur)}
    await cur.execute("SELECT model_uuid, client_uuid, client_name FROM current_sponsors")
    live.current_sponsors = {model: (client, name) for model, client, name in await _all(cur)}
    await cur.execute("SELECT event_id, model_uuid, client_uuid FROM sponsors")
    live.sponsors = {event: SponsorRow(m, c) for event, m, c in await _all(cur)}
    await cur.execute("SELECT stream, version FROM streams")
    live.versions = {stream: int(version) for stream, version in await _all(cur)}
    await _read_day_one(cur, live)
    live.show_tables = {**await show_audit.read_live(cur), **await extras_audit.read_live(cur)}
    return live


async def _read_day_one(cur: Any, live: Live) -> None:
    await cur.execute("SELECT model_uuid, day, client_uuid, total FROM donor_days")
    live.donor_days = {(m, day, c): Decimal(total) for m, day, c, total in await _all(cur)}
    await cur.execute("SELECT model_uuid, min_donation FROM chat_settings")
    live.chat_settings = {model: Decimal(minimum) for model, minimum in await _all(cur)}
    await cur.execute("SELECT model_uuid, client_uuid, muted_until FROM chat_mutes")
    live.chat_mutes = {(m, c): until for m, c, until in await _all(cur)}
    await cur.execute("SELECT model_uuid, client_uuid FROM chat_bans")
    live.chat_bans = {(m, c): BANNED for m, c in await _all(cur)}
    await cur.execute("SELECT donation_id, model_uuid, refund_id FROM refunds")
    live.refunds = {d: RefundRow(m, r) for d, m, r in await _all(cur)}
    await cur.execute("SELECT message_id, model_uuid, deletion_id FROM deleted_messages")
    live.deleted_messages = {message: DeletionRow(m, d) for message, m, d in await _all(cur)}
    await cur.execute("SELECT model_uuid, version, items FROM chat_menus")
    live.chat_menus = {m: MenuRow(int(version), items) for m, version, items in await _all(cur)}


async def _all(cur: Any) -> list[tuple[Any, ...]]:
    return list(await cur.fetchall())


async def audit_database(db: Database, chunk: int = CHUNK) -> AuditReport:
    """Replay every event and check it and the live projections, all in one snapshot."""
    async with snapshot(db) as cur:
        live = await read_live(cur)
        auditor = Auditor(live.kinds)
        async for rows in event_chunks(cur, chunk=chunk):
            for position, event in rows:
                auditor.fold(event, position)
    return auditor.finish(live)
