"""`chatledger serve`: the service's roles in this process (or in workers it supervises), and
how the process stops: gracefully on SIGTERM/SIGINT, and for certain within a deadline."""

import asyncio
import os
import signal
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
    web.run_app(
        app,
        sock=listeners.sockets,
        print=None,
        loop=loop,
        shutdown_timeout=5,
        access_log=None,  # chatledger.web.observe logs each request as one JSON line
        handle_signals=False,  # _stop_gracefully: aiohttp's own stop, with a deadline
    )
    return 0


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
