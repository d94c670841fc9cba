"""``make bench``: run every benchmark under bench/ in turn, each in its own process, and show its output.

Pass names to run a subset (``python tools/run_benchmarks.py scoring draw``). Figures go in
docs/performance.md with the command that produced them.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def main() -> int:
    wanted = set(sys.argv[1:])
    scripts = sorted(p for p in BENCH.glob("bench_*.py") if not wanted or p.stem.removeprefix("bench_") in wanted)
    failed = []
    for index, script in enumerate(scripts, start=1):
        print(f"\n=== [{index}/{len(scripts)}] {script.name} ===", flush=True)
        started = time.perf_counter()
        if subprocess.call([sys.executable, str(script)], cwd=BENCH.parent) != 0:
            failed.append(script.name)
        print(f"--- {script.name}: {time.perf_counter() - started:.1f} s", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
