"""Run every benchmark in tests/bench/ one after another and print their figures.

    python tests/bench/run.py              full sizes (several minutes; 1,000,000 readers for the send)
    DIGEST_BENCH_SMOKE=1 python tests/bench/run.py   small sizes, as CI runs them

Each benchmark measures its own reference in the same run, so figures compare
like with like on a noisy machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=HERE.parents[1]).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
