"""The document's operations are derived from the route table: a route added to `app.ROUTES`
is documented without anyone writing its entry."""

from aiohttp import web

from chatledger.api.app import ROUTES
from chatledger.api.command_routes import command_endpoint
from chatledger.api.openapi_operations import OPERATIONS, derived
from chatledger.api.openapi_types import ACCEPTED, IDEMPOTENCY_KEY
from chatledger.api.schemas import GoalBody


def test_every_route_of_the_table_is_an_operation() -> None:
    assert {(method, path) for method, path, _ in ROUTES} <= set(OPERATIONS)


def test_a_new_command_route_is_derived_from_its_handler_and_body() -> None:
    async def build_wish(*args: object) -> None:
        raise NotImplementedError

    handler = command_endpoint(GoalBody, build_wish)  # type: ignore[arg-type]
    op = derived(("POST", "/chat/wish/add"), handler, None, None)
    assert (op.operation_id, op.body, op.parameters) == ("postWish", GoalBody, (IDEMPOTENCY_KEY,))
    assert op.replies[0] == ACCEPTED


def test_a_new_read_route_is_listed_under_its_docstring() -> None:
    async def get_wishes(request: web.Request) -> web.Response:
        """The wishes of the token's chat."""
        return web.Response()

    op = derived(("GET", "/chat/wishes"), get_wishes, None, None)
    assert (op.operation_id, op.summary) == ("getWishes", "The wishes of the token's chat.")
