"""Functions over many inputs: tether's Dataset and Executor beside the usual tools, same run.

* tether ``Dataset``: 1,000 runs of ``a * b`` on the local target, wall time from ``run()`` to
  results in hand (the job's start-up, worker forks and result files included), with the agent
  already running (median of several), and once with no agent running (cold);
* tether ``Executor``: ``list(ex.map(...))`` over 1,000 pairs, executor creation included;
* ``concurrent.futures.ProcessPoolExecutor``: the same 1,000 calls, pool start-up included
  (``map`` with its default ``chunksize=1``, and with ``chunksize=100``): the practical floor;
* Dask ``LocalCluster`` (if installed): cluster start-up, ``client.map``, ``gather``;
* submitit ``LocalExecutor`` (if installed): 50 runs (it starts a process per run), per run.

Goals (issue 7): tether local <= 0.5 s; >= 10x faster than Dask's; >= 100x faster than submitit's
per run. Run: ``.venv/bin/python bench/functions.py``
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

N = 1000
N_SUBMITIT = 50
REPEAT = 5


def multiply(a: int, b: int) -> int:
    return a * b


PAIRS = [(i, i % 13) for i in range(N)]
EXPECTED = [a * b for a, b in PAIRS]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def tether_dataset() -> None:
    import tether

    ds = tether.Dataset(multiply)
    ds.append_runs({"a": a, "b": b} for a, b in PAIRS)
    start = time.perf_counter()
    ds.run()
    ds.wait(interval=0.5, timeout=60)
    results = ds.fetch_results()
    tether_dataset.last = time.perf_counter() - start  # type: ignore[attr-defined]
    assert results == EXPECTED


def tether_executor() -> None:
    import tether

    with tether.Executor() as ex:
        assert list(ex.map(multiply, *zip(*PAIRS, strict=True))) == EXPECTED


def process_pool(chunksize: int) -> None:
    with ProcessPoolExecutor() as ex:
        assert list(ex.map(multiply, *zip(*PAIRS, strict=True), chunksize=chunksize)) == EXPECTED


def dask_local() -> float | None:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        return None
    start = time.perf_counter()
    with (
        LocalCluster(
            n_workers=os.cpu_count() or 1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        ) as c,
        Client(c) as client,
    ):
        futures = client.map(multiply, *zip(*PAIRS, strict=True), pure=False)
        assert client.gather(futures) == EXPECTED
    return time.perf_counter() - start


def submitit_local(folder: Path) -> float | None:
    try:
        import submitit
    except ImportError:
        return None
    ex = submitit.LocalExecutor(folder=str(folder))
    ex.update_parameters(timeout_min=5)
    pairs = PAIRS[:N_SUBMITIT]
    start = time.perf_counter()
    jobs = ex.map_array(multiply, *zip(*pairs, strict=True))
    assert [j.result() for j in jobs] == [a * b for a, b in pairs]
    return (time.perf_counter() - start) / N_SUBMITIT


def tether_cli(home: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "tether", *args],
        env={**os.environ, "TETHER_HOME": home},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main() -> None:
    home = tempfile.mkdtemp(prefix="tf-")
    os.environ["TETHER_HOME"] = home
    try:
        tether_dataset()  # cold: this starts the agent
        cold = tether_dataset.last  # type: ignore[attr-defined]
        warm = []
        for _ in range(REPEAT):
            tether_dataset()
            warm.append(tether_dataset.last)  # type: ignore[attr-defined]
        ds_time = statistics.median(warm)
        ex_time = statistics.median(timed(tether_executor) for _ in range(3))
        pool1 = statistics.median(timed(lambda: process_pool(1)) for _ in range(3))
        pool100 = statistics.median(timed(lambda: process_pool(100)) for _ in range(3))
        dask_time = dask_local()
        sub_folder = Path(home) / "submitit"
        sub_time = submitit_local(sub_folder)
    finally:
        tether_cli(home, "agent", "stop")
        shutil.rmtree(home, ignore_errors=True)

    print(f"{N} runs of a*b, local, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"  tether Dataset, run() -> results (agent up, median of {REPEAT}): {ds_time:.3f} s")
    print(f"  tether Dataset, cold (agent started by the call):          {cold:.3f} s")
    print(f"  tether Executor, list(ex.map(...)), executor included:       {ex_time:.3f} s")
    print(f"  ProcessPoolExecutor map, chunksize=1, start-up included:     {pool1:.3f} s")
    print(f"  ProcessPoolExecutor map, chunksize=100, start-up included:   {pool100:.3f} s")
    if dask_time is not None:
        print(f"  Dask LocalCluster, start-up included:                        {dask_time:.3f} s")
        print(f"    Dask / tether Dataset: {dask_time / ds_time:.1f}x (goal >= 10x)")
    else:
        print("  Dask: not installed (pip install dask distributed)")
    if sub_time is not None:
        per_run = ds_time / N
        print(f"  submitit LocalExecutor, {N_SUBMITIT} runs, per run:  {sub_time:.3f} s")
        print(
            f"    submitit / tether per run: {sub_time / per_run:.0f}x (goal >= 100x; "
            f"tether {per_run * 1000:.2f} ms a run)"
        )
    else:
        print("  submitit: not installed (pip install submitit)")
    print(f"  tether Dataset / ProcessPoolExecutor(chunksize=1): {ds_time / pool1:.1f}x")
    print(f"  goal tether <= 0.5 s: {'met' if ds_time <= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
