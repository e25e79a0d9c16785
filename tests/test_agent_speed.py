"""What the agent's loop spends per job (issue 28): few SQL statements to start a job and to
record its end, so the loop's bookkeeping stays well below the cost of starting a process."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from tether.agent import processes
from tether.agent.daemon import Agent
from tether.agent.files import RESULT_FILE
from tether.agent.scheduling import Scheduler
from tether.jobs.status import FAILED, RUNNING, SUCCEEDED
from tether.store.jobs import Job, JobSpec, JobStore


def in_process_agent(home: Path) -> Agent:
    """An agent whose loop the test turns by hand."""
    agent = Agent(home, parallel=1)
    agent.store = JobStore(home)
    agent.scheduler = Scheduler(agent.store)
    agent.parallel = 1
    agent.address = None
    agent.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    agent.lock = open(home / "agent.lock", "a")  # noqa: SIM115
    return agent


def run_one(agent: Agent, command: list[str], cwd: str) -> Job:
    job = agent.store.add(JobSpec(command=command, cwd=cwd, name="t"))
    agent.schedule()
    for pid in agent.children:
        os.waitpid(pid, 0)
    agent.children.clear()
    agent.handle(f"done {job.number}")
    return agent.store.get(job.number)


def test_a_start_and_its_end_take_few_statements(tmp_path: Path) -> None:
    agent = in_process_agent(tmp_path)
    job = agent.store.add(JobSpec(command=["true"], cwd="/", name="t"))
    statements: list[str] = []
    agent.store.conn.set_trace_callback(statements.append)
    try:
        agent.schedule()
        started = list(statements)
        statements.clear()
        [pid] = agent.children
        os.waitpid(pid, 0)
        deadline = time.monotonic() + 10
        while not Path(job.job_dir, RESULT_FILE).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        agent.handle(f"done {job.number}")
        ended = list(statements)
    finally:
        agent.store.conn.set_trace_callback(None)
        agent.sock.close()
        agent.lock.close()
    record = agent.store.get(job.number)
    assert record.status == SUCCEEDED
    assert record.supervisor_pid == pid and record.extra["boot_id"] == processes.boot_id()
    # the claim and the supervisor's pid with the boot's id: two transactions (and the reads)
    assert sum(s.startswith("BEGIN") for s in started) <= 2, started
    assert len(started) <= 14, started
    assert sum(s.startswith("BEGIN") for s in ended) <= 1, ended
    assert len(ended) <= 4, ended
    assert agent.store.count(RUNNING) == 0


def test_a_spawned_job_runs_as_a_forked_one_did(tmp_path: Path) -> None:
    """Its folder, the job's PATH, no input, its own process group, no signal blocked."""
    agent = in_process_agent(tmp_path)
    where = tmp_path / "here"
    where.mkdir()
    script = (
        "pwd; cat; test $(ps -o pgid= -p $$) -eq $$ && echo group; grep SigBlk /proc/self/status"
    )
    try:
        job = run_one(agent, ["sh", "-c", script], str(where))
        missing = run_one(agent, ["no-such-program-here"], str(where))
        gone = run_one(agent, ["true"], str(tmp_path / "no-such-folder"))
    finally:
        agent.sock.close()
        agent.lock.close()
    assert job.status == SUCCEEDED, Path(job.log_path).read_text()
    out = Path(job.log_path).read_text().split()
    assert out[:2] == [str(where), "group"] and out[-1] == "0000000000000000", out
    for failed in (missing, gone):
        assert failed.status == FAILED and failed.exit_code == 127
        assert "[tether] could not start" in Path(failed.log_path).read_text()


def test_a_job_whose_folder_cannot_be_made_fails_not_started(tmp_path: Path) -> None:
    """The supervisor makes the folder (not the agent's loop) and says when it cannot."""
    agent = in_process_agent(tmp_path)
    agent.address = b"\0tether-test-%d" % os.getpid()
    agent.sock.bind(agent.address)
    agent.sock.setblocking(False)
    (tmp_path / "jobs").write_text("a file where the jobs' folders go")
    try:
        job = run_one(agent, ["true"], "/")
        agent.handle_messages()
    finally:
        agent.sock.close()
        agent.lock.close()
    record = agent.store.get(job.number)
    assert record.status == FAILED and record.exit_code is None
    assert record.reason is not None and record.reason.startswith("not started: "), record.reason


def test_a_wait_ends_when_another_process_records_the_end(tmp_path: Path) -> None:
    """``tether wait`` looks at the store again as soon as another connection commits, so it
    ends within a tick of the job's end, not at its next look (up to a second apart)."""
    import threading

    from tether.api.watch import _sleep_until_ended
    from tether.jobs import state

    store = JobStore(tmp_path)
    job = store.add(JobSpec(command=["true"], cwd=str(tmp_path), name="t"))
    other = JobStore(tmp_path)  # the agent's connection

    def end_it() -> None:
        time.sleep(0.3)
        state.claim(other, job.number)  # a commit that does not end it: keep sleeping
        time.sleep(0.3)
        state.finish(other, job.number, SUCCEEDED, exit_code=0)

    threading.Thread(target=end_it).start()
    started = time.monotonic()
    _sleep_until_ended(store, [job.number], 30.0)
    took = time.monotonic() - started
    assert 0.55 < took < 10, took
