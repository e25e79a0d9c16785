"""tether.Dataset and tether.Executor on a real Slurm cluster: one job array per batch.

Hosts come from slurm_fixtures.py: ``here`` (tether on the login node, DEST ``local``) and
``far`` (the same cluster through the loopback sshd: laptop mode); ``here-count`` and
``far-count`` log every sbatch/squeue/... call, which shows how many arrays were submitted.
A Dataset whose task outlives its time limit is submitted when the module starts (Slurm
checks limits every 30 s) and checked by the last test.
"""

from __future__ import annotations

import json
import os
import pwd
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from slurm_fixtures import (
    MODES,
    SlurmSetup,
    slurm_setup_fixture,  # noqa: F401 (the session's, shared)
)
from tether import Dataset, Executor
from tether.errors import RemoteError, UsageError
from tether.functions.errors import DatasetStopped, RemoteTraceback, RunFailed
from tether.functions.slurm_target import task_size
from waiting import wait_for

pytestmark = [pytest.mark.rig, pytest.mark.timeout(300)]


@pytest.fixture
def setup(slurm_setup: SlurmSetup, monkeypatch: pytest.MonkeyPatch) -> SlurmSetup:
    """The Slurm hosts, with this process working in the project (what laptop mode syncs)."""
    monkeypatch.chdir(slurm_setup.project)
    return slurm_setup


@pytest.fixture(scope="module")
def too_long(slurm_setup: SlurmSetup) -> Iterator[Dataset]:
    """A dataset (submitted first) whose task 0 sleeps past its one-minute limit."""
    old = os.getcwd()
    os.chdir(slurm_setup.project)
    try:

        def nap(x: int) -> int:
            if x == 0:
                time.sleep(600)
            return -x

        ds = Dataset(nap, on="here", chunk_size=2, time="1")
        ds.append_runs({"x": i} for i in range(4))
        ds.run()
        yield ds
    finally:
        os.chdir(old)


def _job_row(setup: SlurmSetup, name: str) -> dict[str, object]:
    rows = setup.tt.json("ls")
    assert isinstance(rows, list)
    (row,) = [r for r in rows if r["name"] == name]
    assert isinstance(row, dict)
    return row


def _sbatch_calls(setup: SlurmSetup, since: int) -> list[str]:
    return [line for line in setup.calls_log()[since:] if line.startswith("sbatch")]


def _numbers(setup: SlurmSetup) -> list[object]:
    rows = setup.tt.json("ls")
    assert isinstance(rows, list)
    return [r["number"] for r in rows]


def _uid_in(setup: SlurmSetup, mode: str) -> int:
    return os.getuid() if mode == "here" else pwd.getpwnam(setup.server.user).pw_uid


@pytest.mark.parametrize("mode", MODES)
def test_hundred_runs_go_as_one_array_and_come_back_in_order(
    setup: SlurmSetup, mode: str, too_long: Dataset
) -> None:
    host = f"{mode}-count"
    before = len(setup.calls_log())
    ds = Dataset(lambda a, b: (a * b, os.getuid()), on=host, chunk_size=10)
    ds.append_runs({"a": i, "b": 3} for i in range(100))
    ds.run().wait(interval=0.2, timeout=90)
    uid = _uid_in(setup, mode)
    assert ds.results == [(3 * i, uid) for i in range(100)]
    assert ds.errors == [None] * 100 and ds.is_finished
    # one sbatch, one array of ten tasks, one job in `tether ls`
    assert len(_sbatch_calls(setup, before)) == 1
    row = _job_row(setup, ds.name)
    assert (row["number"], row["host"]) == (ds.job, host)
    slurm_id = setup.slurm_id(str(ds.job))
    info = setup.cluster.run(["scontrol", "show", "job", "-o", slurm_id]).stdout.splitlines()
    assert len(info) == 10
    assert all(f"ArrayJobId={slurm_id} " in line for line in info)
    assert sorted(int(line.split("ArrayTaskId=")[1].split()[0]) for line in info) == list(range(10))
    assert all("JobState=COMPLETED" in line for line in info)
    assert setup.wait_status(str(ds.job), "succeeded")["extra"]["array_tasks"] == 10  # type: ignore[index]
    assert len(os.listdir(Path(ds.path) / "results")) == 10
    log = setup.tt("logs", str(ds.job)).stdout
    assert log.count("done, 0 failed") == 10  # the tasks' output, appended to one log


