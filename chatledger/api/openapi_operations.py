"""What /openapi.json says about each route: ONE mapping, keyed by (method, path as routed),
derived from the API's route table (`app.ROUTES`).

Every route of the table is in it: a command endpoint's body is the pydantic model it validates
(`command_routes.COMMAND_BODIES`), its replies the ones every command may give (201, and the
shared failures), its id the handler's name; what only a person can say (summary, prose, the
failures only some commands give) comes from `openapi_prose.py`, and a route with no prose there
is still listed, under its handler's docstring. The routes outside the table (the websocket,
probes, metrics, the demo page) are described in `openapi_prose.OTHER_OPERATIONS`.
`openapi.py` walks the app's router and looks every route up here; a route that is neither in
the table nor described fails the document (and its test).
"""

from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from chatledger.api.command_routes import COMMAND_BODIES
from chatledger.api.idempotency import KeyReused
from chatledger.api.openapi_types import (
    ACCEPTED,
    COMMON,
    IDEMPOTENCY_KEY,
    JSON,
    Operation,
    Prose,
    Reply,
    Route,
)
from chatledger.api.response_models import Unauthorized

__all__ = ["JSON", "OPERATIONS", "Operation", "Reply", "Route"]


def operation_id(handler: Any) -> str:
    """`post_message` -> `postMessage`."""
    first, *rest = str(handler.__name__).split("_")
    return first + "".join(word.capitalize() for word in rest)


def derived(route: Route, handler: Any, prose: Prose | None, read: Operation | None) -> Operation:
    """The operation of one route of the table (`read`: written whole, for a GET)."""
    summary = (handler.__doc__ or f"{route[0]} {route[1]}").strip().splitlines()[0]
    prose = prose or Prose(summary)
    body: type[BaseModel] | None = COMMAND_BODIES.get(handler)
    if body is None and read is not None:
        return read
    if body is None:
        return Operation(prose.operation_id or operation_id(handler), prose.summary,
                         (Reply(200, prose.summary), Unauthorized), prose.description)
    return Operation(
        prose.operation_id or operation_id(handler),
        prose.summary,
        (ACCEPTED, *COMMON, KeyReused, *prose.failures),
        prose.description,
        body=body,
        parameters=(IDEMPOTENCY_KEY,),
    )


class _Operations(Mapping[Route, Operation]):
    """Built on first use: the route table imports the handlers that serve this document."""

    @cached_property
    def _all(self) -> dict[Route, Operation]:
        from chatledger.api.app import ROUTES
        from chatledger.api.openapi_prose import OTHER_OPERATIONS, PROSE, READS

        table = {
            (method, path): derived((method, path), handler, PROSE.get((method, path)),
                                    READS.get((method, path)))
            for method, path, handler in ROUTES
        }
        return {**table, **OTHER_OPERATIONS}

    def __getitem__(self, route: Route) -> Operation:
        return self._all[route]

    def __iter__(self) -> Iterator[Route]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)


OPERATIONS: Mapping[Route, Operation] = _Operations()
