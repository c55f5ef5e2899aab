"""History's shared reads (history/recent.py): a shared read picks every viewer's page exactly as
a read of their own would, and is reused only while it is younger than the setting."""

import asyncio
import itertools
import random
from typing import Any

import orjson
import pytest

from chatledger.history.mirror import Marker, Newest
from chatledger.history.picking import ParsedEvents, page_body, pick_newest
from chatledger.history.reader import HistoryReader
from chatledger.history.recent import REFRESH_AT, Read, RecentReads
from chatledger.platform.config import Settings
from chatledger.platform.metrics import HISTORY_MIRROR_HITS

CHAT = "00000000-0000-0000-0000-00000000000a"
PEOPLE = [f"00000000-0000-0000-0000-0000000000{n:02x}" for n in range(1, 7)]
WARM = Marker(0, "")


def at(second: int) -> str:
    return f"2024-05-01T12:00:{second:02d}.000000Z"


def random_event(chooser: random.Random, seq: int) -> bytes:
    """Any mix the visibility rule distinguishes: public or not, a reply `to`, a show's audience,
    a refused donation, another chat's event."""
    sender = chooser.choice([CHAT, *PEOPLE])
    event: dict[str, Any] = {
        "type": chooser.choice(["message", "message", "donate", "donate_rejected"]),
        "id": f"e{seq}",
        "seq": seq,
        "chat": CHAT if chooser.random() < 0.95 else PEOPLE[0],
        "is_public": chooser.random() < 0.5,
        "from": {"uuid": sender, "name": "x", "role": "client"},
        "created_at": at(seq),
    }
    if chooser.random() < 0.2:
        event["to"] = chooser.choice(PEOPLE)
    if chooser.random() < 0.1:
        event["audience"] = chooser.sample(PEOPLE, 2)
    return orjson.dumps(event)


def test_a_shared_read_picks_each_viewers_page_as_their_own_read_would() -> None:
    chooser = random.Random(7)
    for _ in range(300):
        newest_first = [random_event(chooser, seq) for seq in range(40, 0, -1)]
        start = at(chooser.randrange(0, 30))
        read = Read(CHAT, Newest(WARM, newest_first, True), start, ParsedEvents())
        for viewer, limit in itertools.product([CHAT, *PEOPLE], (1, 5, 20)):
            own, settled = pick_newest(newest_first, viewer, CHAT, start, limit)
            for _ in range(2):  # picked, then kept
                page = read.page(viewer, limit)
                assert (list(page.events), page.settled) == (own, settled), (viewer, limit)
                assert page.body == page_body(own)


class FakeMirror:
    """Counts reads; each answers what `answer` says once `release` is set."""

    def __init__(self) -> None:
        self.reads = 0
        self.answer: Newest | Exception = Newest(WARM, [], False)
        self.release = asyncio.Event()
        self.release.set()

    async def newest(self, chat: str, count: int) -> Newest:
        self.reads += 1
        await self.release.wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def recent(mirror: FakeMirror, clock: Clock, ttl_s: float = 0.1, **kw: Any) -> RecentReads:
    return RecentReads(mirror, 600, ttl_s, ParsedEvents(), clock, **kw)  # type: ignore[arg-type]


async def test_a_read_serves_its_chat_until_it_is_ttl_old_then_a_new_one_is_sent() -> None:
    mirror, clock = FakeMirror(), Clock()
    reads = recent(mirror, clock)
    first = await reads.newest(CHAT, 40)
    clock.now += 0.099
    assert await reads.newest(CHAT, 40) is first and mirror.reads == 1
    clock.now += 0.001
    assert await reads.newest(CHAT, 40) is not first and mirror.reads == 2
    await reads.newest(PEOPLE[0], 40)  # another chat
    await reads.newest(CHAT, 10)  # another count
    assert mirror.reads == 4


async def test_zero_shares_nothing() -> None:
    mirror, clock = FakeMirror(), Clock()
    reads = recent(mirror, clock, ttl_s=0)
    await asyncio.gather(*(reads.newest(CHAT, 40) for _ in range(3)))
    assert mirror.reads == 3 and len(reads) == 0


async def test_pages_asked_while_a_read_is_in_flight_share_it_and_a_cancelled_one_not_it() -> None:
    mirror, clock = FakeMirror(), Clock()
    mirror.release.clear()
    reads = recent(mirror, clock)
    waiting = [asyncio.ensure_future(reads.newest(CHAT, 40)) for _ in range(3)]
    await asyncio.sleep(0)
    waiting[0].cancel()
    mirror.release.set()
    done = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(done[0], asyncio.CancelledError)
    assert done[1] is done[2] and isinstance(done[1], Read) and mirror.reads == 1


