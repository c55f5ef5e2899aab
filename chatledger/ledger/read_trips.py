"""Reads sent together: several SELECTs in one round trip (aiomysql enables multi-statements),
each result set handed to its own fold, in the order the reads were added.

The server runs the statements in that order, so a locking read added first (the batch's
accounts, FOR UPDATE) holds its locks before the reads after it run, as if each were sent alone;
an error in any of them is raised by `send`, as that statement alone would have raised it.
Only reads whose SQL does not depend on another's result may share a trip: a fold runs once
the whole trip is back.

A read of many rows may come back packed into one (`add_packed`): aiomysql reads each row of a
result as packets of its own, ~4 µs a row in the ledger (and a packet more for the server to
write), where one row's text is split at C speed. Its fold gets the rows as they would have come,
every value as text; a packed row that does not split back whole (the server cut it at
group_concat_max_len, or a value holds a separator) is read again plainly, in a round trip
after the trip, before any fold runs.
"""

from collections.abc import Callable, Sequence
from typing import Any

from chatledger.ledger.write_trips import mogrified

Fold = Callable[[Sequence[Sequence[Any]]], None]
# Ends each field and each row of a packed read: characters no id, name or number holds.
_FIELD, _ROW = "\x1f", "\x1e"


def packed(columns: Sequence[str], source: str) -> str:
    """`SELECT <columns> <source>` as one row: the rows' count, and their fields, each ended by
    _FIELD but a row's last, ended by _ROW. `source` (FROM ... WHERE ...) is not rewritten: the
    same rows are read, by the same plan, and locked when it says FOR UPDATE."""
    fields = f", '{_FIELD}', ".join(columns)
    return f"SELECT COUNT(*), GROUP_CONCAT({fields}, '{_ROW}' SEPARATOR '') {source}"


def unpacked(rows: Sequence[Sequence[Any]], width: int) -> list[list[str]] | None:
    """The rows of a `packed` read, or None unless it reads back whole: ended by a row's end
    (a cut one is not), as many rows as counted, `width` fields each."""
    (count, text), = rows
    items = text.split(_ROW) if text else [""]
    fields = [item.split(_FIELD) for item in items[:-1]]
    if items[-1] or len(fields) != count or any(len(row) != width for row in fields):
        return None
    return fields


class ReadTrip:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.values: list[Any] = []
        self.folds: list[Fold] = []
        # Per read: None, or for a packed one its plain statement, values and width.
        self.plain: list[tuple[str, Sequence[Any], int] | None] = []

    def add(self, sql: str, values: Sequence[Any], fold: Fold) -> None:
        self.statements.append(sql)
        self.values.extend(values)
        self.folds.append(fold)
        self.plain.append(None)

    def add_packed(self, columns: Sequence[str], source: str, values: Sequence[Any],
                   fold: Fold, plain: str) -> None:
        """`plain` (the same read, a row per row) read packed (`packed(columns, source)`)."""
        self.add(packed(columns, source), values, fold)
        self.plain[-1] = (plain, values, len(columns))

    async def send(self, cur: Any) -> None:
        """Run the reads added since the last send (none: no round trip), then their folds."""
        if not self.statements:
            return
        statements, values, folds, plain = self.statements, self.values, self.folds, self.plain
        self.statements, self.values, self.folds, self.plain = [], [], [], []
        await cur.execute(mogrified(cur, "; ".join(statements), values))
        results: list[Sequence[Sequence[Any]]] = [await cur.fetchall()]
        for _ in folds[1:]:
            await cur.nextset()
            results.append(await cur.fetchall())
        again = ReadTrip()
        for at, asked in enumerate(plain):
            if asked is not None:
                whole = unpacked(results[at], asked[2])
                if whole is not None:
                    results[at] = whole
                else:
                    again.add(asked[0], asked[1], _into(results, at))
        await again.send(cur)
        for fold, rows in zip(folds, results, strict=True):
            fold(rows)


def _into(results: list[Sequence[Sequence[Any]]], at: int) -> Fold:
    """A fold that puts the rows read again where the packed read's were."""
    def fold(rows: Sequence[Sequence[Any]]) -> None:
        results[at] = rows
    return fold
