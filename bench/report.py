"""What `make bench` prints and draws: the median figures of every target and scenario, their
ratios to the peer, the bare-framework ceiling and the reference, and a chart of them."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from bench.harness import RESULT_COLUMNS, table

# The order targets are drawn in, and their colours; any other target (a variant) follows.
DRAWN = {
    "service": "#1f77b4",
    "baseline": "#9ecae1",
    "peer": "#d62728",
    "ceiling": "#7f7f7f",
    "database": "#2ca02c",
}


def paired(ours: list[dict[str, object]], theirs: list[dict[str, object]], column: str) -> float:
    """The median of the rounds' ratios of a figure (both targets ran in every round)."""
    return statistics.median(
        float(str(a[column])) / float(str(b[column])) for a, b in zip(ours, theirs, strict=True)
    )


def report(
    rows: list[dict[str, object]],
    runs: dict[tuple[str, str], list[dict[str, object]]],
    scenarios: list[str],
    compared: list[str],
    reference: str,
) -> None:
    print()
    columns = ["target", "scenario", *RESULT_COLUMNS, "worker_rss_mib", "total_rss_mib", "rounds"]
    print(table(rows, columns))
    by = {(str(r["target"]), str(r["scenario"])): r for r in rows}

    def ratio(scenario: str, other: str, column: str, digits: int, ours: str = "service") -> str:
        ours_row, their_row = by.get((ours, scenario)), by.get((other, scenario))
        if not ours_row or not their_row:
            return ""
        return f"{float(str(ours_row[column])) / float(str(their_row[column])):.{digits}f}x"

    ratios = [
        {
            "scenario": scenario,
            "req_s vs peer": ratio(scenario, "peer", "req_s", 1),
            "p99 vs peer": ratio(scenario, "peer", "p99_ms", 2),
            "req_s vs ceiling": ratio(scenario, "ceiling", "req_s", 2),
            "req_s vs database": ratio(scenario, "database", "req_s", 2),
            "worker RSS vs peer": ratio(scenario, "peer", "worker_rss_mib", 2),
            **{
                f"{label} {column} vs {reference}": (
                    f"{paired(runs[label, scenario], runs[reference, scenario], column):.2f}x"
                )
                for label in compared
                if (reference, scenario) in runs
                for column in ("req_s", "p99_ms")
            },
        }
        for scenario in scenarios
        if ("peer", scenario) in by or (reference, scenario) in by
    ]
    if ratios:
        print()
        print(table(ratios, list(ratios[0])))


def draw(rows: Sequence[dict[str, object]], scenarios: Sequence[str], path: Path) -> None:
    """A PNG of two panels, requests per second and p99 latency, a group of bars a scenario
    and a bar a target (the service, its baseline and variants, the peer, the bare framework's
    ceiling, the database alone); a figure a target has not is no bar."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file
    import matplotlib.pyplot as plt

    by = {(str(r["target"]), str(r["scenario"])): r for r in rows}
    targets = sorted(
        {str(r["target"]) for r in rows}, key=lambda t: (list(DRAWN).index(t) if t in DRAWN else 1.5, t)
    )
    shown = [s for s in scenarios if any((t, s) in by for t in targets)]
    width = 0.8 / max(len(targets), 1)
    figure, panels = plt.subplots(2, 1, figsize=(max(6.0, 1.6 * len(shown) + 2), 7), constrained_layout=True)
    for panel, column, title in (
        (panels[0], "req_s", "requests per second (higher is better)"),
        (panels[1], "p99_ms", "p99 latency, ms (lower is better)"),
    ):
        for number, target in enumerate(targets):
            places = [i + (number - (len(targets) - 1) / 2) * width for i in range(len(shown))]
            values = [float(str(by[target, s][column])) if (target, s) in by else 0.0 for s in shown]
            bars = panel.bar(places, values, width, label=target, color=DRAWN.get(target))
            panel.bar_label(bars, labels=[_short(v) if v else "" for v in values], fontsize=7, padding=1)
        panel.set_title(title, fontsize=10)
        panel.set_xticks(range(len(shown)), shown)
        panel.grid(axis="y", alpha=0.3)
        panel.set_axisbelow(True)
    panels[0].legend(fontsize=8, ncols=len(targets))
    figure.suptitle(
        "make bench: one worker, PostgreSQL and Redis, wrk on loopback (median round)", fontsize=10
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _short(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"
