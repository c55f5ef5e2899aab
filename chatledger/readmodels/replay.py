"""A full replay of `chat_events` with the ledger's own fold, and the projection rows it implies.

`Replay` folds events (in `chat_events.id` order) through `evolve`, the very function the ledger
runs inline, and remembers the one thing the state does not keep: which `change_sponsor` events
happened (the `sponsors` table has a row per change). The rows each projection table should
hold come from `ledger/projection_rows.py`, the same functions the ledger writes with, so that
`rebuild` writes exactly these and `audit` compares the live tables with exactly these. No I/O.

Memory: the state keeps one entry per donation and per message ever made (a refund or a deletion
may name any of them), besides one per account, goal and (chat, donor, day). Measured on 100,000
events read back as rows: about 190 bytes per message and 470 bytes per donation, so a history of
10 million donations and 30 million messages needs some 10 GB to replay.
"""

from dataclasses import dataclass, field

from chatledger.domain import events as ev
from chatledger.domain.events import Event
from chatledger.domain.state import LedgerState, evolve
from chatledger.ledger.projection_rows import SponsorRow, sponsor_row


@dataclass(slots=True)
class Replay:
    state: LedgerState = field(default_factory=LedgerState)
    sponsor_changes: dict[str, SponsorRow] = field(default_factory=dict)
    position: int = 0  # the highest chat_events.id folded
    count: int = 0

    def fold(self, event: Event, position: int) -> None:
        evolve(self.state, event)
        if event.type == ev.CHANGE_SPONSOR:
            self.sponsor_changes[event.event_id] = sponsor_row(event)
        self.position = max(self.position, position)
        self.count += 1


def sponsor_rows(replay: Replay) -> dict[str, SponsorRow]:
    """sponsors: event_id -> the change it records (the state keeps only the current one)."""
    return dict(replay.sponsor_changes)