def test_array_sizes() -> None:
    assert [task_size(n, None) for n in (1, 7, 100, 101, 250, 10_000)] == [1, 1, 1, 2, 3, 100]
    assert task_size(250, 10) == 10 and task_size(5, 10) == 10
    assert task_size(5000, 1) == 5  # never more than 1000 tasks


def test_default_chunking_throttle_and_reopening(setup: SlurmSetup) -> None:
    ds = Dataset(lambda x: x + 0.5, on="here", name="reopen-me", max_parallel=4)
    ds.append_runs({"x": i} for i in range(12))
    ds.run().wait(interval=0.2, timeout=90)
    again = Dataset.open("reopen-me")
    assert again.results == [i + 0.5 for i in range(12)]
    assert again.is_finished
    # the job record follows Slurm's end on the agent's next poll
    wait_for(lambda: Dataset.open("reopen-me").status == "succeeded", "the record to follow Slurm")
    (array,) = json.loads((Path(ds.path) / "meta.json").read_text())["arrays"]
    assert (array["tasks"], array["size"]) == (12, 1)
    assert "#SBATCH --array=0-11%4" in _sbatch_lines(setup, ds.job)


def _sbatch_lines(setup: SlurmSetup, number: int | None) -> list[str]:
    job_dir = Path(str(setup.show(str(number))["job_dir"]))
    text = (setup.tt.home / "jobs" / job_dir.name / "job.sbatch").read_text()
    return [line for line in text.splitlines() if line.startswith("#SBATCH")]


def test_resources_reach_the_array_script_and_slurm(setup: SlurmSetup) -> None:
    ds = Dataset(
        lambda x: x, on="here", chunk_size=3, max_parallel=2,
        cpus=1, mem="100M", time="5m", sbatch=["--comment=from-dataset"],
    )  # fmt: skip
    ds.append_runs({"x": i} for i in range(6))
    ds.run().wait(timeout=60)
    assert ds.results == list(range(6))
    lines = _sbatch_lines(setup, ds.job)
    expected_lines = [
        *("--cpus-per-task=1", "--mem=100M", "--time=00:05:00", "--array=0-1%2"),
        *("--partition=debug", "--comment=from-dataset", f"--job-name={ds.name}"),
    ]
    for expected in expected_lines:
        assert f"#SBATCH {expected}" in lines, lines
    assert "#SBATCH --mem=64M" not in lines  # the dataset's value replaced the host's
    info = setup.cluster.job_info(f"{setup.slurm_id(str(ds.job))}_0")
    assert info["TimeLimit"] == "00:05:00" and info["Comment"] == "from-dataset"
    assert info["ArrayTaskThrottle"] == "2" and info["MinMemoryNode"] == "100M"


def test_bad_resources_are_refused_before_anything_is_submitted(setup: SlurmSetup) -> None:
    before = len(setup.calls_log())
    jobs = _numbers(setup)
    with pytest.raises(UsageError, match="Invalid mem 'lots'"):
        Dataset(lambda x: x, on="here-count", mem="lots")
    with pytest.raises(UsageError, match=r"unknown keyword\(s\) cpu;"):
        Dataset(lambda x: x, on="here-count", cpu=2)
    with pytest.raises(UsageError, match=r"Invalid time"):
        Executor(on="here-count", time="soon")
    with pytest.raises(UsageError, match=r"cpus=, time=: Slurm resources, but on='local'"):
        Dataset(lambda x: x, on="local", cpus=2, time="1h")
    with pytest.raises(UsageError, match="not a Slurm host"):
        Executor(on="local", partition="debug")
    assert _sbatch_calls(setup, before) == []
    assert _numbers(setup) == jobs


