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


def draw_waterfall(results: dict[str, Any], path: Path) -> Path | None:
    """One stacked bar per load point: each stage's p50 (left) and p99 (right) in ms. The p99s
    of the stages do not add up to the end-to-end p99 (each stage's worst events differ); the
    stack shows which stage holds the tail."""
    curve = [p for p in (results.get("pipeline") or {}).get("curve") or [] if p.get("waterfall")]
    if not curve:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [row["stage"] for row in curve[0]["waterfall"] if not row["side"]]
    labels = [f"{p['rate_per_s']:.0f}/s" for p in curve]
    figure, panels = plt.subplots(1, 2, figsize=(14, 4.8))
    for axes, key in zip(panels, ("p50_ms", "p99_ms"), strict=True):
        bottoms = [0.0] * len(curve)
        for stage in stages:
            heights = [next((r[key] or 0.0 for r in p["waterfall"] if r["stage"] == stage), 0.0)
                       for p in curve]
            axes.bar(labels, heights, bottom=bottoms, label=stage)
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        axes.plot(labels, [p[key] for p in curve], "k_", markersize=30,
                  label=f"end to end {key[:3]}")
        axes.set_title(f"each stage's {key[:3]} (ms), stacked")
        axes.set_xlabel("posting rate")
        axes.grid(True, axis="y", alpha=0.3)
    panels[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    run = results.get("run") or {}
    figure.suptitle(f"POST -> viewer waterfall, {run.get('finished')}, load average at the end"
                    f" {run.get('loadavg_at_end')}", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
