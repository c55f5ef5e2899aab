"""Request bodies: the brief's quirks accepted, everything else refused with a reason."""

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from chatledger.http.schemas import DonationBody, GoalBody, MessageBody

CONTEXT = {"max_text_length": 20, "max_donation": Decimal("1000")}


def donation(body: dict[str, Any]) -> DonationBody:
    return DonationBody.model_validate(body, context=CONTEXT)


def test_brief_donation_with_messgae_typo_and_string_bool() -> None:
    body = donation({"sum": 15.5, "messgae": {"message": "", "is_public": "false"}})
    assert body.sum == Decimal("15.50") and body.text is None and body.is_public is False


def test_donation_with_correct_spelling_and_numeric_string() -> None:
    body = donation({"sum": "7", "message": {"message": "hey", "is_public": True}})
    assert body.sum == Decimal("7.00") and body.text == "hey" and body.is_public


@pytest.mark.parametrize("amount", [0, -1, "abc", "1.001", 1e308, "NaN", "Infinity", True, None,
                                    [], "1000.01"])
def test_bad_sums_are_refused(amount: object) -> None:
    with pytest.raises(ValidationError):
        donation({"sum": amount})


@pytest.mark.parametrize("text", ["", "x" * 21, "bell\x07", "nul\x00", " ", "\t\n \u3000"])
def test_bad_message_text_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        MessageBody.model_validate({"message": text, "is_public": True}, context=CONTEXT)


@pytest.mark.parametrize("flag", ["yes", 1, None, "maybe"])
def test_is_public_must_be_a_boolean_or_its_string(flag: object) -> None:
    with pytest.raises(ValidationError):
        MessageBody.model_validate({"message": "hi", "is_public": flag}, context=CONTEXT)


def test_message_keeps_newlines_and_html_verbatim() -> None:
    body = MessageBody.model_validate({"message": "<b>hi</b>\nthere", "is_public": "TRUE"},
                                      context=CONTEXT)
    assert body.message == "<b>hi</b>\nthere" and body.is_public


def test_goal_needs_a_name_and_a_valid_sum() -> None:
    assert GoalBody.model_validate({"name": "Dance", "require_sum": "20"},
                                   context=CONTEXT).require_sum == Decimal("20.00")
    with pytest.raises(ValidationError):
        GoalBody.model_validate({"name": "", "require_sum": 20}, context=CONTEXT)
