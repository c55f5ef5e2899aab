"""The pin, toy and goal-queue checks on made-up events: a clean room passes, and each rule
broken is reported (a check that cannot fail would make a green nemesis run mean nothing)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.nemesis.extras_checks import check_goal_queue, check_pins, check_toys

CHAT = "chat-uuid"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ev(seq: int, kind: str, at_s: float = 0.0, **payload: Any) -> dict[str, Any]:
    return {"type": kind, "id": payload.pop("id", f"e{seq}"), "seq": seq, "chat": CHAT,
            "is_public": True, "from": {"uuid": "client"}, "command_id": f"c{seq}",
            "created_at": (T0 + timedelta(seconds=at_s)).isoformat(), **payload}


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def pins() -> list[dict[str, Any]]:
    """p1 (5.00) and p2 (9.00) bought together, p3 (9.00) later: p2 shows first (the highest
    sum), then p3 (a higher sum than the older p1), then p1, which the model deletes."""
    return [ev(1, "message_pinned", 0, id="p1", sum="5.00", seconds=2),
            ev(2, "message_pinned", 0, id="p2", sum="9.00", seconds=2),
            ev(3, "pin_started", 0.5, pin="p2", ends_at=at(2.5)),
            ev(4, "message_pinned", 1, id="p3", sum="9.00", seconds=2),
            ev(5, "pin_expired", 2.5, pin="p2"),
            ev(6, "pin_started", 2.5, pin="p3", ends_at=at(4.5)),
            ev(7, "pin_expired", 4.6, pin="p3"),
            ev(8, "pin_started", 4.6, pin="p1", ends_at=at(6.6)),
            ev(9, "pin_removed", 5, pin="p1", reason="deleted")]


def toys() -> list[dict[str, Any]]:
    return [ev(1, "toy_queued", 0, donation="d1"),
            ev(2, "toy_started", 0, donation="d1", ends_at=at(1)),
            ev(3, "toy_queued", 0.2, donation="d2"),
            ev(4, "toy_queued", 0.3, donation="d3"),
            ev(5, "toy_removed", 0.5, donation="d2", reason="refunded"),
            ev(6, "toy_finished", 1, donation="d1"),
            ev(7, "toy_started", 1, donation="d3", ends_at=at(3)),
            ev(8, "toy_finished", 3.1, donation="d3")]


def goals() -> list[dict[str, Any]]:
    def goal(name: str) -> dict[str, Any]:
        return {"id": name, "name": name, "sum": "0.00", "require_sum": "10.00"}
    return [ev(1, "new_goal", goal=goal("g1")),
            ev(2, "new_goal", goal=goal("q1"), queued=True),
            ev(3, "new_goal", goal=goal("q2"), queued=True),
            ev(4, "donate", goals=[goal("g1")]),
            ev(5, "end_goal", goal=goal("g1")),
            ev(6, "goal_started", goal=goal("q1")),
            ev(7, "donate", goals=[goal("q1")])]


def swap(events: list[dict[str, Any]], seq: int, **changed: Any) -> list[dict[str, Any]]:
    return [{**e, **changed} if e["seq"] == seq else e for e in events]


def without(events: list[dict[str, Any]], seq: int) -> list[dict[str, Any]]:
    return [e for e in events if e["seq"] != seq]


def problems(found: tuple[list[str], Any]) -> str:
    return "\n".join(found[0])


def test_clean_extras_pass_every_check() -> None:
    assert check_pins(pins())[0] == []
    assert check_toys(toys())[0] == []
    assert check_goal_queue(goals())[0] == []


def test_a_pin_not_ended_or_ended_twice_or_started_twice_is_reported() -> None:
    assert "ended exactly once" in problems(check_pins(without(pins(), 9)))
    twice = [*pins(), ev(10, "pin_removed", 6, pin="p1", reason="banned")]
    assert "ended exactly once" in problems(check_pins(twice))
    again = [*pins(), ev(10, "pin_started", 6, pin="p1", ends_at=at(8))]
    assert "started at most once" in problems(check_pins(again))


def test_two_pins_showing_or_a_worse_pin_first_is_reported() -> None:
    both = [*pins()[:3], ev(4, "pin_started", 0.6, pin="p1", ends_at=at(2.6))]
    assert "while another showed" in problems(check_pins(both))
    worse = swap(swap(pins(), 3, pin="p1"), 8, pin="p2")  # 5.00 before 9.00
    assert "not the best of the queue" in problems(check_pins(worse))
    younger = [*pins()[:3], *swap(swap(pins()[3:], 6, pin="p1"), 8, pin="p3")]
    assert "not the best of the queue" in problems(check_pins(younger))


def test_a_pin_expired_early_or_not_showing_is_reported() -> None:
    early = swap(pins(), 5, created_at=at(2.0))
    assert "before their ends_at" in problems(check_pins(early))
    assert "not showing" in problems(check_pins(swap(pins(), 7, pin="p1")))


def test_a_turn_played_and_removed_or_out_of_order_is_reported() -> None:
    assert "played once or removed" in problems(check_toys(without(toys(), 8)))
    both = [*toys(), ev(9, "toy_removed", 4, donation="d3", reason="refunded")]
    assert "not waiting" in problems(check_toys(both))
    assert "played once or removed" in problems(check_toys(both))
    disorder = [*without(toys(), 5), ev(9, "toy_started", 3.1, donation="d2", ends_at=at(5)),
                ev(10, "toy_finished", 5, donation="d2")]  # d3 played before d2
    assert "order queued" in problems(check_toys(disorder))


def test_two_turns_playing_or_a_turn_finished_early_is_reported() -> None:
    overlap = [*toys()[:4], ev(5, "toy_started", 0.4, donation="d2", ends_at=at(2))]
    assert "while another played" in problems(check_toys(overlap))
    assert "before their ends_at" in problems(check_toys(swap(toys(), 6, created_at=at(0.5))))


def test_a_goal_started_out_of_turn_or_a_donation_to_the_wrong_goals_is_reported() -> None:
    events = goals()
    early = [*events[:3], ev(4, "goal_started", goal=events[1]["goal"])]
    assert "while others were active" in problems(check_goal_queue(early))
    skipped = swap(events, 6, goal=events[2]["goal"])  # q2 before q1
    assert "order queued" in problems(check_goal_queue(skipped))
    spilled = swap(events, 4, goals=[events[0]["goal"], events[1]["goal"]])  # a queued goal
    assert "other goals than the active" in problems(check_goal_queue(spilled))
    missed = swap(events, 7, goals=[])
    assert "other goals than the active" in problems(check_goal_queue(missed))
    stalled = without(events, 6)[:-1]
    assert "waiting and none active" in problems(check_goal_queue(stalled))
