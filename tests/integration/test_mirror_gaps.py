"""The history mirror never vouches for a hole: a seq the bus skipped turns the chat cold."""

import uuid
from collections.abc import AsyncIterator

import pytest

from chatledger.history.mirror import SEQ_ONLY, HistoryMirror, Marker
from chatledger.platform.config import Settings
from chatledger.platform.redis_client import redis_client
from tests.integration.test_history_mirror import cutoff, wire


@pytest.fixture
async def mirror(settings: Settings) -> AsyncIterator[HistoryMirror]:
    client = redis_client(settings)
    yield HistoryMirror(settings, client)
    await client.aclose()


async def append(mirror: HistoryMirror, chat: str, events: list[tuple[int, bytes]]) -> None:
    await mirror.append({chat: events}, cutoff())


def messages(chat: str, *seqs: int) -> list[tuple[int, bytes]]:
    return [(seq, wire(chat, seq)) for seq in seqs]


async def test_a_seq_jump_drops_the_marker_and_a_payouts_seq_is_no_jump(
    mirror: HistoryMirror,
) -> None:
    chat = str(uuid.uuid4())
    await append(mirror, chat, messages(chat, 1, 2))
    await append(mirror, chat, [(3, SEQ_ONLY)])  # a payout: the mirror holds nothing of it
    await append(mirror, chat, messages(chat, 4))
    snapshot = await mirror.snapshot(chat)
    assert snapshot.marker == Marker(0, "")
    assert [seq for seq, _ in snapshot.events] == [1, 2, 4]

    await append(mirror, chat, messages(chat, 7))  # 5 and 6 never came
    snapshot = await mirror.snapshot(chat)
    assert snapshot.marker is None
    assert [seq for seq, _ in snapshot.events] == [1, 2, 4, 7]
    await mirror.redis.delete(mirror.key(chat))


async def test_a_jump_makes_a_fill_in_flight_give_up(mirror: HistoryMirror) -> None:
    chat = str(uuid.uuid4())
    await append(mirror, chat, messages(chat, 1))
    assert await mirror.begin_fill(chat, "n1")
    await append(mirror, chat, messages(chat, 3))
    assert not await mirror.commit_fill(chat, "n1", messages(chat, 1), Marker(0, ""), cutoff())
    assert (await mirror.snapshot(chat)).marker is None
    await mirror.redis.delete(mirror.key(chat))


async def test_seqs_alone_never_create_a_key(mirror: HistoryMirror) -> None:
    client = str(uuid.uuid4())
    await append(mirror, client, [(1, SEQ_ONLY), (2, SEQ_ONLY)])
    assert not await mirror.redis.exists(mirror.key(client))
