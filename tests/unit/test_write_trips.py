"""The ledger's queued writes spell a string as the driver would (`write_trips.quoted`)."""

from hypothesis import given
from hypothesis import strategies as st
from pymysql.converters import escape_string

from chatledger.ledger.write_trips import quoted

# Every character the driver escapes, among plain and non-ASCII ones.
_TRICKY = st.text(st.sampled_from("\\\0\n\r\x1a\"'ab-{}:é😀 "), max_size=40)


@given(st.one_of(_TRICKY, st.text()))
def test_a_string_is_quoted_exactly_as_the_driver_escapes_it(text: str) -> None:
    assert quoted(text) == "'" + escape_string(text) + "'"


def test_an_escape_is_not_escaped_again() -> None:
    assert quoted("a\\'b\n\"\0\x1a") == "'a\\\\\\'b\\n\\\"\\0\\Z'"
