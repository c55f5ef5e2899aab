"""DESIGN §10's tip menu on the pure decider: setting a menu, buying an item, a raced change."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatledger.domain import events as ev
from chatledger.domain.commands import Deposit, Donate, MenuEntry, SetMenu
from chatledger.domain.decider import CommandRefused, apply, refusal
from chatledger.domain.menu import MENU_CHANGED, purchase_refusal
from chatledger.domain.state import LedgerState
from chatledger.domain.wire import event_to_wire
from tests.unit.test_decider import CLIENTS, MODELS, NOW, cid, fresh_state

MODEL, CLIENT = MODELS[0], CLIENTS[0]


def set_menu(state: LedgerState, *items: tuple[str, str]) -> ev.Event:
    entries = tuple(MenuEntry(label, Decimal(price)) for label, price in items)
    (event,) = apply(SetMenu(cid(), MODEL.uuid, MODEL, entries), state, NOW)
    return event


def funded(amount: str = "100.00") -> LedgerState:
    state = fresh_state()
    apply(Deposit(cid(), CLIENT.uuid, Decimal(amount)), state, NOW)
    return state


def buy(state: LedgerState, item: str, amount: str) -> list[ev.Event]:
    return apply(Donate(cid(), MODEL.uuid, CLIENT, Decimal(amount), menu_item=item), state, NOW)


def test_a_menu_changed_event_names_each_item_and_counts_versions() -> None:
    state = funded()
    first = set_menu(state, ("Dance", "5.00"), ("Song", "12.50"))
    assert first.type == ev.MENU_CHANGED and first.is_public
    wire = event_to_wire(first)
    assert wire["version"] == 1
    pairs = [(i["label"], i["price"]) for i in wire["items"]]
    assert pairs == [("Dance", "5.00"), ("Song", "12.50")]
    cleared = set_menu(state)
    assert cleared.payload["version"] == 2 and cleared.payload["items"] == []
    assert state.menus[MODEL.uuid].items == ()


def test_ids_are_stable_for_an_unchanged_label_and_price() -> None:
    state = funded()
    first = set_menu(state, ("Dance", "5.00"), ("Song", "12.50"))
    second = set_menu(state, ("Song", "12.50"), ("Dance", "6.00"), ("Dance", "5.00"))
    ids = {(i["label"], i["price"]): i["id"] for i in first.payload["items"]}
    again = {(i["label"], i["price"]): i["id"] for i in second.payload["items"]}
    assert again[("Dance", Decimal("5.00"))] == ids[("Dance", Decimal("5.00"))]
    assert again[("Song", Decimal("12.50"))] == ids[("Song", Decimal("12.50"))]
    assert again[("Dance", Decimal("6.00"))] not in ids.values()


def test_a_purchase_carries_the_item_and_moves_its_price() -> None:
    state = funded()
    item = set_menu(state, ("Dance", "5.00")).payload["items"][0]
    donation, *_ = buy(state, item["id"], "5.00")  # then change_sponsor
    assert donation.type == ev.DONATE and donation.payload["menu_item"] == item
    assert event_to_wire(donation)["menu_item"]["price"] == "5.00"
    assert state.balances[MODEL.uuid] == Decimal("5.00")


def test_a_menu_changed_before_the_decision_rejects_the_tip_and_moves_nothing() -> None:
    state = funded()
    item = set_menu(state, ("Dance", "5.00")).payload["items"][0]
    set_menu(state, ("Dance", "7.00"))  # the price changed after the API checked
    before = dict(state.balances)
    (rejected,) = buy(state, item["id"], "5.00")
    assert rejected.type == ev.DONATE_REJECTED and rejected.payload["reason"] == MENU_CHANGED
    assert state.balances == before


def test_the_api_asks_for_an_existing_item_at_its_price() -> None:
    state = funded()
    item = set_menu(state, ("Dance", "5.00")).payload["items"][0]
    wrong = purchase_refusal(state, Donate(cid(), MODEL.uuid, CLIENT, Decimal("4.00"),
                                           menu_item=item["id"]))
    assert wrong is not None and wrong.reason == "sum: must equal the item's price 5.00"
    gone = purchase_refusal(state, Donate(cid(), MODEL.uuid, CLIENT, Decimal("5.00"),
                                          menu_item="nope"))
    assert gone is not None and "no such item" in gone.reason


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ([(f"i{n}", "1.00") for n in range(26)], "items: at most 25"),
        ([("", "1.00")], "items.0.label"),
        ([("   ", "1.00")], "items.0.label"),
        ([("x" * 101, "1.00")], "items.0.label"),
        ([("ok", "0")], "items.0.price"),
        ([("ok", "-1.00")], "items.0.price"),
        ([("ok", "1.005")], "items.0.price"),
        ([("ok", "1.00"), ("ok", "1.00")], "items.1: the same label and price twice"),
    ],
)
def test_a_bad_menu_is_refused(items: list[tuple[str, str]], reason: str) -> None:
    command = SetMenu(cid(), MODEL.uuid, MODEL,
                      tuple(MenuEntry(label, Decimal(price)) for label, price in items))
    refused = refusal(command)
    assert refused is not None and refused.reason.startswith(reason)
    with pytest.raises(CommandRefused):
        apply(command, funded(), NOW)


def test_only_the_model_sets_a_menu() -> None:
    refused = refusal(SetMenu(cid(), MODEL.uuid, CLIENT, ()))
    assert refused is not None and refused.forbidden


prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("60"), places=2)
labels = st.text(alphabet="abc", min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(
    menus=st.lists(st.lists(st.tuples(labels, prices), max_size=5, unique=True), min_size=1,
                   max_size=4),
    buys=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4), st.booleans()), max_size=8),
)
def test_a_purchase_moves_exactly_the_price_or_nothing(
    menus: list[list[tuple[str, Decimal]]], buys: list[tuple[int, int, bool]]
) -> None:
    """Items are picked from any menu posted so far (maybe a stale one); a purchase moves exactly
    the item's price when the item is on the current menu at that price, else nothing."""
    state = funded("150.00")
    seen_ids: dict[tuple[str, Decimal], str] = {}
    posted = []
    for menu in menus:
        event = set_menu(state, *((label, str(price)) for label, price in menu))
        for item in event.payload["items"]:
            key = (item["label"], item["price"])
            assert seen_ids.setdefault(key, item["id"]) == item["id"]  # stable across posts
        posted.append(event.payload["items"])
        for which, index, repost in buys:
            items = posted[min(which, len(posted) - 1)]
            if not items:
                continue
            item = items[index % len(items)]
            current = {i.id: i.price for i in state.menus[MODEL.uuid].items}
            before = dict(state.balances)
            (outcome, *_) = buy(state, item["id"], str(item["price"]))
            moved = before[CLIENT.uuid] - state.balances[CLIENT.uuid]
            if outcome.type == ev.DONATE:
                assert current.get(item["id"]) == item["price"] == moved
                assert state.balances[MODEL.uuid] - before[MODEL.uuid] == item["price"]
            else:
                assert moved == 0 and state.balances == before
                if item["id"] in current:
                    assert outcome.payload["reason"] == "insufficient funds"
                else:
                    assert outcome.payload["reason"] == MENU_CHANGED
            if repost:
                set_menu(state, *((label, str(price)) for label, price in menu))


