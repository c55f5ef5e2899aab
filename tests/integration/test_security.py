"""Security: the JWT cases test_api.py leaves out, isolation between people, abuse limits.

Every refusal is checked twice: the exact 401 body, and that nothing reached the ledger.
"""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import subprocess
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from databases import Database

from chatledger.platform.config import Settings
from tests.helpers.marker import before, only_the_marker_followed
from tests.helpers.people import People, Someone
from tests.helpers.service import Service, free_port, start_service
from tests.helpers.wait import eventually

UNAUTHORIZED = {"success": "false", "message": "anauthorized"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rsa_key_pair(directory: Path) -> tuple[Path, str]:
    """A fresh RSA key (openssl: no cryptography dependency needed) and its public PEM."""
    private = directory / "rsa.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], check=True,
                   capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(private), "-pubout"], check=True,
                            capture_output=True).stdout.decode()
    return private, public


def rs256_token(private: Path, claims: dict[str, object]) -> str:
    signing_input = (_b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()) + "."
                     + _b64(json.dumps(claims).encode()))
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(private)],
                               input=signing_input.encode(), check=True,
                               capture_output=True).stdout
    return signing_input + "." + _b64(signature)


def hs256(secret: str, claims: dict[str, object]) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def hmac_token(secret: str, claims: dict[str, object], alg: str = "HS256") -> str:
    """HS256 by hand: pyjwt itself refuses a PEM as an HMAC secret, an attacker would not."""
    signing_input = (_b64(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "."
                     + _b64(json.dumps(claims).encode()))
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)


async def post(service: Service, path: str, headers: dict[str, str],
               body: object) -> tuple[int, dict[str, object]]:
    async with (aiohttp.ClientSession(service.url) as http,
                http.post(path, json=body, headers=headers) as response):
        return response.status, await response.json()


async def assert_all_refused(
    service: Service, db: Database, people: People, marker_author: Someone,
    chat: Someone, tokens: dict[str, str],
) -> None:
    """401 for each token, then the marker proves none of them reached the ledger, even late."""
    then = await before(db, people, chat.uuid, marker_author, chat)
    for why, token in tokens.items():
        answer = await post(service, "/chat/donat/add", {"Authorization": f"Bearer {token}"},
                            {"sum": 1})
        assert answer == (401, UNAUTHORIZED), why
    await only_the_marker_followed(service.url, db, people, marker_author, then)


async def test_key_confusion_is_refused(
    service: Service, people: People, db: Database, settings: Settings, tmp_path: Path
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="10")
    claims: dict[str, object] = {"sub": viewer.uuid, "role": "client", "chat": model.uuid,
                                 "exp": int(time.time()) + 60}
    private, public_pem = rsa_key_pair(tmp_path)
    # The classic confusion: a server that took the token's `alg` at its word would verify this
    # HS256 token with its "public key" as the HMAC secret. Ours has no public key and only HS*.
    await assert_all_refused(service, db, people, viewer, model, {
        "RS256 signed with a foreign RSA key": rs256_token(private, claims),
        "HS256 keyed with that public PEM": hmac_token(public_pem, claims),
        "HMAC keyed with the PEM, header says RS256": hmac_token(public_pem, claims, "RS256"),
    })
    assert await people.balance(viewer.uuid) == Decimal("10.00")


async def test_time_and_claim_sanity(
    service: Service, people: People, db: Database, settings: Settings
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="10")
    secret, now = settings.require_jwt_secret(), int(time.time())
    good: dict[str, object] = {"sub": viewer.uuid, "role": "client", "chat": model.uuid,
                               "exp": now + 60}

    def without(claim: str) -> dict[str, object]:
        return {k: v for k, v in good.items() if k != claim}

    await assert_all_refused(service, db, people, viewer, model, {
        "nbf in the future": hs256(secret, {**good, "nbf": now + 300}),
        "iat in the future": hs256(secret, {**good, "iat": now + 300}),
        "no exp": hs256(secret, without("exp")),
        "no sub": hs256(secret, without("sub")),
        "no role": hs256(secret, without("role")),
        "sub not a string": hs256(secret, {**good, "sub": 12345}),
        "exp not a number": hs256(secret, {**good, "exp": "tomorrow"}),
    })
    # The same claims, correctly formed, do work: the refusals above are about the claims.
    status, _ = await post(service, "/chat/donat/add",
                           {"Authorization": f"Bearer {hs256(secret, {**good, 'nbf': now - 5})}"},
                           {"sum": 1})
    assert status == 201


