"""The `connections` table: the gateway registers its own sockets (DESIGN §1, SaveConnection)."""

from databases import Database

from chatledger.http.auth import Principal

# The brief's table names a model 'user' and a viewer 'client'.
_TYPE = {"model": "user", "client": "client"}


async def register(db: Database, principal: Principal, connection_id: str) -> None:
    await db.execute(
        "INSERT INTO connections (type, entity_uuid, connection_uuid, chat_uuid)"
        " VALUES (:type, :entity, :connection, :chat)",
        {
            "type": _TYPE[principal.role],
            "entity": principal.uuid,
            "connection": connection_id,
            "chat": principal.chat,
        },
    )


async def unregister(db: Database, connection_id: str) -> None:
    await db.execute(
        "DELETE FROM connections WHERE connection_uuid = :connection", {"connection": connection_id}
    )
