"""The ledger's queued writes spell values as the driver would (`write_trips.literal_of`)."""

from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st
from pymysql.converters import escape_item, escape_string

from chatledger.domain.commands import Actor
from chatledger.domain.events import Event
from chatledger.ledger.batch import _EVENTS_INSERT
from chatledger.ledger.event_rows import event_to_row, spelt_event_row
from chatledger.ledger.write_trips import QueuedWrites, quoted

# Every character the driver escapes, among plain and non-ASCII ones.
_TRICKY = st.text(st.sampled_from("\\\0\n\r\x1a\"'ab-{}:é😀 "), max_size=40)


@given(st.one_of(_TRICKY, st.text()))
def test_a_string_is_quoted_exactly_as_the_driver_escapes_it(text: str) -> None:
    assert quoted(text) == "'" + escape_string(text) + "'"


def test_an_escape_is_not_escaped_again() -> None:
    assert quoted("a\\'b\n\"\0\x1a") == "'a\\\\\\'b\\n\\\"\\0\\Z'"


class _Connection:
    """What `literal_of` asks of aiomysql's connection: backslash escapes, and its `escape`."""

    server_status = 0

    @staticmethod
    def escape(value: object) -> str:
        return str(escape_item(value, "utf8mb4"))


class _Cursor:
    connection = _Connection()
    max_stmt_length = 1024 * 1024


_VALUES = st.one_of(
    st.sampled_from(["chat-1", "it's", "a\\b", "message"]),  # repeated across rows
    st.text(max_size=12), st.none(), st.booleans(), st.integers(),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.sampled_from([datetime(2026, 12, 6, 16, 0, 0, 123456), datetime(2026, 12, 6),
                     date(2026, 12, 6), date(2026, 12, 5)]),
)


@given(st.lists(st.tuples(_VALUES, _VALUES, _VALUES), min_size=1, max_size=20))
async def test_queued_rows_are_spelt_as_the_driver_would(rows: list[tuple[object, ...]]) -> None:
    writes = QueuedWrites(_Cursor())
    await writes.executemany("INSERT INTO t (a, b, c) VALUES (%s, %s, %s)", rows)
    driver = ",".join("({}, {}, {})".format(*(_Connection.escape(v) for v in row)) for row in rows)
    assert writes.queued == ["INSERT INTO t (a, b, c) VALUES " + driver]


_EVENTS_SQL = (
    "INSERT INTO chat_events (event_id, command_id, stream, seq, type, actor_uuid,"
    " actor_role, actor_name, is_public, amount, payload, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_MOMENT = datetime(2026, 12, 6, 16, 0, 0, 123456, tzinfo=UTC)
_EVENTS = st.builds(
    Event,
    st.uuids().map(str), st.sampled_from(["c-1", "c'2"]), st.sampled_from(["chat-1", "it's"]),
    st.integers(min_value=1, max_value=10**12), st.sampled_from(["message", "donate"]),
    st.one_of(st.none(), st.builds(Actor, st.uuids().map(str), _TRICKY,
                                   st.sampled_from(["client", "model"]))),
    st.booleans(),
    st.one_of(st.none(), st.decimals(allow_nan=False, allow_infinity=False, places=2)),
    st.sampled_from([_MOMENT, _MOMENT.replace(second=1)]),
    st.dictionaries(st.sampled_from(["message", "to", "sum"]), st.one_of(
        st.none(), _TRICKY, st.integers(-(2**53), 2**53),
        st.decimals(places=2, allow_nan=False, allow_infinity=False))),
)


@given(st.lists(_EVENTS, min_size=1, max_size=20))
async def test_event_rows_spelt_at_once_are_the_driver_spelt_rows(events: list[Event]) -> None:
    """The batch spells its chat_events rows itself (`spelt_event_row`): the same statement as
    the driver's spelling of `event_to_row`'s values, byte for byte."""
    spelt = QueuedWrites(_Cursor())
    spelt.insert(_EVENTS_INSERT, [spelt_event_row(event, spelt.literal) for event in events])
    driver = QueuedWrites(_Cursor())
    driver.literal = _Connection.escape
    await driver.executemany(_EVENTS_SQL, [event_to_row(event) for event in events])
    assert spelt.queued == driver.queued