@pytest.mark.parametrize("answer", [Newest(None, [], False), ConnectionError("redis down")])
async def test_a_cold_chat_or_an_error_is_not_kept(answer: Newest | Exception) -> None:
    mirror, clock = FakeMirror(), Clock()
    mirror.answer = answer
    reads = recent(mirror, clock)
    for _ in range(2):
        if isinstance(answer, Exception):
            with pytest.raises(ConnectionError):
                await reads.newest(CHAT, 40)
        else:
            assert (await reads.newest(CHAT, 40)).marker is None
    assert mirror.reads == 2 and len(reads) == 0


async def test_at_most_max_chats_are_kept_the_oldest_read_out_first() -> None:
    mirror, clock = FakeMirror(), Clock()
    reads = recent(mirror, clock, max_chats=2)
    for chat in PEOPLE[:3]:
        await reads.newest(chat, 40)
    assert len(reads) == 2
    await reads.newest(PEOPLE[2], 40)
    await reads.newest(PEOPLE[1], 40)
    assert mirror.reads == 3
    await reads.newest(PEOPLE[0], 40)  # read out: read again
    assert mirror.reads == 4


def test_the_setting_is_milliseconds_and_zero_turns_it_off() -> None:
    reader = HistoryReader(Settings(history_cache_ms=250), None, None)  # type: ignore[arg-type]
    assert reader.recent.ttl_s == 0.25
    assert Settings(history_cache_ms=0).history_cache_ms == 0
    with pytest.raises(ValueError):
        Settings(history_cache_ms=-1)
    with pytest.raises(ValueError):
        Settings(history_cache_ms="fast")  # type: ignore[arg-type]


async def test_a_new_read_drops_expired_ones_so_memory_follows_the_chats_read_lately() -> None:
    mirror, clock = FakeMirror(), Clock()
    reads = recent(mirror, clock)
    for chat in PEOPLE[:4]:
        await reads.newest(chat, 40)
    clock.now += 0.1
    await reads.newest(PEOPLE[4], 40)
    await reads.newest(PEOPLE[5], 40)
    assert len(reads) == 2


def test_a_kept_page_goes_only_to_the_viewer_it_was_picked_for() -> None:
    """Whoever asks first, the model's page (every private event) never reaches a stranger, nor
    one private sender's page another's: a page kept for a viewer is kept under their uuid."""
    ann, bob, stranger = PEOPLE[:3]

    def message(seq: int, sender: str, public: bool) -> bytes:
        return orjson.dumps({"type": "message", "id": f"e{seq}", "seq": seq, "chat": CHAT,
                             "is_public": public, "created_at": at(seq),
                             "from": {"uuid": sender, "name": "x", "role": "client"}})

    newest_first = [message(3, bob, False), message(2, ann, False), message(1, ann, True)]
    seen = {CHAT: [1, 2, 3], ann: [1, 2], bob: [1, 3], stranger: [1]}
    for order in itertools.permutations(seen):
        read = Read(CHAT, Newest(WARM, newest_first, False), at(0), ParsedEvents())
        for viewer in order * 2:
            page = read.page(viewer, 20)
            assert [orjson.loads(raw)["seq"] for raw in page.events] == seen[viewer], viewer
            assert page.body == page_body(page.events)


async def test_ready_is_the_read_newest_would_give_without_waiting_else_none() -> None:
    mirror, clock = FakeMirror(), Clock()
    reads = recent(mirror, clock)
    assert reads.ready(CHAT, 40) is None  # none sent yet
    mirror.release.clear()
    in_flight = asyncio.ensure_future(reads.newest(CHAT, 40))
    await asyncio.sleep(0)
    assert reads.ready(CHAT, 40) is None  # sent, not done: `newest` would wait for it
    mirror.release.set()
    first = await in_flight
    assert reads.ready(CHAT, 40) is first and reads.ready(CHAT, 10) is None
    clock.now += 0.1
    assert reads.ready(CHAT, 40) is None  # ttl old: `newest` would send a new one
    assert mirror.reads == 1


