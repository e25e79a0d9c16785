"""A robust agent and runtime (issue 32): each fault checked through the real CLI."""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import time
from pathlib import Path

import psutil
import pytest

from conftest import Tether
from waiting import wait_for

FORKING = """import os
import tether

tether.report(parent=1)
pid = os.fork()
if pid == 0:  # a DataLoader-style worker reports on its own
    tether.report(child=2)
    tether.flush()
    os._exit(0)
os.waitpid(pid, 0)
tether.report(parent=3)
"""


def _metric_lines(t: Tether) -> list[dict[str, object]]:
    job_dir = Path(str(t.json("show")["job_dir"]))  # type: ignore[index]
    text = (job_dir / "metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_report_in_a_forked_child_writes_its_own_points_once(tether: Tether) -> None:
    (tether.cwd / "fork.py").write_text(FORKING)
    tether("run", "--wait", "fork.py")
    values = [line["values"] for line in _metric_lines(tether)]
    assert sorted(values, key=str) == sorted(
        [{"parent": 1.0}, {"child": 2.0}, {"parent": 3.0}], key=str
    )


def test_a_cancel_right_after_the_start_is_never_lost(tether: Tether) -> None:
    """A cancel that reaches the supervisor before it has started the job must end the job:
    the agent's own SIGTERM handler, inherited across the fork, once swallowed it. The
    supervisor is held 1.5 s before it starts the job (a test hook), so every cancel here
    lands in that window."""
    tether.env["TETHER_TEST_SUPERVISOR_DELAY"] = "1.5"
    tether("agent", "start")
    numbers = []
    for _ in range(3):
        numbers.append(tether("run", "--", "sleep", "300").stdout.strip())
        tether("cancel", "--grace", "2", numbers[-1], timeout=60)
    for number in numbers:
        job = tether.json("show", number)
        assert isinstance(job, dict)
        assert job["status"] == "cancelled", job
    leftover = [
        p for p in psutil.process_iter(["cmdline", "environ"])
        if p.info["cmdline"] == ["sleep", "300"]
        and (p.info["environ"] or {}).get("TETHER_HOME") == str(tether.home)
    ]  # fmt: skip
    assert leftover == []


def test_a_failing_step_is_logged_once_paused_with_backoff_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tether.agent.steps import Steps

    now = [100.0]
    steps = Steps(clock=lambda: now[0])
    calls: list[float] = []
    broken = [True]

    def step() -> None:
        calls.append(now[0])
        if broken[0]:
            raise RuntimeError("database is locked")

    with caplog.at_level(logging.INFO, logger="tether.agent"):
        for _ in range(200):  # 20 s of 0.1 s ticks
            steps.run("schedule", step)
            now[0] += 0.1
        broken[0] = False
        for _ in range(400):
            steps.run("schedule", step)
            now[0] += 0.1
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 1 and "database is locked" in failures[0].getMessage()
    gaps = [b - a for a, b in itertools.pairwise(calls[:5])]  # ticks are 0.1 s apart
    for gap, pause in zip(gaps, [1.0, 2.0, 4.0, 8.0], strict=True):
        assert pause - 1e-6 <= gap <= pause + 0.1 + 1e-6, gaps
    assert any("works again" in r.getMessage() for r in caplog.records)
    assert steps.run("schedule", step) and "schedule" not in steps.failing


def test_the_store_locked_longer_than_the_busy_timeout_does_not_end_the_agent(
    tether: Tether, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the store's write lock well past the busy timeout (shortened
    to 0.2 s for the test) while a job waits to be claimed: the agent logs it once, waits
    with backoff, and runs the job once the lock is gone."""
    from tether.jobs.submit import add_jobs, build_spec

    monkeypatch.setenv("TETHER_DB_BUSY_TIMEOUT_MS", "200")
    tether.env["TETHER_DB_BUSY_TIMEOUT_MS"] = "200"
    spec = build_spec(["echo", "it ran"], cwd=str(tether.cwd), home=tether.home)
    [job] = add_jobs([spec], tether.home)
    holder = sqlite3.connect(str(tether.home / "tether.db"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        tether("agent", "start")  # it finds the job queued and cannot claim it
        pid = tether.json("agent", "status")["pid"]  # type: ignore[index]
        log = tether.home / "agent.log"
        wait_for(
            lambda: "'schedule' failed" in log.read_text() or not psutil.pid_exists(pid),
            "the agent's scheduling to meet the lock",
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    tether("wait", str(job.number), timeout=120)
    assert "it ran" in tether("logs", str(job.number)).stdout
    assert tether.json("agent", "status")["pid"] == pid  # type: ignore[index]
    text = log.read_text()
    assert text.count("'schedule' failed") == 1, text  # once, not once per tick


@pytest.mark.parametrize("step", [3600.0, -3600.0])
def test_a_wall_clock_step_never_makes_a_live_process_look_gone(
    monkeypatch: pytest.MonkeyPatch, step: float
) -> None:
    """Liveness is the pid plus the kernel's start count (seconds after boot), not a wall-clock
    time: the clock is stepped here the way psutil sees it (its boot time moves with the
    wall clock), and a process started before the step is still the same process after it."""
    import subprocess

    import psutil._pslinux as linux

    from tether.agent import processes

    child = subprocess.Popen(["sleep", "30"])
    try:
        started = processes.start_time(child.pid)
        legacy = psutil.Process(child.pid).create_time()  # what older records hold
        assert processes.is_alive(child.pid, started)
        real = linux.boot_time
        monkeypatch.setattr(linux, "boot_time", lambda: real() + step)
        assert psutil.Process(child.pid).create_time() != pytest.approx(legacy, abs=1)
        assert processes.is_alive(child.pid, started)
        assert not processes.is_alive(child.pid, started + 1)  # another process's start
        monkeypatch.setattr(linux, "boot_time", real)
        assert processes.is_alive(child.pid, legacy)  # older records still read
    finally:
        child.kill()
        child.wait()
    assert not processes.is_alive(child.pid, started)


def test_a_record_from_another_boot_is_lost_and_one_from_this_boot_runs_on(
    tether: Tether,
) -> None:
    """A pid and start time only name a process within one boot: a running job whose record
    carries another boot id (as after a reboot) is reconciled as lost by the agent, even
    though a process with its pid and start time is there; a job of this boot runs on."""
    from tether.agent import processes
    from tether.agent.files import RUN_FILE, read_json, write_json_atomic
    from tether.store.jobs import JobStore

    tether("agent", "start", "--parallel", "2")
    old, new = (tether("run", "--", "sleep", "300").stdout.strip() for _ in range(2))
    store = JobStore(tether.home)
    try:

        def recorded(number: str) -> dict[str, object] | None:
            job = store.get(int(number))
            run = read_json(Path(job.job_dir) / RUN_FILE)
            return run if run and "boot_id" in job.extra else None

        for number in (old, new):
            wait_for(lambda n=number: recorded(n), f"job #{number} to run with its boot id")
        assert store.get(int(new)).extra["boot_id"] == processes.boot_id()
        job = store.get(int(old))
        store.merge_extra(job.number, boot_id="another-boot")
        run = read_json(Path(job.job_dir) / RUN_FILE) or {}
        write_json_atomic(Path(job.job_dir) / RUN_FILE, {**run, "boot_id": "another-boot"})
        shown = wait_for(
            lambda: (got := tether.json("show", old)) and got["status"] != "running" and got,  # type: ignore[index]
            "the agent to reconcile the job of another boot",
        )
        assert shown["status"] == "lost", shown
        assert tether.json("show", new)["status"] == "running"  # type: ignore[index]
        assert processes.is_alive(job.supervisor_pid, job.supervisor_started)  # the same pids
    finally:
        store.close()


def test_a_locked_store_during_reconcile_is_logged_once_then_works_again(
    tether: Tether,
) -> None:
    """Two running jobs lose their supervisor and payload while another process holds the
    store's write lock (busy timeout 50 ms): reconciling them fails on every job and pass,
    yet the agent log holds one traceback for it and one "works again" line; once the lock
    is gone both jobs are recorded as lost."""
    import os
    import signal
    import time

    from tether.agent.files import RUN_FILE, read_json
    from tether.store.jobs import JobStore

    tether.env["TETHER_DB_BUSY_TIMEOUT_MS"] = "50"
    tether("agent", "start", "--parallel", "2")
    numbers = [int(tether("run", "--", "sleep", "300").stdout.strip()) for _ in range(2)]
    store = JobStore(tether.home)
    runs = [
        wait_for(
            lambda n=n: store.get(n).supervisor_pid and read_json(store.get(n).dir / RUN_FILE),
            f"job #{n} to run",
        )
        for n in numbers
    ]
    pids = [(store.get(n).supervisor_pid, run["pid"]) for n, run in zip(numbers, runs, strict=True)]
    store.close()
    log = tether.home / "agent.log"
    holder = sqlite3.connect(str(tether.home / "tether.db"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for supervisor, payload in pids:
            os.kill(supervisor, signal.SIGKILL)
            os.kill(payload, signal.SIGKILL)
        wait_for(lambda: "database is locked" in log.read_text(), "reconcile to meet the lock")
        for _ in range(3):  # keep it locked across further loop turns (~3 s)
            time.sleep(1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for n in numbers:
        wait_for(lambda n=n: tether.json("show", str(n))["status"] == "lost", f"#{n} lost")  # type: ignore[index]
    text = log.read_text()
    assert text.count("Traceback") == 1, text  # not one per job and pass
    assert text.count("'reconcile' failed") == 1, text
    text = wait_for(lambda: (t := log.read_text()) and "works again" in t and t, "recovery")
    assert text.count("'reconcile' works again") == 1, text


def test_a_full_disk_for_the_jobs_log_is_a_clear_reason_and_the_job_is_recorded(
    tether: Tether,
) -> None:
    """The job's output cannot be written (a test hook sends it to /dev/full, where every
    write fails with "No space left on device"): the job still ends with its exit code, and
    the reason says what happened and what to do."""
    tether.env["TETHER_TEST_JOB_LOG_FULL"] = "1"
    (tether.cwd / "talk.py").write_text("for i in range(3):\n    print('line', i)\n")
    number = tether("run", "talk.py").stdout.strip()
    tether("wait", number, check=False, timeout=120)
    job = tether.json("show", number)
    assert isinstance(job, dict)
    assert job["status"] in ("succeeded", "failed"), job
    assert isinstance(job["exit_code"], int), job
    assert (job["status"] == "succeeded") == (job["exit_code"] == 0), job
    reason = str(job["reason"])
    assert "could not write the job's log: No space left on device" in reason, job
    assert f"free some space in {Path(str(job['log_path'])).parent}" in reason, job


WAIT_FOR_GO = """import os
import time

