"""Request bodies (DESIGN §4), lenient where the brief's clients are quirky, strict elsewhere."""

import unicodedata
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

ALLOWED_CONTROLS = frozenset("\n\r\t")
MONEY_CEILING = Decimal(10) ** 18  # DECIMAL(20, 2) holds 18 integer digits


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError('must be true or false (a boolean or the string "true"/"false")')


def parse_money(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a number or a numeric string")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError("must be a number or a numeric string") from exc
    if not amount.is_finite():
        raise ValueError("must be finite")
    if amount <= 0:
        raise ValueError("must be greater than 0")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("has more than 2 decimal places")
    if amount >= MONEY_CEILING:
        raise ValueError(f"must be below {MONEY_CEILING:,}")
    return amount.quantize(Decimal("0.01"))


def parse_uuid(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a uuid string")
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise ValueError("must be a uuid") from exc


def check_text(value: str, info: ValidationInfo) -> str:
    limit = (info.context or {}).get("max_text_length", 2000)
    if len(value) > limit:
        raise ValueError(f"must be at most {limit} characters")
    if any(unicodedata.category(ch) == "Cc" and ch not in ALLOWED_CONTROLS for ch in value):
        raise ValueError("must not contain control characters")
    return value


def check_money_limit(value: Decimal, info: ValidationInfo) -> Decimal:
    limit = (info.context or {}).get("max_donation")
    if limit is not None and value > limit:
        raise ValueError(f"must be at most {limit}")
    return value


BoolLike = Annotated[bool, BeforeValidator(parse_bool)]
Money = Annotated[Decimal, BeforeValidator(parse_money)]
UuidStr = Annotated[str, BeforeValidator(parse_uuid)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=False)


class MessageBody(_Body):
    message: str = Field(min_length=1)
    is_public: BoolLike = True
    to: UuidStr | None = None

    _text = field_validator("message")(check_text)


class DonationNote(_Body):
    message: str = ""
    is_public: BoolLike = True

    _text = field_validator("message")(check_text)


class DonationBody(_Body):
    sum: Money
    note: DonationNote | None = Field(None, validation_alias=AliasChoices("messgae", "message"))

    _limit = field_validator("sum")(check_money_limit)

    @field_validator("note", mode="before")
    @classmethod
    def _plain_text_note(cls, value: Any) -> Any:
        """`"message": "thanks"` is what a person would send; treat it as a public note."""
        return {"message": value} if isinstance(value, str) else value

    @property
    def text(self) -> str | None:
        return self.note.message if self.note and self.note.message else None

    @property
    def is_public(self) -> bool:
        return self.note.is_public if self.note else True


class ConnectionBody(_Body):
    connection_id: UuidStr


class GoalBody(_Body):
    name: str = Field(min_length=1, max_length=200)
    require_sum: Money

    _text = field_validator("name")(check_text)
    _limit = field_validator("require_sum")(check_money_limit)
