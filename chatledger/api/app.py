"""The HTTP API: routes in one visible table, each observed (web/observe.py)."""

import logging

from aiohttp import web

from chatledger.api import command_routes as commands
from chatledger.api import (
    demo_page,
    extras,
    history,
    leaderboard,
    me,
    menu,
    moderation,
    openapi,
    presence,
    shows,
)
from chatledger.api.ratelimit import rate_limiter_ctx
from chatledger.web.observe import add_observed_route, observed
from chatledger.web.responses import Handler

log = logging.getLogger(__name__)


ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/chat/message/add", commands.post_message),
    ("POST", "/chat/donat/add", commands.post_donation),  # the brief's spelling
    ("POST", "/chat/donate/add", commands.post_donation),
    ("POST", "/chat/connection/add", commands.post_connection),
    ("POST", "/chat/goal/add", commands.post_goal),
    ("POST", "/chat/settings", moderation.post_settings),
    ("POST", "/chat/moderation/mute", moderation.post_mute),
    ("POST", "/chat/moderation/ban", moderation.post_ban),
    ("POST", "/chat/moderation/unban", moderation.post_unban),
    ("POST", "/chat/message/delete", moderation.post_deletion),
    ("POST", "/chat/menu", menu.post_menu),
    ("GET", "/chat/menu", menu.get_menu),
    *shows.ROUTES,
    *extras.ROUTES,
    ("GET", "/chat/event/history", history.get_history),
    ("GET", "/chat/presence", presence.get_presence),
    ("GET", "/chat/me", me.get_me),
    ("GET", "/chat/leaderboard", leaderboard.get_leaderboard),
    ("GET", "/openapi.json", openapi.serve_document),
    ("GET", "/docs", openapi.serve_docs),
]


def add_api_routes(app: web.Application) -> None:
    """Call after the contexts that create the app's MySQL pool and Redis client (the limiter
    counts in Redis, the leaderboards read MySQL)."""
    app.cleanup_ctx.append(rate_limiter_ctx)
    app.cleanup_ctx.append(leaderboard.leaderboards_ctx)
    for method, path, handler in ROUTES:
        add_observed_route(app, method, path, handler)


def add_demo_routes(app: web.Application, *, dev: bool) -> None:
    """The demo page is plain static files; the token endpoint is not routed at all unless dev."""
    app.router.add_get("/", observed(demo_page.index))  # add_get: HEAD too
    app.router.add_get("/static/{filename}", observed(demo_page.asset))
    if dev:
        app.router.add_get("/dev/tokens", observed(demo_page.dev_tokens))
