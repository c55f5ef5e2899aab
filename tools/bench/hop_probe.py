"""One Kafka hop, alone: produce at a fixed rate, a consumer fetches; what each side waits.

`python -m tools.bench.hop_probe --bootstrap 127.0.0.1:9092 --wait-ms 20 5 100`: for each
`fetch_max_wait_ms`, 20 s at 20 records/s (the settings of chatledger's producers: acks=all,
linger_ms=1, or each of `--linger-ms`) on a fresh topic of 8 partitions; prints the produce
acknowledgement and the produce -> fetched delay (p50 / p99 / max ms, one clock: time.time() in
one process), and the consumer's CPU while idle for 5 s (its polling cost: a Tansu fetch always
waits the full `fetch_max_wait_ms`, so an idle consumer sends ~1000 / wait fetches per second per
broker). `--private` runs it against a freshly started Tansu of its own, whose CPU during the
idle window is then the broker's side of that polling; `--others N` adds N more consumers of the
topic polling beside the timed one. `--preload N` first fills the topic with N records (Tansu's
memory storage gets slower to fetch from as a topic grows, and its fetchers then hold up the
produce acknowledgements: what a long bench section lives with). The topic is deleted afterwards.
"""

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tools.bench.stats import cpu_seconds, percentile


def _summary(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f} /"
            f" {max(values):.1f}")


async def hop(bootstrap: str, wait_ms: int, rate: float, seconds: float, linger_ms: int = 1,
              broker_pid: int | None = None, others: int = 0, preload: int = 0) -> dict[str, str]:
    """`others`: more consumers of the topic polling beside the timed one (as the history
    projector and the gateway feed poll beside the ledger in one service)."""
    topic = f"hop-probe-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=8, replication_factor=1)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", fetch_max_wait_ms=wait_ms)
    await producer.start()
    await _preload(producer, topic, preload)
    await consumer.start()
    extra = [AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                              auto_offset_reset="earliest", fetch_max_wait_ms=wait_ms)
             for _ in range(others)]
    for each in extra:
        await each.start()
    polling = [asyncio.create_task(_drain(each)) for each in extra]
    acks: list[float] = []
    fetched: list[float] = []
    try:
        idle_cpu, broker_cpu = await _idle_cpu(consumer, 5.0, broker_pid)

        async def read() -> None:
            while True:
                batch = await consumer.getmany(timeout_ms=200)
                now = time.time()
                fetched.extend(1000 * (now - float(r.value)) for rs in batch.values()
                               for r in rs if r.value != PRELOAD_VALUE)

        reader = asyncio.create_task(read())
        start = time.time()
        for index in range(int(rate * seconds)):  # open loop: each send at its own tick
            await asyncio.sleep(max(0.0, start + index / rate - time.time()))
            sent = time.time()
            await producer.send_and_wait(topic, str(sent).encode(), key=str(index).encode())
            acks.append(1000 * (time.time() - sent))
        await asyncio.sleep(1)
        reader.cancel()
    finally:
        for task in polling:
            task.cancel()
        for each in extra:
            await each.stop()
        await consumer.stop()
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()
    return {"fetch_max_wait_ms": str(wait_ms), "linger_ms": str(linger_ms),
            "other consumers": str(others), "preloaded records": str(preload),
            "produce ack": _summary(acks), "produce -> fetched": _summary(fetched),
            "idle consumer CPU %": idle_cpu, "broker CPU % meanwhile": broker_cpu}


PRELOAD_VALUE = b"0" * 300  # about a command's size
PRELOAD_CHUNK = 5000  # sends in flight at once while filling


async def _preload(producer: AIOKafkaProducer, topic: str, count: int) -> None:
    """`count` records before the timed part; their value parses as a time long past, so the
    reader's produce -> fetched values stay those of the timed records only."""
    for start in range(0, count, PRELOAD_CHUNK):
        sent = [await producer.send(topic, PRELOAD_VALUE, key=str(index).encode())
                for index in range(start, min(count, start + PRELOAD_CHUNK))]
        await asyncio.gather(*sent)


async def _drain(consumer: AIOKafkaConsumer) -> None:
    while True:
        await consumer.getmany(timeout_ms=200)


async def _idle_cpu(consumer: AIOKafkaConsumer, seconds: float,
                    broker_pid: int | None) -> tuple[str, str]:
    await consumer.getmany(timeout_ms=500)  # assigned and fetching
    broker_before = cpu_seconds(broker_pid) if broker_pid else 0.0
    before, started = os.times(), time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        await consumer.getmany(timeout_ms=200)
    after = os.times()
    wall = time.monotonic() - started
    cpu = after.user + after.system - before.user - before.system
    broker = (f"{100 * (cpu_seconds(broker_pid) - broker_before) / wall:.1f}" if broker_pid
              else "-")
    return f"{100 * cpu / wall:.1f}", broker


async def main(args: argparse.Namespace, broker_pid: int | None = None) -> None:
    print(f"broker {args.bootstrap}, {args.rate}/s for {args.seconds} s, load {os.getloadavg()}")
    print("| fetch_max_wait_ms | linger_ms | other consumers | preloaded records"
          " | produce ack p50 / p99 / max ms | produce -> fetched p50 / p99 / max ms"
          " | idle consumer CPU % | broker CPU % meanwhile |\n|---|---|---|---|---|---|---|---|")
    for preload in args.preload:
        for others in args.others:
            for wait_ms in args.wait_ms:
                for linger_ms in args.linger_ms:
                    row = await hop(args.bootstrap, wait_ms, args.rate, args.seconds, linger_ms,
                                    broker_pid, others, preload)
                    print("| " + " | ".join(row.values()) + " |", flush=True)


def private(args: argparse.Namespace) -> None:
    """A fresh Tansu of our own for the probe (never the shared one), killed afterwards."""
    from tests.helpers.broker import private_broker

    with tempfile.TemporaryDirectory() as logs, private_broker(Path(logs)) as (port, process):
        args.bootstrap = f"127.0.0.1:{port}"
        time.sleep(2)  # listening; the first client call retries until it answers anyway
        asyncio.run(main(args, process.pid))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--wait-ms", type=int, nargs="+", default=[20])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--linger-ms", type=int, nargs="+", default=[1])
    parser.add_argument("--others", type=int, nargs="+", default=[0],
                        help="more consumers of the topic polling beside the timed one")
    parser.add_argument("--preload", type=int, nargs="+", default=[0],
                        help="records put on the topic before the timed part")
    parser.add_argument("--private", action="store_true",
                        help="start a private Tansu for the probe (its CPU is then reported)")
    arguments = parser.parse_args()
    if arguments.private:
        private(arguments)
    else:
        asyncio.run(main(arguments))
