"""An analytics consumer of `<prefix>chat.events` that is not chatledger: librdkafka, not aiokafka.

It needs nothing of chatledger but the wire format of an event (DESIGN §5): the Kafka value is
the event's JSON, the key its chat. It attaches without touching the service: it joins no
consumer group and commits nothing (it assigns itself every partition; Tansu 0.6 stalls
librdkafka's group join), so it can be started, stopped and run many times.

    .venv/bin/python tools/analytics_consumer.py --from-beginning --idle 3
    {"chat": "<model uuid>", "events": 12, "messages": 7, "donations": 3, "donated": "45.50", ...}

Records are delivered at least once: events are counted once per (chat, seq).
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition


@dataclass
class ChatTotals:
    events: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    donated: Decimal = Decimal("0.00")
    donors: set[str] = field(default_factory=set)

    def as_json(self, chat: str) -> dict[str, Any]:
        return {
            "chat": chat,
            "events": self.events,
            "messages": self.by_type.get("message", 0),
            "donations": self.by_type.get("donate", 0),
            "donated": f"{self.donated:.2f}",
            "donors": len(self.donors),
            "by_type": dict(sorted(self.by_type.items())),
        }


class Totals:
    """Per-chat figures of the events seen, each (chat, seq) counted once."""

    def __init__(self) -> None:
        self.chats: dict[str, ChatTotals] = {}
        self._seen: set[tuple[str, int]] = set()

    def add(self, event: dict[str, Any]) -> bool:
        chat, seq = event["chat"], int(event["seq"])
        if (chat, seq) in self._seen:
            return False
        self._seen.add((chat, seq))
        totals = self.chats.setdefault(chat, ChatTotals())
        totals.events += 1
        totals.by_type[event["type"]] = totals.by_type.get(event["type"], 0) + 1
        if event["type"] == "donate":
            totals.donated += Decimal(event["sum"])
            donor = (event.get("from") or {}).get("uuid")
            if donor:
                totals.donors.add(donor)
        return True

    def report(self, chats: Iterable[str] | None = None) -> list[dict[str, Any]]:
        wanted = sorted(self.chats) if chats is None else [c for c in chats if c in self.chats]
        return [self.chats[chat].as_json(chat) for chat in wanted]


def assign_all(consumer: Consumer, topic: str, from_beginning: bool) -> int:
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = metadata.topics[topic].partitions if topic in metadata.topics else {}
    if not partitions or metadata.topics[topic].error is not None:
        raise SystemExit(f"analytics: topic {topic} not found on the broker")
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, number, start) for number in sorted(partitions)])
    return len(partitions)


def run(args: argparse.Namespace) -> Totals:
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "chatledger-analytics",  # required by librdkafka; never joined: assign()
        "enable.auto.commit": False,
        "allow.auto.create.topics": False,
    })
    totals = Totals()
    try:
        count = assign_all(consumer, args.topic, args.from_beginning)
        print(f"analytics: reading {count} partitions of {args.topic}", file=sys.stderr)
        last_record = time.monotonic()
        while args.idle is None or time.monotonic() - last_record < args.idle:
            message = consumer.poll(0.2)
            if message is None:
                continue
            if message.error():
                raise KafkaException(message.error())
            last_record = time.monotonic()
            try:
                totals.add(json.loads(message.value()))
            except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
                print(f"analytics: skipping an undecodable event: {exc!r}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return totals


def parser() -> argparse.ArgumentParser:
    prefix = os.environ.get("CHATLEDGER_PREFIX", "")
    root = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root.add_argument("--bootstrap",
                      default=os.environ.get("CHATLEDGER_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    root.add_argument("--topic", default=f"{prefix}chat.events")
    root.add_argument("--from-beginning", action="store_true",
                      help="read what the topic still holds, not only what comes next")
    root.add_argument("--idle", type=float, default=None,
                      help="stop after this many seconds without a new event (default: run on)")
    root.add_argument("--chat", action="append", help="report only this chat (repeatable)")
    return root


def main() -> int:
    args = parser().parse_args()
    for line in run(args).report(args.chat):
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
