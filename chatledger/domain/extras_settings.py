"""What a chat's pin tiers and toy levels may be (DESIGN §11), and which one a sum reaches.

Asked by the API before the ledger (through `asks.refusal`: 400, nothing changed) and by the
decider again. Tiers and levels are lists in strictly increasing `min`, so "the highest one
whose min ≤ sum" is one and only one entry, and no two entries claim the same sums.
"""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from chatledger.domain.commands import ChangeSettings, PinTier, ToyLevel
from chatledger.domain.facts import Refusal

MAX_ENTRIES = 10
PIN_SECONDS = (1, 18_000)
TOY_SECONDS = (1, 600)
TOY_LEVELS = (1, 20)
MAX_PIN_TEXT = 200
CENT = Decimal("0.01")
Entry = TypeVar("Entry", PinTier, ToyLevel)


def settings_refusal(command: ChangeSettings) -> Refusal | None:
    for name, entries in (("pin_tiers", command.pin_tiers), ("toy_levels", command.toy_levels)):
        if entries is None:
            continue
        refused = _entries_refusal(name, entries)
        if refused is not None:
            return Refusal(refused)
    return None


def _entries_refusal(name: str, entries: Sequence[PinTier | ToyLevel]) -> str | None:
    if len(entries) > MAX_ENTRIES:
        return f"{name}: at most {MAX_ENTRIES} entries"
    seconds = PIN_SECONDS if name == "pin_tiers" else TOY_SECONDS
    for index, entry in enumerate(entries):
        where = f"{name}.{index}"
        if entry.min <= 0 or entry.min != entry.min.quantize(CENT):
            return f"{where}.min: above 0, at most 2 decimal places"
        if not seconds[0] <= entry.seconds <= seconds[1]:
            return f"{where}.seconds: from {seconds[0]} to {seconds[1]}"
        if isinstance(entry, ToyLevel) and not TOY_LEVELS[0] <= entry.level <= TOY_LEVELS[1]:
            return f"{where}.level: from {TOY_LEVELS[0]} to {TOY_LEVELS[1]}"
        if index and entry.min <= entries[index - 1].min:
            return (f"{where}.min: {name} must strictly increase in min ({entry.min} is not"
                    f" above {entries[index - 1].min})")
    return None


def reached(entries: Sequence[Entry], amount: Decimal) -> Entry | None:
    """The highest entry whose min ≤ amount (None: below the lowest, or none at all)."""
    best = None
    for entry in entries:
        if entry.min <= amount:
            best = entry
    return best


def entries_fact(entries: Sequence[PinTier | ToyLevel]) -> list[dict[str, Any]]:
    """As `settings_changed` carries them."""
    return [
        {"min": e.min, "level": e.level, "seconds": e.seconds} if isinstance(e, ToyLevel)
        else {"min": e.min, "seconds": e.seconds}
        for e in entries
    ]
