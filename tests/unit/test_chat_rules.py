"""ChatRules: the API's in-process copy of the rules' state (minimum tips, mutes, bans), folded
from the published wire form by the ledger's own `evolve`, seeded from a snapshot, and asked the
decider's own questions."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatledger.domain import events as ev
from chatledger.domain.commands import (
    Actor,
    BanViewer,
    ChangeSettings,
    ChatCommand,
    Donate,
    Moderation,
    MuteViewer,
    PostMessage,
    RegisterConnection,
    UnbanViewer,
)
from chatledger.domain.decider import apply, moderation_refusal, speaks
from chatledger.domain.state import ZERO, LedgerState, evolve
from chatledger.domain.wire import encode_event
from chatledger.readmodels.chat_rules import (
    RULE_TYPES,
    ChatRules,
    Seed,
    event_of,
    is_rule_event,
)
from tests.unit.test_wire_models import ANN, BOB, MIA, every_kind_of_event

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_rule_events_are_told_apart_by_their_first_bytes() -> None:
    for event in every_kind_of_event():
        assert is_rule_event(encode_event(event)) is (event.type in RULE_TYPES), event.type


def test_folding_the_published_events_gives_the_ledgers_own_state() -> None:
    published = every_kind_of_event()
    ledger = LedgerState()
    for event in published:
        evolve(ledger, event)
    rules = ChatRules()
    rules.seed(Seed())
    folded = [rules.fold(encode_event(event)) for event in published]
    assert sorted(e.type for e in folded if e is not None) == sorted(
        e.type for e in published if e.type in RULE_TYPES
    )
    assert rules.state.min_donations == ledger.min_donations == {MIA.uuid: Decimal("2.50")}
    assert rules.state.mutes == ledger.mutes and BOB.uuid in {c for _, c in ledger.mutes}
    assert rules.state.bans == ledger.bans == set()  # banned, then unbanned


def test_an_undecodable_rule_event_is_dropped_not_raised() -> None:
    rules = ChatRules()
    for raw in (b'{"type":"viewer_banned",', b'{"type":"viewer_banned","chat":"x"}'):
        assert rules.fold(raw) is None
    assert rules.state == LedgerState()


def test_an_event_read_back_from_the_wire_is_the_event() -> None:
    for event in every_kind_of_event():
        if event.type in RULE_TYPES:
            back = event_of(orjson.loads(encode_event(event)))
            assert (back.stream, back.seq, back.type, back.created_at) == (
                event.stream, event.seq, event.type, event.created_at)
            assert back.payload == event.payload


# A chat's moderation history: the model's commands, decided by the real decider.
CLIENTS = (BOB, ANN)
steps = st.lists(
    st.one_of(
        st.builds(lambda cents: ChangeSettings("", MIA.uuid, MIA, Decimal(cents) / 100),
                  st.integers(0, 500)),
        st.builds(lambda c, s: MuteViewer("", MIA.uuid, MIA, c.uuid, s),
                  st.sampled_from(CLIENTS), st.integers(1, 86_400)),
        st.builds(lambda c: BanViewer("", MIA.uuid, MIA, c.uuid), st.sampled_from(CLIENTS)),
        st.builds(lambda c: UnbanViewer("", MIA.uuid, MIA, c.uuid), st.sampled_from(CLIENTS)),
    ),
    max_size=12,
)


def decided(history: list[ChangeSettings | Moderation]) -> list[ev.Event]:
    """The events the ledger appends for `history` (what the API refuses is left out)."""
    state = LedgerState(
        balances={MIA.uuid: ZERO, BOB.uuid: ZERO, ANN.uuid: ZERO},
        kinds={MIA.uuid: "model", BOB.uuid: "client", ANN.uuid: "client"},
    )
    published = []
    for n, step in enumerate(history):
        command = replace(step, command_id=f"c{n}")
        if not isinstance(command, ChangeSettings) and moderation_refusal(
            state, command, "client"
        ):
            continue
        published += apply(command, state, NOW + timedelta(seconds=n))
    return published


def snapshot_after(published: list[ev.Event], count: int, *, with_version: bool) -> Seed:
    """What the projection tables hold once the first `count` events were committed."""
    state = LedgerState()
    for event in published[:count]:
        evolve(state, event)
    has_rows = bool(state.min_donations or state.mutes or state.bans)
    version = published[count - 1].seq if count else 0
    versions = {MIA.uuid: version} if with_version and has_rows else {}
    return Seed(versions, dict(state.min_donations), dict(state.mutes), set(state.bans))


@given(steps, st.data())
def test_seeding_after_the_feed_is_positioned_converges_on_the_ledgers_state(
    history: list[ChangeSettings | Moderation], data: st.DataObject
) -> None:
    """The feed is positioned when `positioned` events are on the topic; the snapshot is taken
    later, when `snapshot` events are committed. The feed then reads every event from
    `positioned` on, some of them in the seed already: the state ends as the ledger's."""
    published = decided(history)
    positioned = data.draw(st.integers(0, len(published)))
    snapshot = data.draw(st.integers(positioned, len(published)))
    with_version = data.draw(st.booleans())  # a chat with rows has its version in the seed
    ledger = LedgerState()
    for event in published:
        evolve(ledger, event)
    rules = ChatRules()
    rules.seed(snapshot_after(published, snapshot, with_version=with_version))
    for event in published[positioned:]:
        rules.fold(encode_event(event))
        rules.fold(encode_event(event))  # Kafka delivers at least once
    assert rules.state.min_donations == ledger.min_donations
    assert rules.state.mutes == ledger.mutes
    assert rules.state.bans == ledger.bans


