"""How long the `digest` command takes to start: what every command and every cron run pays.

    python tests/bench/bench_startup.py            25 runs of each
    DIGEST_BENCH_SMOKE=1 ... bench_startup.py       5 runs of each (CI)
    DIGEST_BENCH_CHECKOUT=/path python ... bench_startup.py   measure another checkout (say, an older commit)

Each figure is the wall time of a fresh interpreter, median and best of the runs:
`digest --version`, `digest comparisons list` on an empty SQLite store (the
first run creates and migrates it; the runs timed after it open a current
store), and, as the reference in the same run, `python -c "import click"`, the
least any click program can cost. The report also says which heavy modules
(FastAPI, Starlette, uvicorn, matplotlib) `comparisons list` imported.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMOKE = os.environ.get("DIGEST_BENCH_SMOKE") == "1"
RUNS = 5 if SMOKE else 25
CHECKOUT = Path(os.environ.get("DIGEST_BENCH_CHECKOUT") or Path(__file__).resolve().parents[2])
HEAVY = ("fastapi", "starlette", "uvicorn", "matplotlib")


def timed(argv: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=CHECKOUT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(label: str, argv: list[str], env: dict) -> float:
    timed(argv, env)  # warm the file cache (and create the store)
    runs = [timed(argv, env) for _ in range(RUNS)]
    median = statistics.median(runs)
    print(f"{label:<34} median {median * 1000:7.1f} ms   best {min(runs) * 1000:7.1f} ms   ({RUNS} runs)")
    return median


def heavy_modules(env: dict) -> list[str]:
    probe = (
        "import sys, runpy; sys.argv = ['digest', 'comparisons', 'list'];\n"
        "try:\n    runpy.run_module('digest', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=CHECKOUT, capture_output=True, text=True)
    line = next(line for line in out.stdout.splitlines() if line.startswith("HEAVY:"))
    return [name for name in line.removeprefix("HEAVY:").split(",") if name]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "DIGEST_DATABASE_URL": f"sqlite:///{folder}/bench.db",
            "DIGEST_OUTBOX": folder,
            "PYTHONPATH": str(CHECKOUT),
        }
        print(f"checkout: {CHECKOUT}")
        click_only = measure('python -c "import click"', [sys.executable, "-c", "import click"], env)
        version = measure("digest --version", [sys.executable, "-m", "digest", "--version"], env)
        # Reading commands never create a store: make the empty one the listing reads.
        subprocess.run(
            [sys.executable, "-m", "digest", "db", "upgrade"],
            env=env,
            cwd=CHECKOUT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        listing = measure(
            "digest comparisons list (empty)", [sys.executable, "-m", "digest", "comparisons", "list"], env
        )
        print(f"--version costs {version / click_only:.1f}x bare click; comparisons list {listing / click_only:.1f}x")
        heavy = heavy_modules(env)
        print(f"heavy modules imported by comparisons list: {', '.join(heavy) if heavy else 'none'}")


if __name__ == "__main__":
    main()
