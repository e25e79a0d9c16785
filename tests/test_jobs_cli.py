"""The job commands end to end: real CLI processes, a real agent, real jobs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from conftest import Tether
from waiting import wait_for


def test_run_wait_exits_with_the_jobs_code_and_shows_output(tether: Tether) -> None:
    proc = tether("run", "--wait", "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert proc.returncode == 3
    assert "out" in proc.stdout and "err" in proc.stdout
    job = tether.json("show")
    assert job["status"] == "failed" and job["exit_code"] == 3
    assert job["reason"] == "exit code 3"


def test_script_runs_with_the_current_interpreter(tether: Tether) -> None:
    (tether.cwd / "who.py").write_text("import sys; print(sys.executable); print(sys.argv[1:])\n")
    proc = tether("run", "-w", "who.py", "--lr", "3")
    assert sys.executable in proc.stdout
    assert "['--lr', '3']" in proc.stdout


def test_run_prints_the_job_number_and_ls_json_has_the_documented_fields(tether: Tether) -> None:
    first = tether("run", "--name", "alpha", "--", "true").stdout.strip()
    second = tether("run", "--name", "beta", "--", "true").stdout.strip()
    assert (first, second) == ("1", "2")
    tether("wait", "--all")
    jobs = tether.json("ls")
    assert [j["number"] for j in jobs] == [1, 2]
    for key in (
        "number",
        "uuid",
        "name",
        "status",
        "exit_code",
        "host",
        "created",
        "started",
        "ended",
    ):
        assert key in jobs[0], key
    assert jobs[0]["name"] == "alpha" and jobs[0]["status"] == "succeeded"
    assert jobs[0]["host"] == "local"
    assert jobs[0]["created"].startswith("20") and "T" in jobs[0]["created"]


def test_job_resolution_by_number_uuid_prefix_and_name(tether: Tether) -> None:
    tether("run", "--name", "train-small", "--", "true")
    tether("run", "--name", "eval", "--", "true")
    tether("wait", "--all")
    jobs = tether.json("ls")
    assert tether.json("show", "1")["name"] == "train-small"
    assert tether.json("show", jobs[1]["uuid"][:8])["name"] == "eval"
    assert tether.json("show", "train*")["number"] == 1
    assert tether.json("show", "small")["number"] == 1
    assert tether.json("show")["number"] == 2  # omitted: the last job


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_user_mistakes_are_one_line_errors(tether: Tether) -> None:
    cases = {
        ("run", "missing.py"): (
            1,
            f"tether: error: missing.py: no such file (looked in {tether.cwd}); nothing queued",
        ),
        ("run",): (2, "tether: error: nothing to run: give a SCRIPT.py or `-- COMMAND ARGS...`"),
        ("logs", "--grep", "(", "1"): (
            2,
            "tether: error: --grep '(' is not a valid regular expression: "
            "missing ), unterminated subpattern at position 0",
        ),
    }
    tether("run", "-w", "--", "true")  # job 1 exists: the --grep error is about the pattern
    for args, (code, text) in cases.items():
        proc = tether(*args, check=False)
        assert (proc.returncode, _one_error_line(proc)) == (code, text), args
    assert tether.json("ls") and len(tether.json("ls")) == 1  # nothing more was queued


@pytest.mark.parametrize("command", ["show", "cancel", "logs"])
def test_no_such_job_says_so_and_what_to_do(tether: Tether, command: str) -> None:
    tether("run", "-w", "--", "true")
    proc = tether(command, "99", check=False)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert _one_error_line(proc) == (
        "tether: error: no job #99; `tether ls` lists the jobs there are"
    )
    assert tether.json("show", "1")["status"] == "succeeded"  # job 1 untouched


def test_an_agent_that_cannot_start_is_one_clear_line(tether: Tether) -> None:
    """The agent dies at once (its lock file is a directory): said at once, with the cause."""
    (tether.home / "agent.lock").mkdir()
    proc = tether("agent", "start", check=False)
    assert proc.returncode == 1  # "exited at once" below: its exit was seen, no start timeout
    log = tether.home / "agent.log"
    assert _one_error_line(proc) == (
        "tether: error: the agent exited at once (exit code 1): IsADirectoryError: "
        f"[Errno 21] Is a directory: '{tether.home / 'agent.lock'}'; "
        f"fix that and run `tether agent start`, or see {log} for the rest"
    )
    assert "Traceback" in log.read_text()  # the rest is in the log

    run = tether("run", "--", "true", check=False)
    assert run.returncode == 1
    line = _one_error_line(run)
    assert line.startswith("tether: error: job #1 queued, but the agent exited at once"), line
    assert tether.json("show", "1")["status"] == "queued"

    (tether.home / "agent.lock").rmdir()  # fixed: the queued job runs
    assert tether("agent", "start").stdout.startswith("agent running")
    tether("wait", "1")
    assert tether.json("show", "1")["status"] == "succeeded"


def test_fifty_concurrent_submits_give_fifty_jobs(tether: Tether) -> None:
    procs = [tether.popen("run", "--", "true", stdout=subprocess.PIPE) for _ in range(50)]
    numbers = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(numbers) == list(range(1, 51))
    tether("wait", "--all", timeout=120)
    jobs = tether.json("ls")
    assert len(jobs) == 50 and {j["status"] for j in jobs} == {"succeeded"}
    assert len({j["uuid"] for j in jobs}) == 50


def test_parallel_limit_is_respected(tether: Tether) -> None:
    tether("agent", "start", "--parallel", "2")
    batch = tether.cwd / "batch.txt"
    batch.write_text("".join(f"sleep 0.4  # job {i}\n".replace("  # job", " #") for i in range(5)))
    batch.write_text("\n".join(["sleep 0.4"] * 5) + "\n")
    out = tether("run", "--batch", str(batch)).stdout.split()
    assert len(out) == 5
    tether("wait", "--all")
    jobs = tether.json("ls")
    spans = [(_ts(j["started"]), _ts(j["ended"])) for j in jobs]
    for probe, _ in spans:
        running = sum(1 for s, e in spans if s <= probe < e)
        assert running <= 2
    assert max(sum(1 for s, e in spans if s <= p < e) for p, _ in spans) == 2
    assert tether.json("agent", "status")["parallel"] == 2


def _ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def test_queue_is_fifo(tether: Tether) -> None:
    batch = "\n".join(f"sh -c 'echo {i} >> {tether.cwd}/order'" for i in range(6))
    tether("run", "--batch", "-", input=batch)
    tether("wait", "--all")
    assert (tether.cwd / "order").read_text().split() == [str(i) for i in range(6)]


def test_cancel_kills_the_whole_process_tree(tether: Tether) -> None:
    import psutil

    script = tether.cwd / "tree.sh"
    script.write_text(
        textwrap.dedent(
            """\
            sleep 300 &
            sh -c 'trap "" TERM; sleep 301' &
            setsid sleep 302 &
            echo started
            wait
            """
        )
    )
    tether("run", "--", "sh", str(script))
    wait_for(lambda: "started" in tether("logs").stdout, "the job to start")
    job = tether.json("show")

    def all_three() -> list[psutil.Process]:
        procs = psutil.Process(job["pid"]).children(recursive=True)
        args = {a for p in procs for a in _cmdline(p)}
        return procs if {"300", "301", "302"} <= args else []

    descendants = wait_for(all_three, "the three sleeps to start")
    assert len(descendants) >= 3
    out = tether("cancel", "--grace", "1").stdout
    assert "cancelled" in out
    psutil.wait_procs(descendants, timeout=60)  # a survivor makes this wait, then fail below
    alive = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, alive
    assert tether.json("show")["status"] == "cancelled"


def test_cancel_a_queued_job(tether: Tether) -> None:
    tether("run", "--", "sleep", "30")
    tether("run", "--name", "later", "--", "true")
    assert "cancelled" in tether("cancel", "later").stdout
    assert tether.json("show", "later")["status"] == "cancelled"
    tether("cancel", "1", "--grace", "1")


def test_rerun_makes_a_child_job(tether: Tether) -> None:
    tether("run", "-w", "--name", "hello", "--", "echo", "hi")
    tether("rerun", "-w", "hello")
    job = tether.json("show")
    assert job["number"] == 2 and job["parent"] == 1 and job["name"] == "hello"
    assert tether("logs", "2").stdout == "hi\n"


def test_clean_removes_finished_jobs_and_their_files(tether: Tether) -> None:
    tether("run", "-w", "--", "echo", "x")
    folder = Path(tether.json("show")["job_dir"])
    assert folder.is_dir()
    proc = tether("clean", check=False)
    assert proc.returncode != 0 and "--yes" in proc.stderr
    assert "nothing to clean" in tether("clean", "--status", "failed", "--yes").stdout
    assert "removed 1" in tether("clean", "--status", "succeeded", "--yes").stdout
    assert not folder.exists()
    assert tether.json("ls") == []


def test_clean_removes_the_dataset_folders_of_finished_function_jobs(tether: Tether) -> None:
    from tether import Dataset
    from tether.store.jobs import JobStore

    done = Dataset(lambda a: a * 2, name="doubled")
    done.append_runs({"a": i} for i in range(3))
    done.run()
    done.wait(1, 30)
    tether("wait", str(done.job), timeout=60)
    # a finished job whose dataset_dir points outside TETHER_HOME/datasets: never removed
    outside = tether.home.parent / "not-a-dataset"
    outside.mkdir()
    tether("run", "-w", "--", "echo", "x")
    store = JobStore(tether.home)
    try:
        store.merge_extra(2, kind="functions", dataset_dir=str(outside))
    finally:
        store.close()
    busy = Dataset(lambda s: time.sleep(s), name="busy")  # running while clean runs
    busy.append_run({"s": 60})
    busy.run()
    assert Path(done.path).is_dir() and Path(busy.path).is_dir()

    assert "removed 2 jobs" in tether("clean", "--yes").stdout

    assert not Path(done.path).exists()
    assert Path(busy.path).is_dir() and outside.is_dir()
    tether("cancel", str(busy.job))
    assert "removed 1 jobs" in tether("clean", "--yes").stdout
    assert not Path(busy.path).exists()


def test_agent_start_status_stop(tether: Tether) -> None:
    tether("agent", "start")
    status = tether.json("agent", "status")
    assert status["running"] and status["pid"] > 0 and status["uptime"] >= 0
    assert status["queued"] == 0
    assert "stopped" in tether("agent", "stop").stdout
    assert tether.json("agent", "status")["running"] is False
    # a submit brings it back
    tether("run", "-w", "--", "true")
    assert tether.json("agent", "status")["running"] is True


def test_metrics_conditions_messages_and_progress(tether: Tether) -> None:
    (tether.cwd / "m.py").write_text(
        textwrap.dedent(
            """\
            import os, sys, time, tether
            from tqdm import tqdm
            tether.add_condition("loss", lambda v: v < 0.5)
            for i in range(1000):
                tether.report(loss=1 - i / 1000, step=i)
            tether.notify("halfway")
            for i in tqdm(range(4), file=sys.stdout, mininterval=0):
                while i == 2 and not os.path.exists("go"):  # the test has seen the progress
                    time.sleep(0.05)
            """
        )
    )
    tether("run", "m.py")
    progress = wait_for(lambda: tether.json("ls")[0]["progress"], "the job's progress")
    assert 0 <= progress["percent"] <= 100
    (tether.cwd / "go").touch()
    tether("wait")
    summary = tether.json("scalars")
    assert summary["loss"]["count"] == 1000
    assert summary["loss"]["last"] == pytest.approx(0.001)
    assert summary["loss"]["max"] == 1.0
    events = tether.json("show")["events"]
    conditions = [e for e in events if e["kind"] == "condition"]
    assert len(conditions) == 1 and conditions[0]["values"]["loss"] < 0.5
    assert any(e.get("text") == "halfway" for e in events)
    assert tether.json("ls")[0]["metrics"]["loss"] == pytest.approx(0.001)
    assert "loss" in tether("scalars").stdout


def test_runtime_api_outside_tether_is_silent(tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text(
        textwrap.dedent(
            """\
            import tether
            tether.add_condition("loss", lambda v: v < 1)
            for i in range(100):
                tether.report(loss=i)
            tether.report_scalar("a", 1, "b", 2)
            tether.notify("hi")
            tether.send_status("done")
            tether.flush()
            print(tether.param("lr", 0.01))
            """
        )
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("TETHER")}
    env["TETHER_HOME"] = str(tmp_path / "never")
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "0.01\n" and proc.stderr == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.py"]


def test_show_json_is_complete(tether: Tether) -> None:
    tether("run", "-w", "--", "echo", "hi")
    job = tether.json("show", "1")
    assert job["command"] == ["echo", "hi"]
    assert Path(job["log_path"]).read_text() == "hi\n"
    assert job["output_tail"] == ["hi"] and job["env_size"] > 0
    json.dumps(job)


def test_an_all_digit_uuid_prefix_still_resolves(tether: Tether) -> None:
    from tether.store.jobs import JobStore

    tether("run", "--", "true")
    store = JobStore(tether.home)
    store.conn.execute("UPDATE jobs SET uuid = '12345678-aaaa-4aaa-8aaa-aaaaaaaaaaaa'")
    assert store.resolve("12345678").number == 1
    assert store.resolve("1").number == 1


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []
