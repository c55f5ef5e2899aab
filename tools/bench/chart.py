"""The latency curve as a PNG: POST -> viewer p50/p99 against the posting rate, both legs."""

from pathlib import Path
from typing import Any


def draw(results: dict[str, Any], path: Path) -> Path | None:
    """Writes `path` from results["pipeline"]; None (and nothing written) without a curve."""
    pipeline = results.get("pipeline") or {}
    run = results.get("run") or {}
    curve = pipeline.get("curve") or []
    if not curve:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    rates = [point["rate_per_s"] for point in curve]
    figure, (total, legs) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    total.plot(rates, [p["p50_ms"] for p in curve], "o-", label="p50")
    total.plot(rates, [p["p99_ms"] for p in curve], "s-", label="p99")
    total.plot(rates, [p["p999_ms"] for p in curve], "^:", label="p99.9")
    total.set_title("POST -> viewer")
    for key, name, style in (("ledger_leg_ms", "POST -> ledger commit", "-"),
                             ("viewer_leg_ms", "ledger commit -> viewer", "--")):
        pairs = [p.get(key) or [None, None] for p in curve]
        legs.plot(rates, [pair[0] for pair in pairs], "o" + style, label=f"{name} p50")
        legs.plot(rates, [pair[1] for pair in pairs], "s" + style, label=f"{name} p99")
    legs.set_title("split at the event's created_at")
    maximum = pipeline.get("max_per_s")
    for axes in (total, legs):
        axes.set_xlabel(f"posts/s (max sustained {maximum:.0f}/s"
                        f" with {pipeline.get('viewers')} viewers)" if maximum else "posts/s")
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(ScalarFormatter())
        axes.yaxis.set_minor_formatter(NullFormatter())
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
        knee = pipeline.get("knee_per_s")
        if knee:
            axes.axvline(knee, color="grey", linestyle=":", linewidth=1)
    total.set_ylabel("ms (log scale)")
    figure.suptitle(f"make bench{' --quick' if run.get('quick') else ''}, {run.get('finished')},"
                    f" load average at the end {run.get('loadavg_at_end')}", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
