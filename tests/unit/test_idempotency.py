"""The body fingerprint behind Idempotency-Key: what counts as the same body, and the 422."""

from decimal import Decimal

from chatledger.api.idempotency import KeyReused, fingerprint, reused
from chatledger.api.openapi import document, routes_of
from chatledger.domain.commands import Actor, AddGoal, Donate
from chatledger.platform.config import Settings
from chatledger.service import create_app
from tests.unit.test_response_models import conforms

ALICE = Actor("a", "Alice", "client")


def tip(amount: str, text: str | None = "hi", chat: str = "mia") -> Donate:
    return Donate("id-1", chat, ALICE, Decimal(amount), text)


def test_the_same_sum_written_differently_is_the_same_body() -> None:
    assert fingerprint(tip("7")) == fingerprint(tip("7.00")) == fingerprint(tip("7.0"))
    assert fingerprint(tip("70")) == fingerprint(tip("70.00"))


def test_another_sum_text_or_kind_is_another_body() -> None:
    assert fingerprint(tip("7")) != fingerprint(tip("9"))
    assert fingerprint(tip("7")) != fingerprint(tip("70"))
    assert fingerprint(tip("7")) != fingerprint(tip("7", text=None))
    goal = AddGoal("id-1", "mia", ALICE, "7", Decimal("7"))
    assert fingerprint(goal) != fingerprint(tip("7", text="7"))


def test_the_id_chat_and_author_are_the_scope_not_the_body() -> None:
    other = Donate("id-2", "nina", Actor("a", "Alicia", "client"), Decimal("7"), "hi")
    assert fingerprint(other) == fingerprint(tip("7"))


def test_the_422_is_its_model_and_documented_on_every_command() -> None:
    conforms(reused(), KeyReused, 422)
    paths = document(routes_of(create_app(Settings(dev=True)).router))["paths"]
    for path in ("/chat/donat/add", "/chat/donate/add", "/chat/message/add", "/chat/settings"):
        assert paths[path]["post"]["responses"]["422"] == {  # type: ignore[index]
            "$ref": "#/components/responses/KeyReused"
        }
