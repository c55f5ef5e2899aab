"""Counts the round trips to MySQL: every command aiomysql sends (a query, BEGIN, COMMIT, a
multi-row INSERT, a ping), recorded at the one method they all pass through."""

import contextlib
from collections.abc import Iterator
from typing import Any

import aiomysql
from pymysql.constants import COMMAND


@contextlib.contextmanager
def counted() -> Iterator[list[str]]:
    """The SQL (or the command's name) of every round trip any connection of this process
    makes inside the block, in order."""
    sent: list[str] = []
    original = aiomysql.Connection._execute_command

    async def recording(self: Any, command: int, sql: Any) -> Any:
        text = sql.decode(errors="replace") if isinstance(sql, bytes) else str(sql)
        sent.append(text if command == COMMAND.COM_QUERY else f"<command {command}> {text}")
        return await original(self, command, sql)

    aiomysql.Connection._execute_command = recording  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        aiomysql.Connection._execute_command = original  # type: ignore[method-assign]


def shape(statements: list[str]) -> list[str]:
    """Each statement's first 90 characters: enough to say which it is."""
    return [" ".join(statement.split())[:90] for statement in statements]
