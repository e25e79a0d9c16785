"""Jobs outlive the agent; a restarted agent reconciles what it finds."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil

from conftest import Tether
from tether.agent import processes
from waiting import wait_for


def _agent_pid(tether: Tether) -> int:
    return int(tether.json("agent", "status")["pid"])


def _wait_running(tether: Tether, marker: str) -> dict:
    wait_for(lambda: marker in tether("logs").stdout, f"{marker!r} in the job's log")
    return tether.json("show")


GO = "while [ ! -e go ]; do sleep 0.05; done"


def test_job_survives_kill_9_of_the_agent_and_its_exit_code_is_recorded(tether: Tether) -> None:
    tether("run", "--", "sh", "-c", f"echo up; {GO}; echo bye; exit 7")
    job = _wait_running(tether, "up")
    agent = psutil.Process(_agent_pid(tether))
    agent.kill()
    agent.wait(30)  # the agent is gone for sure
    assert processes.is_alive(job["pid"], None)
    (tether.cwd / "go").touch()
    # no agent now; the CLI still sees the result the supervisor wrote
    proc = tether("wait", "1", check=False, timeout=30)
    assert proc.returncode == 7
    done = tether.json("show", "1")
    assert done["status"] == "failed" and done["exit_code"] == 7
    assert tether("logs", "1").stdout == "up\nbye\n"


def test_agent_restart_keeps_live_jobs_running(tether: Tether) -> None:
    tether("run", "--", "sh", "-c", f"echo up; {GO}")
    _wait_running(tether, "up")
    os.kill(_agent_pid(tether), signal.SIGKILL)
    tether("agent", "start")
    assert tether.json("show", "1")["status"] == "running"
    (tether.cwd / "go").touch()  # only now may the job end
    assert tether("wait", "1", timeout=30).returncode == 0
    assert tether.json("show", "1")["status"] == "succeeded"


def test_jobs_whose_supervisor_died_without_a_result_become_lost(tether: Tether) -> None:
    tether("run", "--", "sh", "-c", "echo up; sleep 60")
    job = _wait_running(tether, "up")
    agent = _agent_pid(tether)
    os.kill(agent, signal.SIGKILL)
    supervisor = psutil.Process(job["pid"]).parent()
    assert supervisor is not None
    supervisor.kill()
    os.killpg(job["pid"], signal.SIGKILL)
    supervisor.wait(30)
    wait_for(lambda: not processes.is_alive(job["pid"], None), "the job to die")
    tether("agent", "start")
    wait_for(lambda: tether.json("show", "1")["status"] == "lost", "the job to become lost")
    assert "supervisor" in tether.json("show", "1")["reason"]


def test_queued_jobs_wait_for_the_agent_and_run_when_it_returns(tether: Tether) -> None:
    tether("agent", "start")
    tether("agent", "stop")
    # queue directly in the store, with no agent at all
    from tether.jobs.submit import add_jobs, build_spec

    specs = [build_spec(["true"], cwd=str(tether.cwd)) for _ in range(3)]
    add_jobs(specs, tether.home)
    assert [j["status"] for j in tether.json("ls")] == ["queued"] * 3
    tether("agent", "start")
    tether("wait", "--all", timeout=30)
    assert [j["status"] for j in tether.json("ls")] == ["succeeded"] * 3


def test_following_a_job_queued_with_no_agent_starts_one(tether: Tether) -> None:
    """An agent killed just as a job was queued (it took the wake-up, then went): ``logs -f``
    (and so ``run -w``) starts an agent rather than waiting for ever."""
    tether("agent", "start")
    tether("agent", "stop")
    from tether.jobs.submit import add_jobs, build_spec

    [job] = add_jobs([build_spec(["echo", "ran"], cwd=str(tether.cwd))], tether.home)
    assert tether.json("ls")[0]["status"] == "queued"
    out = tether("logs", "-f", str(job.number), timeout=30).stdout
    assert "ran" in out
    assert tether.json("ls")[0]["status"] == "succeeded"


def test_pid_reuse_is_not_mistaken_for_our_process() -> None:
    me = os.getpid()
    started = processes.start_time(me)
    assert started is not None
    assert processes.is_alive(me, started)
    assert not processes.is_alive(me, started - 1000)  # same pid, another process
    assert not processes.is_alive(None, None)


def test_only_one_agent_runs_per_home(tether: Tether) -> None:
    import subprocess
    import sys

    tether("agent", "start")
    first = _agent_pid(tether)
    extra = subprocess.run(
        [sys.executable, "-m", "tether.agent", "--home", str(tether.home)],
        env=tether.env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert extra.returncode == 0
    assert "another agent" in extra.stderr
    assert _agent_pid(tether) == first
    info = json.loads(Path(tether.home, "agent.json").read_text())
    assert info["pid"] == first
