import random

import orjson

from chatledger.domain.visibility import privy, visible_to
from tests.unit.test_history_cache import CHAT, PEOPLE, random_event

MODEL, ALICE, BOB = "m", "a", "b"


def event(type_: str = "message", *, public: bool, sender: str, to: str | None = None,
          chat: str = MODEL) -> dict[str, object]:
    return {"type": type_, "chat": chat, "is_public": public, "from": {"uuid": sender}, "to": to}


def test_public_is_seen_by_everyone_in_the_chat_only() -> None:
    e = event(public=True, sender=ALICE)
    assert all(visible_to(e, who, MODEL) for who in (MODEL, ALICE, BOB))
    assert not visible_to(e, BOB, "another-chat")


def test_private_is_seen_by_sender_and_model_only() -> None:
    e = event(public=False, sender=ALICE)
    assert visible_to(e, ALICE, MODEL) and visible_to(e, MODEL, MODEL)
    assert not visible_to(e, BOB, MODEL)


def test_private_reply_reaches_its_recipient_only() -> None:
    e = event(public=False, sender=MODEL, to=ALICE)
    assert visible_to(e, ALICE, MODEL) and visible_to(e, MODEL, MODEL)
    assert not visible_to(e, BOB, MODEL)


def test_refused_donation_is_for_the_donor_alone() -> None:
    e = event("donate_rejected", public=False, sender=ALICE)
    assert visible_to(e, ALICE, MODEL)
    assert not visible_to(e, MODEL, MODEL) and not visible_to(e, BOB, MODEL)


def test_account_events_are_never_chat_events() -> None:
    assert not visible_to(event("deposited", public=False, sender=MODEL), MODEL, MODEL)


def test_privy_names_everyone_who_may_see_what_a_stranger_may_not() -> None:
    chooser = random.Random(3)
    for seq in range(2000):
        e = orjson.loads(random_event(chooser, seq))
        for who in (CHAT, *PEOPLE):
            if visible_to(e, who, CHAT) and not visible_to(e, "", CHAT):
                assert who in privy(e, CHAT), (e, who)
