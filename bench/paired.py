"""The cached read's CPU in process, this tree beside another build of the service, as a
paired ratio: both apps run at once in processes of their own and answer batches of the cached
GET /data?user_id=hot in turn (ABBA order), so whatever the machine does meanwhile (its speed
drifted by 2x within one `make bench` sitting on the shared two-core machine) falls on both.
The server and the load generator are left out: the figure is the app's own cost.

    python -m bench.paired --baseline REF [--pairs 60] [--batch 1000]

BENCH_RECORDS (5) and BENCH_PAYLOAD_BYTES (none) shape the cached page: e.g. 20 and 900 for
pages like make bench's.

Prints each side's median CPU per request and the median of the per-pair ratios with its
interquartile range; `--baseline HEAD` is the A/A control (a ratio within ~2% of 1.00).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import ROOT
from bench.production import checkout

WORKER = Path(__file__).with_name("paired_worker.py")


def start(tree: Path, database: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "APP_DATABASE_URL": f"sqlite:///{database}",
        "APP_RATE_LIMIT_PER_MINUTE": "100000000",
        "APP_ACCESS_LOG": "off",
        "APP_LOG_LEVEL": "error",
    }
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
    worker = subprocess.Popen([sys.executable, str(WORKER)], cwd=tree, env=env, text=True, **pipes)
    assert worker.stdout is not None
    for line in worker.stdout:
        if line.strip() == "ready":
            return worker
    raise RuntimeError(f"the app in {tree} did not start")


def batch(worker: subprocess.Popen[str], count: int) -> float:
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(f"{count}\n")
    worker.stdin.flush()
    for line in worker.stdout:
        try:
            return float(line)
        except ValueError:
            continue  # a log line
    raise RuntimeError("the worker stopped")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, metavar="REF")
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-paired-") as tmp:
        work = Path(tmp)
        trees = [checkout(args.baseline, work / "baseline"), ROOT]
        workers = [start(tree, work / f"{side}.db") for side, tree in zip(("a", "b"), trees, strict=True)]
        times: list[list[float]] = [[], []]
        try:
            for pair in range(args.pairs):
                for side in (0, 1) if pair % 2 == 0 else (1, 0):
                    times[side].append(batch(workers[side], args.batch))
        finally:
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.close()
                worker.wait(timeout=30)
    ratios = sorted(b / a for a, b in zip(*times, strict=True))
    quarter = len(ratios) // 4
    print(f"baseline {args.baseline}: {statistics.median(times[0]):.1f} us a cached read")
    print(f"this tree: {statistics.median(times[1]):.1f} us a cached read")
    print(
        f"this tree / baseline, median of {len(ratios)} pairs: {statistics.median(ratios):.3f} "
        f"(interquartile {ratios[quarter]:.3f} - {ratios[-quarter - 1]:.3f})"
    )


if __name__ == "__main__":
    main()
