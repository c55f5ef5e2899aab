"""Reads sent together: several SELECTs in one round trip (aiomysql enables multi-statements),
each result set handed to its own fold, in the order the reads were added.

The server runs the statements in that order, so a locking read added first (the batch's
accounts, FOR UPDATE) holds its locks before the reads after it run, as if each were sent alone;
an error in any of them is raised by `send`, as that statement alone would have raised it.
Only reads whose SQL does not depend on another's result may share a trip: a fold runs once
the whole trip is back.
"""

from collections.abc import Callable, Sequence
from typing import Any

from chatledger.ledger.write_trips import mogrified

Fold = Callable[[Sequence[Sequence[Any]]], None]


class ReadTrip:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.values: list[Any] = []
        self.folds: list[Fold] = []

    def add(self, sql: str, values: Sequence[Any], fold: Fold) -> None:
        self.statements.append(sql)
        self.values.extend(values)
        self.folds.append(fold)

    async def send(self, cur: Any) -> None:
        """Run the reads added since the last send (none: no round trip), then their folds."""
        if not self.statements:
            return
        statements, values, folds = self.statements, self.values, self.folds
        self.statements, self.values, self.folds = [], [], []
        await cur.execute(mogrified(cur, "; ".join(statements), values))
        results = [await cur.fetchall()]
        for _ in folds[1:]:
            await cur.nextset()
            results.append(await cur.fetchall())
        for fold, rows in zip(folds, results, strict=True):
            fold(rows)
