"""What must hold of the paid extras (DESIGN §11) after the faults, from MySQL's events once the
run has quiesced (every pin and toy turn due has ended). Each returns what differed, and counts.

Read per chat in seq order (the ledger's order), written out here rather than imported from the
domain: the test's own reading of the rules.
- pins: every `message_pinned` is started at most once and ended exactly once (`pin_expired` or
  `pin_removed`), never ended before it was bought; at most one pin shows at a time; a
  `pin_started` starts the best of the queue (the highest sum, then the oldest); a
  `pin_expired` is decided no earlier than its `ends_at` and only for the pin showing;
- toys: every `toy_queued` turn is either started once and finished once, or removed (never
  both); turns start in the order queued, one at a time; a turn finishes no earlier than its
  `ends_at`; only a waiting turn is removed;
- goals: `goal_started` starts the first goal of the chat's queue and only while no goal is
  active; a donation fills exactly the goals active at its decision; no chat ends with goals
  waiting and none active.
A pin's money moved once is `chatledger audit`'s (conservation) and `check_commands`' (one
`message_pinned` per command).
"""

from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from tests.nemesis.checks import Wire, _listed

CLOCK_SLACK_S = 0.05  # ends_at and the decision's time come from two ledgers' clocks
Problems = dict[str, list[str]]


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _by_chat(events: list[Wire], prefixes: tuple[str, ...]) -> dict[str, list[Wire]]:
    chats: dict[str, list[Wire]] = defaultdict(list)
    for event in events:
        if event["type"].startswith(prefixes) or event["type"] in prefixes:
            chats[event["chat"]].append(event)
    return {chat: sorted(got, key=lambda e: e["seq"]) for chat, got in chats.items()}


def _early(event: Wire, ends_at: str) -> bool:
    return (_at(ends_at) - _at(event["created_at"])).total_seconds() > CLOCK_SLACK_S


def _reported(problems: Problems) -> list[str]:
    return [_listed(f"{len(lines)} {kind}", lines) for kind, lines in problems.items()]


def check_pins(events: list[Wire]) -> tuple[list[str], Counter[str]]:
    problems: Problems = defaultdict(list)
    seen: Counter[str] = Counter()
    for chat, got in _by_chat(events, ("message_pinned", "pin_")).items():
        _pins_of(chat, got, problems, seen)
    return _reported(problems), seen


def _pins_of(chat: str, events: list[Wire], problems: Problems, seen: Counter[str]) -> None:
    queue: dict[str, tuple[Decimal, int]] = {}  # pin -> (sum, seq) while it waits
    starts: Counter[str] = Counter()
    ends: dict[str, list[Wire]] = defaultdict(list)
    showing: tuple[str, str] | None = None  # (pin, ends_at)
    for event in events:
        kind, pin = event["type"], str(event.get("pin") or event["id"])
        seen[kind] += 1
        where = f"chat {chat[:8]} seq {event['seq']} pin {pin[:8]}"
        shown = showing[0] if showing else None
        if kind == "message_pinned":
            queue[pin] = (Decimal(str(event["sum"])), event["seq"])
        elif kind == "pin_started":
            starts[pin] += 1
            if shown is not None:
                problems["pins started while another showed"].append(
                    f"{where} while {shown[:8]} showed")
            if pin not in queue:
                problems["pins started that were not waiting"].append(where)
            elif (best := min(queue, key=lambda p: (-queue[p][0], queue[p][1]))) != pin:
                problems["pins started that were not the best of the queue"].append(
                    f"{where} sum {queue[pin][0]}; the best was {best[:8]} sum {queue[best][0]}")
            queue.pop(pin, None)
            showing = (pin, event["ends_at"])
        elif kind in ("pin_expired", "pin_removed"):
            ends[pin].append(event)
            if showing is None or shown != pin:
                if kind == "pin_expired" or pin not in queue:
                    problems[f"pins {kind.removeprefix('pin_')} that were not"
                             f" {'showing' if kind == 'pin_expired' else 'waiting or showing'}"
                             ].append(where)
            elif kind == "pin_expired" and _early(event, showing[1]):
                problems["pins expired before their ends_at"].append(
                    f"{where} at {event['created_at']}, ends_at {showing[1]}")
            queue.pop(pin, None)
            if shown == pin:
                showing = None
    for event in events:
        if event["type"] == "message_pinned":
            pin = event["id"]
            if starts[pin] > 1 or len(ends[pin]) != 1:
                problems["pins not started at most once and ended exactly once"].append(
                    f"chat {chat[:8]} pin {pin[:8]}: {starts[pin]} started,"
                    f" {[e['type'] for e in ends[pin]]}")
    bought = {e["id"] for e in events if e["type"] == "message_pinned"}
    for pin in (set(starts) | set(ends)) - bought:
        problems["pins started or ended but never bought"].append(f"chat {chat[:8]} pin {pin}")


