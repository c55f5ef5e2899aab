"""The limiter's counter against the real Redis: exact counts, many hits per round trip."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ResponseError

from chatledger.api.ratelimit import HitCounter, RateLimiter
from chatledger.platform.config import Settings
from chatledger.platform.redis_batch import BatchedScript


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    yield client
    await client.aclose()


class CountingPool(ConnectionPool):
    """A real pool that counts checkouts: one per round trip of a BatchedScript."""

    checkouts = 0

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        CountingPool.checkouts += 1
        return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]


async def test_concurrent_hits_share_round_trips_and_count_exactly(settings: Settings) -> None:
    redis = Redis(connection_pool=CountingPool.from_url(settings.redis_url))
    key = settings.redis_key("rl-test", uuid.uuid4().hex)
    try:
        counter = HitCounter(redis)
        counts = await asyncio.gather(*(counter.hit(key, 10_000) for _ in range(200)))
        assert sorted(counts) == list(range(1, 201))
        assert 1 <= CountingPool.checkouts < 20, CountingPool.checkouts
        assert 0 < await redis.pttl(key) <= 10_000  # the first hit set the expiry
    finally:
        await redis.delete(key)
        await redis.aclose()


async def test_hits_on_several_keys_in_one_round_count_each_key_exactly(
    settings: Settings, redis: Redis
) -> None:
    counter = HitCounter(redis)
    keys = [settings.redis_key("rl-test", uuid.uuid4().hex) for _ in range(3)]
    try:
        order = [keys[i % 3] for i in range(30)] + [keys[0]] * 5
        counts = await asyncio.gather(*(counter.hit(key, 10_000 * (1 + keys.index(key)))
                                        for key in order))
        for n, key in enumerate(keys):
            mine = [count for count, hit in zip(counts, order, strict=True) if hit == key]
            assert mine == list(range(1, len(mine) + 1))  # in the order they came
            assert 10_000 * n < await redis.pttl(key) <= 10_000 * (n + 1)
    finally:
        await redis.delete(*keys)


async def test_a_lost_script_is_loaded_again_without_counting_twice(
    settings: Settings, redis: Redis
) -> None:
    counter = HitCounter(redis)
    key = settings.redis_key("rl-test", uuid.uuid4().hex)
    try:
        assert await counter.hit(key, 10_000) == 1
        counter.script.sha = "0" * 40  # as after a Redis restart: NOSCRIPT
        assert await asyncio.gather(counter.hit(key, 10_000), counter.hit(key, 10_000)) in (
            [2, 3],
            [3, 2],
        )
    finally:
        await redis.delete(key)


async def test_an_error_answers_only_the_call_that_caused_it(
    settings: Settings, redis: Redis
) -> None:
    counter = HitCounter(redis)
    good = settings.redis_key("rl-test", uuid.uuid4().hex)
    wrong = settings.redis_key("rl-test", uuid.uuid4().hex)
    await redis.zadd(wrong, {"not a counter": 1})  # INCR on it: WRONGTYPE
    try:
        answers = await asyncio.gather(
            counter.hit(good, 10_000),
            counter.hit(wrong, 10_000),
            counter.hit(good, 10_000),
            return_exceptions=True,
        )
        assert sorted(answers[0::2]) == [1, 2]  # type: ignore[type-var]
        assert isinstance(answers[1], ResponseError) and "WRONGTYPE" in str(answers[1])
    finally:
        await redis.delete(good, wrong)


async def test_a_person_over_the_limit_is_refused_without_asking_redis_again(
    settings: Settings, redis: Redis
) -> None:
    tight = settings.model_copy(update={"rate_limit_per_s": 0.05, "rate_limit_window_s": 60.0})
    limiter = RateLimiter(tight, HitCounter(redis))
    assert limiter.limit == 3
    person = str(uuid.uuid4())
    answers = [await limiter.check(person, "post_test") for _ in range(10)]
    refused = [a for a in answers if a is not None]
    assert all(a.status == 429 and 1 <= int(a.headers["Retry-After"]) <= 60 for a in refused)
    keys = [
        key async for key in redis.scan_iter(match=tight.redis_key("rl", "post_test", person, "*"))
    ]
    try:
        counts = [int(await redis.get(key) or 0) for key in keys]
        # 10 requests span one window (two if a minute turned): 3 pass per window, and once one
        # was counted over the limit, the rest of that window never reached Redis
        assert len(keys) in (1, 2) and all(c <= limiter.limit + 1 for c in counts), counts
        assert len(answers) - len(refused) == sum(min(c, limiter.limit) for c in counts)
        assert len(refused) >= 10 - 2 * limiter.limit
    finally:
        if keys:
            await redis.delete(*keys)


async def test_a_redis_that_never_answers_fails_the_calls_of_a_round_trip_in_time() -> None:
    """A server that accepts and never replies: the batch's timeout answers every waiting call."""
    accepted: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redis = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    script = BatchedScript(redis, "return 1", timeout_s=0.2)
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(script("k1"), script("k2"), return_exceptions=True), 10
        )
        assert all(isinstance(answer, TimeoutError) for answer in answers), answers
        assert accepted  # it did connect: the time went waiting for an answer
    finally:
        await redis.aclose()
        for writer in accepted:
            writer.close()
        server.close()