while not os.path.exists("go"):
    time.sleep(0.1)
"""


def test_the_whole_agents_clock_stepped_forward_and_back_leaves_jobs_alone(
    tether: Tether,
) -> None:
    """The agent's wall clock is stepped (a test hook offsets ``time.time()`` in the agent
    and its supervisors) a day forward, then a day back, while a job runs: the job's exit
    code 0 is recorded as ``succeeded``. A job claimed by a dead agent whose clock was two
    days ahead (its record's start time is in the future) is still requeued after the claim
    grace, counted on the monotonic clock, and runs."""
    from datetime import datetime

    from tether.jobs import state
    from tether.jobs.submit import add_jobs, build_spec
    from tether.store.jobs import JobStore

    day = 86400.0
    offset = tether.home.parent / "clock-offset"
    offset.write_text(str(day))
    tether.env["TETHER_TEST_CLOCK_OFFSET_FILE"] = str(offset)
    tether.env["TETHER_TEST_CLAIM_GRACE"] = "5"  # not 30 s: the grace's length is not tested

    def started(number: str) -> float:
        text = tether.json("show", number)["started"]  # type: ignore[index]
        return datetime.fromisoformat(text).timestamp() if text else 0.0

    spec = build_spec(["true"], cwd=str(tether.cwd), home=tether.home)
    [claimed] = add_jobs([spec], tether.home)
    store = JobStore(tether.home)
    try:
        assert state.claim(store, claimed.number) is not None  # by an agent that died
        store.update(claimed.number, started=time.time() + 2 * day)
    finally:
        store.close()
    (tether.cwd / "wait_for_go.py").write_text(WAIT_FOR_GO)
    tether("agent", "start", "--parallel", "3")
    long = tether("run", "wait_for_go.py").stdout.strip()
    wait_for(lambda: started(long), "the job to start")
    assert started(long) > time.time() + day / 2  # claimed by the agent's clock, a day ahead
    offset.write_text(str(-day))
    marker = tether("run", "--", "true").stdout.strip()
    tether("wait", marker, timeout=120)
    assert started(marker) < time.time() - day / 2  # the agent's clock went back
    tether("wait", str(claimed.number), timeout=180)
    assert tether.json("show", str(claimed.number))["status"] == "succeeded"  # type: ignore[index]
    assert tether.json("show", long)["status"] == "running"  # type: ignore[index]
    (tether.cwd / "go").write_text("")
    tether("wait", long, timeout=120)
    job = tether.json("show", long)
    assert isinstance(job, dict)
    assert (job["status"], job["exit_code"]) == ("succeeded", 0), job
