"""Functions over many inputs: tether's Dataset and Executor beside the usual tools, same run.

* tether ``Dataset``: 1,000 runs of ``a * b`` on the local target, wall time from ``run()`` to
  results in hand (the job's start-up, worker forks and result files included), with the agent
  already running (median of several), and once with no agent running (cold);
* tether ``Executor``: ``list(ex.map(...))`` over 1,000 pairs, executor creation included;
* ``concurrent.futures.ProcessPoolExecutor``: the same 1,000 calls, pool start-up included
  (``map`` with its default ``chunksize=1``, and with ``chunksize=100``): the practical floor;
* Dask ``LocalCluster`` (if installed): cluster start-up, ``client.map``, ``gather``;
* submitit ``LocalExecutor`` (if installed): 50 runs (it starts a process per run), per run;
* tether ``Dataset`` over SSH: the same 1,000 runs on a loopback host (the test suite's private
  sshd, started here as bench/ssh.py does; needs root), ``run()`` to results in hand. The first
  run in the process pays the host probe and the project's first sync; the warm figure is the
  median of the runs after it (connection, tether on the host and its agent all up). Also
  ``list(ex.map(...))`` with an ``Executor(on=HOST)``.

* tether ``Dataset`` memoised re-run: the same 1,000 runs built again; ``run()`` finds every
  result stored and starts no job (Dataset construction, ``append_runs`` and ``results``
  included, median of several).

Goals (issues 7, 16): tether local <= 0.5 s; memoised re-run <= 0.2 s; >= 10x faster than
Dask's; >= 100x faster than submitit's per run; over ssh <= 3 s warm.
Run: ``.venv/bin/python bench/functions.py``
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

ROOT = Path(__file__).resolve().parents[1]
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
    ds.run(force=True)  # every time a real job (the memo would skip the runs)
    ds.wait(interval=0.5, timeout=60)
    results = ds.fetch_results()
    tether_dataset.last = time.perf_counter() - start  # type: ignore[attr-defined]
    assert results == EXPECTED


def tether_memoised() -> None:
    """A re-run of the same 1,000 runs: Dataset built, run() skips all, results in hand."""
    import tether

    ds = tether.Dataset(multiply)
    ds.append_runs({"a": a, "b": b} for a, b in PAIRS)
    ds.run().wait(timeout=60)
    assert ds.job is None and ds.results == EXPECTED


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


def tether_over_ssh(work: Path) -> tuple[float, float, float, float] | str:
    """(setup s, first run s, warm median s, executor s) over a loopback sshd, or why not."""
    if os.geteuid() != 0:
        return "needs root (it starts the test suite's private sshd)"
    sys.path.insert(0, str(ROOT / "tests"))
    import tether
    from rigs.sshd import SSHServer
    from tether.targets.ssh.hosts_config import get_host
    from tether.targets.ssh.transport import Transport

    os.environ["TETHER_CONFIG_DIR"] = str(work / "config")
    project = work / "project"
    project.mkdir()
    (project / "tether.toml").write_text("")
    here = os.getcwd()
    os.chdir(project)
    try:
        with SSHServer("rig1") as server:
            start = time.perf_counter()
            tether_cli(os.environ["TETHER_HOME"], "hosts", "add", "rig1", "rig1",
                       "--ssh-config", str(server.ssh_config))  # fmt: skip
            tether_cli(os.environ["TETHER_HOME"], "hosts", "setup", "rig1")
            setup = time.perf_counter() - start
            times = []
            for _ in range(REPEAT + 1):
                ds = tether.Dataset(multiply, on="rig1")
                ds.append_runs({"a": a, "b": b} for a, b in PAIRS)
                start = time.perf_counter()
                ds.run(force=True)
                ds.wait(interval=0.5, timeout=120)
                assert ds.fetch_results() == EXPECTED
                times.append(time.perf_counter() - start)

            def executor() -> None:
                with tether.Executor(on="rig1") as ex:
                    assert list(ex.map(multiply, *zip(*PAIRS, strict=True))) == EXPECTED

            ex_time = statistics.median(timed(executor) for _ in range(3))
            Transport(get_host("rig1")).close()
    finally:
        os.chdir(here)
        shutil.rmtree(work, ignore_errors=True)
    return setup, times[0], statistics.median(times[1:]), ex_time


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
        memo_time = statistics.median(timed(tether_memoised) for _ in range(REPEAT))
        ex_time = statistics.median(timed(tether_executor) for _ in range(3))
        pool1 = statistics.median(timed(lambda: process_pool(1)) for _ in range(3))
        pool100 = statistics.median(timed(lambda: process_pool(100)) for _ in range(3))
        dask_time = dask_local()
        sub_folder = Path(home) / "submitit"
        sub_time = submitit_local(sub_folder)
        ssh = tether_over_ssh(Path(tempfile.mkdtemp(prefix="tf-ssh-")))
    finally:
        tether_cli(home, "agent", "stop")
        shutil.rmtree(home, ignore_errors=True)

    print(f"{N} runs of a*b, local, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"  tether Dataset, run() -> results (agent up, median of {REPEAT}): {ds_time:.3f} s")
    print(f"  tether Dataset, cold (agent started by the call):          {cold:.3f} s")
    print(f"  tether Dataset, memoised re-run (build + run + results):    {memo_time:.3f} s")
    print(f"  goal memoised re-run <= 0.2 s: {'met' if memo_time <= 0.2 else 'NOT met'}")
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
    if isinstance(ssh, str):
        print(f"  over ssh: not measured ({ssh})")
        return
    setup, first, warm_ssh, ssh_ex = ssh
    print(f"{N} runs of a*b over ssh to a loopback sshd (tether hosts setup: {setup:.1f} s)")
    print(f"  tether Dataset, first in the process (probe, first sync):   {first:.3f} s")
    print(f"  tether Dataset, warm (median of {REPEAT}):                         {warm_ssh:.3f} s")
    print(f"  tether Executor, list(ex.map(...)), executor included:       {ssh_ex:.3f} s")
    print(f"  goal over ssh <= 3 s warm: {'met' if warm_ssh <= 3 else 'NOT met'}")


if __name__ == "__main__":
    main()
