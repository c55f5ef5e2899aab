"""What tests that talk to the API over HTTP share: one client session per test (a fixture: import
it into the test module), and the audit of the whole database coming out clean."""

from collections.abc import AsyncIterator

import aiohttp
import pytest
from databases import Database

from chatledger.readmodels.snapshot import audit_database


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def audit_clean(db: Database) -> None:
    """`audit` (in-process, on the session's database) finds nothing wrong."""
    report = await audit_database(db)
    assert report.ok, report.findings
