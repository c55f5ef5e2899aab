"""Request bodies (DESIGN §4), lenient where the brief's clients are quirky, strict elsewhere."""

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from chatledger.domain.ids import parse_uuid

# Unicode's control characters (category Cc, fixed forever: U+0000-U+001F and U+007F-U+009F)
# but the three a text may hold; a regex, ~10x cheaper than asking unicodedata per character.
CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
DEFAULT_MAX_TEXT = 2000  # Settings.max_text_length's default; the published schema states it

# The JSON Schema of what the parsers below really accept, published in /openapi.json. The lenient
# forms the brief's clients send are part of it, so data generated from the document is data the
# server takes; each is a subset of what the parser allows (e.g. "TRUE" works but is not promised).
NO_CONTROLS = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
TEXT_SCHEMA: JsonDict = {"maxLength": DEFAULT_MAX_TEXT, "pattern": NO_CONTROLS}
MESSAGE_SCHEMA: JsonDict = {**TEXT_SCHEMA, "allOf": [{"pattern": "\\S"}]}  # not only whitespace
BOOL_SCHEMA = {"anyOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false"]}]}
MONEY_SCHEMA = {
    "description": "> 0, at most 2 decimal places, at most the configured maximum (100000.00)",
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": 100000, "multipleOf": 0.01},
        {
            "type": "string",
            "pattern": "^(?:[1-9][0-9]{0,4}(?:\\.[0-9]{1,2})?|0?\\.(?:0[1-9]|[1-9][0-9]?))$",
        },
    ],
}
UUID_SCHEMA = {"type": "string", "format": "uuid"}
MONEY_CEILING = Decimal(10) ** 18  # DECIMAL(20, 2) holds 18 integer digits
CENT = Decimal("0.01")
# A sum as clients mostly send it ("15.50"): finite, at most 2 places, below the ceiling by its
# form alone, so parse_amount's checks (~1.7 µs, most of it `as_tuple`) cannot refuse it.
PLAIN_SUM = re.compile("[0-9]{1,18}(?:\\.[0-9]{1,2})?")


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError('must be true or false (a boolean or the string "true"/"false")')


def parse_amount(value: object) -> Decimal:
    """A sum of money of any sign (the rule on its sign lives with whoever reads it)."""
    if type(value) is str and PLAIN_SUM.fullmatch(value):
        return Decimal(value).quantize(CENT)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a number or a numeric string")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError("must be a number or a numeric string") from exc
    if not amount.is_finite():
        raise ValueError("must be finite")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("has more than 2 decimal places")
    if abs(amount) >= MONEY_CEILING:
        raise ValueError(f"must be below {MONEY_CEILING:,}")
    return amount.quantize(CENT)


def parse_money(value: object) -> Decimal:
    amount = parse_amount(value)
    if amount <= 0:
        raise ValueError("must be greater than 0")
    return amount


def check_text(value: str, info: ValidationInfo) -> str:
    limit = (info.context or {}).get("max_text_length", DEFAULT_MAX_TEXT)
    if len(value) > limit:
        raise ValueError(f"must be at most {limit} characters")
    if CONTROLS.search(value):
        raise ValueError("must not contain control characters")
    return value


def check_not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be only whitespace")
    return value


def check_money_limit(value: Decimal | None, info: ValidationInfo) -> Decimal | None:
    limit = (info.context or {}).get("max_donation")
    if limit is not None and value is not None and value > limit:
        raise ValueError(f"must be at most {limit}")
    return value


MINIMUM_SCHEMA = {
    "description": ">= 0 (0: no minimum), at most 2 decimal places, at most the configured"
    " maximum donation (100000.00)",
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 100000, "multipleOf": 0.01},
        {"type": "string", "pattern": "^(?:0|[1-9][0-9]{0,4})(?:\\.[0-9]{1,2})?$"},
    ],
}
SECONDS_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 86_400}

BoolLike = Annotated[bool, BeforeValidator(parse_bool), WithJsonSchema(BOOL_SCHEMA)]
Money = Annotated[Decimal, BeforeValidator(parse_money), WithJsonSchema(MONEY_SCHEMA)]
UuidStr = Annotated[str, BeforeValidator(parse_uuid), WithJsonSchema(UUID_SCHEMA)]
# Its sign is the decider's rule (`refusal`: min_donation must not be negative).
Amount = Annotated[Decimal, BeforeValidator(parse_amount), WithJsonSchema(MINIMUM_SCHEMA)]
# Its range is the decider's rule too (`refusal`: seconds from 1 to 86400); a bool is no number.
Seconds = Annotated[int, Field(strict=True), WithJsonSchema(SECONDS_SCHEMA)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=False)


class MessageBody(_Body):
    message: str = Field(min_length=1, json_schema_extra=MESSAGE_SCHEMA)
    is_public: BoolLike = True
    to: UuidStr | None = None

    _text = field_validator("message")(check_text)
    _blank = field_validator("message")(check_not_blank)


class DonationNote(_Body):
    message: str = Field("", json_schema_extra=TEXT_SCHEMA)
    is_public: BoolLike = True

    _text = field_validator("message")(check_text)


def _note_schema(schema: dict[str, Any]) -> None:
    """The note is an object, or plain text (see _plain_text_note)."""
    schema["anyOf"].insert(1, {"type": "string", **TEXT_SCHEMA})


def _both_note_spellings(schema: dict[str, Any]) -> None:
    """The brief's "messgae" and the correct "message" are both read (first one wins)."""
    schema["properties"]["message"] = dict(schema["properties"]["messgae"])


class DonationBody(_Body):
    model_config = ConfigDict(json_schema_extra=_both_note_spellings)

    sum: Money
    anonymous: BoolLike = False
    menu_item: str | None = Field(None, min_length=1, max_length=64,
                                  description="A tip menu item's id: `sum` must be its price.")
    note: DonationNote | None = Field(
        None,
        validation_alias=AliasChoices("messgae", "message"),
        json_schema_extra=_note_schema,
    )

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
    name: str = Field(min_length=1, max_length=200, json_schema_extra={"pattern": NO_CONTROLS})
    require_sum: Money
    queued: BoolLike = False  # wait until every active goal has ended (DESIGN §11)

    _text = field_validator("name")(check_text)
    _limit = field_validator("require_sum")(check_money_limit)


class PinTierBody(_Body):
    """A pin of at least `min` shows for `seconds` (DESIGN §11)."""

    min: Money
    seconds: int = Field(strict=True, ge=1, le=18_000)

    _limit = field_validator("min")(check_money_limit)


class ToyLevelBody(_Body):
    """A tip of at least `min` plays the toy at `level` for `seconds` (DESIGN §11)."""

    min: Money
    level: int = Field(strict=True, ge=1, le=20)
    seconds: int = Field(strict=True, ge=1, le=600)

    _limit = field_validator("min")(check_money_limit)


_SETTINGS = ("min_donation", "private_rate", "spy_rate", "pin_tiers", "toy_levels")


class SettingsBody(_Body):
    """Any of the chat's settings, at least one; a field left out keeps its value."""

    min_donation: Amount | None = None
    private_rate: Amount | None = None  # per minute of a private show (DESIGN §10); 0: off
    spy_rate: Amount | None = None
    # DESIGN §11: strictly increasing in min, at most 10 (the decider's rule: `extras_settings`)
    pin_tiers: list[PinTierBody] | None = Field(
        None, description="Paid pins' tiers, strictly increasing in `min`, at most 10; [] turns"
        " pins off.")
    toy_levels: list[ToyLevelBody] | None = Field(
        None, description="The toy's levels, strictly increasing in `min`, at most 10; [] turns"
        " the toy off.")

    _limit = field_validator("min_donation", "private_rate", "spy_rate")(check_money_limit)

    @model_validator(mode="after")
    def _at_least_one(self) -> "SettingsBody":
        if all(getattr(self, name) is None for name in _SETTINGS):
            raise ValueError(f"name at least one of {', '.join(_SETTINGS)}")
        return self


class PinBody(_Body):
    """A paid pinned message (DESIGN §11)."""

    message: str = Field(min_length=1, max_length=200,
                         json_schema_extra={**MESSAGE_SCHEMA, "maxLength": 200})
    sum: Money
    is_public: BoolLike = Field(True, description="Always true: a private pin does not exist.")

    _text = field_validator("message")(check_text)
    _blank = field_validator("message")(check_not_blank)
    _limit = field_validator("sum")(check_money_limit)

    @field_validator("is_public")
    @classmethod
    def _public(cls, value: bool) -> bool:
        """Asked for privacy, a pin would go up for all to see: refused instead."""
        if not value:
            raise ValueError("a pin is always public (a private pin does not exist)")
        return value


class ShowBody(_Body):
    """Which show (DESIGN §10): the `show` of its events."""

    show: UuidStr


class EmptyBody(_Body):
    """Nothing to say (a show request)."""


class MuteBody(_Body):
    client: UuidStr
    seconds: Seconds


class ClientBody(_Body):
    """Ban or unban: who."""

    client: UuidStr


class DeletionBody(_Body):
    id: UuidStr = Field(description="The `id` of the `message` event to delete.")
