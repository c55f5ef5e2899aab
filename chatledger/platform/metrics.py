"""Every Prometheus series the service exposes at /metrics, defined once.

Roles import the metric they move (`from chatledger.platform.metrics import WS_DELIVERIES`) and call
`.inc()` / `.set()`: nothing else to wire. Under `serve --workers N` every worker writes its
samples to the directory in PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode, set
by the parent before the workers start) and /metrics, whichever worker answers, sums them all.
Series names are part of the operating contract (README "Operating"); rename one only together
with the dashboards that read it.
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

# Latency buckets for a request that does one Kafka round trip (acks=all) or one MySQL read.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A feed batch's fan-out: ~1-20 ms for a few events to a thousand sockets, more when it lags.
_FAN_OUT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
_BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

HTTP_REQUESTS = Counter(
    "chatledger_http_requests",
    "HTTP requests answered, by route (the canonical path, never the raw one) and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "chatledger_http_request_duration_seconds",
    "Time from routing to the response being ready, by route.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)

LEDGER_BATCH_SIZE = Histogram(
    "chatledger_ledger_batch_size",
    "Commands decided in one ledger batch (one MySQL transaction).",
    buckets=_BATCH_SIZE_BUCKETS,
)
LEDGER_BATCH_DURATION = Histogram(
    "chatledger_ledger_batch_duration_seconds",
    "Time to apply a batch in MySQL and publish its events.",
    buckets=_LATENCY_BUCKETS,
)
LEDGER_COMMANDS = Counter(
    "chatledger_ledger_commands", "Commands the ledger has applied (including refused ones)."
)
LEDGER_PRESUMED_WRONG = Counter(
    "chatledger_ledger_presumed_wrong",
    "Batches run again because their first trip presumed a chat's show state or rules another"
    " process had changed (ledger/batch.py).",
)
LEDGER_DEDUP_READ = Counter(
    "chatledger_ledger_dedup_read",
    "Batches run again, reading which of their commands were applied before, after their first"
    " attempt hit a duplicate key (ledger/batch.py).",
)
LEDGER_CONSUMER_LAG = Gauge(
    "chatledger_ledger_consumer_lag",
    "Commands waiting on the commands topic: highwater minus position over assigned partitions.",
    multiprocess_mode="livesum",
)
EVENTS_PUBLISHED = Counter(
    "chatledger_events_published",
    "Events the ledger published to the events topic, by type.",
    ["type"],
)

WS_CONNECTIONS = Gauge(
    "chatledger_ws_connections", "Open websocket connections.", multiprocess_mode="livesum"
)
WS_DELIVERIES = Counter("chatledger_ws_deliveries", "Events sent over websockets.")
WS_FEED_BATCH_DURATION = Histogram(
    "chatledger_ws_feed_batch_duration_seconds",
    "Time to fan one batch of the events feed out: from its first event offered to the last of"
    " this process's sockets written (one write per socket per batch, gateway/cork.py).",
    buckets=_FAN_OUT_BUCKETS,
)
WS_BACKLOGS = Counter(
    "chatledger_ws_backlogs",
    "Times flow control held a websocket's frames back (its reader is slower than its room).",
)
WS_SLOW_DISCONNECTS = Counter(
    "chatledger_ws_slow_disconnects", "Websockets closed (1008) because they could not keep up."
)

HISTORY_MIRROR_HITS = Counter(
    "chatledger_history_mirror_hits", "History requests answered from the Redis mirror."
)
HISTORY_FALLBACKS = Counter(
    "chatledger_history_fallbacks", "History requests that fell back to MySQL (cold mirror)."
)
HISTORY_REFILLS = Counter(
    "chatledger_history_refills", "Cold mirror keys refilled from MySQL by a reader."
)
REPLICA_FALLBACKS = Counter(
    "chatledger_replica_fallbacks",
    "Lag-tolerant reads the primary answered instead of the replica (behind, or failed).",
    ["reason"],
)


def exposition() -> tuple[bytes, str]:
    """The text format Prometheus scrapes, and its content type."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
