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
from tether.jobs.status import RUNNING, SUCCEEDED
from tether.store.jobs import JobSpec, JobStore


def test_a_start_and_its_end_take_few_statements(tmp_path: Path) -> None:
    agent = Agent(tmp_path, parallel=1)
    agent.store = JobStore(tmp_path)
    agent.scheduler = Scheduler(agent.store)
    agent.parallel = 1
    agent.address = None
    agent.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    agent.lock = open(tmp_path / "agent.lock", "a")  # noqa: SIM115
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
