"""History's pure parts: the window, picking what a viewer sees, the marker, the limit param."""

from datetime import UTC, datetime

import orjson
import pytest
from redis.exceptions import RedisClusterException

from chatledger.api.history import BadLimit, parse_limit
from chatledger.history.mirror import SEQ_ONLY, Marker, mirror_ttl_s, parse_snapshot
from chatledger.history.picking import (
    ParsedEvents,
    page_body,
    pick_newest,
    pick_visible,
    window_start,
)
from chatledger.history.projector import HistoryProjector, group_by_chat
from chatledger.history.reader import fill_marker, just_before
from chatledger.platform.config import Settings

CHAT = "00000000-0000-0000-0000-00000000000a"
ANN = "00000000-0000-0000-0000-0000000000a1"
BOB = "00000000-0000-0000-0000-0000000000b1"


def event(seq: int, at: str, *, sender: str = ANN, public: bool = True, **extra: object) -> bytes:
    return orjson.dumps(
        {
            "type": extra.pop("type", "message"),
            "id": f"e{seq}",
            "seq": seq,
            "chat": CHAT,
            "is_public": public,
            "from": {"uuid": sender, "name": "x", "role": "client"},
            "created_at": at,
            **extra,
        }
    )


def at(minute: int, second: int = 0) -> str:
    return f"2024-05-01T12:{minute:02d}:{second:02d}.000000Z"


def test_window_start_is_comparable_text_in_utc() -> None:
    now = datetime(2024, 5, 1, 12, 10, tzinfo=UTC)
    assert window_start(now, 600) == "2024-05-01T12:00:00.000000Z"
    assert at(0) >= window_start(now, 600)
    assert at(9, 59) > window_start(now, 600) > "2024-05-01T11:59:59.999999Z"


def test_just_before_is_one_microsecond_earlier() -> None:
    assert just_before("2024-05-01T12:00:00.000000Z") == "2024-05-01T11:59:59.999999Z"


def test_pick_visible_keeps_the_window_the_limit_and_oldest_first() -> None:
    events = [event(seq, at(seq)) for seq in range(1, 11)]
    picked = pick_visible(events, BOB, CHAT, start=at(3), limit=20)
    assert [orjson.loads(e)["seq"] for e in picked] == list(range(3, 11))
    picked = pick_visible(events, BOB, CHAT, start=at(3), limit=4)
    assert [orjson.loads(e)["seq"] for e in picked] == [7, 8, 9, 10]
    assert picked[0] is events[6]  # the stored bytes themselves, not a re-encoding


def test_pick_visible_filters_before_limiting() -> None:
    events = [event(1, at(1)), event(2, at(2), public=False), event(3, at(3), public=False)]
    assert [orjson.loads(e)["seq"] for e in pick_visible(events, BOB, CHAT, at(0), 2)] == [1]
    own = pick_visible(events, ANN, CHAT, at(0), 2)
    assert [orjson.loads(e)["seq"] for e in own] == [2, 3]


def test_pick_visible_applies_the_visibility_rule() -> None:
    reply = event(1, at(1), sender=CHAT, public=False, to=BOB)
    rejected = event(2, at(2), sender=ANN, public=False, type="donate_rejected")
    events = [reply, rejected]
    assert pick_visible(events, BOB, CHAT, at(0), 20) == [reply]
    assert pick_visible(events, ANN, CHAT, at(0), 20) == [rejected]
    assert pick_visible(events, CHAT, CHAT, at(0), 20) == [reply]  # not the donor: not the model


def test_marker_covers_window_only_when_nothing_missing_is_inside_it() -> None:
    assert Marker(0, "").covers_window(at(0))
    assert Marker(5, at(1)).covers_window(at(2))
    assert not Marker(5, at(2)).covers_window(at(2))
    assert Marker(5, at(1)).covers_after(5) and not Marker(5, at(1)).covers_after(4)


def test_fill_marker_vouches_from_the_first_window_event_or_the_stream_version() -> None:
    assert fill_marker([(7, b"{}"), (8, b"{}")], latest=8, start=at(5)) == Marker(
        6, just_before(at(5))
    )
    assert fill_marker([], latest=12, start=at(5)) == Marker(12, just_before(at(5)))


def test_a_truncated_fill_vouches_for_nothing_older_than_its_first_event() -> None:
    first = b'{"created_at": "%s"}' % at(7).encode()
    marker = fill_marker([(7, first), (8, b"{}")], latest=8, start=at(5), truncated=True)
    assert marker == Marker(6, at(7))
    assert not marker.covers_window(at(5))


def test_parse_snapshot_separates_marker_fill_and_events() -> None:
    rows = [(b"#fill|abc", -2.0), (b"#complete|4|" + at(1).encode(), -1.0), (b"{}", 5.0)]
    snapshot = parse_snapshot(rows)
    assert snapshot.marker == Marker(4, at(1))
    assert snapshot.events == [(5, b"{}")] and snapshot.head == 5
    cold = parse_snapshot([(b"{}", 9.0)])
    assert cold.marker is None and cold.head == 9


