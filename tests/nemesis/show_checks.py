"""What must hold of money on hold after the faults (DESIGN §10), read from MySQL's events once
the shows are over; each check returns what differed (empty when it holds).

- every show requested ends exactly once, starts at most once, and a started one is billed once
  (`show_charged`); the bill is its minutes x its rate = the sum of its captured holds, and no
  more minutes than began between `show_started` and `show_ended` (a minute charged twice, or one
  charged before it began, shows here);
- every spying that started ended once, billed minutes x its rate = the sum of its captures;
- every hold is placed once and resolved at most once (so no minute captured twice), a capture
  never above its hold, and no hold is still open `OPEN_GRACE_S` after its `expires_at`;
- a `donate` that bought a menu item carries that item exactly as the chat's menu held it when
  the ledger decided it, and a purchase refused `menu changed` named an item that menu lacked.
Whoever's available money would fall below 0 is the audit's to find (`chatledger audit`).
"""

import math
from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from tests.nemesis.checks import Wire, _listed
from tests.nemesis.load import Op

RESOLVED = ("hold_captured", "hold_voided", "hold_expired")
OPEN_GRACE_S = 5.0
CLOCK_SLACK_S = 0.05  # between the show's start and its end, both stamped by the ledgers' clocks


def _at(event: Wire) -> datetime:
    return datetime.fromisoformat(event["created_at"])


def _money(value: Any) -> Decimal:
    return Decimal(str(value))


def check_holds(events: list[Wire], now: datetime) -> tuple[list[str], dict[str, int]]:
    placed: dict[str, list[Wire]] = defaultdict(list)
    resolved: dict[str, list[Wire]] = defaultdict(list)
    for event in events:
        if event["type"] == "hold_placed":
            placed[event["hold_id"]].append(event)
        elif event["type"] in RESOLVED:
            resolved[event["hold_id"]].append(event)
    problems: dict[str, list[str]] = defaultdict(list)
    for hold, places in placed.items():
        ends = resolved.get(hold, [])
        if len(places) > 1:
            problems["holds placed twice"].append(f"{hold}: seqs {[e['seq'] for e in places]}")
        if len(ends) > 1:
            problems["holds resolved more than once (a minute charged twice)"].append(
                f"{hold}: {[(e['type'], e['seq']) for e in ends]}")
        for end in ends:
            if end["seq"] < places[0]["seq"]:
                problems["holds resolved before they were placed"].append(f"{hold}")
            if end["type"] == "hold_captured" and \
                    _money(end["amount"]) > _money(places[0]["amount"]):
                problems["captures above their hold"].append(f"{hold}: {end['amount']}"
                                                             f" of {places[0]['amount']}")
        expires = datetime.fromisoformat(places[0]["expires_at"])
        if not ends and (now - expires).total_seconds() > OPEN_GRACE_S:
            problems[f"holds open more than {OPEN_GRACE_S:.0f}s past expires_at"].append(
                f"{hold} expires_at {places[0]['expires_at']} (now {now:%H:%M:%S})")
    unplaced = [hold for hold in resolved if hold not in placed]
    if unplaced:
        problems["holds resolved but never placed"] = unplaced
    seen = Counter(e["type"] for ends in resolved.values() for e in ends)
    seen["placed"] = len(placed)
    seen["open"] = sum(1 for h in placed if h not in resolved)
    return [_listed(f"{len(lines)} {kind}", lines) for kind, lines in problems.items()], seen


