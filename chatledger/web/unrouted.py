"""The router's last resource: it matches every request no route matched, for one handler to
answer (web/observe.py's `unrouted`: the wire format's 404 or 405, observed).

aiohttp tries a path's resources from its longest prefix to `/`, in the order they were added;
this one is indexed under `/` and registered last (`observe.seal`), so it is tried only after
every other. It has no routes of its own to list (`for route in resource` is empty): the
OpenAPI document and any route table see only the app's own routes.
"""

from collections.abc import Iterator

from aiohttp import web
from yarl import URL

from chatledger.web.responses import Handler


class Unrouted(web.AbstractResource):
    def __init__(self, handler: Handler) -> None:
        super().__init__(name=None)
        self._route = web.ResourceRoute("*", handler, self)

    @property
    def canonical(self) -> str:
        return "/"  # its index key: tried last, after every resource of a longer prefix

    def url_for(self, **kwargs: str) -> URL:
        raise RuntimeError("what no route matches has no url")

    async def resolve(self, request: web.Request) -> tuple[web.UrlMappingMatchInfo, set[str]]:
        return web.UrlMappingMatchInfo({}, self._route), set()

    def add_prefix(self, prefix: str) -> None:
        raise RuntimeError("not for a sub-application")

    def get_info(self) -> dict[str, str]:  # type: ignore[override]
        return {}

    def raw_match(self, path: str) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[web.AbstractRoute]:
        return iter(())
