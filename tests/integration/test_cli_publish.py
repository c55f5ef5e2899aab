"""What the CLI writes into a chat's stream is published like what the ledger writes (DESIGN §6).

A model's deposit and payout take seqs in the model's stream, which is its chat: they must reach
`chat.events`, or every consumer of the chat sees its seq jump.
"""

from databases import Database

from chatledger.bus.topics import ensure_topics
from chatledger.platform.config import Settings
from tests.helpers.cli import cli
from tests.helpers.kafka import published_seqs
from tests.helpers.people import People


async def test_a_cli_deposit_and_payout_of_a_model_reach_the_events_topic(
    migrated: Settings, people: People, db: Database
) -> None:
    await ensure_topics(migrated)
    model = await people.model()
    for command, amount in (("deposit", "10.00"), ("payout", "4.00")):
        ran = await cli(command, model.uuid, amount)
        assert ran.code == 0, ran
    rows = await db.fetch_all(
        "SELECT seq FROM chat_events WHERE stream = :s AND type IN ('deposited', 'paid_out')",
        {"s": model.uuid},
    )
    written = {row[0] for row in rows}
    assert len(written) == 2
    seen = await published_seqs(migrated, {model.uuid: written}, timeout=15)
    assert seen[model.uuid] == written
