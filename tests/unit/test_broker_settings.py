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