def test_an_array_sbatch_refuses_is_a_clear_error(setup: SlurmSetup) -> None:
    ds = Dataset(lambda x: x, on="here", partition="nosuch")
    ds.append_run({"x": 1})
    with pytest.raises(RemoteError, match=r"sbatch failed on here \(exit 1\): .*partition"):
        ds.run()
    row = _job_row(setup, ds.name)
    assert row["status"] == "failed" and str(row["reason"]).startswith("not submitted: ")


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_run_and_a_dying_task_leave_the_others(setup: SlurmSetup, mode: str) -> None:
    def fragile(x: int) -> int:
        if x == 7:
            raise ValueError(f"seven is not allowed (x={x})")
        if x == 13:
            os._exit(9)  # the task's process dies: Slurm records it FAILED
        return x + 1

    ds = Dataset(fragile, on=mode, chunk_size=5)
    ds.append_runs({"x": i} for i in range(20))
    ds.run().wait(timeout=60)
    dead = range(10, 15)
    assert ds.results == [None if i == 7 or i in dead else i + 1 for i in range(20)]
    errors = ds.errors
    assert [i for i, e in enumerate(errors) if e is not None] == [7, *dead]
    err = errors[7]
    assert isinstance(err, ValueError) and isinstance(err.__cause__, RemoteTraceback)
    assert "in fragile" in err.__cause__.text
    slurm_id = setup.slurm_id(str(ds.job))
    for i in dead:
        assert isinstance(errors[i], RunFailed)
        assert f"Slurm task {slurm_id}_2 (job #{ds.job}) ended FAILED (exit 9)" in str(errors[i])
    data = setup.wait_status(str(ds.job), "failed")
    assert data["reason"] == "task 2: exit 9"


@pytest.mark.parametrize("mode", MODES)
def test_executor_map_and_submit_each_batch_one_array(setup: SlurmSetup, mode: str) -> None:
    before = len(setup.calls_log())
    name = f"slurm-executor-{mode}"
    with Executor(on=f"{mode}-count", max_workers=3, name=name, chunk_size=10) as ex:
        squares = list(ex.map(lambda x: (x * x, os.getuid()), range(30)))
        assert squares == [(x * x, _uid_in(setup, mode)) for x in range(30)]
        future = ex.submit(divmod, 7, 0)
        with pytest.raises(ZeroDivisionError):
            future.result(timeout=60)
        assert ex.submit(pow, 2, 10).result(timeout=60) == 1024
    assert len(_sbatch_calls(setup, before)) == 3
    rows = setup.tt.json("ls")
    assert isinstance(rows, list)
    mine = [r for r in rows if str(r["name"]).startswith(name)]
    assert [r["name"] for r in mine] == [name, f"{name}-b1", f"{name}-b2"]
    for row in mine:
        setup.wait_status(str(row["number"]), "succeeded")


def test_a_task_with_several_cpus_splits_its_runs_among_processes(setup: SlurmSetup) -> None:
    def where(x: int) -> int:
        if x == 5:
            os._exit(3)
        return os.getpid()

    ds = Dataset(where, on="here", chunk_size=8, cpus=2)
    ds.append_runs({"x": i} for i in range(16))
    ds.run().wait(timeout=60)
    pids = ds.results
    assert len(set(pids[0:4])) == 1 and len(set(pids[8:12])) == 1 and len(set(pids[12:])) == 1
    assert len({pids[0], pids[8], pids[12]}) == 3  # three processes ran the three parts
    for err in ds.errors[4:8]:
        assert isinstance(err, RunFailed) and "died (exit code 3)" in str(err)
    assert ds.errors[:4] == [None] * 4 and ds.errors[8:] == [None] * 8
    assert "#SBATCH --cpus-per-task=2" in _sbatch_lines(setup, ds.job)


