"""What conftest.py's session fixtures promise every integration test."""

import logging

import pytest

from tests.helpers.people import People


async def test_a_deposit_through_people_is_published_at_once(
    people: People, caplog: pytest.LogCaptureFixture
) -> None:
    """The session's topics exist from the start: a deposit's event is published, not waited
    for (5 s a deposit) and dropped as a test's first deposit was when no service had yet
    created them."""
    with caplog.at_level(logging.WARNING, logger="chatledger.ledger.publish_written"):
        await people.client(await people.model(), "Rich", money="5")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
