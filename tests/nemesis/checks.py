"""What must hold after the faults, each check returning what differed (empty when it holds).

The truth is MySQL's `chat_events`, read once the load has stopped and the run has quiesced:
- every 201 (and every operator command reported applied) is there exactly once, by command id;
  a command whose 201 came before a broker SIGKILL may be missing (README: a memory broker loses
  what it acknowledged and the ledger had not applied yet), never doubled;
- no command's unique text appears in two rows (a retried 503 or a reused key applied twice);
- every viewer got, across its reconnects, exactly the events after its baseline that it may see
  (public: everyone; `donate_rejected`, `pin_rejected`: its donor; other private events: the
  sender, the model, the `to` of a private reply, the `audience` of a show's message), in seq
  order, each once, with MySQL's event ids.
"""

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import orjson
from databases import Database

from chatledger.domain.wire import event_to_wire
from chatledger.ledger.event_rows import EVENT_COLUMNS, row_to_event
from tests.nemesis.load import Op
from tests.nemesis.viewers import Viewer

Wire = dict[str, Any]
PRIMARY = {"message", "donate", "donate_rejected", "new_goal", "viewer_banned",
           "viewer_unbanned", "donate_refunded", "deposited", "settings_changed", "menu_changed",
           "show_requested", "show_started", "show_ended", "spy_started", "spy_ended",
           "message_pinned", "pin_rejected", "pin_removed"}
SHOWN = 4  # examples printed per kind of difference


async def all_events(db: Database) -> list[Wire]:
    """Every row in wire form, plus its command id (the wire form does not carry it)."""
    rows = await db.fetch_all(f"SELECT {EVENT_COLUMNS} FROM chat_events ORDER BY id")
    events = []
    for row in rows:
        event = row_to_event([row[i] for i in range(13)])
        events.append({**event_to_wire(event), "command_id": event.command_id})
    return events


async def decided(db: Database) -> dict[str, str]:
    """command id -> the ledger's outcome: `applied`, or the refusal it recorded (a raced ban
    refuses a message with no event at all)."""
    rows = await db.fetch_all("SELECT command_id, outcome FROM applied_commands")
    return {row[0]: row[1] for row in rows}


def mark_of(event: Wire) -> str | None:
    goal = event.get("goal")
    text = goal.get("name") if isinstance(goal, dict) else event.get("message")
    return text if isinstance(text, str) and text.startswith("nemesis-") else None


def may_see(event: Wire, viewer: str, chat: str) -> bool:
    """DESIGN §6, written out here rather than imported: the test's own reading of the rule."""
    sender = (event.get("from") or {}).get("uuid")
    if event["type"] in ("donate_rejected", "pin_rejected"):
        return bool(sender == viewer)
    return (bool(event["is_public"]) or viewer in (sender, chat) or event.get("to") == viewer
            or viewer in (event.get("audience") or ()))


LOSS_WINDOW_S = 15.0  # a 201 older than this at a broker kill should have been applied by then


def lost_with_broker(op: Op, broker_kills: list[float]) -> bool:
    """Acknowledged shortly before a broker SIGKILL: the memory broker may have taken it along
    (README, 'What a memory broker loses'). From the moment the POST was sent, not the moment
    its 201 was read: the broker acks before the answer leaves, and a loaded client read a 201
    1.01 s after the kill that took its command (the nemesis in CI)."""
    acked = op.acked_at
    if acked is None:
        return False
    sent = acked if op.sent_at is None else op.sent_at
    return any(sent < kill <= acked + LOSS_WINDOW_S for kill in broker_kills)


def check_commands(ops: list[Op], events: list[Wire], outcomes: dict[str, str],
                   broker_kills: list[float]) -> list[str]:
    by_command: dict[str, list[Wire]] = defaultdict(list)
    by_mark: dict[str, list[Wire]] = defaultdict(list)
    for event in events:
        if event["type"] in PRIMARY:
            by_command[event["command_id"]].append(event)
            if (mark := mark_of(event)) is not None:
                by_mark[mark].append(event)
    lost, borrowed, doubled, twice, excused = [], [], [], [], Counter[str]()
    for op in ops:
        if op.command_id is not None:
            found = by_command.get(op.command_id, [])
            outcome = outcomes.get(op.command_id)
            if outcome is None:
                if lost_with_broker(op, broker_kills):
                    excused[op.kind] += 1
                else:
                    lost.append(f"{op.kind} {op.command_id} mark={op.mark} answers={op.statuses}"
                                f" 201 at {op.acked_wall or '?'}")
            elif outcome == "applied" and not found:
                lost.append(f"{op.kind} {op.command_id}: outcome applied but no event")
            elif op.mark and found and op.mark not in {mark_of(e) for e in found}:
                borrowed.append(f"{op.kind} {op.mark} got 201 with id {op.command_id}, which"
                                f" is the command {[mark_of(e) for e in found]}")
            elif len(found) > len({_once_key(e) for e in found}):
                doubled.append(f"{op.kind} {op.command_id}: {len(found)} rows")
        rows = by_mark.get(op.mark, []) if op.mark else []
        if len(rows) > 1:
            twice.append(f"{op.kind} {op.mark} answers={op.statuses} 201-id={op.command_id}"
                         f" rows={[(r['type'], r['seq'], r['command_id']) for r in rows]}")
    failures = []
    if lost:
        failures.append(_listed(f"{len(lost)} acknowledged commands never applied (and no"
                                f" broker kill from their POST to {LOSS_WINDOW_S:.0f}s after"
                                " their 201)",
                                lost))
    if borrowed:
        failures.append(_listed(f"{len(borrowed)} commands answered 201 with the id of another"
                                " command, their own body never applied", borrowed))
    if doubled:
        failures.append(_listed(f"{len(doubled)} command ids applied more than once", doubled))
    if twice:
        failures.append(_listed(f"{len(twice)} commands applied twice under two ids", twice))
    if excused:
        print(f"nemesis: {excused.total()} acknowledged commands missing {dict(excused)}, each"
              f" acknowledged less than {LOSS_WINDOW_S:.0f}s before a broker SIGKILL (a memory"
              " broker's documented loss)")
    return failures


