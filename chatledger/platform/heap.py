"""The start-up heap, frozen: what a process builds while starting lives as long as it does.

Modules, settings, schemas, pools, the rules seed: about 100k objects in a process with every
role. A full (generation 2) collection walks all of them each time it runs, pausing the event
loop for all the process's roles at once: 44-192 ms measured on this 2-core machine while
viewers connected (docs/performance.md, "What stalls posts"). `gc.freeze()` moves them to the
permanent generation, which no collection walks; later full collections walk only what came
after (13-21 ms measured). Objects are still freed by reference counting; only cycles among the
frozen objects would never be collected, and start-up builds none that die.
"""

import gc


async def freeze_startup_heap(_app: object = None) -> None:
    """Collect once (the garbage of starting is not worth keeping), then freeze the rest. An
    aiohttp on_startup callback, appended last so that every role has started before it."""
    gc.collect()
    gc.freeze()
