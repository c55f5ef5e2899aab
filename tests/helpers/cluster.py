"""Several `chatledger serve` processes started with ONE environment, as on one machine."""

import contextlib
import signal
from collections.abc import Iterator

from chatledger.platform.config import Settings
from tests.helpers.service import Service, launch, stop, wait_http


@contextlib.contextmanager
def start_cluster(
    settings: Settings, layout: list[str], env: dict[str, str]
) -> Iterator[list[Service]]:
    """One process per entry of `layout` (its roles), all started at once with the same `env`;
    yields them in layout order once each answers on its ops port."""
    services = [launch(settings, roles, env) for roles in layout]
    try:
        for service in services:
            wait_http(service.ops_url, service.process)
        yield services
    finally:
        for service in services:
            stop(service.process, signal.SIGTERM)
