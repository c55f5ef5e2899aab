"""Every HTTP response body (DESIGN §4, §7), declared once as pydantic models.

The bodies keep the brief's wire format, typos included (`"success": "false"`, `anauthorized`).
`responses.py`, the handlers and `ops.py` build these shapes; /openapi.json is generated from the
models, and tests validate the bodies the real code builds against them (strict: no key may be
missing or extra), so the two cannot drift apart.
"""

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from chatledger.api.wire_models import ChatEvent, Goal, MoneyText, Uuid
from chatledger.history.reader import MAX_LIMIT


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Accepted(_Body):
    """The command is durable on the bus; `id` is its command id."""

    success: Literal["ok"]
    id: Uuid


class Failure(_Body):
    """The brief's error body: {"success": "false", "message"} (+ "errors" where we give them).

    Each subclass is one answer: its status, and whether it tells when to retry."""

    status: ClassVar[int]
    retry_after: ClassVar[bool] = False

    success: Literal["false"]
    message: str


class _WithReasons(Failure):
    errors: list[str] = Field(min_length=1, description="Why, one reason a line.")


class BadParams(_WithReasons):
    """Bad params: invalid JSON, fields, query or header; the reasons are in `errors`."""

    status = 400
    message: Literal["bad params"]


class Unauthorized(Failure):
    """Missing, bad, expired or unknown-subject token."""

    status = 401
    message: Literal["anauthorized"]


class InsufficientFunds(Failure):
    """The donation is above the donor's current balance."""

    status = 402
    message: Literal["insufficient funds"]


class Forbidden(_WithReasons):
    """Not allowed for this role (or origin); the reason is in `errors`."""

    status = 403
    message: Literal["forbidden"]


class Silenced(Failure):
    """The caller is banned from this chat (every POST, and `/ws`) or muted in it (messages and
    donation texts; a plain tip still passes) (DESIGN §9)."""

    status = 403
    message: Literal["muted", "banned"]


class NotFound(Failure):
    """Nothing here (the message says what is missing)."""

    status = 404


class MethodNotAllowed(Failure):
    """The path exists, not with this method."""

    status = 405
    message: Literal["method not allowed"]


class PayloadTooLarge(Failure):
    """The body is over the configured size limit."""

    status = 413
    message: Literal["payload too large"]


class TooManyRequests(Failure):
    """Past a rate limit; `Retry-After` says when the window ends."""

    status = 429
    retry_after = True
    message: Literal["too many requests"]


class Unavailable(Failure):
    """A dependency (the broker, MySQL) cannot take the request now; retry."""

    status = 503
    retry_after = True
    message: Literal["unavailable"]


FAILURES: tuple[type[Failure], ...] = (
    BadParams,
    Unauthorized,
    InsufficientFunds,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    TooManyRequests,
    Unavailable,
)
# Bodies that share a status with one of FAILURES: an operation answering both documents
# either under that status.
ALTERNATIVE_FAILURES: tuple[type[Failure], ...] = (Silenced,)


class History(_Body):
    success: Literal[True]
    events: list[ChatEvent] = Field(max_length=MAX_LIMIT, description="Oldest first.")


class Connected(_Body):
    """The websocket's first message (DESIGN §7); events in the wire form follow."""

    type: Literal["connected"]
    connection_id: Uuid
    chat: Uuid
    seq: int = Field(ge=0, description="The chat's latest seq when the socket joined.")


class Me(_Body):
    """`GET /chat/me` (DESIGN §9): the caller, and their balance as the ledger has it now."""

    success: Literal[True]
    uuid: Uuid
    name: str
    role: Literal["client", "model"]
    chat: Uuid = Field(description="The chat the token is for (a model's own).")
    balance: MoneyText
    available: MoneyText = Field(description="The balance less the open holds (DESIGN §10).")
    held: MoneyText = Field(description="The sum of the caller's open holds.")


class LeaderboardEntry(_Body):
    uuid: Uuid
    name: str
    total: MoneyText = Field(description="Net of refunds, in the period; always above 0.")


class Leaderboard(_Body):
    """`GET /chat/leaderboard` (DESIGN §9): the chat's top donors of a UTC period."""

    success: Literal[True]
    period: Literal["day", "week", "month", "all"]
    entries: list[LeaderboardEntry] = Field(
        max_length=10,
        description="Highest net total first; a tie by uuid (ascending). Anonymous tips never"
        " count.",
    )


class Presence(_Body):
    """`GET /chat/presence` (DESIGN §9): distinct viewers now, across every gateway process."""

    success: Literal[True]
    chat: Uuid
    viewers: int = Field(ge=0, description="Distinct clients connected; the model not counted.")


class PresenceFrame(_Body):
    """A websocket frame outside the event stream (no seq): the room's viewer count changed."""

    type: Literal["presence"]
    chat: Uuid
    viewers: int = Field(ge=0)


class Health(_Body):
    status: Literal["ok"]


class Check(BaseModel):
    """One dependency: ok, or the error that made it not ok; a check may add details."""

    model_config = ConfigDict(extra="allow", frozen=True)

    ok: bool
    error: str | SkipJsonSchema[None] = None  # present only when not ok


class Checks(_Body):
    """mysql, redis, kafka, and ledger_lag where this process runs the ledger."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Check] = Field(init=False)

    mysql: Check
    redis: Check
    kafka: Check


class Readiness(_Body):
    status: Literal["ready", "not ready"]
    checks: Checks


class DemoPerson(_Body):
    uuid: Uuid
    name: str
    role: Literal["client", "model"]
    token: str = Field(description="A JWT for the demo model's chat.")


class DemoSponsor(_Body):
    uuid: Uuid
    name: str
    total: MoneyText | None


class DemoChat(_Body):
    uuid: Uuid
    name: str
    seq: int = Field(ge=0, description="The version the sponsor and goals are at least as new as.")
    sponsor: DemoSponsor | None
    goals: list[Goal] = Field(description="The active goals.")
    queued_goals: list[Goal] = Field(
        description="The goals waiting for every active goal to end, in the order they start.")
    min_donation: MoneyText | None = Field(description="The chat's minimum tip (None: none set).")


class DemoTokens(_Body):
    """The demo people with fresh tokens, and their chat's sponsor and goals."""

    success: Literal[True]
    chat: DemoChat
    people: list[DemoPerson]
