"""Settings, read once from CHATLEDGER_* environment variables (DESIGN §3)."""

import os
from collections.abc import Iterable
from decimal import Decimal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ALLOWED_JWT_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
TOKEN_ROLES = frozenset({"api", "gateway"})  # roles that sign or verify JWTs
# CHATLEDGER_TRACE_STAGES=1: every process stamps the stages a command passes on its way to the
# viewers (platform/stages.py), for the bench's waterfall. Read once, here, at import: the hot
# paths test one module-level bool, so leaving it off costs nothing measurable.
TRACE_STAGES = os.environ.get("CHATLEDGER_TRACE_STAGES", "") in ("1", "true")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHATLEDGER_", extra="forbid", frozen=True)

    mysql_dsn: str = "mysql://root@127.0.0.1:3306/chatledger"
    mysql_pool_size: int = Field(10, ge=1, le=200)
    # DESIGN §12: a replica for the reads that tolerate its lag (platform/replica.py says which).
    mysql_read_dsn: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    # DESIGN §12: `host:port,host:port,...` of a Redis Cluster; redis_url is then never used.
    redis_cluster_nodes: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.-]+:\d{1,5}(,[A-Za-z0-9_.-]+:\d{1,5})*$"
    )
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = Field(8, ge=1, le=1024)
    # Production: 3 (with min.insync.replicas=2 on the broker, and producers use acks=all), so an
    # acknowledged command survives the loss of one broker. The local single Tansu takes 1.
    kafka_replication_factor: int = Field(1, ge=1, le=32)
    # How often each process checks that its topics exist (recreating them after a broker that
    # lost them). Consumers check their positions against reborn partitions every 0.1 s.
    kafka_heal_interval_s: float = Field(1.0, gt=0, le=60)
    # How long a fetch may wait for data (every consumer) and a producer for more sends of the
    # same loop turn. Tansu answers a fetch only after the whole wait, so a record waits half of
    # it on average per hop; real Kafka answers as soon as data arrives (docs/performance.md).
    kafka_fetch_max_wait_ms: int = Field(20, ge=1, le=10_000)
    # The history projector's own wait: nobody waits on the mirror, and each idle Tansu fetch
    # costs the broker ~0.7 ms of CPU, so its ~45 fetches/s at 20 ms were a third of the service's
    # requests (docs/performance.md, "Polling the broker"). On Tansu the mirror trails the topic by
    # up to about half of it; on real Kafka it only bounds an idle poll.
    kafka_history_fetch_max_wait_ms: int = Field(200, ge=1, le=10_000)
    kafka_linger_ms: int = Field(1, ge=0, le=1000)
    prefix: str = Field("", pattern=r"^[A-Za-z0-9_.-]*$", max_length=64)

    jwt_secret: SecretStr | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256",)

    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    # Every process also serves /healthz, /readyz and /metrics on its own ops listener (the API
    # port may be shared by several processes: SO_REUSEPORT). 0 = an ephemeral port, announced in
    # the log and, with metrics_targets_dir, in a Prometheus file_sd target file.
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(0, ge=0, le=65535)
    metrics_targets_dir: str | None = None
    dev: bool = False
    allowed_origins: tuple[str, ...] = ()
    # Websocket: a socket whose unsent messages exceed ws_send_queue is disconnected (too slow).
    ws_send_queue: int = Field(1024, ge=1, le=1_000_000)
    ws_heartbeat_s: float = Field(20.0, gt=0, le=3600)
    # A socket sending more frames than this in one second is closed (1008): clients only ping.
    ws_max_frames_per_s: int = Field(20, ge=1, le=100_000)

    ledger_batch_size: int = Field(500, ge=1, le=10_000)
    # DESIGN §10: how long a billed "minute" of a show lasts (tests shorten it).
    show_minute_s: float = Field(60.0, gt=0, le=3600)
    # DESIGN §10: how long a show request waits for the model's answer (tests shorten it).
    show_request_timeout_s: float = Field(60.0, gt=0, le=3600)
    command_timeout_s: float = Field(5.0, gt=0, le=60)
    max_donation: Decimal = Field(Decimal("100000.00"), gt=0)
    max_text_length: int = Field(2000, ge=1, le=65_000)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    subject_cache_ttl_s: float = Field(30.0, ge=0)
    # Per person and POST route: at most rate_limit_per_s * rate_limit_window_s commands per
    # window (a burst of a whole window is allowed). 0 turns the limit off.
    rate_limit_per_s: float = Field(50.0, ge=0)
    rate_limit_window_s: float = Field(1.0, gt=0, le=3600)
    # History (DESIGN §4): the window GET /chat/event/history shows, and how many events per chat
    # the Redis mirror keeps at most (trimmed by both).
    history_window_s: float = Field(600.0, gt=0, le=86_400)
    history_mirror_size: int = Field(200, ge=20, le=10_000)
    # How long one Redis read of a chat's newest events serves every history page of the chat
    # in this process (history/recent.py): pages may lag the mirror by this much. 0 = never.
    history_cache_ms: int = Field(100, ge=0, le=10_000)

    @field_validator("jwt_algorithms")
    @classmethod
    def _only_hmac_algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(value) - ALLOWED_JWT_ALGORITHMS
        if unknown or not value:
            raise ValueError(f"unsupported JWT algorithms: {sorted(unknown) or 'none given'}")
        return value

    # Plain properties, not cached: a cached value would survive `model_copy(update={"prefix"})`
    # and name the old prefix's topic.
    @property
    def commands_topic(self) -> str:
        return f"{self.prefix}chat.commands"

    @property
    def events_topic(self) -> str:
        return f"{self.prefix}chat.events"

    def group(self, role: str) -> str:
        return f"{self.prefix}{role}"

    @property
    def cluster_nodes(self) -> list[tuple[str, int]]:
        """The (host, port) pairs of CHATLEDGER_REDIS_CLUSTER_NODES; empty: a single Redis."""
        pairs = (node.rpartition(":") for node in (self.redis_cluster_nodes or "").split(","))
        return [(host, int(port)) for host, _, port in pairs if host]

    def redis_key(self, *parts: str) -> str:
        return ":".join((self.prefix + "chatledger", *parts))

    def missing_for(self, roles: Iterable[str]) -> list[str]:
        """Why this configuration cannot run `roles` (empty: it can). One reason per problem."""
        reasons = []
        token_roles = sorted(set(roles) & TOKEN_ROLES)
        if token_roles and (self.jwt_secret is None or not self.jwt_secret.get_secret_value()):
            reasons.append(
                f"CHATLEDGER_JWT_SECRET is not set (the {' and '.join(token_roles)} role"
                f"{'s' if len(token_roles) > 1 else ''} check{'' if len(token_roles) > 1 else 's'}"
                " tokens)"
            )
        return reasons

    def require_jwt_secret(self) -> str:
        if self.jwt_secret is None:
            raise RuntimeError("CHATLEDGER_JWT_SECRET is not set")
        return self.jwt_secret.get_secret_value()


def describe_errors(error: ValidationError) -> str:
    """One line naming each bad CHATLEDGER_* variable and why."""
    return "; ".join(
        f"CHATLEDGER_{'_'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}"
        for problem in error.errors()
    )
