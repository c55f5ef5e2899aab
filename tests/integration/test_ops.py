"""/healthz, /readyz and /metrics of a real service; JSON log lines link a POST to its batch."""

import json
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from chatledger.platform.config import Settings
from tests.helpers.daemons import redis_server, running, tansu_broker
from tests.helpers.people import People
from tests.helpers.service import Service, free_port, start_service
from tests.helpers.wait import eventually
from tests.helpers.ws import connected

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def readiness(http: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
    async with http.get("/readyz") as response:
        return response.status, await response.json()


async def scrape(http: aiohttp.ClientSession) -> Samples:
    async with http.get("/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


async def test_healthz_answers_ok(service: Service) -> None:
    async with aiohttp.ClientSession(service.url) as http, http.get("/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_readyz_is_ready_with_every_check_named(service: Service) -> None:
    async with aiohttp.ClientSession(service.url) as http:
        _, body = await eventually(
            lambda: readiness(http), until=lambda r: r[0] == 200, what="the service to be ready"
        )
    assert body["status"] == "ready"
    assert set(body["checks"]) == {
        "mysql", "redis", "kafka", "ledger_lag", "ledger", "history", "gateway"
    }
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["kafka"]["brokers"] >= 1


async def test_readyz_follows_redis_and_the_broker(migrated: Settings, tmp_path: Path) -> None:
    """Own Redis and Tansu on free ports, killed and restarted; the shared ones are untouched."""
    redis = redis_server(free_port(), tmp_path)
    broker = tansu_broker(free_port(), tmp_path)
    env = {
        "CHATLEDGER_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        "CHATLEDGER_KAFKA_BOOTSTRAP": f"127.0.0.1:{broker.port}",
    }
    with (
        running(redis),
        running(broker),
        start_service(migrated, roles="api", extra_env=env) as service,
    ):
        async with aiohttp.ClientSession(service.url) as http:

            async def state() -> tuple[int, dict[str, bool]]:
                status, body = await readiness(http)
                return status, {name: check["ok"] for name, check in body["checks"].items()}

            # `rules`: an api process without the gateway follows the events topic for its
            # rules (mutes, bans, minimum tips).
            ok = {"mysql": True, "redis": True, "kafka": True, "rules": True}
            await eventually(state, until=lambda s: s == (200, ok), what="ready at first")

            redis.stop()
            await eventually(
                state, until=lambda s: s == (503, {**ok, "redis": False}), what="Redis missed"
            )
            async with http.get("/healthz") as alive:
                assert alive.status == 200  # not ready, but alive: nothing to restart
            redis.start()
            await eventually(state, until=lambda s: s == (200, ok), what="ready with Redis back")

            broker.stop()
            await eventually(
                state, until=lambda s: s == (503, {**ok, "kafka": False}), what="broker missed"
            )
            broker.start()
            await eventually(state, until=lambda s: s == (200, ok), what="ready with broker back")


async def test_metrics_and_logs_follow_a_donation(service: Service, people: People) -> None:
    model = await people.model("Metra")
    viewer = await people.client(model, "Rick", money="50.00")
    async with aiohttp.ClientSession(service.url) as http, connected(
        http, service.url, viewer
    ) as watcher:
        before = await scrape(http)
        async with http.post(
            "/chat/donat/add", headers=viewer.headers, json={"sum": "5.00", "messgae": "hi"}
        ) as response:
            assert response.status == 201
            command_id = (await response.json())["id"]
        await watcher.until(lambda events: bool(events), what="the donation on the socket")
        fanned_out = await scrape(http)
        async with http.post("/chat/message/add", headers=viewer.headers, json={}) as response:
            assert response.status == 400
        async with http.get("/chat/event/history", headers=viewer.headers) as response:
            assert response.status == 200
        async with http.get("/no/such/page/42") as response:
            assert response.status == 404

        def donated(samples: Samples) -> bool:
            published = "chatledger_events_published_total"
            donates = {"type": "donate"}
            return value(samples, published, **donates) > value(before, published, **donates)

        after = await eventually(lambda: scrape(http), until=donated, what="the donation published")

    batches = "chatledger_ws_feed_batch_duration_seconds_count"
    assert value(fanned_out, batches) > value(before, batches)  # the batch that delivered it
    requests = "chatledger_http_requests_total"
    assert value(after, requests, method="POST", route="/chat/donat/add", status="201") >= 1
    assert value(after, requests, method="POST", route="/chat/message/add", status="400") >= 1
    assert value(after, requests, method="GET", route="<unmatched>", status="404") >= 1
    assert not any("/no/such/page/42" in dict(labels).values() for _, labels in after)
    latency = "chatledger_http_request_duration_seconds_count"
    assert value(after, latency, method="POST", route="/chat/donat/add") >= 1
    assert value(after, "chatledger_ledger_batch_size_count") > value(
        before, "chatledger_ledger_batch_size_count"
    )
    assert {
        "chatledger_ledger_batch_duration_seconds_bucket",
        "chatledger_ledger_commands_total",
        "chatledger_ledger_consumer_lag",
        "chatledger_ws_connections",
        "chatledger_ws_deliveries_total",
        "chatledger_history_mirror_hits_total",
        "chatledger_history_fallbacks_total",
    } <= names(after)

    def lines() -> list[dict[str, Any]]:
        # split on "\n" alone: a logged path may hold U+2028 or \x85, which splitlines() splits on
        return [json.loads(line) for line in service.log().split("\n") if line.startswith("{")]

    access = [line for line in lines() if line.get("command_id") == command_id]
    assert len(access) == 1
    assert access[0]["logger"] == "chatledger.access"
    assert access[0]["method"] == "POST" and access[0]["path"] == "/chat/donat/add"
    assert access[0]["status"] == 201 and access[0]["duration_ms"] >= 0

    async def batch_line() -> list[dict[str, Any]]:
        return [line for line in lines() if command_id in line.get("command_ids", ())]

    (batch,) = await eventually(batch_line, what="the ledger's batch line for the donation")
    assert batch["msg"] == "ledger batch" and batch["events"] == len(batch["event_ids"]) >= 1
