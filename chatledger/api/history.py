"""GET /chat/event/history: the caller's chat, last window, at most 20, oldest first (DESIGN §4).

`?since=<seq>` keeps of that page only what came after the seq (a client that has seen up to it);
it is checked like the websocket's `since`: a non-negative integer, else 400 with the reason.
"""

from collections.abc import Sequence
from typing import get_args

import orjson
from aiohttp import web
from multidict import CIMultiDict

from chatledger.api.command_routes import Rejected, principal_of
from chatledger.history.picking import page_body
from chatledger.history.reader import MAX_LIMIT, Source
from chatledger.web import responses
from chatledger.web.auth import known_principal
from chatledger.web.keys import DIRECTORY, HISTORY, SETTINGS

SOURCE_HEADER = "X-History-Source"  # mirror | mysql: where this page came from


class BadLimit(ValueError):
    """A query parameter that is not what it must be (the message says why)."""


MAX_SEQ_DIGITS = 18  # a BIGINT seq; longer is not a seq


def parse_since(text: str | None) -> int | None:
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_SEQ_DIGITS):
        raise BadLimit("since: must be a non-negative integer (a seq)")
    return int(text)


def after(events: Sequence[bytes], since: int) -> list[bytes]:
    """The page's events after `since` (parsed only when asked: the page is spliced as is)."""
    return [event for event in events if orjson.loads(event)["seq"] > since]


def parse_limit(text: str | None) -> int:
    if text is None:
        return MAX_LIMIT
    limit = int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else 0
    if not 1 <= limit <= MAX_LIMIT:
        raise BadLimit(f"limit: must be an integer 1..{MAX_LIMIT}")
    return limit


# A page's headers, made once per source (Response copies them): the order is the one
# aiohttp gave `headers={SOURCE_HEADER: ...}, content_type=...`, so the bytes are the same.
PAGE_HEADERS = {
    source: CIMultiDict({SOURCE_HEADER: source, "Content-Type": "application/json"})
    for source in get_args(Source)
}


async def get_history(request: web.Request) -> web.Response:
    app = request.app
    principal = known_principal(request.headers.get("Authorization"), app[SETTINGS], app[DIRECTORY])
    if principal is None:
        try:
            principal = await principal_of(request)
        except Rejected as rejection:
            return rejection.response
    limit, since = MAX_LIMIT, None
    if request.query_string:  # most pages ask for neither: no query to parse
        try:
            limit = parse_limit(request.query.get("limit"))
            since = parse_since(request.query.get("since"))
        except BadLimit as exc:
            return responses.bad_params([str(exc)])
    reader, chat, viewer = app[HISTORY], principal.chat, principal.person.uuid
    # A busy chat's page is ready from a shared read already done: no await for it.
    page = reader.ready(chat, viewer, limit)
    if page is None:
        page = await reader.history(chat, viewer, limit)
    # Without `since`, the body made once with the page (shared while its read is: recent.py).
    body = page.picked.body if since is None else page_body(after(page.events, since))
    return web.Response(body=body, headers=PAGE_HEADERS[page.source])
