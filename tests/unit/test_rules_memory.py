"""The ledger skips the rules read of a chat only at the stream version it learnt it at, and
only for as long as its rows were read whole recently enough."""

from datetime import UTC, datetime
from decimal import Decimal

from chatledger.domain.state import LedgerState
from chatledger.ledger.rules_memory import RulesMemory

CHAT, OTHER = "chat-1", "chat-2"
UNTIL = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ruled(versions: dict[str, int]) -> LedgerState:
    """A batch's state after it: CHAT with a minimum, a ban and a mute; OTHER's ban too."""
    state = LedgerState()
    state.versions = dict(versions)
    state.min_donations[CHAT] = Decimal("2.00")
    state.bans |= {(CHAT, "ann"), (OTHER, "bob")}
    state.mutes[(CHAT, "cat")] = UNTIL
    return state


def test_a_chat_read_whole_is_recalled_at_its_version_only() -> None:
    clock = Clock()
    memory = RulesMemory(monotonic=clock)
    assert memory.usable([CHAT], None) == []
    memory.learn(ruled({CHAT: 5, OTHER: 3}), [CHAT, OTHER], {CHAT: 90.0})
    assert memory.usable([CHAT, OTHER], {CHAT: 5, OTHER: 3}) == [CHAT]  # OTHER: not whole
    assert memory.usable([CHAT], {CHAT: 6}) == []  # another process moved the stream
    state = LedgerState()
    memory.recall(state, [CHAT])
    assert state.min_donations == {CHAT: Decimal("2.00")}
    assert state.bans == {(CHAT, "ann")} and state.mutes == {(CHAT, "cat"): UNTIL}
    clock.now = 90.0 + memory.max_age_s  # read too long ago: read whole again
    assert memory.usable([CHAT], {CHAT: 5}) == []


def test_a_presumed_chat_at_another_version_is_forgotten() -> None:
    memory = RulesMemory(monotonic=Clock())
    memory.learn(ruled({CHAT: 5}), [CHAT], {CHAT: 99.0})
    assert memory.usable([CHAT], None) == [CHAT]  # presumed before the lock
    moved = LedgerState()
    moved.versions = {CHAT: 7}
    assert not memory.confirm(moved, [CHAT])
    assert memory.usable([CHAT], None) == []


def test_a_stream_locked_without_its_rules_whole_is_forgotten() -> None:
    """A batch that moved a chat's stream without its rules complete in the state (a payout of
    the model's account) leaves nothing to remember of it."""
    memory = RulesMemory(monotonic=Clock())
    memory.learn(ruled({CHAT: 5}), [CHAT], {CHAT: 99.0})
    memory.learn(ruled({CHAT: 6}), [CHAT], {})
    assert memory.usable([CHAT], None) == []


def test_the_oldest_chat_is_forgotten_past_the_limit() -> None:
    memory = RulesMemory(limit=1, monotonic=Clock())
    memory.learn(ruled({CHAT: 1, OTHER: 1}), [CHAT, OTHER], {CHAT: 99.0, OTHER: 99.0})
    assert list(memory.known) == [OTHER]
