"""Self-healing: when a consumer is past the end, which topics are missing, and the watch's stop."""

import asyncio
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from aiokafka import TopicPartition

from chatledger.bus import healing
from chatledger.bus.healing import TopicWatch, heal_positions, past_the_end, to_restart
from chatledger.bus.topics import missing_topics
from chatledger.platform.config import Settings


def test_only_a_position_beyond_the_high_watermark_is_past_the_end() -> None:
    assert past_the_end(31, 2)
    assert not past_the_end(2, 2)  # caught up: the next record is the next one produced
    assert not past_the_end(0, 2)
    assert not past_the_end(None, 2)  # no position yet (being reset)
    assert not past_the_end(31, None)  # not fetched since the assignment: nothing known


def test_every_partition_of_a_reborn_topic_is_restarted() -> None:
    a0, a1, a2, b0 = (TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("a", 2),
                      TopicPartition("b", 0))
    # a1 grew past the old position already: restarted with a0, which revealed the rebirth
    assert to_restart([a0, a1, a2, b0], [a0]) == [a0, a1, a2]
    assert to_restart([a1, b0], [a0]) == [a1]  # a0 was revoked meanwhile
    assert to_restart([a0, b0], []) == []


def test_missing_topics_names_what_the_broker_lacks() -> None:
    settings = Settings(prefix="x.")
    assert missing_topics(settings, {"x.chat.commands", "x.chat.events", "other"}) == []
    assert missing_topics(settings, {"x.chat.events"}) == ["x.chat.commands"]
    assert missing_topics(settings, set()) == ["x.chat.commands", "x.chat.events"]


def test_roles_that_check_tokens_need_the_jwt_secret() -> None:
    settings = Settings(jwt_secret=None)
    assert settings.missing_for(["ledger", "history"]) == []
    [reason] = settings.missing_for(["api", "ledger"])
    assert reason.startswith("CHATLEDGER_JWT_SECRET is not set") and "api role checks" in reason
    [reason] = settings.missing_for(["gateway", "api"])
    assert "api and gateway roles check" in reason
    assert Settings(jwt_secret="").missing_for(["gateway"]) != []
    assert Settings(jwt_secret="s" * 32).missing_for(["api", "gateway"]) == []


def test_a_refused_topic_creation_is_named_and_already_exists_is_fine() -> None:
    from chatledger.bus.topics import creation_errors

    answer = [("a", 0), ("b", 36), ("c", 38, "replication factor 3 larger than brokers 1")]
    assert creation_errors(answer) == {"c": "InvalidReplicationFactorError"}
    assert creation_errors([("a", 0)]) == {}


class Cluster:
    def __init__(self, topics: dict[str, set[int]]) -> None:
        self.topics = topics
        self.listeners: set[Callable[[Cluster], None]] = set()

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.topics.get(topic)

    def add_listener(self, listener: Callable[["Cluster"], None]) -> None:
        self.listeners.add(listener)

    def remove_listener(self, listener: Callable[["Cluster"], None]) -> None:
        self.listeners.remove(listener)

    def answer(self, topics: dict[str, set[int]]) -> None:
        """A metadata answer, heard by the listeners as aiokafka's cluster calls them."""
        self.topics = topics
        for listener in list(self.listeners):
            listener(self)


class Coordinator:
    def __init__(self) -> None:
        self.new_members = 0
        self.member_id = "m0"

    def reset_generation(self) -> None:
        self.new_members += 1
        self.member_id = ""  # aiokafka's UNKNOWN_MEMBER_ID: the next join asks for a new one


class Subscribed:
    """What `TopicWatch` reads of a consumer: its topics, metadata and group coordinator."""

    def __init__(self) -> None:
        self._coordinator = Coordinator()
        self._client = SimpleNamespace(cluster=Cluster({"t": {0}}))

    def subscription(self) -> frozenset[str]:
        return frozenset({"t"})


