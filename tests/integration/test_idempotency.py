"""Idempotency-Key as DESIGN §4 scopes it: per (subject, token chat, endpoint), body compared."""

import asyncio
import uuid
from decimal import Decimal

import aiohttp
from databases import Database

from chatledger.platform.config import Settings
from chatledger.web.auth import issue_token
from tests.helpers.marker import before, only_the_marker_followed
from tests.helpers.people import People, Someone
from tests.helpers.service import Service, free_port, start_service
from tests.helpers.wait import eventually

REUSED = {"success": "false", "message": "idempotency key reused"}


async def post_raw(service: Service, path: str, who: Someone, raw: str,
                   key: str) -> tuple[int, dict[str, object]]:
    headers = {**who.headers, "Idempotency-Key": key, "Content-Type": "application/json"}
    async with aiohttp.ClientSession(service.url) as http, \
            http.post(path, data=raw.encode(), headers=headers) as response:
        return response.status, await response.json()


def in_chat(settings: Settings, who: Someone, chat: Someone) -> Someone:
    """The same person with a token for another model's chat."""
    return Someone(who.person, issue_token(settings, who.uuid, "client", chat.uuid))


async def applied(db: Database, command_id: object) -> object:
    return await eventually(lambda: db.fetch_val(
        "SELECT outcome FROM applied_commands WHERE command_id = :c", {"c": command_id}),
        what="the command applied")


async def test_the_same_key_in_another_chat_is_another_command(
    service: Service, people: People, db: Database, settings: Settings
) -> None:
    mia, nina = await people.model("Mia"), await people.model("Nina")
    alice = await people.client(mia, "Alice", money="20")
    key = f"tip-{uuid.uuid4()}"
    first = await post_raw(service, "/chat/donat/add", alice, '{"sum": "7.00"}', key)
    second = await post_raw(service, "/chat/donat/add", in_chat(settings, alice, nina),
                            '{"sum": "9.00"}', key)
    assert first[0] == second[0] == 201, (first, second)
    assert first[1]["id"] != second[1]["id"]
    # Two chats, two partitions: the second applied says nothing of the first.
    await asyncio.gather(applied(db, first[1]["id"]), applied(db, second[1]["id"]))
    assert await people.balance(nina.uuid) == Decimal("9.00")
    assert await people.balance(mia.uuid) == Decimal("7.00")
    assert await people.balance(alice.uuid) == Decimal("4.00")


async def test_the_same_key_on_another_endpoint_is_another_command(
    service: Service, people: People, db: Database
) -> None:
    _, alice = await people.chat("Alice", "20")
    key = f"k-{uuid.uuid4()}"
    tip = await post_raw(service, "/chat/donate/add", alice, '{"sum": 2}', key)
    said = await post_raw(service, "/chat/message/add", alice,
                          '{"message": "hi", "is_public": true}', key)
    assert tip[0] == said[0] == 201 and tip[1]["id"] != said[1]["id"], (tip, said)
    assert await applied(db, said[1]["id"]) == "applied"


async def test_the_same_key_with_another_body_is_refused_and_nothing_applied(
    service: Service, people: People, db: Database
) -> None:
    mia, alice = await people.chat("Alice", "20")
    key = f"tip-{uuid.uuid4()}"
    first = await post_raw(service, "/chat/donat/add", alice, '{"sum": 7}', key)
    assert first[0] == 201, first
    await applied(db, first[1]["id"])
    then = await before(db, people, mia.uuid, alice, mia)
    # the brief's spelling and ours are one endpoint: the key is already taken there
    reused = await post_raw(service, "/chat/donate/add", alice, '{"sum": 9}', key)
    assert reused == (422, REUSED)
    await only_the_marker_followed(service.url, db, people, alice, then)


async def test_the_same_body_written_differently_is_the_first_answer_again(
    service: Service, people: People, db: Database
) -> None:
    mia, alice = await people.chat("Alice", "7")
    key = f"tip-{uuid.uuid4()}"
    first = await post_raw(service, "/chat/donat/add", alice,
                           '{"sum": 7, "messgae": {"message": "hi", "is_public": "true"}}', key)
    assert first[0] == 201, first
    await applied(db, first[1]["id"])
    # Alice's balance is 0 now: a retry must still be the first answer, not a 402
    again = await post_raw(service, "/chat/donate/add", alice,
                           '{ "message": {"is_public": true, "message": "hi"},\n "sum": "7.00"}',
                           key)
    assert again == first
    rows = await db.fetch_val("SELECT COUNT(*) FROM chat_events WHERE command_id = :c AND "
                              "type = 'donate'", {"c": first[1]["id"]})
    assert rows == 1
    assert await people.balance(mia.uuid) == Decimal("7.00")


async def test_a_bad_key_is_400(service: Service, people: People) -> None:
    _, alice = await people.chat("Alice", "1")
    status, answer = await post_raw(service, "/chat/donat/add", alice, '{"sum": 1}', "x" * 256)
    assert status == 400 and "Idempotency-Key" in str(answer["errors"]), answer


async def test_without_redis_a_keyed_request_is_503_and_nothing_applied(
    service: Service, migrated: Settings, people: People, db: Database
) -> None:
    mia, alice = await people.chat("Alice", "5")
    then = await before(db, people, mia.uuid, alice, mia)
    no_redis = {"CHATLEDGER_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    with start_service(migrated, "api", no_redis) as api:
        status, answer = await post_raw(api, "/chat/donat/add", alice, '{"sum": 5}', "tip-1")
        assert (status, answer) == (503, {"success": "false", "message": "unavailable"})
        # the ledger of the session's service would have applied anything submitted
        await only_the_marker_followed(api.url, db, people, alice, then)


async def test_racing_requests_under_one_key_make_one_command(
    service: Service, people: People, db: Database
) -> None:
    mia, alice = await people.chat("Alice", "50")
    key = f"tip-{uuid.uuid4()}"
    same = await asyncio.gather(*(
        post_raw(service, "/chat/donat/add", alice, '{"sum": 5}', key) for _ in range(5)
    ))
    assert all(answer == same[0] for answer in same) and same[0][0] == 201, same
    other = f"tip-{uuid.uuid4()}"
    mixed = await asyncio.gather(*(
        post_raw(service, "/chat/donat/add", alice, f'{{"sum": {amount}}}', other)
        for amount in (1, 2, 3)
    ))
    assert sorted(status for status, _ in mixed) == [201, 422, 422], mixed
    [(_, won)] = [answer for answer in mixed if answer[0] == 201]
    await applied(db, won["id"])
    await applied(db, same[0][1]["id"])
    won_sum = await db.fetch_val("SELECT amount FROM chat_events WHERE command_id = :c AND "
                                 "type = 'donate'", {"c": won["id"]})
    assert await people.balance(mia.uuid) == Decimal("5.00") + won_sum
