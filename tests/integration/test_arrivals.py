"""Sockets registering together (a reconnect storm): every row written, every chat's seq right."""

import asyncio
import uuid

from databases import Database

from chatledger.domain.commands import Actor
from chatledger.gateway.arrivals import Arrivals
from tests.helpers import chat_events


async def test_a_storm_of_arrivals_registers_every_socket_with_its_chats_latest_seq(
    db: Database,
) -> None:
    chats = [str(uuid.uuid4()) for _ in range(3)]
    for number, chat in enumerate(chats):  # chat i has i events
        actor = Actor(chat, "Mia", "model")
        events = [chat_events.message(chat, seq, actor, "x") for seq in range(1, number + 1)]
        if events:
            await chat_events.insert(db, events)
    arrivals = Arrivals(db)
    sockets = [(str(uuid.uuid4()), chats[n % 3]) for n in range(60)]
    latest = await asyncio.gather(*(
        arrivals.register("client", str(uuid.uuid4()), socket, chat) for socket, chat in sockets
    ))
    assert latest == [chats.index(chat) for _, chat in sockets]
    rows = await db.fetch_all(
        "SELECT connection_uuid, chat_uuid, type FROM connections WHERE connection_uuid IN"
        f" ({', '.join(f':c{i}' for i in range(len(sockets)))})",
        {f"c{i}": socket for i, (socket, _) in enumerate(sockets)},
    )
    assert sorted((r[0], r[1], r[2]) for r in rows) == sorted(
        (socket, chat, "client") for socket, chat in sockets
    )


async def test_a_batch_that_fails_fails_each_of_its_sockets(db: Database) -> None:
    """All or nothing: every socket of the batch is closed and its client reconnects."""
    arrivals = Arrivals(db)
    good, too_long = str(uuid.uuid4()), "x" * 100  # chat_uuid is CHAR(36)
    results = await asyncio.gather(
        arrivals.register("client", str(uuid.uuid4()), str(uuid.uuid4()), good),
        arrivals.register("client", str(uuid.uuid4()), str(uuid.uuid4()), too_long),
        return_exceptions=True,
    )
    assert all(isinstance(result, Exception) for result in results), results
    count = await db.fetch_val("SELECT COUNT(*) FROM connections WHERE chat_uuid = :c",
                               {"c": good})
    assert count == 0