def check_toys(events: list[Wire]) -> tuple[list[str], Counter[str]]:
    problems: Problems = defaultdict(list)
    seen: Counter[str] = Counter()
    for chat, got in _by_chat(events, ("toy_",)).items():
        _toys_of(chat, got, problems, seen)
    return _reported(problems), seen


def _toys_of(chat: str, events: list[Wire], problems: Problems, seen: Counter[str]) -> None:
    queue: list[str] = []
    playing: tuple[str, str] | None = None  # (donation, ends_at)
    fates: dict[str, Counter[str]] = defaultdict(Counter)
    for event in events:
        kind, turn = event["type"], event["donation"]
        seen[kind] += 1
        fates[turn][kind] += 1
        where = f"chat {chat[:8]} seq {event['seq']} turn {turn[:8]}"
        if kind == "toy_queued":
            queue.append(turn)
        elif kind == "toy_started":
            if playing is not None:
                problems["turns started while another played"].append(
                    f"{where} while {playing[0][:8]} played")
            if not queue or queue[0] != turn:
                problems["turns started out of the order queued"].append(
                    f"{where}; first waiting {queue[0][:8] if queue else 'none'}")
            queue = [t for t in queue if t != turn]
            playing = (turn, event["ends_at"])
        elif kind == "toy_finished":
            if playing is None or playing[0] != turn:
                problems["turns finished that were not playing"].append(where)
            elif _early(event, playing[1]):
                problems["turns finished before their ends_at"].append(
                    f"{where} at {event['created_at']}, ends_at {playing[1]}")
            playing = None if playing and playing[0] == turn else playing
        elif kind == "toy_removed":
            if turn not in queue:
                problems["turns removed that were not waiting"].append(where)
            queue = [t for t in queue if t != turn]
    for turn, fate in fates.items():
        played = fate["toy_started"] == fate["toy_finished"] == 1 and not fate["toy_removed"]
        removed = fate["toy_removed"] == 1 and not fate["toy_started"] + fate["toy_finished"]
        if fate["toy_queued"] != 1 or not (played or removed):
            problems["turns not queued once, then played once or removed"].append(
                f"chat {chat[:8]} turn {turn[:8]}: {dict(fate)}")


def check_goal_queue(events: list[Wire]) -> tuple[list[str], Counter[str]]:
    problems: Problems = defaultdict(list)
    seen: Counter[str] = Counter()
    kinds = ("new_goal", "goal_started", "end_goal", "donate")
    for chat, got in _by_chat(events, kinds).items():
        active: set[str] = set()
        waiting: list[str] = []
        for event in got:
            kind, where = event["type"], f"chat {chat[:8]} seq {event['seq']}"
            goal: dict[str, Any] = event.get("goal") or {}
            if kind == "new_goal":
                (waiting.append if event.get("queued") else active.add)(goal["id"])
                seen["queued goals" if event.get("queued") else "goals"] += 1
            elif kind == "goal_started":
                seen[kind] += 1
                if active:
                    problems["goals started while others were active"].append(
                        f"{where} goal {goal['id'][:8]} beside {len(active)} active")
                if not waiting or waiting[0] != goal["id"]:
                    problems["goals started out of the order queued"].append(
                        f"{where} goal {goal['id'][:8]}; first waiting"
                        f" {waiting[0][:8] if waiting else 'none'}")
                waiting = [g for g in waiting if g != goal["id"]]
                active.add(goal["id"])
            elif kind == "end_goal":
                active.discard(goal["id"])
            elif kind == "donate":
                filled = {g["id"] for g in event.get("goals") or ()}
                if filled != active:
                    problems["donations that filled other goals than the active ones"].append(
                        f"{where}: filled {len(filled - active)} inactive, missed"
                        f" {len(active - filled)} active")
        if waiting and not active:
            problems["chats left with goals waiting and none active"].append(
                f"chat {chat[:8]}: {len(waiting)} waiting")
    return _reported(problems), seen
