"""A batch's writes, queued, then sent in as few round trips as fit (aiomysql enables
multi-statements).

What keeps this equal to sending each statement alone:
- the statements reach the server in the order they were queued, in the batch's transaction,
  before its COMMIT (`flush`); the server runs them in that order and stops at the first error,
  which `flush` raises as that statement alone would have (a duplicate key still rolls the batch
  back and has it decided again);
- a batch never reads back what it writes, so sending its writes later changes no decision,
  nor sending some of them earlier, while it decides the rest (`overlap`): one send at a time,
  in queue order, each waited for before the next (and before `flush`), so the connection is
  never used by two at once;
- each round trip stays under aiomysql's own bound for one statement (`max_stmt_length`, far
  below the server's max_allowed_packet); a multi-row INSERT longer than that is split in rows,
  as aiomysql's `executemany` splits it.
"""

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aiomysql.cursors import RE_INSERT_VALUES
from pymysql.constants import SERVER_STATUS

# pymysql's `escape_string` table: a backslash before each of these (NUL and ^Z spelt 0 and Z).
_ESCAPES = (("\\", "\\\\"), ("\0", "\\0"), ("\n", "\\n"), ("\r", "\\r"), ("\x1a", "\\Z"),
            ('"', '\\"'), ("'", "\\'"))


def quoted(text: str) -> str:
    """`"'" + pymysql.converters.escape_string(text) + "'"`, the same characters: its
    `str.translate` through a table of two-character strings looks every character up one by
    one (~5x slower on an event's JSON payload); most strings (uuids) need no escape at all,
    which `in` finds at C speed. The backslash goes first, so no escape is escaped again."""
    if ('"' in text or "'" in text or "\\" in text or "\n" in text or "\r" in text
            or "\0" in text or "\x1a" in text):
        for char, escaped in _ESCAPES:
            text = text.replace(char, escaped)
    return "'" + text + "'"


def literal_of(connection: Any) -> Callable[[Any], str]:
    """The connection's `escape` (what `mogrify` puts in a statement), with the types of nearly
    every value a batch writes spelt out: the generic dispatch was a fifth of a batch's CPU."""
    escape: Callable[[Any], str] = connection.escape
    if connection.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES:
        return escape  # quotes doubled, not backslashed: left to the driver
    moments: dict[date, str] = {}  # a batch's events share their created_at, its tips their day
    # A batch's rows repeat most of their strings (each event's chat, type and author; each
    # command id in its events and in applied_commands): each is spelt once per batch.
    strings: dict[str, str] = {}

    def literal(value: Any) -> str:
        kind = type(value)
        if kind is str:
            spelt = strings.get(value)
            if spelt is None:
                spelt = strings[value] = quoted(value)
            return spelt
        if kind is int:
            return str(value)
        if value is None:
            return "NULL"
        if kind is Decimal:
            text = str(value)  # the driver's format(value, "f"), unless in exponent form
            return format(value, "f") if "E" in text else text
        if kind is bool:
            return "1" if value else "0"
        # Equal naive moments, equal days: the same fields (a date never equals a datetime).
        if (kind is datetime and value.tzinfo is None) or kind is date:
            spelt = moments.get(value)
            if spelt is None:
                spelt = moments[value] = escape(value)
            return spelt
        return escape(value)

    return literal


def mogrified(cur: Any, sql: str, values: Sequence[Any]) -> str:
    """`sql` with `values` in it, as `cur.execute(sql, values)` would send it (a list of values),
    at `literal_of`'s cost: for the batch's reads, which name hundreds of uuids."""
    return sql % tuple(map(literal_of(cur.connection), values))


class QueuedWrites:
    """Takes a cursor's `execute` and `executemany` (for statements without results)."""

    def __init__(self, cur: Any) -> None:
        self.cur = cur
        self.limit: int = cur.max_stmt_length
        self.queued: list[str] = []
        self.literal = literal_of(cur.connection)
        self.sending: asyncio.Task[None] | None = None  # `overlap`'s send, until waited for

    def mogrify(self, sql: str, values: Sequence[Any]) -> str:
        """`cur.mogrify(sql, values)`, for a sequence of values."""
        return sql % tuple(map(self.literal, values))

    async def execute(self, sql: str, values: Sequence[Any] = ()) -> None:
        self.queued.append(self.mogrify(sql, values))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        match = RE_INSERT_VALUES.match(sql)
        if match is None:
            for row in rows:
                await self.execute(sql, row)
            return
        head, template, tail = match.group(1) % (), match.group(2).rstrip(), match.group(3)
        self.insert(head, (self.mogrify(template, row) for row in rows), tail)

    def insert(self, head: str, spelt: Iterable[str], tail: str = "") -> None:
        """`head` (`INSERT ... VALUES `) with rows already spelt (`(v1, v2, ...)`), split as
        `executemany` splits it: what it queues for a row template and its rows."""
        values: list[str] = []
        size = len(head) + len(tail)
        for value in spelt:
            if values and size + len(value) + 1 > self.limit:
                self.queued.append(head + ",".join(values) + tail)
                values, size = [], len(head) + len(tail)
            values.append(value)
            size += len(value) + 1
        if values:
            self.queued.append(head + ",".join(values) + tail)

    async def overlap(self) -> None:
        """Start sending what is queued (once the previous such send is done) and return at
        once: the server writes it while the caller decides what comes next. Its error is
        raised by the next `overlap`, `drain` or `flush`."""
        await self.drain()
        queued, self.queued = self.queued, []
        if queued:
            self.sending = asyncio.ensure_future(self._send_all(queued))
            # One turn of the loop: the send's first step writes the statements to the socket
            # (aiomysql writes before its first await), so the server starts on them now.
            await asyncio.sleep(0)

    async def drain(self) -> None:
        """Wait for `overlap`'s send, raising its error (the connection is free after it)."""
        sending, self.sending = self.sending, None
        if sending is not None:
            await sending

    async def settle(self) -> None:
        """After a failure, before the ROLLBACK: wait for `overlap`'s send to end, its error
        dropped (the batch is rolled back whatever it was)."""
        with contextlib.suppress(Exception):
            await self.drain()

    async def flush(self) -> None:
        await self.drain()
        await self._send_all(self.queued)
        self.queued = []

    async def _send_all(self, queued: list[str]) -> None:
        trip: list[str] = []
        size = 0
        for statement in queued:
            if trip and size + len(statement) + 1 > self.limit:
                await self._send(trip)
                trip, size = [], 0
            trip.append(statement)
            size += len(statement) + 1
        if trip:
            await self._send(trip)

    async def _send(self, statements: list[str]) -> None:
        await self.cur.execute(";".join(statements))  # no values: nothing is formatted again
        while await self.cur.nextset():  # each statement's result: its error is raised here
            pass