async def test_a_deleted_subject_is_refused(
    service: Service, people: People, db: Database
) -> None:
    """CHATLEDGER_SUBJECT_CACHE_TTL_S=0 in tests: a deleted client is unknown at once."""
    model = await people.model()
    viewer = await people.client(model)
    status, accepted = await post(service, "/chat/message/add", viewer.headers,
                                  {"message": "still here", "is_public": True})
    assert status == 201
    # let the ledger finish with it, so the refusals below are the only thing left to count
    await eventually(lambda: db.fetch_val("SELECT 1 FROM applied_commands WHERE command_id = :c",
                                          {"c": accepted["id"]}), what="the message applied")
    account = await db.fetch_val("SELECT account_id FROM clients WHERE uuid = :u",
                                 {"u": viewer.uuid})
    await db.execute("DELETE FROM clients WHERE uuid = :u", {"u": viewer.uuid})
    await db.execute("DELETE FROM accounts WHERE id = :a", {"a": account})
    await assert_all_refused(service, db, people, model, model, {"deleted client": viewer.token})
    status, answer = await post(service, "/chat/message/add", viewer.headers,
                                {"message": "ghost", "is_public": True})
    assert (status, answer) == (401, UNAUTHORIZED)


async def test_nobody_spends_from_another_account(
    service: Service, people: People, db: Database, settings: Settings
) -> None:
    """Only the token's `sub` is ever debited: extra claims and body fields naming someone else
    are ignored (not an error: the body schema ignores unknown fields)."""
    model = await people.model()
    spender = await people.client(model, "Spender", money="10")
    victim = await people.client(model, "Victim", money="10")
    other_model = await people.model("Other")
    forged_claims = hs256(settings.require_jwt_secret(), {
        "sub": spender.uuid, "role": "client", "chat": model.uuid, "exp": int(time.time()) + 60,
        "from": victim.uuid, "actor": victim.uuid, "account": victim.uuid, "client": victim.uuid,
        "uuid": victim.uuid, "owner": victim.uuid})
    attempts = [
        (spender.headers, {"sum": 1, "from": victim.uuid, "actor": victim.uuid,
                           "client": victim.uuid, "sub": victim.uuid, "uuid": victim.uuid,
                           "chat": other_model.uuid}),
        ({"Authorization": f"Bearer {forged_claims}"}, {"sum": 2}),
    ]
    ids = []
    for headers, body in attempts:
        status, answer = await post(service, "/chat/donat/add", headers, body)
        assert status == 201, answer
        ids.append(answer["id"])
    await eventually(lambda: people.balance(model.uuid), until=lambda b: b == Decimal("3.00"),
                     what="both donations to reach the token's chat")
    assert await people.balance(spender.uuid) == Decimal("7.00")
    assert await people.balance(victim.uuid) == Decimal("10.00")
    assert await people.balance(other_model.uuid) == Decimal("0.00")
    rows = await db.fetch_all(
        "SELECT stream, actor_uuid FROM chat_events"
        " WHERE command_id IN (:a, :b) AND type = 'donate'", {"a": ids[0], "b": ids[1]})
    assert sorted((row[0], row[1]) for row in rows) == [(model.uuid, spender.uuid)] * 2


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(document.cookie)">',
    "</script><b>bold</b>&amp;&lt;\"'`${x}",
])
async def test_markup_is_stored_verbatim(
    service: Service, people: People, db: Database, text: str
) -> None:
    """Escaping is the display's job (the demo page uses textContent); the ledger keeps bytes."""
    model = await people.model()
    viewer = await people.client(model, money="5")
    status, message = await post(service, "/chat/message/add", viewer.headers,
                                 {"message": text, "is_public": True})
    assert status == 201
    status, tip = await post(service, "/chat/donat/add", viewer.headers,
                             {"sum": 1, "message": {"message": text, "is_public": True}})
    assert status == 201
    for command_id, kind in ((message["id"], "message"), (tip["id"], "donate")):
        payload = await eventually(lambda c=command_id, k=kind: db.fetch_val(  # type: ignore[misc]
            "SELECT payload FROM chat_events WHERE command_id = :c AND type = :k",
            {"c": c, "k": k}), what=f"the {kind} event")
        assert json.loads(payload)["message"] == text


async def history(service: Service, who: Someone) -> list[dict[str, Any]]:
    async with (aiohttp.ClientSession(service.url) as http,
                http.get("/chat/event/history", headers=who.headers) as response):
        assert response.status == 200
        return list((await response.json())["events"])


async def test_a_viewer_never_sees_another_viewers_private_messages(
    service: Service, people: People
) -> None:
    """History and the websocket apply the same rule; the gateway's own test covers more
    websocket cases, this one puts both channels side by side for the same private events."""
    model = await people.model()
    alice = await people.client(model, "Alice", money="5")
    bob = await people.client(model, "Bob", money="5")
    secret = f"for-alice-{uuid.uuid4()}"
    async with aiohttp.ClientSession() as http:
        bob_ws = await http.ws_connect(f"{service.url.replace('http', 'ws')}/ws?token={bob.token}")
        seen_by_bob: list[dict[str, Any]] = []

        async def read() -> None:
            async for frame in bob_ws:
                if frame.type is aiohttp.WSMsgType.TEXT:
                    seen_by_bob.append(json.loads(frame.data))

        reader = asyncio.create_task(read())
        try:
            await eventually(lambda: _listed(seen_by_bob), what="bob's connected message")
            said = [
                (alice, {"message": f"{secret} alice private", "is_public": False}),
                (model, {"message": f"{secret} model to alice", "is_public": True,
                         "to": alice.uuid}),
                (alice, {"sum": 1, "message": {"message": f"{secret} tip", "is_public": False}}),
                (bob, {"message": "bob public, the last one", "is_public": True}),
            ]
            for who, body in said:
                path = "/chat/donat/add" if "sum" in body else "/chat/message/add"
                assert (await post(service, path, who.headers, body))[0] == 201
            await eventually(lambda: _listed(seen_by_bob), what="bob's own public message",
                             until=lambda es: any(e.get("message") == "bob public, the last one"
                                                  for e in es))
            # her message, the model's reply, her private tip (which makes no sponsor: DESIGN
            # §6), bob's public message
            alice_sees = await eventually(lambda: history(service, alice),
                                          until=lambda es: len(es) >= 4,
                                          what="alice's history")
            bob_sees = await history(service, bob)
        finally:
            reader.cancel()
            await bob_ws.close()

    def leaked(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in events if secret in json.dumps(e)]

    assert leaked(seen_by_bob) == [] and leaked(bob_sees) == []
    assert len(leaked(alice_sees)) == 3  # her message, the model's reply, her tip's note
    assert [e["type"] for e in alice_sees] == ["message", "message", "donate", "message"]
    assert any(e.get("message") == "bob public, the last one" for e in bob_sees)


async def _listed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(events)


async def test_a_tight_rate_limit_answers_429_then_lets_through_again(
    migrated: Settings, people: People
) -> None:
    model = await people.model()
    viewer = await people.client(model)
    env = {"CHATLEDGER_RATE_LIMIT_PER_S": "2", "CHATLEDGER_RATE_LIMIT_WINDOW_S": "2"}
    body = {"message": "again", "is_public": True}
    with start_service(migrated, roles="api", extra_env=env) as limited:
        async with aiohttp.ClientSession(limited.url) as http:
            async def send() -> tuple[int, Any, str | None]:
                async with http.post("/chat/message/add", json=body,
                                     headers=viewer.headers) as response:
                    return response.status, await response.json(), response.headers.get(
                        "Retry-After")

            answers = [await send() for _ in range(10)]
            statuses = [a[0] for a in answers]
            # 4 per 2 s window; 10 quick requests span at most two windows.
            assert 4 <= statuses.count(201) <= 8 and statuses.count(429) >= 2, statuses
            refused = next(a for a in answers if a[0] == 429)
            assert refused[1] == {"success": "false", "message": "too many requests"}
            assert refused[2] in ("1", "2"), refused
            # Someone else is not throttled by this viewer's flood.
            other = await people.client(model, "Other")
            async with http.post("/chat/message/add", json=body, headers=other.headers) as r:
                assert r.status == 201
            await eventually(send, until=lambda a: a[0] == 201, timeout=10, interval=0.5,
                             what="201 once the window passed")


async def test_the_rate_limit_fails_open_without_redis(migrated: Settings,
                                                        people: People) -> None:
    model = await people.model()
    viewer = await people.client(model)
    env = {"CHATLEDGER_RATE_LIMIT_PER_S": "1", "CHATLEDGER_REDIS_URL":
           f"redis://127.0.0.1:{free_port()}/0"}
    with start_service(migrated, roles="api", extra_env=env) as limited:
        statuses = [(await post(limited, "/chat/message/add", viewer.headers,
                                {"message": "no redis", "is_public": True}))[0]
                    for _ in range(4)]
        assert statuses == [201] * 4
        assert "rate limiter unavailable" in limited.log()


async def test_a_websocket_that_floods_frames_is_closed_with_1008(
    migrated: Settings, people: People
) -> None:
    model = await people.model()
    viewer = await people.client(model)
    env = {"CHATLEDGER_WS_MAX_FRAMES_PER_S": "5"}
    with start_service(migrated, roles="api,gateway", extra_env=env) as gateway:
        async with aiohttp.ClientSession() as http:
            url = f"{gateway.url.replace('http', 'ws')}/ws?token={viewer.token}"
            polite = await http.ws_connect(url)
            flooder = await http.ws_connect(url)
            for _ in range(3):
                await polite.send_str("hi")
            with contextlib.suppress(ConnectionError):
                for _ in range(50):
                    await flooder.send_str("spam")
            while (frame := await asyncio.wait_for(flooder.receive(), 10)).type is \
                    aiohttp.WSMsgType.TEXT:
                pass
            assert frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert flooder.close_code == 1008
            assert not polite.closed  # the polite socket on the same gateway stays open
            await polite.close()
