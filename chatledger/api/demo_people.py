"""The demo people (Mia the model, Alice and Bob her viewers), found by fixed logins.

`tools/demo_accounts.py` creates them once; the dev-only token endpoint finds them the same way,
so re-runs reuse the same uuids and the page always joins the same chat.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from databases import Database

from chatledger.domain.wire import money
from chatledger.ledger.accounts import Kind, Person, find_person
from chatledger.platform.config import Settings
from chatledger.web.auth import issue_token

DEMO_TOKEN_TTL_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class DemoSpec:
    login: str
    kind: Kind
    name: str
    money: Decimal | None  # deposited once, when the account is created


DEMO_MODEL = DemoSpec("demo:mia", "model", "Mia", None)
DEMO_PEOPLE: tuple[DemoSpec, ...] = (
    DEMO_MODEL,
    DemoSpec("demo:alice", "client", "Alice", Decimal("500.00")),
    DemoSpec("demo:bob", "client", "Bob", Decimal("300.00")),
)


async def find_by_login(db: Database, login: str) -> Person | None:
    owner = await db.fetch_val(
        "SELECT owner_uuid FROM accounts WHERE login = :login", {"login": login}
    )
    return None if owner is None else await find_person(db, owner)


async def set_login(db: Database, person: Person, login: str) -> None:
    await db.execute(
        "UPDATE accounts SET login = :login WHERE owner_uuid = :owner",
        {"login": login, "owner": person.uuid},
    )


async def find_demo_people(db: Database) -> list[Person] | None:
    """All demo people in DEMO_PEOPLE order, or None while any of them is missing."""
    found = [await find_by_login(db, spec.login) for spec in DEMO_PEOPLE]
    people = [person for person in found if person is not None]
    return people if len(people) == len(DEMO_PEOPLE) else None


def demo_token(settings: Settings, person: Person, chat: str) -> str:
    return issue_token(
        settings,
        person.uuid,
        person.role,
        None if person.role == "model" else chat,
        DEMO_TOKEN_TTL_S,
    )


def demo_roster(settings: Settings, people: list[Person]) -> list[dict[str, Any]]:
    """Each demo person with a token for the demo model's chat."""
    chat = people[0].uuid
    return [
        {
            "uuid": person.uuid,
            "name": person.name,
            "role": person.role,
            "token": demo_token(settings, person, chat),
        }
        for person in people
    ]


async def chat_state(db: Database, chat: str) -> dict[str, Any]:
    """The current sponsor and active goals: what the page shows before any event arrives
    (history covers only the last 10 minutes)."""
    sponsor = await db.fetch_one(
        "SELECT s.client_uuid, s.client_name, t.total FROM current_sponsors s"
        " LEFT JOIN donor_totals t ON t.model_uuid = s.model_uuid AND t.client_uuid = s.client_uuid"
        " WHERE s.model_uuid = :chat",
        {"chat": chat},
    )
    goals = await db.fetch_all(  # the active ones, then the queue in its order (DESIGN §11)
        "SELECT uuid, name, sum, require_sum, is_queued FROM goals"
        " WHERE model_uuid = :chat AND (is_active OR is_queued)"
        " ORDER BY is_queued, queue_seq, id",
        {"chat": chat},
    )
    return {
        "sponsor": None if sponsor is None else _sponsor(sponsor[0], sponsor[1], sponsor[2]),
        "goals": [_goal(row) for row in goals if not row[4]],
        "queued_goals": [_goal(row) for row in goals if row[4]],
    }


def _goal(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "name": row[1],
        "sum": money(row[2]),
        "require_sum": money(row[3]),
        "reached": False,
    }


def _sponsor(uuid: str, name: str, total: Decimal | None) -> dict[str, Any]:
    return {"uuid": uuid, "name": name, "total": None if total is None else money(total)}
