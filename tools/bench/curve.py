"""The rules of the latency curve, pure: does a rate keep up, which rate next, where is the knee.

The pipeline's maximum is found this way: POST at a fixed rate with the viewers
attached and step the rate up until the backlog grows; then the curve is drawn at fixed shares
of that maximum.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from tools.bench.stats import percentile


@dataclass(frozen=True)
class Trial:
    """One step: the rate asked for, and whether the whole pipeline kept up with it."""

    rate: float
    kept_up: bool
    why: str = ""


def backlog_grows(sent_ns: Sequence[int], latency_ms: Sequence[float],
                  slack_ms: float = 50.0) -> bool:
    """True when the deliveries of the last quarter of the sending window waited clearly longer
    than those of the first quarter: the pipeline fell behind and a queue built up.

    A pipeline that keeps up has the same delay at the end as at the start; one that does not
    adds (rate - capacity) / capacity x elapsed. "Clearly": the late median above 1.25 x the
    early median + `slack_ms` (noise on a shared machine). Relative to the early median, because
    the sender's warm-up at the same rate may have started the queue before the window.
    """
    if not sent_ns:
        return True
    first, last = min(sent_ns), max(sent_ns)
    if last <= first:
        return False
    quarter = (last - first) / 4
    early = [lat for sent, lat in zip(sent_ns, latency_ms, strict=True) if sent < first + quarter]
    late = [lat for sent, lat in zip(sent_ns, latency_ms, strict=True) if sent >= last - quarter]
    early_median, late_median = percentile(early, 50), percentile(late, 50)
    if early_median is None or late_median is None:
        return True
    return late_median > 1.25 * early_median + slack_ms


def judge(rate: float, posted: int, accepted: int, achieved_rate: float, expected: int,
          delivered: int, sent_ns: Sequence[int], latency_ms: Sequence[float],
          max_p50_ms: float = 500.0) -> Trial:
    """Whether one step kept up: the sender held its rate, every POST was accepted, every viewer
    got every event within the window's grace, no backlog built up during the window, and the
    median delivery took under `max_p50_ms` (a queue that stands a second deep from the start
    does not grow within a short window, yet nobody would call that chat live)."""
    if achieved_rate < 0.95 * rate:
        return Trial(rate, False, f"sender reached only {achieved_rate:.0f}/s")
    if posted == 0 or accepted < 0.99 * posted:
        return Trial(rate, False, f"{accepted} of {posted} POSTs accepted")
    if delivered < 0.99 * expected:
        return Trial(rate, False, f"{delivered} of {expected} deliveries arrived")
    if backlog_grows(sent_ns, latency_ms):
        return Trial(rate, False, "latency grew over the window")
    median = percentile(latency_ms, 50)
    if median is None or median > max_p50_ms:
        return Trial(rate, False, f"p50 {median or 0:.0f} ms: a standing backlog, not a live chat")
    return Trial(rate, True)


def next_rate(trials: Sequence[Trial], start: float, factor: float = 1.5, refine: int = 2,
              max_trials: int = 16) -> float | None:
    """The next rate to try, or None when the maximum is known well enough.

    A step that fails is tried again at once at the same rate, and the rate counts as too high
    only if it fails again: on a shared machine one slow window (another process's burst) would
    otherwise set the maximum far below what the pipeline sustains, and every later step only
    bisects below it (the bare pipeline's max once moved 137-1,281 posts/s from run to run).
    Then: up by `factor` while rates keep up; down by `factor` while they do not and none has
    yet; then `refine` bisections between the highest rate that kept up and the lowest that
    did not.
    """
    if not trials:
        return start
    if len(trials) >= max_trials:
        return None
    last = trials[-1]
    if not last.kept_up and sum(trial.rate == last.rate for trial in trials) == 1:
        return last.rate
    verdicts = _verdicts(trials)
    good = [rate for rate, kept_up in verdicts.items() if kept_up]
    bad = [rate for rate, kept_up in verdicts.items() if not kept_up]
    if not bad:
        return last.rate * factor
    if not good:
        return min(bad) / factor
    low = max(good)
    above = [rate for rate in bad if rate > low]
    if not above:
        return low * factor  # a slower rate failed twice by noise: keep climbing from the best
    high = min(above)
    if len(verdicts) - 1 - _bracketed_at(verdicts) >= refine:
        return None
    return (low + high) / 2


def _verdicts(trials: Sequence[Trial]) -> dict[float, bool]:
    """Each rate tried, in the order first tried: whether it kept up at its last step."""
    verdicts: dict[float, bool] = {}
    for trial in trials:
        verdicts[trial.rate] = trial.kept_up
    return verdicts


def _bracketed_at(verdicts: dict[float, bool]) -> int:
    """Index of the first rate after which one rate had kept up and one had not."""
    seen: set[bool] = set()
    for index, kept_up in enumerate(verdicts.values()):
        seen.add(kept_up)
        if len(seen) == 2:
            return index
    return len(verdicts)


def max_sustained(trials: Sequence[Trial]) -> float | None:
    return max((rate for rate, kept_up in _verdicts(trials).items() if kept_up), default=None)


def knee(points: Sequence[tuple[float, float]], factor: float = 2.0) -> tuple[float, float | None]:
    """Where a flat curve bends: (the last rate whose p99 stays within `factor` x the p99 of the
    lowest rate, the first rate past it or None if the curve stays flat). `points` are
    (rate, p99) pairs."""
    ordered = sorted(points)
    if not ordered:
        raise ValueError("no points")
    floor = ordered[0][1]
    last_flat = ordered[0][0]
    for rate, p99 in ordered[1:]:
        if p99 > factor * floor:
            return last_flat, rate
        last_flat = rate
    return last_flat, None