async def test_a_ready_page_is_the_page_history_gives_and_counts_as_a_mirror_hit() -> None:
    """Every viewer, warm and covering or not, settled or not: `ready` gives `history`'s page
    or None (then `history` reads on, from the mirror or MySQL)."""
    chooser = random.Random(11)
    seen = {True: 0, False: 0}  # None, a page: both, many times
    for _ in range(200):
        count = chooser.randrange(1, 41)  # few events: pages the read cannot settle
        newest_first = [random_event(chooser, seq) for seq in range(count, 0, -1)]
        marker = Marker(0, chooser.choice(["", at(59)]))  # covers the window, or not
        newest = Newest(marker, newest_first, chooser.random() < 0.5)
        start = at(chooser.randrange(0, 30))
        reader = HistoryReader(Settings(history_cache_ms=100), None, None)  # type: ignore[arg-type]
        clock = reader.recent.clock = Clock()
        for limit in (1, 5, 20):  # a read done and kept, as `newest` leaves it
            done: asyncio.Future[Read] = asyncio.get_running_loop().create_future()
            done.set_result(Read(CHAT, newest, start, ParsedEvents()))
            reader.recent._reads[(CHAT, 2 * limit)] = (clock(), done)
        for viewer, limit in itertools.product([CHAT, *PEOPLE], (1, 5, 20)):
            await asyncio.sleep(0)  # what the last turn counted, counted
            hits = HISTORY_MIRROR_HITS._value.get()
            ready = reader.ready(CHAT, viewer, limit)
            seen[ready is None] += 1
            await asyncio.sleep(0)  # counted when the loop iteration ends
            if ready is None:
                assert HISTORY_MIRROR_HITS._value.get() == hits
                continue
            assert HISTORY_MIRROR_HITS._value.get() == hits + 1
            assert marker.covers_window(start) or len(ready.events) == limit
            page = await reader.history(CHAT, viewer, limit)
            assert (ready.picked, ready.source) == (page.picked, page.source)
            assert page.source == "mirror"
    assert min(seen.values()) > 500, seen


async def test_a_read_past_refresh_at_sends_its_successor_so_no_page_waits() -> None:
    mirror, clock = FakeMirror(), Clock()
    reads = recent(mirror, clock)
    first = await reads.newest(CHAT, 40)
    clock.now = 1000.0 + 0.1 * REFRESH_AT - 0.001
    assert reads.ready(CHAT, 40) is first and mirror.reads == 1  # young: served alone
    clock.now = 1000.0 + 0.1 * REFRESH_AT + 1e-9
    mirror.release.clear()
    assert reads.ready(CHAT, 40) is first  # served at once, and its successor sent
    assert await reads.newest(CHAT, 40) is first
    await asyncio.sleep(0)
    assert mirror.reads == 2  # one successor, however many pages asked meanwhile
    mirror.release.set()
    for _ in range(3):  # the successor lands and takes the first's place
        await asyncio.sleep(0)
    second = reads.ready(CHAT, 40)
    assert second is not None and second is not first
    clock.now = 1000.1 + 0.01  # past the first's ttl: the second serves, ready
    assert reads.ready(CHAT, 40) is second and mirror.reads == 2


async def test_past_its_ttl_a_read_gives_way_to_its_successor_in_flight_never_a_third() -> None:
    mirror, clock = FakeMirror(), Clock()
    reads = recent(mirror, clock)
    first = await reads.newest(CHAT, 40)
    clock.now = 1000.0 + 0.1 * REFRESH_AT + 1e-9
    mirror.release.clear()
    assert reads.ready(CHAT, 40) is first
    clock.now = 1000.1 + 1e-9  # the first is ttl old; its successor still in flight
    assert reads.ready(CHAT, 40) is None
    joining = asyncio.ensure_future(reads.newest(CHAT, 40))
    await asyncio.sleep(0)
    mirror.release.set()
    assert (await joining) is not first and mirror.reads == 2


@pytest.mark.parametrize("answer", [Newest(None, [], False), ConnectionError("redis down")])
async def test_a_successor_cold_or_failed_leaves_its_predecessor_until_its_ttl(
    answer: Newest | Exception,
) -> None:
    mirror, clock = FakeMirror(), Clock()
    reads = recent(mirror, clock)
    first = await reads.newest(CHAT, 40)
    mirror.answer = answer
    clock.now = 1000.0 + 0.1 * REFRESH_AT + 1e-9
    assert reads.ready(CHAT, 40) is first
    for _ in range(3):
        await asyncio.sleep(0)
    assert reads.ready(CHAT, 40) is first and mirror.reads == 2
    clock.now = 1000.1 + 1e-9
    assert reads.ready(CHAT, 40) is None  # ttl old: `newest` reads as without the cache
