"""Shared fixtures. Integration tests talk to the real MariaDB, Redis and Kafka broker.

Each pytest session gets its own MySQL database and its own Kafka/Redis prefix, set here in the
environment before anything reads Settings, so subprocesses started by tests inherit them. Under
pytest-xdist every worker is such a session of its own (database and prefix end in its worker
id): a worker runs its tests one after another exactly as a serial run does, so no test sees
another worker's rows, keys or topics.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

# The xdist controller imports this module first and its workers inherit its environment: the
# run id is shared, the worker id (empty without xdist) tells the workers' sessions apart.
RUN = os.environ.setdefault("CHATLEDGER_TEST_RUN", uuid.uuid4().hex[:8])
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
SESSION = f"{RUN}{WORKER}"


def _per_worker(dsn: str) -> str:
    """The DSN with this worker's id appended to its database name (unchanged without xdist)."""
    if not WORKER:
        return dsn
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"{parts.path}_{WORKER}"))


os.environ.setdefault("CHATLEDGER_JWT_SECRET", "test-secret-for-chatledger-0123456789abcdef")
os.environ.setdefault("CHATLEDGER_MYSQL_DSN", f"mysql://root@127.0.0.1:3306/chatledger_test_{RUN}")
os.environ["CHATLEDGER_MYSQL_DSN"] = _per_worker(os.environ["CHATLEDGER_MYSQL_DSN"])
os.environ["CHATLEDGER_PREFIX"] = f"t{SESSION}."
os.environ.setdefault("CHATLEDGER_SUBJECT_CACHE_TTL_S", "0")
# A test that changes the mirror reads the change at once (test_history_cache.py turns it on).
os.environ.setdefault("CHATLEDGER_HISTORY_CACHE_MS", "0")
# Tests read a page right after a viewer saw the event live: the projector polls like the ledger
# (the 200 ms default saves an idle Tansu's CPU, and a page may then trail the live feed by it).
os.environ.setdefault("CHATLEDGER_KAFKA_HISTORY_FETCH_MAX_WAIT_MS", "20")

from chatledger.bus.topics import ensure_topics  # noqa: E402
from chatledger.platform.config import Settings  # noqa: E402
from chatledger.platform.db import database, migrate  # noqa: E402
from tests.helpers.people import People  # noqa: E402
from tests.helpers.service import Service, start_service  # noqa: E402


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def migrated(settings: Settings) -> Iterator[Settings]:
    """The session's database, new, and its topics: a deposit (tests/helpers/people.py)
    publishes its event after the commit, and to a topic nobody had created yet it waited out
    the command timeout (5 s a deposit, before the first service of a worker started)."""
    asyncio.run(migrate(settings.mysql_dsn, recreate=True))
    asyncio.run(ensure_topics(settings))
    yield settings
    if os.environ.get("CHATLEDGER_KEEP_TEST_DB") != "1":
        asyncio.run(_drop(settings))


async def _drop(settings: Settings) -> None:
    import aiomysql

    from chatledger.platform.db import _server_params

    params, name = _server_params(settings.mysql_dsn)
    conn = await aiomysql.connect(**params)
    async with conn.cursor() as cur:
        await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


@pytest.fixture(scope="session")
def service(migrated: Settings) -> Iterator[Service]:
    """One real `chatledger serve` process with every role, shared by the session."""
    with start_service(migrated) as running:
        yield running


@pytest.fixture
async def db(migrated: Settings):  # type: ignore[no-untyped-def]
    connection = database(migrated.mysql_dsn, 4)
    await connection.connect()
    yield connection
    await connection.disconnect()


@pytest.fixture
async def people(db, migrated: Settings) -> AsyncIterator[People]:  # type: ignore[no-untyped-def]
    yield People(db, migrated)


# The longest files first (seconds on a quiet machine, 2026-12-06; the rest keep their order).
# `make test` hands whole files to its workers in collection order (`--dist loadfile`) and ends
# when its last file does: a 90 s file handed out last ran alone at the end, the other workers
# idle (638 s against 561 s of work per worker).
LONGEST_FIRST = (
    "integration/test_refunds.py",  # 173
    "integration/test_extras.py",  # 120
    "integration/test_shows.py",  # 106
    "nemesis/test_nemesis.py",  # 89
    "integration/test_scale_out.py",  # 81
    "integration/test_membership.py",  # 81
    "integration/test_audit_rebuild.py",  # 81
    "integration/test_shows_faults.py",  # 80
    "e2e/test_demo_page.py",  # 69
    "integration/test_faults.py",  # 65
    "integration/test_openapi.py",  # 55
    "integration/test_ledger_money.py",  # 44
    "integration/test_redis_cluster.py",  # 42
    "e2e/test_demo_shows.py",  # 34
    "integration/test_workers.py",  # 33
    "integration/test_cli_quiet.py",  # 32
)


def _name_schemathesis_items(items: list[pytest.Item]) -> None:
    """schemathesis 4 under pytest 9 gives each operation's item of one test the same node id
    (no "[GET /path]" part); pytest-xdist sends tests to workers by node id, so it would run one
    of them and silently drop the rest. Give such an item the id its name implies."""
    for item in items:
        base = getattr(item, "originalname", None)
        if base and item.name.startswith(f"{base}[") and item.nodeid.endswith(f"::{base}"):
            assert item.parent is not None
            item._id = item.parent.id.child(base).with_params(item.name[len(base) + 1:-1])


def _longest_first(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    here = Path(__file__).parent
    # stable: a file's tests keep their order
    items.sort(key=lambda item: rank.get(item.path.relative_to(here).as_posix(), len(rank)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    _name_schemathesis_items(items)
    _longest_first(items)
