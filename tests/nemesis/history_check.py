"""History after the run: GET /chat/event/history equals MySQL's page for the caller.

MySQL's page is computed here from the rows: the caller's chat, created inside the window,
what the caller may see, the newest 20, oldest first (DESIGN §4). Whether the API served it from
the Redis mirror or from MySQL (its X-History-Source header) is named in any difference.
"""

from datetime import UTC, datetime, timedelta

import aiohttp

from tests.helpers.people import Someone
from tests.nemesis.cast import Chat
from tests.nemesis.checks import Wire, may_see

PAGE = 20
WINDOW_S = 600.0


def mysql_page(chat_events: list[Wire], who: str, chat: str, now: datetime) -> list[int]:
    start = now - timedelta(seconds=WINDOW_S)
    deleted = {e.get("message_id") for e in chat_events if e["type"] == "message_deleted"}
    seen = [e["seq"] for e in chat_events
            if may_see(e, who, chat) and e["id"] not in deleted
            and datetime.fromisoformat(e["created_at"]) > start]
    return seen[-PAGE:]


async def api_page(http: aiohttp.ClientSession, who: Someone) -> tuple[int, list[int], str]:
    async with http.get("/chat/event/history", headers=who.headers) as response:
        source = response.headers.get("X-History-Source", "?")
        if response.status != 200:
            return response.status, [], source
        body = await response.json()
        return 200, [event["seq"] for event in body["events"]], source


async def check_history(api_url: str, chats: list[Chat],
                        events: dict[str, list[Wire]]) -> list[str]:
    failures = []
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(api_url, timeout=timeout) as http:
        for chat in chats:
            for who in (chat.model, *chat.talkers[:2], *chat.watchers[:1]):
                status, got, source = await api_page(http, who)
                want = mysql_page(events.get(chat.uuid, []), who.uuid, chat.uuid,
                                  datetime.now(UTC))
                if status != 200 or got != want:
                    failures.append(f"history of {who.uuid} in chat {chat.uuid[:8]} (source"
                                    f" {source}, status {status}): got {got}, MySQL {want};"
                                    f" only in history {sorted(set(got) - set(want))}, only in"
                                    f" MySQL {sorted(set(want) - set(got))}")
    return failures