def _once_key(event: Wire) -> tuple[str, str | None]:
    """A command appends each of these at most once (a show's end ends each of its spies, a
    ban removes each of its target's pins)."""
    return event["type"], event.get("spy") or event.get("pin")


def check_probes(ops: list[Op], events: list[Wire]) -> list[str]:
    """The Idempotency-Key probes answered as DESIGN §4 says."""
    marks = Counter(mark_of(e) for e in events if e["type"] in PRIMARY)
    wrong = []
    for op in ops:
        if op.kind == "replay" and 201 in op.statuses and f"201 {op.command_id}" != op.expect:
            wrong.append(f"replay of {op.mark}: 201 with id {op.command_id}, wanted {op.expect}")
        if op.kind == "reuse" and (op.statuses[-1:] != [422] or marks[op.mark]):
            wrong.append(f"same key, another body ({op.mark}): answers {op.statuses},"
                         f" applied {marks[op.mark]} times; wanted 422 and nothing applied")
    return [_listed(f"{len(wrong)} Idempotency-Key probes answered against the contract",
                    wrong)] if wrong else []


def check_hidden_donors(ops: list[Op], events: list[Wire]) -> list[str]:
    """DESIGN §6: what follows from a private or anonymous tip (its goal, sponsor and refund
    events) never names its donor in a public event."""
    hidden = {op.command_id: op for op in ops if op.hidden and op.command_id}
    donation_of = {e["id"]: e["command_id"] for e in events if e["type"] == "donate"}
    refunds = {e["command_id"]: donation_of.get(e.get("donation_id", "")) for e in events
               if e["type"] == "donate_refunded"}
    leaks, kinds = [], Counter[str]()
    for event in events:
        cause = refunds.get(event["command_id"], event["command_id"])
        tip = hidden.get(cause or "")
        if tip and event["is_public"] and tip.actor in orjson.dumps(event).decode():
            via = "its refund's " if cause != event["command_id"] else ""
            kinds[f"{event['type']} from {via}{tip.hidden} tip"] += 1
            leaks.append(f"public {event['type']} seq {event['seq']} chat {event['chat'][:8]},"
                         f" from {via}{tip.hidden} tip {tip.mark}, names its donor {tip.actor}:"
                         f" {orjson.dumps(event).decode()[:240]}")
    return [_listed(f"{len(leaks)} public events name the donor of a private or anonymous"
                    f" tip: {dict(kinds)}", leaks)] if leaks else []


def by_chat(events: Iterable[Wire]) -> dict[str, list[Wire]]:
    chats: dict[str, list[Wire]] = defaultdict(list)
    for event in events:
        if event["type"] not in ("deposited", "paid_out"):
            chats[event["chat"]].append(event)
    return chats


def owed(viewer: Viewer, chat_events: list[Wire]) -> list[Wire]:
    base = viewer.baseline or 0
    return [e for e in chat_events if e["seq"] > base and may_see(e, viewer.who.uuid, viewer.chat)]


def viewer_problems(viewer: Viewer, chat_events: list[Wire]) -> dict[str, str]:
    if viewer.baseline is None:
        return {"never connected": f"{viewer.who.uuid}: {viewer.closes[-3:]}"}
    want = {e["seq"]: e for e in owed(viewer, chat_events)}
    got = viewer.seqs()
    known = {e["seq"]: e for e in chat_events}
    problems: dict[str, str] = {}
    repeated = sorted(seq for seq, n in Counter(got).items() if n > 1)
    if repeated:
        problems["duplicates"] = f"seqs {repeated[:10]}"
    disorder = [(a, b) for a, b in itertools.pairwise(got) if a >= b]
    if disorder:
        problems["out of order"] = f"pairs {disorder[:5]}"
    missing = sorted(set(want) - set(got))
    if missing:
        problems["missing"] = (f"{len(missing)} of {len(want)}: seqs {missing[:10]} types"
                               f" {Counter(want[s]['type'] for s in missing).most_common(4)},"
                               f" created {want[missing[0]]['created_at']} .."
                               f" {want[missing[-1]]['created_at']}")
    extra = sorted(set(got) - set(want))
    if extra:
        kinds = [(s, known[s]["type"], known[s]["is_public"]) if s in known else (s, "unknown")
                 for s in extra[:6]]
        problems["not its to see (or unknown)"] = f"{len(extra)}: {kinds}"
    wrong = [f["seq"] for f in viewer.frames
             if f["seq"] in known and f["id"] != known[f["seq"]]["id"]]
    if wrong:
        problems["ids differ from MySQL"] = f"seqs {wrong[:10]}"
    return problems


def check_viewers(viewers: list[Viewer], chats: dict[str, list[Wire]]) -> list[str]:
    examples: dict[str, list[str]] = defaultdict(list)
    for viewer in viewers:
        for kind, detail in viewer_problems(viewer, chats.get(viewer.chat, [])).items():
            examples[kind].append(f"viewer {viewer.who.uuid} chat {viewer.chat[:8]} base"
                                  f" {viewer.baseline} connects {viewer.connects}: {detail}")
    return [_listed(f"{len(lines)} of {len(viewers)} viewers: {kind}", lines)
            for kind, lines in examples.items()]


def _listed(title: str, lines: list[str]) -> str:
    return title + "".join(f"\n    {line}" for line in lines[:SHOWN])
