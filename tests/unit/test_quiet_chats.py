"""The ledger skips the show reads of a chat only at the stream version it learnt it at."""

from datetime import UTC, datetime
from decimal import Decimal

from chatledger.domain import commands as cmd
from chatledger.domain.commands import Actor
from chatledger.domain.hold_book import Hold
from chatledger.domain.show_book import RUNNING, Show
from chatledger.domain.state import LedgerState
from chatledger.ledger.show_loader import QuietChats, spends

CHAT, CLIENT = "chat-1", "client-1"
MODEL = Actor(CHAT, "Mia", "model")
BOB = Actor(CLIENT, "Bob", "client")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def message(n: int = 1) -> cmd.PostMessage:
    return cmd.PostMessage(f"m{n}", CHAT, BOB, "hi", True)


def after(versions: dict[str, int], rates: tuple[str, str] | None = None) -> LedgerState:
    state = LedgerState()
    state.versions = dict(versions)
    if rates is not None:
        state.shows.private_rates[CHAT] = Decimal(rates[0])
        state.shows.spy_rates[CHAT] = Decimal(rates[1])
    return state


def test_a_chat_seen_quiet_is_not_read_again_at_the_same_version_only() -> None:
    quiet = QuietChats()
    assert quiet.unknown(after({CHAT: 4}), [CHAT]) == [CHAT]
    quiet.learn(after({CHAT: 5}, ("2", "1")), {CHAT: 4}, [message()])
    state = after({CHAT: 5})
    assert quiet.unknown(state, [CHAT]) == []
    assert (state.shows.private_rates[CHAT], state.shows.spy_rates[CHAT]) == (2, 1)
    # Another process moved the stream on (a show requested there): read it again.
    assert quiet.unknown(after({CHAT: 6}), [CHAT]) == [CHAT]


def busy(version: int) -> LedgerState:
    """A chat with a running show and its minute's open hold, at `version`."""
    state = after({CHAT: version}, ("2", "1"))
    state.holds.add(Hold("h1", CHAT, CLIENT, "Bob", Decimal(2), NOW, "show"))
    state.shows.add(Show("s1", CHAT, CLIENT, "Bob", Decimal(2), 60.0, NOW, RUNNING, NOW, 1,
                         hold_id="h1"))
    return state


def test_a_chat_with_a_show_is_remembered_and_each_batch_decides_on_copies() -> None:
    quiet = QuietChats()
    quiet.learn(busy(3), {CHAT: 2}, [message()])
    first = after({CHAT: 3})
    assert quiet.unknown(first, [CHAT]) == []
    show, hold = first.shows.current_show(CHAT), first.holds.holds["h1"]
    assert show is not None and show.minutes == 1 and hold.is_open
    assert first.holds.held_by(CLIENT) == 2 and first.shows.private_rates[CHAT] == 2
    # That batch's decisions change its state, then it rolls back: nothing remembered moved.
    show.minutes = 2
    first.holds.resolve("h1", "captured", "e1", Decimal(2))
    again = after({CHAT: 3})
    assert quiet.unknown(again, [CHAT]) == []
    show = again.shows.current_show(CHAT)
    assert show is not None and show.minutes == 1 and again.holds.holds["h1"].is_open
    # Another process moved the stream on: read again.
    assert quiet.unknown(after({CHAT: 4}), [CHAT]) == [CHAT]


def test_what_a_batch_decided_is_remembered_as_its_decisions_left_it() -> None:
    quiet = QuietChats()
    state = busy(5)
    state.holds.resolve("h1", "captured", "e1", Decimal(2))  # the minute's boundary
    show = state.shows.current_show(CHAT)
    assert show is not None
    show.minutes, show.hold_id = 2, "h2"
    state.holds.add(Hold("h2", CHAT, CLIENT, "Bob", Decimal(2), NOW, "show"))
    quiet.learn(state, {CHAT: 4}, [message()])
    later = after({CHAT: 5})
    assert quiet.unknown(later, [CHAT]) == []
    assert [hold.id for hold in later.holds.open_of_chat(CHAT)] == ["h2"]
    show = later.shows.current_show(CHAT)
    assert show is not None and (show.minutes, show.hold_id) == (2, "h2")


def test_a_batch_that_does_not_read_shows_keeps_a_quiet_chat_quiet_if_it_was_current() -> None:
    quiet = QuietChats()
    quiet.learn(after({CHAT: 5}), {CHAT: 4}, [message()])
    tip = cmd.Donate("d1", CHAT, BOB, Decimal(1), None)
    quiet.learn(after({CHAT: 6}), {CHAT: 5}, [tip])
    assert quiet.unknown(after({CHAT: 6}), [CHAT]) == []
    # Remembered at 5 but found at 7 when locked (a batch elsewhere came between): forgotten.
    quiet.learn(after({CHAT: 8}), {CHAT: 7}, [tip])
    assert quiet.unknown(after({CHAT: 8}), [CHAT]) == [CHAT]


def test_only_batches_that_may_spend_read_the_clients_holds() -> None:
    assert not spends([message(1), message(2)])
    assert spends([message(), cmd.Donate("d1", CHAT, BOB, Decimal(1), None)])
    assert spends([cmd.RequestShow("r1", CHAT, BOB, 60.0)])


def test_a_quiet_chat_is_read_again_once_a_minute_whatever_its_version() -> None:
    """`rebuild` rewrites rows without events: a repair is seen within QUIET_MAX_AGE_S."""
    quiet, moment = QuietChats(max_age_s=60), [0.0]
    quiet.monotonic = lambda: moment[0]
    quiet.unknown(after({CHAT: 4}), [CHAT])
    quiet.learn(after({CHAT: 5}), {CHAT: 4}, [message()])
    for moment[0], version in ((30.0, 5), (59.0, 6)):  # remembered: no read, its age kept
        assert quiet.unknown(after({CHAT: version}), [CHAT]) == []
        quiet.learn(after({CHAT: version + 1}), {CHAT: version}, [message()])
    moment[0] = 61.0
    assert quiet.unknown(after({CHAT: 7}), [CHAT]) == [CHAT]
    quiet.learn(after({CHAT: 8}), {CHAT: 7}, [message()])
    assert quiet.unknown(after({CHAT: 8}), [CHAT]) == []  # read at 61: fresh again


def test_the_copies_a_batch_recalls_are_whole_and_its_own() -> None:
    """`Hold.copied`, `Show.copied` and `Spy.copied` copy every field (a field added to one of
    them and left out of its copy would fail here), into new objects."""
    import dataclasses

    from chatledger.domain.show_book import Spy

    def filled(kind: type, **given: object) -> object:
        values = {f.name: given.get(f.name, f"{f.name}-x") for f in dataclasses.fields(kind)}
        return kind(**values)

    spy = filled(Spy)
    hold = filled(Hold)
    show = filled(Show, spies={"spy": spy})
    for original in (hold, spy, show):
        copy = original.copied()  # type: ignore[attr-defined]
        assert copy == original and copy is not original
