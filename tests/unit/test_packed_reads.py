"""A packed read (`read_trips.packed`) is handed to its fold only when it reads back whole;
anything else is read again plainly (`ReadTrip.send`)."""

import pytest

from chatledger.ledger.read_trips import packed, unpacked

A, B = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
WHOLE = f"{A}\x1f12.50\x1fclient\x1e{B}\x1f0.00\x1fmodel\x1e"


def test_the_packed_statement_keeps_the_reads_own_from_and_where() -> None:
    assert packed(("a", "b"), "FROM t WHERE a IN (%s) FOR UPDATE") == (
        "SELECT COUNT(*), GROUP_CONCAT(a, '\x1f', b, '\x1e' SEPARATOR '')"
        " FROM t WHERE a IN (%s) FOR UPDATE")


def test_a_whole_packed_row_reads_back_as_its_rows() -> None:
    assert unpacked([(2, WHOLE)], 3) == [[A, "12.50", "client"], [B, "0.00", "model"]]


def test_no_row_found_is_no_row() -> None:
    assert unpacked([(0, None)], 3) == []


@pytest.mark.parametrize("count, text", [
    (2, WHOLE[:-1]),  # cut inside the last row's end
    (2, WHOLE[:-3]),  # cut inside a value ("mod")
    (2, WHOLE[:WHOLE.index("\x1e") + 1]),  # cut at a row's end: a row missing
    (3, WHOLE),  # a row more counted than packed
    (2, f"{A}\x1fx\x1f12.50\x1fclient\x1e{B}\x1f0.00\x1fmodel\x1e"),  # a field's end in a value
    (2, f"{A}\x1e\x1f12.50\x1fclient\x1e{B}\x1f0.00\x1fmodel\x1e"),  # a row's end in a value
])
def test_a_packed_row_not_read_back_whole_is_none(count: int, text: str) -> None:
    assert unpacked([(count, text)], 3) is None
