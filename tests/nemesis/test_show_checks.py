"""The show, hold and menu checks on made-up events: a clean show passes, and each rule broken
is reported (a check that cannot fail would make a green nemesis run mean nothing)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.nemesis.load import Op
from tests.nemesis.show_checks import check_holds, check_menu, check_shows

CHAT, CLIENT, SPY = "chat-uuid", "client-uuid", "spy-uuid"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ev(seq: int, kind: str, at_s: float = 0.0, **payload: Any) -> dict[str, Any]:
    return {"type": kind, "id": f"e{seq}", "seq": seq, "chat": CHAT, "is_public": False,
            "from": {"uuid": CLIENT}, "command_id": payload.pop("command", f"c{seq}"),
            "created_at": (T0 + timedelta(seconds=at_s)).isoformat(), **payload}


def hold(seq: int, hold_id: str, at_s: float, **about: Any) -> dict[str, Any]:
    expires = (T0 + timedelta(seconds=at_s + 32)).isoformat()
    return ev(seq, "hold_placed", at_s, hold_id=hold_id, client=CLIENT, amount="2.00",
              expires_at=expires, purpose="show", show="s1", **about)


def show_of_two_minutes() -> list[dict[str, Any]]:
    """Requested, accepted, a spy for one minute, one boundary, ended by the client at 3 s."""
    return [ev(1, "show_requested", 0, show="s1", rate="2.00", minute_s=2.0),
            hold(2, "h1", 0),
            ev(3, "show_started", 0.5, show="s1"),
            ev(4, "spy_started", 0.6, show="s1", spy=SPY, rate="1.00"),
            hold(5, "hs1", 0.6, spy=SPY),
            ev(6, "hold_captured", 2.5, hold_id="h1", amount="2.00", show="s1"),
            hold(7, "h2", 2.5),
            ev(8, "hold_captured", 3.0, hold_id="hs1", amount="1.00", show="s1", spy=SPY),
            ev(9, "spy_ended", 3.0, show="s1", spy=SPY, reason="show_ended", minutes=1,
               charged="1.00"),
            ev(10, "hold_captured", 3.0, hold_id="h2", amount="2.00", show="s1"),
            ev(11, "show_ended", 3.0, show="s1", reason="client"),
            ev(12, "show_charged", 3.0, show="s1", client=CLIENT, minutes=2, charged="4.00")]


def without(events: list[dict[str, Any]], seq: int) -> list[dict[str, Any]]:
    return [e for e in events if e["seq"] != seq]


def test_a_clean_show_passes_every_check() -> None:
    events = show_of_two_minutes()
    assert check_shows(events)[0] == []
    assert check_holds(events, T0 + timedelta(seconds=60))[0] == []


def test_a_show_not_ended_or_ended_twice_is_reported() -> None:
    events = show_of_two_minutes()
    assert "ended once" in check_shows(without(events, 11))[0][0]
    twice = [*events, ev(13, "show_ended", 4, show="s1", reason="model")]
    assert "ended once" in check_shows(twice)[0][0]


def test_a_bill_that_differs_from_its_captures_or_its_minutes_is_reported() -> None:
    events = show_of_two_minutes()
    dropped = without(events, 10)  # billed 2 minutes, one capture
    assert "minutes x rate = the captured holds" in check_shows(dropped)[0][0]
    billed = [*without(events, 12), ev(12, "show_charged", 3, show="s1", client=CLIENT,
                                       minutes=2, charged="5.00")]
    assert "minutes x rate" in check_shows(billed)[0][0]
    spy = [*without(events, 9), ev(9, "spy_ended", 3, show="s1", spy=SPY, reason="show_ended",
                                   minutes=2, charged="2.00")]
    assert "spy bills" in check_shows(spy)[0][0]


def test_a_minute_charged_before_it_began_is_reported() -> None:
    """Three minutes billed (three holds captured) in a show that lasted 2.5 s of 2 s minutes:
    a boundary decided early, or one minute charged twice."""
    events = [*show_of_two_minutes()[:10], hold(13, "h3", 2.6),
              ev(14, "hold_captured", 3.0, hold_id="h3", amount="2.00", show="s1"),
              ev(11, "show_ended", 3.0, show="s1", reason="client"),
              ev(12, "show_charged", 3.0, show="s1", client=CLIENT, minutes=3, charged="6.00")]
    assert "more minutes than began" in check_shows(events)[0][0]


def test_a_hold_resolved_twice_or_left_open_past_its_expiry_is_reported() -> None:
    events = show_of_two_minutes()
    twice = [*events, ev(13, "hold_expired", 40, hold_id="h2")]
    assert "resolved more than once" in check_holds(twice, T0)[0][0]
    open_hold = without(without(without(events, 10), 11), 12)
    assert check_holds(open_hold, T0 + timedelta(seconds=30))[0] == []  # not expired yet
    assert "open more than" in check_holds(open_hold, T0 + timedelta(seconds=60))[0][0]
    above = [*without(events, 6), ev(6, "hold_captured", 2.5, hold_id="h1", amount="3.00",
                                      show="s1")]
    assert any("above their hold" in p for p in check_holds(above, T0)[0])


def test_a_purchase_against_the_menu_of_its_decision_is_reported() -> None:
    dance = {"id": "i1", "label": "Dance", "price": "5.00"}
    song = {"id": "i2", "label": "Song", "price": "3.00"}
    menu1 = ev(1, "menu_changed", items=[dance])
    menu2 = ev(3, "menu_changed", items=[song])
    buy = Op("menu_buy", CHAT, CLIENT, "nemesis-1", command_id="b1", item=dance)
    bought = ev(2, "donate", command="b1", sum="5.00", menu_item=dance)
    late = ev(4, "donate_rejected", command="b1", sum="5.00", reason="menu changed")
    assert check_menu([buy], [menu1, bought, menu2])[0] == []
    assert check_menu([buy], [menu1, menu2, late])[0] == []
    assert check_menu([buy], [menu1, menu2, {**bought, "seq": 4}])[0] != []  # sold off-menu
    assert check_menu([buy], [menu1, {**late, "seq": 2}])[0] != []  # refused while on it
    cheap = ev(2, "donate", command="b1", sum="4.00", menu_item=dance)
    assert check_menu([buy], [menu1, cheap])[0] != []
