"""The words of /openapi.json: what only a person can say about each route (summaries, prose,
the failures only some commands give). Everything else is derived (`openapi_operations.py`);
the query parameters are built from the parsers' own bounds (`history.MAX_LIMIT`,
`leaderboard.PERIODS`), so the document cannot drift from what the server accepts.
"""

from chatledger.api.extras import PIN_PROSE, PINS_READ, TOY_READ
from chatledger.api.leaderboard import DEFAULT_PERIOD, PERIODS
from chatledger.api.menu import MENU_PROSE, MENU_READ
from chatledger.api.openapi_types import (
    JSON,
    PUBLIC,
    Operation,
    Prose,
    Reply,
    Route,
    page,
    parameter,
)
from chatledger.api.response_models import (
    BadParams,
    DemoTokens,
    Forbidden,
    Health,
    History,
    InsufficientFunds,
    Leaderboard,
    Me,
    NotFound,
    Presence,
    Readiness,
    Silenced,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from chatledger.api.show_read import SHOW_READ
from chatledger.history.reader import MAX_LIMIT

DONATION = Prose(
    "Donate to the model of the token's chat (clients only)",
    'Body: {"sum", "messgae" or "message": {"message", "is_public"} or plain text}.',
    (InsufficientFunds, Forbidden),
)
MODEL_ONLY = "Only the model of the token's chat; a viewer's token gets 403 (forbidden)."
MODERATION = (
    MODEL_ONLY + " The target must be a client's uuid (else 400); a ban of a banned client or"
    " an unban of one who is not banned is a 400 too. Appends `{event}` (public)."
)
WEBSOCKET = (
    'First message: {"type": "connected", "connection_id", "chat", "seq"} (schema `Connected`),'
    " then events in the wire form (schema `ChatEvent`); the room's viewer count comes as"
    " `PresenceFrame`. With `since`, what was missed after that seq is replayed first, with no"
    " gap and no duplicate. Refusals are plain HTTP answers before the upgrade (a person banned"
    " from the chat: 403 banned). A ban closes the banned person's open sockets with close code"
    " 4003."
)

PROSE: dict[Route, Prose] = {
    ("POST", "/chat/message/add"): Prose(
        "Post a chat message",
        "A model may add `to` (a client uuid) for a private reply; clients may not.",
    ),
    ("POST", "/chat/donat/add"): Prose(
        DONATION.summary,
        DONATION.description + " /chat/donat/add is the brief's spelling of /chat/donate/add.",
        DONATION.failures,
        operation_id="postDonat",
    ),
    ("POST", "/chat/donate/add"): DONATION,
    ("POST", "/chat/menu"): MENU_PROSE,
    ("POST", "/chat/pin"): PIN_PROSE,
    ("POST", "/chat/connection/add"): Prose(
        "Register a websocket connection for the token's subject",
        "The gateway registers its own sockets; this is for clients that track their own.",
    ),
    ("POST", "/chat/goal/add"): Prose(
        "Set a new goal (models only)",
        "Every donation to the chat advances every active goal. With `\"queued\": true` the"
        " goal waits until every active goal has ended, then starts (`goal_started`) in the"
        " order queued; the donation that ends the last active goal does not spill into it. A"
        " queued goal with no active goal before it starts at once.",
        (Forbidden,),
    ),
    ("POST", "/chat/settings"): Prose(
        "Change the chat's settings (models only)",
        MODEL_ONLY + " Any subset of the fields, at least one; a field left out keeps its value."
        " `min_donation` >= 0 with at most 2 decimals (0: no minimum): a donation below it is"
        " then refused with 400. `private_rate`, `spy_rate`: per minute of a show (0: off)."
        " `pin_tiers` [{min, seconds 1..18000}] and `toy_levels` [{min, level 1..20, seconds"
        " 1..600}]: at most 10 each, strictly increasing in `min` ([]: off). Appends"
        " `settings_changed` (public) with every setting after the change.",
        (Forbidden,),
    ),
    ("POST", "/chat/moderation/mute"): Prose(
        "Mute a client for 1..86400 seconds (models only)",
        MODERATION.format(event="viewer_muted") + " Until it expires the client's messages and"
        ' donation texts in this chat answer 403 {"message": "muted"}; plain tips pass.',
        (Forbidden,),
    ),
    ("POST", "/chat/moderation/ban"): Prose(
        "Ban a client from the chat (models only)",
        MODERATION.format(event="viewer_banned") + ' The client then gets 403 {"message":'
        ' "banned"} for every POST and for /ws in this chat, and its open sockets are closed'
        " with close code 4003.",
        (Forbidden,),
    ),
    ("POST", "/chat/moderation/unban"): Prose(
        "Lift a client's ban (models only)", MODERATION.format(event="viewer_unbanned"),
        (Forbidden,),
    ),
    ("POST", "/chat/message/delete"): Prose(
        "Delete a chat message (the model, or the message's author)",
        "`id` is a `message` event's id (a tip is taken back by a refund, not deleted). Someone"
        " else's message as a viewer: 403; an unknown or deleted message, or another chat's:"
        " 400. Appends `message_deleted` (public): history no longer returns the message, and"
        " pages showing it remove it.",
        (Forbidden,),
        operation_id="postMessageDeletion",
    ),
}

# The table's routes that are not commands: their replies differ, so they are written whole.
READS: dict[Route, Operation] = {
    ("GET", "/chat/menu"): MENU_READ,
    ("GET", "/chat/show"): SHOW_READ,
    ("GET", "/chat/pins"): PINS_READ,
    ("GET", "/chat/toy"): TOY_READ,
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
        " it refunds; anonymous and private tips never count; a net total of 0 or less is left"
        " out.",
        parameters=(
            parameter(
                "query",
                "period",
                f"{', '.join(PERIODS)} (default {DEFAULT_PERIOD}).",
                {"type": "string", "enum": list(PERIODS), "default": DEFAULT_PERIOD},
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
    ("GET", "/openapi.json"): page("openapi", "This document (OpenAPI 3.1)", JSON, "docs"),
    ("GET", "/docs"): page(
        "docs", "A page listing the operations of this document", "text/html", "docs"
    ),
}

OTHER_OPERATIONS: dict[Route, Operation] = {  # served beside the table: by role or dev
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