@pytest.mark.parametrize("mode", MODES)
def test_cancel_stops_the_array(setup: SlurmSetup, mode: str) -> None:
    def slow(x: int) -> int:
        time.sleep(300)
        return x

    ds = Dataset(slow, on=mode, max_parallel=1)
    ds.append_runs({"x": i} for i in range(3))
    ds.run()
    setup.wait_status(str(ds.job), "running")
    ds.cancel()
    assert ds.status == "cancelled"
    with pytest.raises(DatasetStopped, match=r"ended cancelled .* 0 of 3 runs done"):
        ds.wait(timeout=30)
    assert setup.cluster.run(["squeue", "-h", "-j", setup.slurm_id(str(ds.job))]).stdout == ""


def test_a_task_past_its_time_limit_fails_its_runs_only(
    setup: SlurmSetup, too_long: Dataset
) -> None:
    too_long.wait(timeout=150)
    assert too_long.results == [None, None, -2, -3]
    for err in too_long.errors[:2]:
        assert isinstance(err, RunFailed) and "ended TIMEOUT (timeout)" in str(err)
    data = setup.wait_status(str(too_long.job), "failed")
    assert data["reason"] == "task 0: timeout"


def test_an_array_reads_as_one_job() -> None:
    from tether.targets.slurm.arrays import array_state, task_states
    from tether.targets.slurm.states import parse_squeue

    found = parse_squeue(
        "7_[2-5%2]|PENDING|JobArrayTaskLimit\n7_1|RUNNING|None\n7_0|COMPLETED|None\n"
        "8_0|FAILED|None\n"
    )
    tasks = task_states(found, "7")
    assert sorted(tasks) == [0, 1, 2, 3, 4, 5] and tasks[4].status == "queued"
    state = array_state(found, "7")
    assert state is not None and (state.status, state.reason) == ("running", "1 task(s) running")
    ended = parse_squeue("7_0|COMPLETED|None\n7_1|TIMEOUT|None\n7_2|COMPLETED|None\n")
    state = array_state(ended, "7")
    assert state is not None and (state.status, state.reason) == ("failed", "task 1: timeout")
    assert array_state(parse_squeue("7_0|COMPLETED|None\n"), "7").status == "succeeded"  # type: ignore[union-attr]
    assert array_state(found, "9") is None


@pytest.mark.parametrize("mode", MODES)
def test_memoised_and_retry_failed_on_slurm(setup: SlurmSetup, mode: str) -> None:
    def _counting(x: int, tag: str) -> int:
        """Appends a line to /tmp/TAG.X on each call (world-writable /tmp: any user can write)."""
        path = f"/tmp/{tag}.{x}"
        first = not os.path.exists(path)
        with open(path, "a") as f:
            f.write("ran\n")
        if x % 3 == 0 and first:
            raise ValueError(f"first try of {x}")
        return x * 10

    tag = f"tether-memo-{mode}-{os.getpid()}-{time.time_ns()}"
    host = f"{mode}-count"
    ds = Dataset(_counting, on=host)
    ds.append_runs({"x": i, "tag": tag} for i in range(6))
    ds.run().wait(timeout=90)
    assert ds.failed == [0, 3] and not ds.all_success
    ds.retry_failed().wait(timeout=90)
    assert ds.results == [10 * i for i in range(6)] and ds.all_success
    before = len(setup.calls_log())
    again = Dataset(_counting, on=host)
    again.append_runs({"x": i, "tag": tag} for i in range(6))
    again.run().wait(timeout=90)
    assert again.job is None and again.results == [10 * i for i in range(6)]
    assert _sbatch_calls(setup, before) == []  # nothing was submitted
    counts = {}
    for i in range(6):
        p = Path(f"/tmp/{tag}.{i}")
        counts[i] = len(p.read_text().split())
        p.unlink()
    assert counts == {i: 2 if i % 3 == 0 else 1 for i in range(6)}