def test_a_menu_and_a_purchase_cross_the_commands_topic_intact() -> None:
    from chatledger.bus.command_codec import decode_command, encode_command

    menu = SetMenu(cid(), MODEL.uuid, MODEL, (MenuEntry("Dance", Decimal("5.00")),))
    purchase = Donate(cid(), MODEL.uuid, CLIENT, Decimal("5.00"), menu_item="abc")
    assert decode_command(encode_command(menu)) == menu
    assert decode_command(encode_command(purchase)) == purchase


def test_the_rules_cache_learns_a_menu_from_its_published_event() -> None:
    from chatledger.domain.wire import encode_event
    from chatledger.readmodels.chat_rules import ChatRules

    state = funded()
    event = set_menu(state, ("Dance", "5.00"))
    rules = ChatRules()
    assert rules.fold(encode_event(event)) is not None
    assert rules.menu(MODEL.uuid) == state.menus[MODEL.uuid]
    item = event.payload["items"][0]["id"]
    purchase = Donate(cid(), MODEL.uuid, CLIENT, Decimal("5.00"), menu_item=item)
    assert rules.purchase(purchase) is None
    assert rules.purchase(Donate(cid(), MODEL.uuid, CLIENT, Decimal("5.01"), menu_item=item))


def test_the_audit_names_a_purchase_of_an_item_not_on_the_menu() -> None:
    from dataclasses import replace

    from chatledger.readmodels.audit import Auditor

    state = funded()
    deposit = apply(Deposit(cid(), CLIENT.uuid, Decimal("10.00")), fresh_state(), NOW)[0]
    menu = set_menu(state, ("Dance", "5.00"))
    donation, *_ = buy(state, menu.payload["items"][0]["id"], "5.00")
    kinds = {MODEL.uuid: "model", CLIENT.uuid: "client"}
    clean, forged = Auditor(kinds), Auditor(kinds)
    for auditor, bought in ((clean, donation),
                            (forged, replace(donation, amount=Decimal("4.00")))):
        for position, event in enumerate((deposit, menu, bought), 1):
            auditor.fold(event, position)
    assert [f.check for f in clean.findings] == []
    assert [(f.check, f.row) for f in forged.findings] == [("menu_purchase", "chat_events.id=3")]
