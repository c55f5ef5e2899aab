"""Request bodies: the brief's quirks accepted, everything else refused with a reason."""

import unicodedata
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from chatledger.api.schemas import (
    PLAIN_SUM,
    ClientBody,
    DeletionBody,
    DonationBody,
    GoalBody,
    MessageBody,
    MuteBody,
    SettingsBody,
    parse_amount,
)

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


def settings(body: dict[str, Any]) -> SettingsBody:
    return SettingsBody.model_validate(body, context=CONTEXT)


@pytest.mark.parametrize(("raw", "amount"), [(0, "0.00"), ("5", "5.00"), (2.5, "2.50"),
                                             (-1, "-1.00"), ("1000", "1000.00")])
def test_a_minimum_is_any_sum_its_sign_is_the_deciders(raw: object, amount: str) -> None:
    assert settings({"min_donation": raw}).min_donation == Decimal(amount)


@pytest.mark.parametrize("raw", ["1.001", "abc", True, None, "1000.01", "NaN", 1e308])
def test_a_bad_minimum_is_refused(raw: object) -> None:
    with pytest.raises(ValidationError):
        settings({"min_donation": raw})


CLIENT = "6f1c2d4e-9a57-4b8e-8f0a-2c3e5d7b9a11"


@pytest.mark.parametrize("seconds", [True, "60", 60.0, 1.5, None])
def test_mute_seconds_are_a_json_integer(seconds: object) -> None:
    with pytest.raises(ValidationError):
        MuteBody.model_validate({"client": CLIENT, "seconds": seconds})
    # Its range is the decider's: the body takes any integer.
    assert MuteBody.model_validate({"client": CLIENT, "seconds": 0}).seconds == 0


def test_moderation_and_deletion_name_a_uuid() -> None:
    assert ClientBody.model_validate({"client": CLIENT.upper()}).client == CLIENT
    assert DeletionBody.model_validate({"id": CLIENT}).id == CLIENT
    for body in ({"client": "bob"}, {"client": 7}, {}):
        with pytest.raises(ValidationError):
            ClientBody.model_validate(body)


def test_every_control_character_but_newline_return_and_tab_is_refused() -> None:
    for code in range(0x3000):  # every Cc is below U+00A0; the rest of the range must pass
        text = f"a{chr(code)}b"
        refused = unicodedata.category(chr(code)) == "Cc" and chr(code) not in "\n\r\t"
        if refused:
            with pytest.raises(ValidationError, match="control characters"):
                MessageBody.model_validate({"message": text}, context=CONTEXT)
        elif code not in range(0xD800, 0xE000):
            assert MessageBody.model_validate({"message": text}, context=CONTEXT).message == text



def _read(text: str) -> object:
    try:
        amount = parse_amount(text)
    except ValueError as exc:
        return str(exc)
    return str(amount), amount


@pytest.mark.parametrize("text", ["0", "0.00", "7", "15.5", "15.50", "000000000000000001.1",
                                  "999999999999999999.99", "0.01", "1000000000000000000",
                                  "1.001", "1.000", "1e2", "1.", ".5", "١٢"])
def test_a_plain_sum_reads_as_the_full_checks_read_it(text: str) -> None:
    """Plain digits take a shortcut (schemas.PLAIN_SUM); padded, the same text takes the full
    checks: the two agree to the last digit of the Decimal, and on every refusal."""
    assert _read(text) == _read(f" {text} ")
    assert PLAIN_SUM.fullmatch(f" {text} ") is None
