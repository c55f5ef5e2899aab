"""Look-ups that arrive together, read together: one MySQL query for the misses of a moment.

The Directory forgets a person `subject_cache_ttl_s` after reading them unless its refresh read
them again, and a refresh reads again only the people found since the one before: people back
after a pause longer than that (a crowd returning, a restarted process, a bench's idle turn) are
each looked up on their next request, ~150-400 µs of API CPU alone against a few µs for a row of
a batch (Directory.refresh). Their requests come together (a loop iteration answers what many
connections sent), so misses are queued, and while one query is in flight the misses that arrive
meanwhile wait for it and go together in the next (`platform/coalesce.py`, as Redis scripts do):
a lone miss is still one query of its own, with no timer, sent on the next loop iteration.

Each caller gets its own answer (None: no such person) or the query's error, as a look-up of its
own would have given it.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from chatledger.platform.coalesce import Coalescing

T = TypeVar("T")
# The found among the asked (keyed by the asked key, lowercase); the asked are distinct.
Read = Callable[[list[str]], Awaitable[Mapping[str, T]]]


class Lookups(Coalescing[str, T | None]):
    """`await lookups.find(key)`: `read`'s answer for `key`, read with the keys asked meanwhile
    (at most `max_batch` per query)."""

    def __init__(self, read: Read[T], max_batch: int) -> None:
        super().__init__(max_batch=max_batch)
        self.read = read

    async def find(self, key: str) -> T | None:
        return await self.ask(key)

    async def _replies(self, keys: list[str]) -> Sequence[T | None]:
        found = await self.read(list(dict.fromkeys(key.lower() for key in keys)))
        return [found.get(key.lower()) for key in keys]