def test_an_event_the_seed_holds_is_not_folded_again() -> None:
    ban, unban = decided([BanViewer("", MIA.uuid, MIA, BOB.uuid),
                          UnbanViewer("", MIA.uuid, MIA, BOB.uuid)])
    rules = ChatRules()
    rules.seed(Seed(versions={MIA.uuid: unban.seq}))  # both in the snapshot: not banned
    assert rules.fold(encode_event(ban)) is None
    assert not rules.banned(MIA.uuid, BOB.uuid)  # not even for a moment


def command_of(kind: str, actor: Actor = BOB) -> ChatCommand:
    commands: dict[str, ChatCommand] = {
        "message": PostMessage("m", MIA.uuid, actor, "hi", True),
        "tip": Donate("d", MIA.uuid, actor, Decimal("1")),
        "tip with text": Donate("d", MIA.uuid, actor, Decimal("1"), "hi"),
        "connection": RegisterConnection("r", MIA.uuid, actor, "conn"),
    }
    return commands[kind]


@pytest.mark.parametrize(
    ("kind", "muted", "banned"),
    [
        ("message", "muted", "banned"),
        ("tip with text", "muted", "banned"),
        ("tip", None, "banned"),
        ("connection", None, "banned"),
    ],
)
def test_a_mute_silences_speech_and_a_ban_refuses_everything(
    kind: str, muted: str | None, banned: str | None
) -> None:
    command = command_of(kind)
    assert speaks(command) is (muted is not None)
    rules = ChatRules()
    rules.seed(Seed(mutes={(MIA.uuid, BOB.uuid): NOW + timedelta(seconds=60)}))
    assert rules.speech(command, NOW) == muted
    assert rules.speech(command, NOW + timedelta(seconds=60)) is None  # the mute is over
    rules.seed(Seed(bans={(MIA.uuid, BOB.uuid)}))
    assert rules.speech(command, NOW) == banned
    assert rules.speech(command_of(kind, ANN), NOW) is None  # only that person


def test_the_minimum_is_told_only_to_a_smaller_tip() -> None:
    rules = ChatRules()
    rules.seed(Seed(min_donations={MIA.uuid: Decimal("5.00")}))
    assert rules.below_minimum(MIA.uuid, Decimal("4.99")) == Decimal("5.00")
    assert rules.below_minimum(MIA.uuid, Decimal("5.00")) is None
    assert rules.below_minimum(ANN.uuid, Decimal("0.01")) is None  # a chat without a minimum


def test_moderation_needs_a_client_and_a_change() -> None:
    rules = ChatRules()
    rules.seed(Seed(bans={(MIA.uuid, ANN.uuid)}))
    ban_bob = BanViewer("b", MIA.uuid, MIA, BOB.uuid)
    assert rules.moderation(ban_bob, "client") is None
    for kind in (None, "model"):
        refused = rules.moderation(ban_bob, kind)
        assert refused is not None and refused.reason == f"client: {BOB.uuid} is not a client"
    refused = rules.moderation(BanViewer("b", MIA.uuid, MIA, ANN.uuid), "client")
    assert refused is not None and refused.reason == "client: banned already"
    refused = rules.moderation(UnbanViewer("u", MIA.uuid, MIA, BOB.uuid), "client")
    assert refused is not None and refused.reason == "client: not banned"
    assert rules.moderation(MuteViewer("m", MIA.uuid, MIA, ANN.uuid, 5), "client") is None


def test_ended_mutes_are_forgotten_and_running_ones_kept() -> None:
    rules = ChatRules()
    running, ended = (MIA.uuid, BOB.uuid), (MIA.uuid, ANN.uuid)
    rules.seed(Seed(mutes={running: NOW + timedelta(seconds=600),
                           ended: NOW - timedelta(seconds=1)}))
    assert rules.speech(command_of("message"), NOW) == "muted"
    assert set(rules.state.mutes) == {running}
    assert rules.speech(command_of("message", ANN), NOW) is None
    rules.seed(Seed(mutes={ended: NOW + timedelta(seconds=10)}))  # muted again
    assert rules.speech(command_of("message", ANN), NOW + timedelta(seconds=5)) == "muted"
    assert rules.speech(command_of("message", ANN), NOW + timedelta(seconds=11)) is None
    # a full pass at most once a minute, then everything over is gone
    rules.speech(command_of("message"), NOW + timedelta(seconds=700))
    assert rules.state.mutes == {}
