"""Issue 28's table, every row beside its peer, in one run.

* start-up: ``tether --version`` against ``python -c pass``;
* one submit, ``tether run a.py`` (agent running), with the resident front (the default) and
  without it (``TETHER_FRONT=0``), against ``python -c pass`` and task-spooler (``tsp``);
* ``tether ls -n 5``, and ``tether ls`` / ``ls --json`` at 50 and 10,000 jobs (records written
  straight through the store: 2 queued, the rest finished, each with a real job's 1.5 kB of
  environment; every 5th with a stored metrics summary);
* ``tether scalars`` of a job with a 1,000,000-point metric;
* N trivial ``true`` jobs at ``--parallel 4`` (1,000; ``--full``: 10,000 as in the issue);
* 200 jobs by one ``--batch`` call end to end, against the same through ``tsp -S 2``;
* the first and second submit of a project of 3,000 ``.py`` and 500 data files against ``cp -r``.

Each command runs as a subprocess, median of 5 (the front's server is started before the
front rows are timed, as it is for a user's second command). The checkout is byte-compiled
first, as an installed package is.

Goals (issue 28): ``--version`` <= 15 ms over ``python -c pass``; submit <= 50 ms;
``ls -n 5`` <= 100 ms; ``ls`` <= 100 ms and flat from 50 to 10,000 jobs; ``ls --json`` at
10,000 jobs <= 300 ms; ``scalars`` of 1M points <= 300 ms; >= 100 trivial jobs/s; a batch
>= 200 jobs/s; first submit <= 2x ``cp -r``, re-submit <= 0.3 s.

Run: ``.venv/bin/python bench/scale.py [--quick | --full]`` (``--quick``: the CLI rows only).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from submit import N_JOBS, bench_project, bench_tsp

SIZES = (50, 10_000)
RUNS = 5
METRIC_POINTS = 1_000_000


def tether_cmd() -> list[str]:
    exe = shutil.which("tether", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "tether"]


def fill(home: Path, count: int) -> None:
    """``count`` job records, the last 2 queued, the others finished."""
    from tether.store.jobs import JobSpec, JobStore

    home.mkdir(parents=True, exist_ok=True)
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


def timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def median_ms(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    return 1000 * statistics.median(timed(cmd, env, cwd) for _ in range(RUNS))


def warm_front(tether: list[str], env: dict[str, str]) -> None:
    """Start the front's server (one fronted command) and wait until it listens."""
    from tether.cli import front

    subprocess.run([*tether, "ls", "-n", "1"], env=env, check=True, capture_output=True)
    folder = Path(front.socket_dir(env))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(folder.glob("*.sock")):
        time.sleep(0.05)
    time.sleep(0.3)


def cli_rows(tether: list[str], rows: dict[str, tuple[float, str]]) -> None:
    """Start-up, submit and ``ls`` rows, with the front and without it."""
    work = Path(tempfile.mkdtemp(prefix="tb-scale-"))
    (work / "a.py").write_text("print('ok')\n")
    env = {**os.environ, "TETHER_HOME": str(work / "home")}
    env.pop("TETHER_FRONT", None)
    without = {**env, "TETHER_FRONT": "0"}
    floor = median_ms([sys.executable, "-c", "pass"], env)
    rows["python -c pass (the floor)"] = (floor, "")
    rows["tether --version"] = (median_ms([*tether, "--version"], env), "<= floor + 15 ms")
    subprocess.run([*tether, "agent", "start"], env=env, check=True, stdout=subprocess.DEVNULL)
    warm_front(tether, env)
    run, ls5 = [*tether, "run", "a.py"], [*tether, "ls", "-n", "5"]
    rows["tether run a.py (submit)"] = (median_ms(run, env, work), "<= 50 ms")
    rows["tether run a.py, without the front"] = (median_ms(run, without, work), "")
    rows["tether ls -n 5"] = (median_ms(ls5, env), "<= 100 ms")
    rows["tether ls -n 5, without the front"] = (median_ms(ls5, without), "")
    subprocess.run([*tether, "wait", "--all"], env=env, stdout=subprocess.DEVNULL)
    subprocess.run([*tether, "agent", "stop"], env=env, stdout=subprocess.DEVNULL)
    for count in SIZES:
        home = work / f"home-{count}"
        fill(home, count)
        at = {**env, "TETHER_HOME": str(home)}
        goal = "<= 100 ms, flat"
        rows[f"tether ls, {count:,} jobs"] = (median_ms([*tether, "ls"], at), goal)
        goal = "<= 300 ms" if count == SIZES[-1] else ""
        rows[f"tether ls --json, {count:,} jobs"] = (median_ms([*tether, "ls", "--json"], at), goal)
    shutil.rmtree(work, ignore_errors=True)