def check_shows(events: list[Wire],
                sent: frozenset[str] = frozenset()) -> tuple[list[str], Counter[str]]:
    """Also counts how shows ended: "(clock)" when by a tick, not by a command in `sent`."""
    of: dict[str, dict[str, list[Wire]]] = defaultdict(lambda: defaultdict(list))
    captured: dict[tuple[str, str | None], list[Decimal]] = defaultdict(list)
    placed: Counter[str] = Counter()
    for event in events:
        if event["type"].startswith(("show_", "spy_")):
            of[event["show"]][event["type"]].append(event)
        elif event["type"] == "hold_captured":
            captured[(event["show"], event.get("spy"))].append(_money(event["amount"]))
        elif event["type"] == "hold_placed" and not event.get("spy"):
            placed[event["show"]] += 1
    problems: dict[str, list[str]] = defaultdict(list)
    reasons: Counter[str] = Counter()
    for show, kinds in of.items():
        requested, started, ended = (kinds[k] for k in ("show_requested", "show_started",
                                                         "show_ended"))
        reasons.update(e["reason"] + ("" if e["command_id"] in sent else " (clock)")
                       for e in ended)
        reasons["started"] += len(started)
        if len(requested) != 1 or len(ended) != 1 or len(started) > 1:
            problems["shows not requested once, ended once and started at most once"].append(
                f"{show}: {len(requested)} requested, {len(started)} started,"
                f" {len(ended)} ended")
            continue
        rate, minute_s = _money(requested[0]["rate"]), float(requested[0]["minute_s"])
        bills = kinds["show_charged"]
        if started and len(bills) != 1:
            problems["started shows not billed exactly once"].append(f"{show}: {len(bills)}")
            continue
        for bill in bills:
            minutes, charged = int(bill["minutes"]), _money(bill["charged"])
            took = sum(captured.get((show, None), []), Decimal(0))
            if not charged == minutes * rate == took:
                problems["show bills not minutes x rate = the captured holds"].append(
                    f"{show}: {minutes} x {rate} billed {charged}, captured {took}")
            if started:
                lasted = (_at(ended[0]) - _at(started[0])).total_seconds() + CLOCK_SLACK_S
                began = math.floor(lasted / minute_s) + 1
                if minutes > min(began, placed[show]):
                    problems["shows billed more minutes than began"].append(
                        f"{show}: {minutes} billed, {lasted:.2f}s of {minute_s}s minutes,"
                        f" {placed[show]} minutes held")
        problems.update(_spies(show, kinds, captured))
    return [_listed(f"{len(lines)} {kind}", lines) for kind, lines in problems.items()], reasons


def _spies(show: str, kinds: dict[str, list[Wire]],
           captured: dict[tuple[str, str | None], list[Decimal]]) -> dict[str, list[str]]:
    starts: dict[str, list[Wire]] = defaultdict(list)
    ends: dict[str, list[Wire]] = defaultdict(list)
    for event in kinds["spy_started"]:
        starts[event["spy"]].append(event)
    for event in kinds["spy_ended"]:
        ends[event["spy"]].append(event)
    problems: dict[str, list[str]] = defaultdict(list)
    for spy in starts.keys() | ends.keys():
        if len(starts[spy]) != len(ends[spy]):
            problems["spyings not ended exactly once"].append(
                f"{show} spy {spy}: {len(starts[spy])} started, {len(ends[spy])} ended")
            continue
        billed = sum((_money(e["charged"]) for e in ends[spy]), Decimal(0))
        took = sum(captured.get((show, spy), []), Decimal(0))
        wrong = [e for s, e in zip(starts[spy], ends[spy], strict=True)
                 if _money(e["charged"]) != int(e["minutes"]) * _money(s["rate"])]
        if wrong or billed != took:
            problems["spy bills not minutes x rate = the captured holds"].append(
                f"{show} spy {spy}: billed {billed}, captured {took},"
                f" {[(e['minutes'], e['charged']) for e in wrong]}")
    return problems


def check_menu(ops: list[Op], events: list[Wire]) -> tuple[list[str], Counter[str]]:
    menus: dict[str, dict[str, Wire]] = defaultdict(dict)
    then: dict[str, dict[str, Wire]] = {}  # a donation's command id -> its chat's menu then
    done: dict[str, Wire] = {}
    wrong = []
    for event in events:  # in the ledger's order: a chat's seq order
        chat = event["chat"]
        if event["type"] == "menu_changed":
            menus[chat] = {item["id"]: item for item in event["items"]}
        elif event["type"] in ("donate", "donate_rejected"):
            then[event["command_id"]], done[event["command_id"]] = menus[chat], event
            item = event.get("menu_item")
            if item and (menus[chat].get(item["id"]) != item or event["sum"] != item["price"]):
                wrong.append(f"donate seq {event['seq']} chat {chat[:8]} bought {item} for"
                             f" {event['sum']}; the menu then: {list(menus[chat].values())}")
    seen: Counter[str] = Counter()
    for op in ops:
        if op.kind != "menu_buy" or op.item is None:
            continue
        decision = done.get(op.command_id or "")
        if decision is None:
            seen[f"answered {op.statuses[-1] if op.statuses else '-'}, nothing decided"] += 1
            continue
        outcome = decision.get("reason") or "bought"
        seen[outcome] += 1
        menu = then[op.command_id or ""]
        if outcome == "menu changed" and op.item["id"] in menu:
            wrong.append(f"{op.mark}: refused 'menu changed', but {op.item} was on the menu")
        said = decision.get("menu_item")
        if outcome == "bought" and (said or {}).get("id") != op.item["id"]:
            wrong.append(f"{op.mark}: bought {op.item}, the event says {said}")
    return ([_listed(f"{len(wrong)} tip-menu purchases against the menu of their decision",
                     wrong)] if wrong else []), seen
