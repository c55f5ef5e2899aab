"""The demo chat page (static files, no build step) and the dev-only demo-token endpoint."""

import functools
from pathlib import Path

from aiohttp import web

from chatledger.api import demo_people as demo
from chatledger.domain.wire import money
from chatledger.readmodels.event_log import latest_seq
from chatledger.web import responses
from chatledger.web.keys import DATABASE, SETTINGS

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# The page only ever talks to its own origin; no inline script or style is needed, so a stray
# HTML injection could not run anything even if the page's textContent-only rule were broken.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        STATIC_DIR / "index.html",
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


@functools.cache
def _assets() -> frozenset[str]:
    return frozenset(path.name for path in STATIC_DIR.iterdir() if path.is_file())


async def asset(request: web.Request) -> web.StreamResponse:
    """One of the page's files by its exact name; any other name is a plain 404 (a fuzzed name
    never reaches the file system, where an over-long one made aiohttp's static route answer
    500)."""
    name = request.match_info["filename"]
    if name not in _assets():
        return responses.failure(404, "not found")
    return web.FileResponse(STATIC_DIR / name, headers={"X-Content-Type-Options": "nosniff"})


async def dev_tokens(request: web.Request) -> web.Response:
    """The demo people with fresh tokens, and their chat's sponsor, goals and minimum tip
    (CHATLEDGER_DEV=1): what the page shows before any event arrives."""
    db = request.app[DATABASE]
    people = await demo.find_demo_people(db)
    if people is None:
        return responses.failure(404, "no demo people: run `make demo`")
    chat = people[0].uuid
    # Read the version first: the sponsor and goals read after it are at least that new, so the
    # page lets only events with a higher seq change them (history replays older ones).
    seq = await latest_seq(db, chat)
    state = await demo.chat_state(db, chat)
    minimum = await db.fetch_val(
        "SELECT min_donation FROM chat_settings WHERE model_uuid = :chat", {"chat": chat}
    )
    return responses.json_response(
        {
            "success": True,
            "chat": {
                "uuid": chat,
                "name": people[0].name,
                "seq": seq,
                **state,
                "min_donation": None if minimum is None else money(minimum),
            },
            "people": demo.demo_roster(request.app[SETTINGS], people),
        }
    )