class AnsweringConsumer(Subscribed):
    """A consumer whose positions are known at once (what `heal_positions` asks every 0.1 s)."""

    def __init__(self) -> None:
        super().__init__()
        self.partitions = [TopicPartition("t", 0)]
        self.answered = 0

    def assignment(self) -> set[TopicPartition]:
        return set(self.partitions)

    def highwater(self, partition: TopicPartition) -> int:
        return 10

    async def position(self, partition: TopicPartition) -> int:
        self.answered += 1
        return 5


async def test_the_position_watch_stops_when_cancelled_just_as_a_position_is_answered() -> None:
    """Python 3.11's `asyncio.wait_for` returns the result instead of raising when it is
    cancelled after the awaited position arrived but before it resumed: the watch then went on
    forever, and the history process told to stop never left its group (test_membership)."""
    consumer = AnsweringConsumer()
    watch = asyncio.create_task(heal_positions(consumer, "test"))  # type: ignore[arg-type]
    deadline = asyncio.get_running_loop().time() + 5.0
    while not consumer.answered:  # then the position is answered, and the watch not resumed
        assert asyncio.get_running_loop().time() < deadline, "the watch never asked"
        await asyncio.sleep(0)
    watch.cancel()
    await asyncio.wait([watch], timeout=2.0)
    assert watch.cancelled()


def test_a_topic_back_after_it_was_unknown_makes_one_new_member() -> None:
    consumer = Subscribed()
    watch = TopicWatch(consumer)  # type: ignore[arg-type]
    present, gone = Cluster({"t": {0, 1}}), Cluster({})
    watch.seen(present)  # type: ignore[arg-type]
    assert consumer._coordinator.new_members == 0  # never lost: no rebalance more
    watch.seen(gone)  # type: ignore[arg-type]
    watch.seen(Cluster({"t": set()}))  # type: ignore[arg-type]
    assert watch.missed and consumer._coordinator.new_members == 0
    watch.seen(present)  # type: ignore[arg-type]
    watch.seen(present)  # type: ignore[arg-type]
    assert not watch.missed and consumer._coordinator.new_members == 1


async def test_a_consumer_without_a_group_is_not_made_to_rejoin_one() -> None:
    """The gateway's feed assigns itself its partitions: a topic lost and back must not reach
    for a group's member id (its coordinator has none), from inside aiokafka's metadata update."""
    consumer = AnsweringConsumer()
    consumer._coordinator = object()  # type: ignore[assignment]  # aiokafka's NoGroupCoordinator
    cluster = consumer._client.cluster
    watch = asyncio.create_task(heal_positions(consumer, "feed"))  # type: ignore[arg-type]
    try:
        deadline = asyncio.get_running_loop().time() + 5.0
        while not consumer.answered:
            assert asyncio.get_running_loop().time() < deadline, "the watch never started"
            await asyncio.sleep(0)
        cluster.answer({})
        cluster.answer({"t": {0}})  # raised AttributeError into aiokafka before
    finally:
        watch.cancel()
        await asyncio.wait([watch], timeout=2.0)


def test_an_old_member_id_a_join_in_flight_gave_back_is_reset_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(healing, "time", SimpleNamespace(monotonic=lambda: now[0]))
    consumer = Subscribed()
    coordinator = consumer._coordinator
    watch = TopicWatch(consumer)  # type: ignore[arg-type]
    watch.seen(Cluster({}))  # type: ignore[arg-type]
    watch.seen(Cluster({"t": {0}}))  # type: ignore[arg-type]
    assert coordinator.new_members == 1
    coordinator.member_id = "m0"  # the join that was in flight answered with the old id
    now[0] += healing.RECHECK_S - 0.1
    watch.ask()
    assert coordinator.new_members == 1  # not yet: a join may still be answering
    now[0] += 0.1
    watch.ask()
    assert coordinator.new_members == 2 and coordinator.member_id == ""
    now[0] += healing.RECHECK_S
    watch.ask()  # still joining: nothing to judge yet
    assert coordinator.new_members == 2 and watch.leaving is not None
    coordinator.member_id = "m1"
    watch.ask()
    assert coordinator.new_members == 2 and watch.leaving is None  # a new id: done
