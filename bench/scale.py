"""``tether ls`` and ``tether ls --json`` at 50 and 10,000 jobs.

Each size gets a throwaway ``TETHER_HOME`` whose records are written straight through the
store in one transaction (2 queued, the rest finished: mostly succeeded, every 7th failed,
every 5th with a stored metrics summary); no job folder exists, as after ``clean`` of the
files or for jobs whose program reported nothing. Each command runs as a subprocess, median
of 5, with ``python -c pass`` as the floor.

Goals (issue 28): default ``ls`` <= 100 ms and flat from 50 to 10,000 jobs; ``ls --json`` at
10,000 jobs <= 300 ms.

Run: ``.venv/bin/python bench/scale.py``
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = (50, 10_000)
RUNS = 5
GOALS = {"ls": "<= 100 ms, flat", "ls --json": "<= 300 ms at 10,000"}


def tether_cmd() -> list[str]:
    exe = shutil.which("tether", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "tether"]


def fill(home: Path, count: int) -> None:
    """``count`` job records, the last 2 queued, the others finished."""
    from tether.store.jobs import JobSpec, JobStore

    store = JobStore(home)
    env = {f"VAR_{i}": "x" * 20 for i in range(50)}  # as a real job's: 1.5 kB of variables
    specs = [
        JobSpec(command=["python", "train.py"], cwd=str(home), name=f"train-{i}", env=env)
        for i in range(count)
    ]
    store.add_many(specs)
    summary = json.dumps({"metrics": {"loss": {"last": 0.25, "min": 0.2, "max": 2.0}}})
    with store.conn:
        store.conn.execute(
            "UPDATE jobs SET status = CASE WHEN number % 7 = 0 THEN 'failed' ELSE 'succeeded'"
            " END, exit_code = CASE WHEN number % 7 = 0 THEN 1 ELSE 0 END,"
            " started = created, ended = created + 60 WHERE number <= ?",
            (count - 2,),
        )
        store.conn.execute("UPDATE jobs SET extra = ? WHERE number % 5 = 0", (summary,))
    store.close()


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_ms(cmd: list[str], env: dict[str, str]) -> float:
    return 1000 * statistics.median(timed(cmd, env) for _ in range(RUNS))


def main() -> None:
    tether = tether_cmd()
    floor = median_ms([sys.executable, "-c", "pass"], dict(os.environ))
    results: dict[str, dict[int, float]] = {"ls": {}, "ls --json": {}}
    for count in SIZES:
        home = Path(tempfile.mkdtemp(prefix="tb-scale-"))
        fill(home, count)
        env = {**os.environ, "TETHER_HOME": str(home)}
        for label in results:
            results[label][count] = median_ms([*tether, *label.split()], env)
        shutil.rmtree(home, ignore_errors=True)
    print(f"python -c pass (floor): {floor:.0f} ms; median of {RUNS} runs")
    print(f"{'command':<12}" + "".join(f"{n:>10,} jobs" for n in SIZES) + "   goal")
    for label, times in results.items():
        cells = "".join(f"{times[n]:>12.0f} ms" for n in SIZES)
        print(f"{label:<12}{cells}   {GOALS[label]}")


if __name__ == "__main__":
    main()
