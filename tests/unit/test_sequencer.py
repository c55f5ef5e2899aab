"""The feed's per-chat order: a jump is filled before anything later of the chat goes on."""

import asyncio

from chatledger.gateway.sequencer import Sequencer
from chatledger.readmodels.gap_fill import seq_of


def test_seq_of_reads_the_envelope_without_parsing() -> None:
    assert seq_of(b'{"type":"message","id":"x","seq":42,"chat":"c"}') == 42
    assert seq_of(b'{"type":"message"}') is None
    assert seq_of(b'{"seq":"x"}') is None


async def test_a_gap_is_filled_before_later_events_and_other_chats_go_on() -> None:
    delivered: list[tuple[str, bytes]] = []
    release = asyncio.Event()
    asked: list[tuple[str, int, int]] = []

    async def fill(chat: str, after: int, before: int) -> list[bytes]:
        asked.append((chat, after, before))
        await release.wait()
        return [b"%d" % seq for seq in range(after + 1, before)]

    sequencer = Sequencer(fill, lambda chat, raw: delivered.append((chat, raw)))
    sequencer.offer("a", 1, b"1")
    sequencer.offer("a", 4, b"4")  # 2 and 3 missing
    sequencer.offer("a", 5, b"5")  # held behind the fill
    sequencer.offer("b", 7, b"7")  # another chat is not held
    sequencer.offer("a", 1, b"1")
    await asyncio.sleep(0)
    assert delivered == [("a", b"1"), ("b", b"7")]
    release.set()
    await asyncio.gather(*sequencer.filling)
    assert [raw for chat, raw in delivered if chat == "a"] == [b"1", b"2", b"3", b"4", b"5"]
    assert asked == [("a", 1, 4)]
    sequencer.offer("a", 5, b"5")  # a redelivery after the fill
    assert len(delivered) == 6


async def test_a_failed_fill_lets_the_chat_go_on() -> None:
    delivered: list[bytes] = []

    async def fill(chat: str, after: int, before: int) -> list[bytes]:
        return []

    sequencer = Sequencer(fill, lambda chat, raw: delivered.append(raw))
    sequencer.offer("a", 1, b"1")
    sequencer.offer("a", 3, b"3")
    await asyncio.gather(*sequencer.filling)
    assert delivered == [b"1", b"3"]


async def test_closing_cancels_fills_and_starts_no_new_one() -> None:
    async def fill(chat: str, after: int, before: int) -> list[bytes]:
        await asyncio.Event().wait()  # MySQL never answers
        return []

    sequencer = Sequencer(fill, lambda chat, raw: None)
    sequencer.offer("a", 1, b"1")
    sequencer.offer("a", 3, b"3")
    sequencer.offer("a", 5, b"5")  # held: would start another fill once the first ends
    await asyncio.sleep(0)  # the fill is waiting for MySQL
    await sequencer.close()
    assert not sequencer.filling
