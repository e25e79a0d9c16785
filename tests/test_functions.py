"""tether.Dataset, tether.Executor and the %%tether magic on the local target (real jobs)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from conftest import Tether
from tether import Dataset, Executor
from tether.errors import TetherError, UsageError
from tether.functions.errors import DatasetStopped, DatasetTimeout, RemoteTraceback, RunFailed
from waiting import wait_for


def multiply(a: int, b: int) -> int:
    return a * b


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def fragile(x: int) -> int:
    if x == 7:
        raise ValueError(f"seven is not allowed (x={x})")
    return x + 1


def test_thousand_runs_come_back_in_order(tether: Tether) -> None:
    ds = Dataset(multiply, name="products")
    ds.append_runs({"a": i, "b": 3} for i in range(1000))
    ds.append_run({"a": 10, "b": 7})
    ds.run()
    ds.wait(1, 60)
    ds.fetch_results()
    assert ds.results == [3 * i for i in range(1000)] + [70]
    assert ds.errors == [None] * 1001
    assert ds.is_finished
    # how fast (goal 0.5 s) is measured by bench/functions.py, not asserted here
    jobs = tether.json("ls")
    assert isinstance(jobs, list)
    (job,) = [j for j in jobs if j["name"] == "products"]
    assert job["number"] == ds.job
    wait_for(
        lambda: tether.json("show", str(ds.job))["status"] == "succeeded",  # type: ignore[index]
        "the dataset job to succeed",
    )
    log = tether("logs", str(ds.job)).stdout
    assert "done: 1001 runs" in log
    # few result files, not one per run
    assert 1 <= len(os.listdir(Path(ds.path) / "results")) <= 64


def test_lambda_and_closure(tether: Tether) -> None:
    ds = Dataset(lambda x: x * x)
    ds.append_runs({"x": i} for i in range(20))
    ds.run().wait(timeout=30)
    assert ds.results == [i * i for i in range(20)]

    offset = 1000

    def shifted(x: int) -> int:
        return x + offset

    ds2 = Dataset(shifted, max_parallel=1, chunk_size=3)
    ds2.append_runs({"x": i} for i in range(10))
    ds2.run().wait(timeout=30)
    assert ds2.results == [i + 1000 for i in range(10)]


def test_exception_in_one_run_leaves_the_others(tether: Tether) -> None:
    ds = Dataset(fragile, chunk_size=5)
    ds.append_runs({"x": i} for i in range(20))
    ds.run().wait(timeout=30)
    results, errors = ds.results, ds.errors
    assert results == [None if i == 7 else i + 1 for i in range(20)]
    assert [i for i, e in enumerate(errors) if e is not None] == [7]
    err = errors[7]
    assert isinstance(err, ValueError)
    assert isinstance(err.__cause__, RemoteTraceback)
    assert "in fragile" in err.__cause__.text
    assert "seven is not allowed" in err.__cause__.text
    with pytest.raises(ValueError, match="seven") as info:
        raise err
    assert "in fragile" in str(info.value.__cause__)


def crash_on(x: int, bad: int) -> int:
    if x == bad:
        os._exit(3)  # the worker process dies mid-chunk
    return x


def test_a_dying_worker_or_missing_module_fails_only_its_runs(
    tether: Tether, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = Dataset(crash_on, max_parallel=2, chunk_size=1)
    ds.append_runs({"x": i, "bad": 4} for i in range(10))
    ds.run().wait(timeout=30)
    assert ds.results == [None if i == 4 else i for i in range(10)]
    err = ds.errors[4]
    assert isinstance(err, RunFailed)
    assert "exit code 3" in str(err)

    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "elsewhere_mod.py").write_text("def double(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(mods))
    from elsewhere_mod import double  # type: ignore[import-not-found]

    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(mods)])
    ds = Dataset(double)
    ds.append_runs({"x": i} for i in range(4))
    ds.run().wait(timeout=30)
    assert all(isinstance(e, ModuleNotFoundError) for e in ds.errors)


def test_reopened_by_name_in_a_new_process(tether: Tether) -> None:
    env = {**os.environ, "TETHER_HOME": str(tether.home)}
    first = textwrap.dedent(
        """
        import tether

        def power(base, exp):
            return base ** exp

        ds = tether.Dataset(power, name="powers")
        ds.append_runs({"base": 2, "exp": n} for n in range(50))
        ds.run()
        print(ds.job)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", first], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    number = int(out.stdout.strip())
    second = textwrap.dedent(
        """
        import json, tether

        ds = tether.Dataset.open("powers")
        ds.wait(timeout=30)
        print(json.dumps({"job": ds.job, "results": ds.results, "finished": ds.is_finished}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", second], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data == {"job": number, "results": [2**n for n in range(50)], "finished": True}
    # and in this process too, through the other spelling
    again = tether_dataset_by_name("powers")
    assert again.results == [2**n for n in range(50)]
    assert again.runs[3] == {"base": 2, "exp": 3}


def tether_dataset_by_name(name: str) -> Dataset:
    return Dataset(None, name=name)


def test_cancel_stops_a_running_dataset(tether: Tether) -> None:
    ds = Dataset(nap, name="sleepy", max_parallel=2, chunk_size=1)
    ds.append_runs({"seconds": 600} for _ in range(6))  # only a cancel ends it within the test
    ds.run()
    with pytest.raises(DatasetTimeout) as info:
        ds.wait(timeout=0.5)
    assert isinstance(info.value, TimeoutError)
    assert ds.status == "running"
    workers = wait_for(  # the launcher and two workers
        lambda: (lambda w: w if len(w) >= 3 else None)(_processes_using(Path(ds.path))),
        "the launcher and two workers",
    )
    tether("cancel", str(ds.job))
    with pytest.raises(DatasetStopped, match="cancelled"):
        ds.wait(timeout=60)  # far below the 600 s naps: the cancel stopped them
    assert ds.status == "cancelled"
    assert not ds.is_finished
    assert ds.results == [None] * 6
    psutil.wait_procs(workers, timeout=60)
    assert not [p for p in workers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _processes_using(path: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if str(path) in (proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_executor_submit_and_map_give_real_futures(tether: Tether) -> None:
    base = 100
    with Executor(max_workers=2) as ex:
        futures = [ex.submit(multiply, i, b=2) for i in range(30)]
        assert all(isinstance(f, concurrent.futures.Future) for f in futures)
        done, _ = concurrent.futures.wait(futures, timeout=30)
        assert len(done) == 30
        assert [f.result() for f in futures] == [2 * i for i in range(30)]
        assert list(ex.map(lambda x: x + base, range(500), timeout=30)) == [
            i + base for i in range(500)
        ]
        bad = ex.submit(fragile, 7)
        with pytest.raises(ValueError, match="seven") as info:
            bad.result(timeout=30)
        assert isinstance(info.value.__cause__, RemoteTraceback)
        assert "in fragile" in info.value.__cause__.text
        number = ex.job
    assert number is not None
    with pytest.raises(RuntimeError):
        ex.submit(multiply, 1, 2)
    job = tether.json("show", str(number))
    assert job["status"] == "succeeded"  # type: ignore[index]
    assert len(tether.json("ls")) == 1  # type: ignore[arg-type]  # one job for everything


def test_unknown_target_and_python_mismatch_are_clear(tether: Tether) -> None:
    from tether.functions.serialization import check_python

    with pytest.raises(UsageError, match="no host named 'gpu-box'"):
        Dataset(multiply, on="gpu-box")
    with pytest.raises(UsageError, match=r"Python 2\.7"):
        check_python("2.7", "target 'old-box'")
    ds = Dataset(multiply)
    with pytest.raises(UsageError, match="no runs"):
        ds.run()
    with pytest.raises(TetherError):
        Dataset.open("no-such-dataset")


def test_cell_magic_runs_a_cell_and_returns_its_value(tether: Tether, ipython: Any) -> None:
    shell = ipython
    shell.user_ns["factor"] = 3
    result = shell.run_cell("%%tether --args a=10 b=7 --in factor\nc = a * b\nc * factor\n")
    assert result.error_in_exec is None, result.error_in_exec
    assert result.result == 210
    ds = shell.user_ns["tether_last"]
    assert isinstance(ds, Dataset)
    assert ds.is_finished
    failing = shell.run_cell("%%tether --name cell-fails\n1 / 0\n")
    assert isinstance(failing.error_in_exec, ZeroDivisionError)
    assert isinstance(failing.error_in_exec.__cause__, RemoteTraceback)


def test_cell_magic_runs_the_cell_again_each_time(
    tether: Tether, ipython: Any, tmp_path: Path
) -> None:
    log = tmp_path / "cell-ran.txt"
    cell = f"%%tether --name again\nopen({str(log)!r}, 'a').write('x')\n"
    for _ in range(2):
        result = ipython.run_cell(cell)
        assert result.error_in_exec is None, result.error_in_exec
    assert log.read_text() == "xx"  # not memoised
    assert isinstance(ipython.user_ns["tether_last"].job, int)
