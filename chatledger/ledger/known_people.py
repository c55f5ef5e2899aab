"""The people a ledger process has read: row id, name and account kind by uuid.

Why remembering them is never stale: a person's `users`/`clients` row is written once, when the
account is opened (`accounts.create_account`), and nothing updates or deletes it; its id is the
row's, its kind its account's, which nothing changes either (`rebuild` writes balances only). So
a row read once is that row for good. A uuid with no row is not remembered: its account may be
opened later.
"""

from dataclasses import dataclass
from typing import Final

KNOWN_LIMIT: Final = 100_000  # people remembered; the oldest are forgotten first


@dataclass(frozen=True, slots=True)
class Known:
    id: int
    name: str
    kind: str


class KnownPeople:
    def __init__(self, limit: int = KNOWN_LIMIT) -> None:
        self.limit = limit
        self.known: dict[str, Known] = {}

    def get(self, uuid: str) -> Known | None:
        return self.known.get(uuid)

    def keep(self, uuid: str, person: Known) -> None:
        self.known[uuid] = person
        if len(self.known) > self.limit:
            del self.known[next(iter(self.known))]
