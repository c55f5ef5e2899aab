"""The analytics example's totals: each (chat, seq) once, donations summed as decimals."""

from tools.analytics_consumer import Totals


def event(seq: int, type_: str = "message", chat: str = "c1", **extra: object) -> dict[str, object]:
    return {"chat": chat, "seq": seq, "type": type_, "from": {"uuid": "u1"}, **extra}


def test_a_redelivered_event_is_counted_once() -> None:
    totals = Totals()
    assert totals.add(event(1, "donate", sum="0.10"))
    assert not totals.add(event(1, "donate", sum="0.10"))
    assert totals.add(event(2, "donate", sum="0.20"))
    assert totals.add(event(1, chat="c2"))
    [c1, c2] = totals.report()
    assert (c1["chat"], c1["events"], c1["donated"], c1["donors"]) == ("c1", 2, "0.30", 1)
    assert (c2["chat"], c2["messages"], c2["donations"]) == ("c2", 1, 0)
    assert totals.report(["c2", "nope"]) == [c2]
