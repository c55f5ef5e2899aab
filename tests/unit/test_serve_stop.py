"""The stop deadline of `chatledger serve`: a graceful stop that never finishes still ends the
process, with status 0 and a line saying so."""

import subprocess
import sys
import textwrap

HANGING_STOP = textwrap.dedent("""
    import asyncio, sys, time
    from aiohttp import web_runner
    from chatledger.cli import serve
    serve.STOP_DEADLINE_S = 0.2
    try:
        serve._stop_gracefully(asyncio.new_event_loop())
    except web_runner.GracefulExit:
        pass
    time.sleep(60)  # a graceful stop that never finishes
    sys.exit(5)
""")


def test_a_stop_that_hangs_ends_at_the_deadline() -> None:
    done = subprocess.run([sys.executable, "-c", HANGING_STOP], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert "graceful stop took over" in done.stderr
    assert "graceful stop overdue" in done.stderr  # what each task waited on, logged


def test_the_signal_handler_asks_aiohttp_to_stop() -> None:
    quick_stop = HANGING_STOP.replace("time.sleep(60)", "pass").replace("sys.exit(5)",
                                                                         "sys.exit(7)")
    done = subprocess.run([sys.executable, "-c", quick_stop], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 7, done.stderr  # GracefulExit was raised and caught; no watchdog
    assert "graceful stop took over" not in done.stderr
