"""`chatledger serve`: the service's roles in this process (or in workers it supervises), and
how the process stops: gracefully on SIGTERM/SIGINT, and for certain within a deadline."""

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading

import uvloop
from aiohttp import web, web_runner

from chatledger.platform import task_dump, workers
from chatledger.platform.config import Settings
from chatledger.service import Misconfigured, create_app, prepare


def serve(role_list: str, worker_count: int, settings: Settings) -> int:
    """Run the service with `role_list` (comma-separated), in `worker_count` processes."""
    roles = [role.strip() for role in role_list.split(",") if role.strip()]
    if worker_count != 1:
        try:
            plans = workers.worker_roles(roles, worker_count, settings.http_port)
        except workers.WorkerPlanError as exc:
            sys.stderr.write(f"{exc}\n")
            return 2
        return workers.supervise(plans)
    try:
        listeners = prepare(settings, roles)  # refuses a configuration that cannot serve
    except Misconfigured as exc:
        sys.stderr.write(f"chatledger serve: {exc}\n")
        return 2
    app = create_app(settings, roles, listeners)
    loop = uvloop.new_event_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _stop_gracefully, loop)
    _run(loop, app, listeners.sockets)
    return 0


def _run(loop: asyncio.AbstractEventLoop, app: web.Application,
         sockets: list[socket.socket]) -> None:
    """`web.run_app`'s loop, with one difference: a stop that comes while the app is still
    starting (a role waiting for the broker) still cleans up what had started. run_app calls
    `runner.setup()` outside its try, so there the MySQL pool and every other `cleanup_ctx`
    already entered were left to the loop's async-generator shutdown, which closes them all at
    once in no order ("generator didn't stop after athrow()" in the log, the pool never closed).
    """
    main = loop.create_task(_serve(app, sockets))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except web_runner.GracefulExit:  # _stop_gracefully, raised out of the loop by a signal
        pass
    finally:
        if not main.done():
            main.cancel()  # its finally cleans up, what had started included
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main)
        left = asyncio.all_tasks(loop)  # what no context owned: ended before the loop is
        for task in left:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _serve(app: web.Application, sockets: list[socket.socket]) -> None:
    runner = web.AppRunner(
        app,
        shutdown_timeout=5,
        access_log=None,  # chatledger.web.observe logs each request as one JSON line
        handle_signals=False,  # _stop_gracefully: aiohttp's own stop, with a deadline
    )
    try:
        await runner.setup()  # the app's startup: every role's cleanup_ctx entered in order
        for sock in sockets:
            await web.SockSite(runner, sock).start()
        await asyncio.Future()  # serves until the stop cancels this task
    finally:
        await runner.cleanup()  # aiohttp closes the contexts that started, even a partial set


# How long a graceful stop may take before the process ends anyway, logging what each task still
# waits on. A backstop: a history process once never finished its stop (a task that swallowed
# its cancellation, bus/healing.py; found from such a dump, fixed). Ending it then loses
# nothing: offsets are committed only after their batch is done, so the next owner redoes what
# was in flight.
STOP_DEADLINE_S = 30.0


def _stop_gracefully(loop: asyncio.AbstractEventLoop) -> None:
    """aiohttp's graceful stop (GracefulExit), and a watchdog that ends the process if that stop
    has not finished within STOP_DEADLINE_S."""
    watchdog = threading.Timer(STOP_DEADLINE_S, _stop_now, args=(loop,))
    watchdog.daemon = True
    watchdog.start()
    raise web_runner.GracefulExit()


def _stop_now(loop: asyncio.AbstractEventLoop) -> None:
    task_dump.log_tasks(loop, f"graceful stop overdue after {STOP_DEADLINE_S:.0f} s")
    sys.stderr.write(f"chatledger serve: the graceful stop took over {STOP_DEADLINE_S:.0f} s;"
                     " stopping now (nothing acknowledged is lost)\n")
    sys.stderr.flush()
    os._exit(0)
