"""The `connections` table (the brief's SaveConnection): its one writer.

Two paths reach the table, both through here: the gateway registers each socket it opens (in
batches, gateway/arrivals.py) and deletes its row when it closes; `POST /chat/connection/add`
travels like every command (the brief's AddNewConnection) and is written in the ledger batch's
transaction.
"""

from collections.abc import Sequence
from typing import Any

from databases import Database

# The brief's table names a model 'user' and a viewer 'client'.
TYPE_OF_ROLE = {"model": "user", "client": "client"}

_UPSERT = (
    "INSERT INTO connections (type, entity_uuid, connection_uuid, chat_uuid)"
    " VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE entity_uuid = entity_uuid"
)

Row = tuple[str, str, str, str]


def row(role: str, entity: str, connection: str, chat: str) -> Row:
    return (TYPE_OF_ROLE[role], entity, connection, chat)


async def upsert(cur: Any, rows: Sequence[Row]) -> None:
    """Inside a transaction the caller holds (the ledger's batch). A retried row changes nothing."""
    if rows:
        await cur.executemany(_UPSERT, list(rows))


async def unregister(db: Database, connection: str) -> None:
    await db.execute(
        "DELETE FROM connections WHERE connection_uuid = :connection", {"connection": connection}
    )