def test_mirror_ttl_outlives_the_window() -> None:
    assert mirror_ttl_s(600) == 1200
    assert mirror_ttl_s(1) == 60


def test_group_by_chat_keeps_order_gives_account_events_only_their_seq_drops_garbage() -> None:
    deposit = orjson.dumps({"type": "deposited", "chat": CHAT, "seq": 2})
    values = [event(1, at(1)), b"not json", deposit, event(3, at(2))]
    assert group_by_chat(values).events == {CHAT: [(1, values[0]), (2, SEQ_ONLY), (3, values[3])]}


@pytest.mark.parametrize("text, expected", [(None, 20), ("1", 1), ("20", 20), ("07", 7)])
def test_parse_limit_accepts_1_to_20(text: str | None, expected: int) -> None:
    assert parse_limit(text) == expected


@pytest.mark.parametrize("text", ["0", "21", "-1", "+5", " 5", "abc", "", "1.5", "٣", "9" * 30])
def test_parse_limit_rejects_anything_else(text: str) -> None:
    with pytest.raises(BadLimit):
        parse_limit(text)


def test_page_body_splices_events_verbatim() -> None:
    body = page_body([b'{"a":1}', b'{"b":2}'])
    assert orjson.loads(body) == {"success": True, "events": [{"a": 1}, {"b": 2}]}
    assert page_body([]) == b'{"success":true,"events":[]}'


def test_pick_newest_says_whether_the_page_is_settled() -> None:
    events = [event(seq, at(seq), public=seq != 4) for seq in range(1, 6)]
    newest_first = events[::-1]
    assert pick_newest(newest_first, BOB, CHAT, at(0), 2) == ([events[2], events[4]], True)
    # fewer visible than the limit and the window's start not reached: not settled
    assert pick_newest(newest_first, BOB, CHAT, at(0), 9) == (
        [e for e in events if e != events[3]],
        False,
    )
    # the window's start reached: settled with what there is
    assert pick_newest(newest_first, BOB, CHAT, at(3), 9) == ([events[2], events[4]], True)


def test_parsed_events_parse_each_bytes_once_bounded_and_pick_the_same() -> None:
    events = [event(seq, at(seq), public=seq % 2 == 0) for seq in range(1, 7)]
    parsed = ParsedEvents(max_entries=4)
    first = parsed(bytes(events[0]))
    assert parsed(bytes(events[0])) is first == orjson.loads(events[0])  # equal bytes: one parse
    newest_first = events[::-1]
    for viewer in (ANN, BOB, CHAT):
        assert pick_newest(newest_first, viewer, CHAT, at(0), 3, parsed) == pick_newest(
            newest_first, viewer, CHAT, at(0), 3
        )
    assert len(parsed._parsed) == 4


def test_group_by_chat_names_the_messages_each_chat_deletes() -> None:
    deleted = event(2, at(2), type="message_deleted", message_id="e1")
    values = [event(1, at(1)), deleted]
    grouped = group_by_chat(values)
    assert grouped.events == {CHAT: [(1, values[0]), (2, deleted)]}  # the deletion stays public
    assert grouped.deletions == {CHAT: ["e1"]}
    assert group_by_chat([event(1, at(1))]).deletions == {}


def test_a_snapshot_ignores_tombstones_and_fill_nonces() -> None:
    rows = [(b"#deleted|3", -3.0), (b"#fill|n", -2.0), (b"#complete|0|", -1.0),
            (event(1, at(1)), 1.0)]
    snapshot = parse_snapshot(rows)
    assert snapshot.marker == Marker(0, "") and [seq for seq, _ in snapshot.events] == [1]


class _FailingOnce:
    """A mirror whose first append raises what redis-py's cluster client raised here while a
    replica took over a killed master (its topology refresh found no primary: redis-py #2433)."""

    def __init__(self, error: Exception) -> None:
        self.error: Exception | None = error
        self.appended: list[dict[str, list[tuple[int, bytes]]]] = []

    async def append(self, events: dict[str, list[tuple[int, bytes]]], cutoff: float,
                     deletions: dict[str, list[str]]) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        self.appended.append(events)


@pytest.mark.parametrize("error", [IndexError("list index out of range"),
                                   RedisClusterException("no node")])
async def test_the_projector_waits_out_a_cluster_failover_instead_of_crashing(
    error: Exception,
) -> None:
    mirror = _FailingOnce(error)
    projector = HistoryProjector(Settings(), mirror)  # type: ignore[arg-type]
    event = orjson.dumps({"chat": "c", "seq": 1, "type": "message"})
    await projector.project([event])
    assert mirror.appended == [{"c": [(1, event)]}]
