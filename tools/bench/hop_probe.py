"""One Kafka hop, alone: produce at a fixed rate, a consumer fetches; what each side waits.

`python -m tools.bench.hop_probe --bootstrap 127.0.0.1:9092 --wait-ms 20 5 100`: for each
`fetch_max_wait_ms`, 20 s at 20 records/s (the settings of chatledger's producers: acks=all,
linger_ms=1) on a fresh topic of 8 partitions; prints the produce acknowledgement and the
produce -> fetched delay (p50 / p99 / max ms, one clock: time.time() in one process), and the
consumer's CPU while idle for 5 s (its polling cost: a Tansu fetch always waits the full
`fetch_max_wait_ms`, so an idle consumer sends ~1000 / wait fetches per second per broker). The
topic is deleted afterwards.
"""

import argparse
import asyncio
import os
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tools.bench.stats import percentile


def _summary(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f} /"
            f" {max(values):.1f}")


async def hop(bootstrap: str, wait_ms: int, rate: float, seconds: float) -> dict[str, str]:
    topic = f"hop-probe-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=8, replication_factor=1)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", fetch_max_wait_ms=wait_ms)
    await producer.start()
    await consumer.start()
    acks: list[float] = []
    fetched: list[float] = []
    try:
        idle_cpu = await _idle_cpu(consumer, 5.0)

        async def read() -> None:
            while True:
                batch = await consumer.getmany(timeout_ms=200)
                now = time.time()
                fetched.extend(1000 * (now - float(r.value)) for rs in batch.values()
                               for r in rs)

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
        await consumer.stop()
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()
    return {"fetch_max_wait_ms": str(wait_ms), "produce ack": _summary(acks),
            "produce -> fetched": _summary(fetched), "idle consumer CPU %": idle_cpu}


async def _idle_cpu(consumer: AIOKafkaConsumer, seconds: float) -> str:
    await consumer.getmany(timeout_ms=500)  # assigned and fetching
    before, started = os.times(), time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        await consumer.getmany(timeout_ms=200)
    after = os.times()
    cpu = after.user + after.system - before.user - before.system
    return f"{100 * cpu / (time.monotonic() - started):.1f}"


async def main(args: argparse.Namespace) -> None:
    print(f"broker {args.bootstrap}, {args.rate}/s for {args.seconds} s, load {os.getloadavg()}")
    print("| fetch_max_wait_ms | produce ack p50 / p99 / max ms | produce -> fetched p50 / p99 /"
          " max ms | idle consumer CPU % |\n|---|---|---|---|")
    for wait_ms in args.wait_ms:
        row = await hop(args.bootstrap, wait_ms, args.rate, args.seconds)
        print("| " + " | ".join(row.values()) + " |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--wait-ms", type=int, nargs="+", default=[20])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    asyncio.run(main(parser.parse_args()))
