"""What /openapi.json says about each route: ONE mapping, keyed by (method, path as routed).

`openapi.py` walks the app's router and looks every route up here. A route without an entry
fails the document (and its test), so nothing the server answers can be left out of it; an entry
whose route this process does not serve (another role's, or dev-only) is simply not listed.
Bodies are the models of `schemas.py` (requests) and `response_models.py` (answers).
"""

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from chatledger.api.idempotency import KeyReused
from chatledger.api.response_models import (
    Accepted,
    BadParams,
    DemoTokens,
    Failure,
    Forbidden,
    Health,
    History,
    InsufficientFunds,
    Leaderboard,
    Me,
    NotFound,
    PayloadTooLarge,
    Presence,
    Readiness,
    Silenced,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from chatledger.api.schemas import (
    ClientBody,
    ConnectionBody,
    DeletionBody,
    DonationBody,
    GoalBody,
    MessageBody,
    MuteBody,
    SettingsBody,
)
from chatledger.history.reader import MAX_LIMIT

JSON = "application/json"
Route = tuple[str, str]  # (method, the route's canonical path)


@dataclass(frozen=True)
class Reply:
    """An answer other than the shared failures: a status, and a body model or media type."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    media_type: str | None = JSON


@dataclass(frozen=True)
class Operation:
    operation_id: str
    summary: str
    replies: tuple[Reply | type[Failure], ...]
    description: str = ""
    tag: str = "chat"
    body: type[BaseModel] | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    security: tuple[dict[str, list[str]], ...] | None = None  # None: the document's (bearer)


def parameter(where: str, name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema,
    }


IDEMPOTENCY_KEY = parameter(
    "header",
    "Idempotency-Key",
    "A retried POST with the same key is applied once, under the same command id.",
    {"type": "string", "pattern": "^[\\x21-\\x7E][\\x20-\\x7E]{0,253}[\\x21-\\x7E]$"},
)
PUBLIC: tuple[dict[str, list[str]], ...] = ()
# Every POST may meet a banned caller (403 "banned").
COMMON = (BadParams, Unauthorized, Silenced, PayloadTooLarge, TooManyRequests, Unavailable)
ACCEPTED = Reply(201, "Accepted: the command will be applied once.", Accepted)


def command(
    operation_id: str,
    body: type[BaseModel],
    summary: str,
    description: str,
    *failures: type[Failure],
) -> Operation:
    return Operation(
        operation_id,
        summary,
        (ACCEPTED, *COMMON, KeyReused, *failures),
        description,
        body=body,
        parameters=(IDEMPOTENCY_KEY,),
    )


def page(operation_id: str, summary: str, media_type: str, tag: str) -> Operation:
    """A public GET answering a document or a file."""
    return Operation(
        operation_id,
        summary,
        (Reply(200, summary, media_type=media_type),),
        tag=tag,
        security=PUBLIC,
    )


DONATION = (
    "Donate to the model of the token's chat (clients only)",
    'Body: {"sum", "messgae" or "message": {"message", "is_public"} or plain text}.',
)
MODEL_ONLY = "Only the model of the token's chat; a viewer's token gets 403 (forbidden)."
MODERATION = (
    MODEL_ONLY + " The target must be a client's uuid (else 400); a ban of a banned client or"
    " an unban of one who is not banned is a 400 too. Appends `{event}` (public)."
)
WEBSOCKET = (
    'First message: {"type": "connected", "connection_id", "chat", "seq"} (schema `Connected`),'
    " then events in the wire form (schema `ChatEvent`). With `since`, what was missed after"
    " that seq is replayed first, with no gap and no duplicate. Refusals are plain HTTP answers"
    " before the upgrade (a person banned from the chat: 403 banned). A ban closes the banned"
    " person's open sockets with close code 4003."
)

OPERATIONS: dict[Route, Operation] = {
    ("POST", "/chat/message/add"): command(
        "postMessage",
        MessageBody,
        "Post a chat message",
        "A model may add `to` (a client uuid) for a private reply; clients may not.",
    ),
    ("POST", "/chat/donat/add"): command(
        "postDonat",
        DonationBody,
        DONATION[0],
        DONATION[1] + " /chat/donat/add is the brief's spelling of /chat/donate/add.",
        InsufficientFunds,
        Forbidden,
    ),
    ("POST", "/chat/donate/add"): command(
        "postDonation", DonationBody, *DONATION, InsufficientFunds, Forbidden
    ),
    ("POST", "/chat/connection/add"): command(
        "postConnection",
        ConnectionBody,
        "Register a websocket connection for the token's subject",
        "The gateway registers its own sockets; this is for clients that track their own.",
    ),
    ("POST", "/chat/goal/add"): command(
        "postGoal", GoalBody, "Set a new goal (models only)", "Every donation advances it.",
        Forbidden,
    ),
    ("POST", "/chat/settings"): command(
        "postSettings",
        SettingsBody,
        "Set the chat's minimum tip (models only)",
        MODEL_ONLY + " `min_donation` >= 0 with at most 2 decimals (0: no minimum). Appends"
        " `settings_changed` (public); a donation below the minimum is then refused with 400.",
        Forbidden,
    ),
    ("POST", "/chat/moderation/mute"): command(
        "postMute",
        MuteBody,
        "Mute a client for 1..86400 seconds (models only)",
        MODERATION.format(event="viewer_muted") + " Until it expires the client's messages and"
        ' donation texts in this chat answer 403 {"message": "muted"}; plain tips pass.',
        Forbidden,
    ),
    ("POST", "/chat/moderation/ban"): command(
        "postBan",
        ClientBody,
        "Ban a client from the chat (models only)",
        MODERATION.format(event="viewer_banned") + ' The client then gets 403 {"message":'
        ' "banned"} for every POST and for /ws in this chat, and its open sockets are closed'
        " with close code 4003.",
        Forbidden,
    ),
    ("POST", "/chat/moderation/unban"): command(
        "postUnban",
        ClientBody,
        "Lift a client's ban (models only)",
        MODERATION.format(event="viewer_unbanned"),
        Forbidden,
    ),
    ("POST", "/chat/message/delete"): command(
        "postMessageDeletion",
        DeletionBody,
        "Delete a chat message (the model, or the message's author)",
        "`id` is a `message` event's id (a tip is taken back by a refund, not deleted). Someone"
        " else's message as a viewer: 403; an unknown or deleted message, or another chat's:"
        " 400. Appends `message_deleted` (public): history no longer returns the message, and"
        " pages showing it remove it.",
        Forbidden,
    ),
    ("GET", "/chat/event/history"): Operation(
        "getHistory",
        "The chat's last 10 minutes, oldest first, only what the caller may see",
        (
            Reply(200, "The events, oldest first.", History),
            BadParams,
            Unauthorized,
            TooManyRequests,
            Unavailable,
        ),
        parameters=(
            parameter(
                "query",
                "limit",
                f"How many of the newest events (default {MAX_LIMIT}).",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            ),
        ),
    ),
    ("GET", "/chat/me"): Operation(
        "getMe",
        "Who the token is, and their balance now",
        (Reply(200, "The caller and their balance.", Me), Unauthorized, TooManyRequests,
         Unavailable),
    ),
    ("GET", "/chat/leaderboard"): Operation(
        "getLeaderboard",
        "The token's chat's top donors of a UTC period, net of refunds",
        (Reply(200, "At most 10 donors, highest net total first.", Leaderboard), BadParams,
         Unauthorized, Unavailable),
        "Periods in UTC: `day` from 00:00, `week` from Monday 00:00, `month` from the 1st,"
        " `all` (the default) all time. A refund is subtracted from the period of the donation"
        " it refunds; anonymous tips never count; a net total of 0 or less is left out.",
        parameters=(
            parameter(
                "query",
                "period",
                "day, week, month or all (default all).",
                {"type": "string", "enum": ["day", "week", "month", "all"], "default": "all"},
            ),
        ),
    ),
    ("GET", "/chat/presence"): Operation(
        "getPresence",
        "How many distinct viewers watch the token's chat, across every gateway",
        (
            Reply(200, "The count (the model not counted; a crashed gateway's viewers drop"
                  " out within 10 s).", Presence),
            Unauthorized,
            TooManyRequests,
            Unavailable,
        ),
    ),
    ("GET", "/ws"): Operation(
        "websocket",
        "The chat's live events over a websocket (DESIGN §7)",
        (
            Reply(101, "Switching protocols: the websocket is open.", media_type=None),
            BadParams,
            Unauthorized,
            Forbidden,
            Silenced,
            Unavailable,
        ),
        WEBSOCKET,
        parameters=(
            parameter(
                "query",
                "token",
                "The JWT (browsers cannot set headers on a websocket).",
                {"type": "string"},
            ),
            parameter(
                "query",
                "since",
                "The last seq the caller has seen.",
                {"type": "integer", "minimum": 0},
            ),
        ),
        security=({"bearerAuth": []}, {}),
    ),
    ("GET", "/healthz"): Operation(
        "healthz",
        "Alive (the process answers)",
        (Reply(200, "Alive.", Health),),
        tag="operations",
        security=PUBLIC,
    ),
    ("GET", "/readyz"): Operation(
        "readyz",
        "Ready: MySQL, Redis, the broker answer and the ledger keeps up",
        (
            Reply(200, "Every check is ok.", Readiness),
            Reply(503, "At least one check is not ok.", Readiness),
        ),
        tag="operations",
        security=PUBLIC,
    ),
    ("GET", "/metrics"): page(
        "metrics", "Prometheus metrics (text exposition format)", "text/plain", "operations"
    ),
    ("GET", "/openapi.json"): page("openapi", "This document (OpenAPI 3.1)", JSON, "docs"),
    ("GET", "/docs"): page(
        "docs", "A page listing the operations of this document", "text/html", "docs"
    ),
    ("GET", "/"): page("demoPage", "The demo chat page", "text/html", "demo"),
    ("GET", "/static/{filename}"): Operation(
        "demoAsset",
        "The demo page's scripts and styles",
        (Reply(200, "The file.", media_type="*/*"), NotFound),
        tag="demo",
        parameters=(parameter("path", "filename", "A file of the demo page.", {"type": "string"}),),
        security=PUBLIC,
    ),
    ("GET", "/dev/tokens"): Operation(
        "devTokens",
        "The demo people with fresh tokens (only when CHATLEDGER_DEV=1)",
        (Reply(200, "The demo chat and its people.", DemoTokens), NotFound),
        tag="demo",
        security=PUBLIC,
    ),
}
