"""The 402 pre-check's memory of balances: yes from memory, never no from memory."""

from decimal import Decimal

from chatledger.ledger.accounts import Balances

D = Decimal


def test_a_remembered_balance_covers_tips_until_spent_then_asks() -> None:
    balances = Balances(ttl_s=5)
    assert not balances.spend("ann", D("1"), now=0)  # nothing known: ask MySQL
    assert balances.remember("ann", D("10"), D("4"), now=0)  # read 10, this tip takes 4
    assert balances.spend("ann", D("4"), now=1)  # 6 left
    assert balances.spend("ann", D("2"), now=1)  # 2 left
    assert not balances.spend("ann", D("3"), now=1)  # not covered: ask, never a 402 from memory


def test_a_refused_read_is_remembered_whole_and_a_deposit_is_seen_by_asking() -> None:
    balances = Balances(ttl_s=5)
    assert not balances.remember("ann", D("3"), D("5"), now=0)
    assert not balances.spend("ann", D("5"), now=1)  # asks again (it may have been deposited)
    assert balances.spend("ann", D("3"), now=1)  # what is covered passes from memory


def test_memory_ends_with_the_ttl_and_a_zero_ttl_remembers_nothing() -> None:
    balances = Balances(ttl_s=5)
    balances.remember("ann", D("10"), D("1"), now=0)
    assert balances.spend("ann", D("1"), now=4.9)
    assert not balances.spend("ann", D("1"), now=5)
    off = Balances(ttl_s=0)
    assert off.remember("ann", D("10"), D("1"), now=0)
    assert not off.spend("ann", D("1"), now=0)
