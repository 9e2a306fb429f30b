"""The chart `make bench` draws into docs/: a PNG of every target and scenario, and the page
that shows it."""

from __future__ import annotations

import struct
from pathlib import Path

from bench.report import draw

ROOT = Path(__file__).resolve().parents[2]


def _row(target: str, scenario: str, req_s: float, p99_ms: float) -> dict[str, object]:
    return {"target": target, "scenario": scenario, "req_s": req_s, "p99_ms": p99_ms}


def test_the_chart_is_a_png_with_a_bar_for_every_target(tmp_path: Path) -> None:
    rows = [
        _row("service", "get_hot", 16_000, 6.1),
        _row("peer", "get_hot", 1_100, 80.0),
        _row("ceiling", "get_hot", 34_000, 3.0),
        _row("service", "post", 3_900, 25.0),
        _row("peer", "post", 450, 190.0),
        _row("database", "get_hot", 28_000, 0.0),  # pgbench gives no p99: no bar there
    ]
    wide, narrow = tmp_path / "wide.png", tmp_path / "narrow.png"

    draw(rows, ["get_hot", "post", "not_run"], wide)
    draw(rows[:1], ["get_hot"], narrow)

    for path in (wide, narrow):
        head = path.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width = struct.unpack(">I", wide.read_bytes()[16:20])[0]
    assert (
        width > struct.unpack(">I", narrow.read_bytes()[16:20])[0]
        or wide.stat().st_size > narrow.stat().st_size
    )


def test_the_performance_page_shows_the_chart_make_bench_writes() -> None:
    page = (ROOT / "docs" / "performance.md").read_text()
    assert "](performance.png)" in page
    assert (ROOT / "docs" / "performance.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
