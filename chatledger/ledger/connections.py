"""The `connections` table (the brief's SaveConnection): its one writer.

Two paths reach the table, both through here: the gateway registers each socket it opens (in
batches, gateway/arrivals.py) and deletes its row when it closes; `POST /chat/connection/add`
travels like every command (the brief's AddNewConnection) and is written in the ledger batch's
transaction.

A socket's row names its gateway (`gateway_id`), and each gateway holds a lease in
`gateway_leases` that it renews while alive (gateway/arrivals.py). A gateway that dies without
closing its sockets (SIGKILL, a lost machine) leaves their rows; `sweep`, run by every live
gateway, deletes the rows of gateways whose lease ran out, and of gateways with no lease at all
(a gateway writes its lease before its first row, so a row without one is a swept gateway's
late write). Rows the ledger writes have no gateway and are never swept. The lease's clock is
MySQL's (UTC_TIMESTAMP), so gateways' clocks need not agree.
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

_REGISTER = (
    "INSERT INTO connections (type, entity_uuid, connection_uuid, chat_uuid, gateway_id)"
    " VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE entity_uuid = entity_uuid"
)
_RENEW = (
    "UPDATE gateway_leases SET expires_at = UTC_TIMESTAMP(6) + INTERVAL %s SECOND"
    " WHERE gateway_id = %s AND expires_at > UTC_TIMESTAMP(6)"
)
_CLAIM = (
    "INSERT INTO gateway_leases (gateway_id, expires_at)"
    " VALUES (%s, UTC_TIMESTAMP(6) + INTERVAL %s SECOND)"
    " ON DUPLICATE KEY UPDATE expires_at = VALUES(expires_at)"
)
SWEEP_CHUNK = 5000  # rows per DELETE: a big dead gateway does not hold locks for long

Row = tuple[str, str, str, str]


def row(role: str, entity: str, connection: str, chat: str) -> Row:
    return (TYPE_OF_ROLE[role], entity, connection, chat)


async def upsert(cur: Any, rows: Sequence[Row]) -> None:
    """Inside a transaction the caller holds (the ledger's batch). A retried row changes nothing."""
    if rows:
        await cur.executemany(_UPSERT, list(rows))


async def register(cur: Any, rows: Sequence[Row], gateway: str) -> None:
    """A gateway's sockets, under its id (its lease must be written first: `renew_lease`)."""
    if rows:
        await cur.executemany(_REGISTER, [(*row, gateway) for row in rows])


async def renew_lease(db: Database, gateway: str, lease_s: int) -> bool:
    """Extend the gateway's lease by `lease_s` from now; False if it had none left (new, or
    lapsed: then its rows may have been swept), and it is taken anew."""
    async with db.connection() as conn, conn.raw_connection.cursor() as cur:
        if await cur.execute(_RENEW, (lease_s, gateway)):
            return True
        await cur.execute(_CLAIM, (gateway, lease_s))
        return False


async def _dead_gateways(cur: Any) -> set[str]:
    # Rows' gateways first, then live leases: a gateway writes its lease before its rows, so a
    # gateway seen with rows and alive is seen alive.
    await cur.execute("SELECT DISTINCT gateway_id FROM connections WHERE gateway_id IS NOT NULL")
    holding = {gateway for (gateway,) in await cur.fetchall()}
    await cur.execute(
        "SELECT gateway_id FROM gateway_leases WHERE expires_at > UTC_TIMESTAMP(6)"
    )
    return holding - {gateway for (gateway,) in await cur.fetchall()}


async def _delete_rows(cur: Any, gateway: str) -> int:
    swept = 0
    while True:
        deleted = int(await cur.execute(
            "DELETE FROM connections WHERE gateway_id = %s LIMIT %s", (gateway, SWEEP_CHUNK)
        ))
        swept += deleted
        if deleted < SWEEP_CHUNK:
            return swept


async def sweep(db: Database) -> int:
    """Delete the rows of gateways without a live lease, and lapsed leases; how many rows."""
    async with db.connection() as conn, conn.raw_connection.cursor() as cur:
        swept = 0
        for gateway in sorted(await _dead_gateways(cur)):
            swept += await _delete_rows(cur, gateway)
        await cur.execute("DELETE FROM gateway_leases WHERE expires_at <= UTC_TIMESTAMP(6)")
    return swept


async def unregister(db: Database, connection: str) -> None:
    await db.execute(
        "DELETE FROM connections WHERE connection_uuid = :connection", {"connection": connection}
    )
