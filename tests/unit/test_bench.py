"""The bench tool's other pure parts: percentiles, the latency curve's rules (backlog, rate
stepping, knee), the ledger peer's plan, profiles, the waterfall, the bare pipeline's records
and a stack that fails to start."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from chatledger.domain.commands import Actor, Donate, PostMessage
from chatledger.domain.events import Event
from chatledger.ledger.accounts import Person
from tools.bench import report, waterfall
from tools.bench.bare_pipeline import command_value, event_value, utc_now_text
from tools.bench.compare import low_population
from tools.bench.curve import Trial, backlog_grows, judge, knee, max_sustained, next_rate
from tools.bench.ledger import last_of_each_chat, plan_batches
from tools.bench.oneproc_cpu import by_role
from tools.bench.peers import viewers_saturated
from tools.bench.population import Population, Viewer
from tools.bench.profile import frame_name, top_frames
from tools.bench.stats import percentile
from tools.bench.tally import created_ns, marker_ns
from tools.bench.wrk import HttpRequest


def test_percentile_is_nearest_rank() -> None:
    values = list(range(100, 0, -1))  # unsorted on purpose
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(list(range(1, 1001)), 99.9) == 999
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def _window(early_ms: float, late_ms: float, n: int = 400) -> tuple[list[int], list[float]]:
    sent = [i * 10_000_000 for i in range(n)]  # 4 s of sends
    latency = [early_ms + (late_ms - early_ms) * i / (n - 1) for i in range(n)]
    return sent, latency


def test_backlog_grows_only_when_late_deliveries_wait_clearly_longer() -> None:
    assert not backlog_grows(*_window(20, 20))
    assert not backlog_grows(*_window(20, 45))  # within 1.25 x early + 50 ms: noise
    assert backlog_grows(*_window(20, 400))
    assert not backlog_grows(*_window(200, 280))  # a little slower, but not clearly
    assert backlog_grows(*_window(400, 900))  # a queue already there, still growing
    assert backlog_grows([], [])


def test_judge_names_why_a_step_fell_behind() -> None:
    sent, latency = _window(20, 20)
    assert judge(100, 400, 400, 99, 40_000, 40_000, sent, latency).kept_up
    assert "sender" in judge(100, 400, 400, 80, 40_000, 40_000, sent, latency).why
    assert "accepted" in judge(100, 400, 300, 100, 30_000, 30_000, sent, latency).why
    assert "deliveries" in judge(100, 400, 400, 100, 40_000, 30_000, sent, latency).why
    assert "grew" in judge(100, 400, 400, 100, 40_000, 40_000, *_window(20, 900)).why
    assert "standing" in judge(100, 400, 400, 100, 40_000, 40_000, *_window(1900, 2000)).why


def _search(capacity: float, start: float, refine: int = 2,
            noisy: frozenset[int] = frozenset()) -> list[Trial]:
    """The steps against a pipeline of `capacity`; the steps numbered in `noisy` fail anyway."""
    trials: list[Trial] = []
    while (rate := next_rate(trials, start, factor=2, refine=refine)) is not None:
        trials.append(Trial(rate, rate <= capacity and len(trials) not in noisy))
    return trials


def test_rate_stepping_climbs_then_bisects_each_failure_confirmed() -> None:
    trials = _search(capacity=500, start=100)
    assert [t.rate for t in trials] == [100, 200, 400, 800, 800, 600, 600, 500]
    assert max_sustained(trials) == 500
    down = _search(capacity=30, start=100, refine=1)
    assert [t.rate for t in down] == [100, 100, 50, 50, 25, 37.5, 37.5]
    assert max_sustained(down) == 25
    assert max_sustained([Trial(10, False)]) is None


def test_one_noisy_step_does_not_set_the_max() -> None:
    """A step that fails below the capacity (another process's burst) is tried again, and the
    search climbs on from it: without the second try the max would have been 100."""
    trials = _search(capacity=500, start=100, noisy=frozenset({1}))
    assert [(t.rate, t.kept_up) for t in trials[:3]] == [(100, True), (200, False), (200, True)]
    assert max_sustained(trials) == 500


def test_rate_stepping_stops_after_max_trials() -> None:
    trials = [Trial(float(i), True) for i in range(1, 17)]
    assert next_rate(trials, 1) is None


def test_knee_is_the_last_rate_of_the_flat_part() -> None:
    assert knee([(50, 20), (10, 18), (100, 30), (200, 90)]) == (100, 200)
    assert knee([(10, 18), (50, 20)]) == (50, None)
    with pytest.raises(ValueError):
        knee([])


def _actor(role: str = "client") -> Actor:
    return Actor(str(uuid.uuid4()), "Someone", role)


def _event(command: str, chat: str, seq: int, type_: str, actor: Actor,
           payload: dict[str, Any] | None = None) -> Event:
    return Event(str(uuid.uuid4()), command, chat, seq, type_, actor, True,
                 Decimal("1.00") if type_ == "donate" else None, datetime.now(UTC),
                 payload or {})


def test_the_ledger_peer_plans_the_same_writes_per_batch() -> None:
    chat, donor, talker = str(uuid.uuid4()), _actor(), _actor()
    message = PostMessage(str(uuid.uuid4()), chat, talker, "hi", True)
    tip = Donate(str(uuid.uuid4()), chat, donor, Decimal("1.00"))
    refused = Donate(str(uuid.uuid4()), chat, donor, Decimal("1.00"))  # no events
    events = [
        _event(message.command_id, chat, 7, "message", talker),
        _event(tip.command_id, chat, 8, "donate", donor),
        _event(tip.command_id, chat, 9, "change_sponsor", donor,
               {"sponsor": {"uuid": donor.uuid, "name": "Someone"}}),
    ]
    goal = ("g1", 3, chat, "Show", Decimal("5.00"), Decimal("100.00"), True)
    state = {"balances": {donor.uuid: Decimal("10.00"), chat: Decimal("5.00")},
             "goals": {chat: [goal]}, "donor_totals": {(chat, donor.uuid): Decimal("1.00")}}
    first, second = plan_batches([message, tip, refused], events, 2, state)
    assert len(first.events) == 3 and [row[3] for row in first.events] == [7, 8, 9]
    assert first.applied == [(message.command_id, "applied"), (tip.command_id, "applied")]
    assert first.versions == {chat: 9}
    assert first.balances == {donor.uuid: Decimal("10.00"), chat: Decimal("5.00")}
    assert first.goals == {"g1": goal}
    assert first.donor_totals == {(chat, donor.uuid): Decimal("1.00")}
    assert first.current_sponsors == {chat: (donor.uuid, "Someone")}
    assert len(first.sponsors) == 1
    assert second.events == [] and second.applied == [(refused.command_id, "applied")]
    assert second.versions == {chat: 0} and not second.balances


def test_the_ledger_is_timed_until_the_last_command_of_each_chat() -> None:
    chats = [str(uuid.uuid4()) for _ in range(3)]
    commands = [PostMessage(str(uuid.uuid4()), chats[n % 2], _actor(), "hi", True)
                for n in range(5)]
    commands.append(Donate(str(uuid.uuid4()), chats[2], _actor(), Decimal("1.00")))
    assert sorted(last_of_each_chat(commands)) == sorted(
        [commands[3].command_id, commands[4].command_id, commands[5].command_id])


def test_viewers_near_a_core_each_are_flagged() -> None:
    assert viewers_saturated(180.0, 2)
    assert not viewers_saturated(120.0, 2)
    assert not viewers_saturated(180.0, 3)


def test_wrk_request_lines_refuse_tabs() -> None:
    assert HttpRequest("GET", "/x").line() == "GET\t/x\t-\t-"
    with pytest.raises(ValueError):
        HttpRequest("POST", "/x", "token", "a\tb").line()


def test_profile_top_frames_merge_lines_and_shorten_paths() -> None:
    collapsed = [
        "run (/x/lib/python3.11/asyncio/runners.py:118);handle (/w/chatledger/api/app.py:40);"
        "decode (/x/.venv/lib/python3.11/site-packages/jwt/api_jwt.py:90) 6\n",
        "run (/x/lib/python3.11/asyncio/runners.py:118);handle (/w/chatledger/api/app.py:41) 3\n",
        "run (/x/lib/python3.11/asyncio/runners.py:120) 1\n",
        "garbage\n",
    ]
    assert frame_name("f (/x/.venv/lib/python3.11/site-packages/aiohttp/web.py:45)") == (
        "f (aiohttp/web.py)")
    top = top_frames(collapsed)
    assert top["samples"] == 10
    assert top["self"] == [("decode (jwt/api_jwt.py)", 60.0),
                           ("handle (chatledger/api/app.py)", 30.0),
                           ("run (asyncio/runners.py)", 10.0)]
    assert top["total"][:2] == [("run (asyncio/runners.py)", 100.0),
                                ("handle (chatledger/api/app.py)", 90.0)]
    results = {"profiles": {"post_message": top, "history": {"error": "no permission"}}}
    rows = report.profile_table(results)
    assert rows[2].startswith("| post_message | 10 | `decode (jwt/api_jwt.py)` 60;")
    assert rows[2].endswith("| `handle (chatledger/api/app.py)` 90 |")  # our frames only
    assert rows[3] == "| history | - | no permission | |"
    assert top_frames([]) == {"samples": 0, "self": [], "total": []}


def test_one_process_samples_are_split_by_the_role_of_their_task(tmp_path: Path) -> None:
    root = "main (/w/chatledger/cli/main.py:1);run_app (/x/site-packages/aiohttp/web.py:502)"
    raw = tmp_path / "raw.txt"
    raw.write_text("\n".join([
        f"{root};follow (/w/chatledger/gateway/feed.py:9);"
        "Connection._send (/w/chatledger/gateway/connection.py:5) 6",
        f"{root};_Finishing._run (/w/chatledger/bus/consume.py:1);"
        "publish (/w/chatledger/ledger/worker.py:2);"
        "StreamWriter.write (/x/lib/python3.11/asyncio/streams.py:3) 2",
        f"{root} 2",
        "garbage",
    ]))
    # 10 samples of 2 ms per post: 200 µs each.
    assert by_role(raw, 2.0) == {"gateway fan-out": [1200, 1200], "ledger": [400, 400],
                                 "event loop (uvloop's C)": [400, 0]}


def test_the_waterfall_splits_a_post_at_each_stamp_and_keeps_the_ack_beside() -> None:
    sent_ns = 1_000_000_000_000_000_000  # the poster's marker: POST sent, ns
    t = sent_ns / 1e9
    stamps = {"api_received": t + 0.001, "ledger_fetched": t + 0.011,
              "ledger_decided": t + 0.016, "ledger_committed": t + 0.017,
              "ledger_published": t + 0.0172, "gateway_fetched": t + 0.025,
              "gateway_dispatched": t + 0.0251}
    rows = waterfall.legs({sent_ns: stamps}, {sent_ns: {"api_received": t + 0.001,
                                                        "api_acked": t + 0.005}}, [1.5])
    by_stage = {row["stage"]: row for row in rows}
    assert by_stage["api -> ledger fetched"]["p50_ms"] == 10.0
    assert by_stage["ledger fetched -> decided"]["p50_ms"] == 5.0
    assert by_stage["dispatched -> viewer read"]["p50_ms"] == 1.5
    side = by_stage["api received -> produce acked"]
    assert side["side"] and side["p50_ms"] == 4.0
    chain = [row["p50_ms"] for row in rows if not row["side"]]
    assert round(sum(chain), 1) == 26.6  # the links add up to POST sent -> viewer read


def test_the_waterfall_leaves_out_events_without_stamps() -> None:
    rows = waterfall.legs({}, {}, [])
    assert all(row["samples"] == 0 and row["p50_ms"] is None for row in rows)


def test_bare_pipeline_commands_and_events_carry_what_the_viewers_read() -> None:
    command = command_value("chat-1", b'{"message": "bench 1767225600000000000",'
                                      b' "is_public": true}')
    assert orjson.loads(command) == {"chat": "chat-1", "message": "bench 1767225600000000000"}
    event = event_value(command, 7, "2026-01-01T00:00:00.100000Z")
    assert marker_ns(event, 0, len(event)) == 1_767_225_600_000_000_000
    assert created_ns(event, 0, len(event)) == 1_767_225_600_100_000_000
    assert orjson.loads(event)["seq"] == 7
    assert created_ns(b'"created_at":"' + utc_now_text().encode() + b'"', 0, 50)
    for bad in (b"[]", b'{"message": 5}', b"not json"):
        with pytest.raises((ValueError, AttributeError)):
            command_value("chat-1", bad)


def test_low_population_takes_per_chat_viewers_of_the_first_chats() -> None:
    models = [Person(str(uuid.uuid4()), f"m{i}", "model") for i in range(4)]
    viewers = [Viewer(Person(str(uuid.uuid4()), f"v{i}", "viewer"), models[i % 4].uuid,
                      f"t{i}") for i in range(40)]
    chosen = low_population(Population(models, viewers, []), chats=2, per_chat=3)
    assert len(chosen) == 6
    assert {viewer.chat for viewer in chosen} == {models[0].uuid, models[1].uuid}


def test_a_stack_that_fails_to_start_stops_the_processes_it_started(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A process that never answers (a loaded machine) must not leave the others running: they
    would load the shared machine for every later run."""
    from tools.bench import stack

    started: list[Any] = []

    class Process:
        def __init__(self, roles: str) -> None:
            self.roles, self.stopped = roles, False
            started.append(self)

    def not_listening(url: str, process: Any) -> None:
        if process.roles == "gateway":
            raise TimeoutError(f"{url} did not answer")

    monkeypatch.setattr(stack, "spawn", lambda roles, env, log: Process(roles))
    monkeypatch.setattr(stack, "wait_listening", not_listening)
    monkeypatch.setattr(stack, "stop", lambda process: setattr(process, "stopped", True))
    with pytest.raises(TimeoutError):
        stack.Stack("api;gateway;ledger", {}, tmp_path)
    assert [(p.roles, p.stopped) for p in started] == [
        ("api", True), ("gateway", True), ("ledger", True)]
