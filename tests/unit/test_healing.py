"""The pure rules of self-healing: when a consumer is past the end, which topics are missing."""

from aiokafka import TopicPartition

from chatledger.bus.healing import past_the_end, to_restart
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
