"""GET /chat/event/history: the caller's chat, last window, at most 20, oldest first (DESIGN §4)."""

from aiohttp import web

from chatledger.api.command_routes import Rejected, principal_of
from chatledger.history.reader import MAX_LIMIT
from chatledger.web import responses
from chatledger.web.keys import HISTORY

SOURCE_HEADER = "X-History-Source"  # mirror | mysql: where this page came from


class BadLimit(ValueError):
    pass


def parse_limit(text: str | None) -> int:
    if text is None:
        return MAX_LIMIT
    limit = int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else 0
    if not 1 <= limit <= MAX_LIMIT:
        raise BadLimit(f"limit: must be an integer 1..{MAX_LIMIT}")
    return limit


def page_body(events: list[bytes]) -> bytes:
    """Splice the stored wire JSON into the body as is: no parse, no re-encode."""
    return b'{"success":true,"events":[' + b",".join(events) + b"]}"


async def get_history(request: web.Request) -> web.Response:
    try:
        principal = await principal_of(request)
    except Rejected as rejection:
        return rejection.response
    try:
        limit = parse_limit(request.query.get("limit"))
    except BadLimit as exc:
        return responses.bad_params([str(exc)])
    page = await request.app[HISTORY].history(principal.chat, principal.uuid, limit)
    return web.Response(
        body=page_body(page.events),
        content_type="application/json",
        headers={SOURCE_HEADER: page.source},
    )
