"""The broker latency settings: read from the environment, refused when out of range."""

import pytest
from pydantic import ValidationError

from chatledger.platform.config import Settings, describe_errors


def test_fetch_wait_and_linger_default_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = Settings()
    assert (defaults.kafka_fetch_max_wait_ms, defaults.kafka_linger_ms) == (20, 1)
    monkeypatch.setenv("CHATLEDGER_KAFKA_FETCH_MAX_WAIT_MS", "500")
    monkeypatch.setenv("CHATLEDGER_KAFKA_LINGER_MS", "0")
    chosen = Settings()
    assert (chosen.kafka_fetch_max_wait_ms, chosen.kafka_linger_ms) == (500, 0)


@pytest.mark.parametrize(("name", "value"), [("KAFKA_FETCH_MAX_WAIT_MS", "0"),
                                             ("KAFKA_LINGER_MS", "-1"),
                                             ("KAFKA_FETCH_MAX_WAIT_MS", "soon")])
def test_a_bad_value_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"CHATLEDGER_{name}", value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert f"CHATLEDGER_{name}" in describe_errors(refused.value)


class _Stop(Exception):
    """Raised by the stand-in consumer factory: the loop under test goes no further."""


async def test_the_history_projector_polls_with_its_own_longer_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each idle Tansu fetch costs the broker CPU: the projector, which nobody waits on, must
    not poll as often as the ledger and the gateway (docs/performance.md)."""
    from chatledger.history import projector

    asked: dict[str, object] = {}

    async def consumer(*args: object, **kwargs: object) -> None:
        asked.update(kwargs)
        raise _Stop

    monkeypatch.setattr(projector, "start_consumer", consumer)
    monkeypatch.setenv("CHATLEDGER_KAFKA_HISTORY_FETCH_MAX_WAIT_MS", "300")
    settings = Settings()
    assert Settings.model_fields["kafka_history_fetch_max_wait_ms"].default == 200
    with pytest.raises(_Stop):
        await projector.project_history(settings, mirror=None)  # type: ignore[arg-type]
    assert asked["fetch_max_wait_ms"] == 300
    assert settings.kafka_fetch_max_wait_ms == 20  # the ledger's and the gateway's stay