def scalars_row(tether: list[str], rows: dict[str, tuple[float, str]]) -> None:
    """``tether scalars`` of a finished job with a 1M-point metric (written by the runtime's
    own writer, as a job reporting every step would have)."""
    from tether.runtime.context import METRICS_FILE
    from tether.store.jobs import JobSpec, JobStore

    work = Path(tempfile.mkdtemp(prefix="tb-scalars-"))
    store = JobStore(work)
    spec = JobSpec(command=["python", "train.py"], cwd=str(work), name="train.py")
    job = store.add_many([spec])[0]
    folder = Path(job.job_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / METRICS_FILE, "w") as out:
        for step in range(METRIC_POINTS):
            point = {"step": step, "time": 1.7e9 + step, "values": {"loss": 1 / (step + 1)}}
            out.write(json.dumps(point) + "\n")
    try:
        from tether.store import metric_columns  # the column store, where there is one

        writer = metric_columns.ColumnWriter(folder)
        batch = 100_000
        for first in range(0, METRIC_POINTS, batch):
            steps = range(first, first + batch)
            writer.append([(s, 1.7e9 + s, {"loss": 1 / (s + 1)}) for s in steps])
    except ImportError:
        pass
    store.close()
    env = {**os.environ, "TETHER_HOME": str(work)}
    rows[f"tether scalars, {METRIC_POINTS:,}-point metric"] = (
        median_ms([*tether, "scalars", str(job.number)], env), "<= 300 ms")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


def throughput_rows(tether: list[str], rows: dict[str, tuple[float, str]], n: int) -> None:
    """N ``true`` jobs at --parallel 4, and 200 jobs by one ``--batch`` call, end to end."""
    for label, count, parallel in ((f"{n:,} true jobs, --parallel 4", n, 4),
                                   (f"{N_JOBS} jobs, one --batch call", N_JOBS, 2)):  # fmt: skip
        home = Path(tempfile.mkdtemp(prefix="tb-jobs-"))
        env = {**os.environ, "TETHER_HOME": str(home)}
        subprocess.run([*tether, "agent", "start", "--parallel", str(parallel)], env=env,
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        batch = home / "batch.txt"
        batch.write_text("true\n" * count)
        start = time.perf_counter()
        subprocess.run([*tether, "run", "--batch", str(batch)], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        subprocess.run([*tether, "wait", "--all"], env=env, stdout=subprocess.DEVNULL)
        rate = count / (time.perf_counter() - start)
        rows[f"{label}, jobs/s"] = (rate, ">= 100/s" if parallel == 4 else ">= 200/s")
        subprocess.run([*tether, "agent", "stop"], env=env, stdout=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # measure tether as pip installs it
    import compileall

    import tether

    compileall.compile_dir(str(Path(tether.__file__).parent), quiet=1)
    cli = tether_cmd()
    rows: dict[str, tuple[float, str]] = {}
    cli_rows(cli, rows)
    if "--quick" not in sys.argv:
        scalars_row(cli, rows)
        throughput_rows(cli, rows, 10_000 if "--full" in sys.argv else 1_000)
        for name, value in bench_tsp().items():
            rows[f"  peer: {name}"] = (value, "")
        for name, value in bench_project().items():
            rows[name] = (value, "")
    for name, (value, goal) in rows.items():
        unit = "" if "jobs/s" in name else " ms"
        print(f"{name:<48}{value:>10.1f}{unit:<4} {goal}")


if __name__ == "__main__":
    main()
