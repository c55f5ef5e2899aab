"""The start-up heap is frozen once the app has started, out of every later full collection."""

import asyncio
import gc

from chatledger.platform.config import Settings
from chatledger.platform.heap import freeze_startup_heap
from chatledger.service import create_app


def test_freezing_moves_the_heap_out_of_the_collector() -> None:
    try:
        asyncio.run(freeze_startup_heap())
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_app_freezes_after_every_role_has_started() -> None:
    app = create_app(Settings(jwt_secret="s" * 32), {"history"})
    # Last: the cleanup contexts (every role's start-up) are an on_startup callback too.
    assert app.on_startup[-1] is freeze_startup_heap
