"""Retries (``run --retry N``) and dependencies (``run --after``/``--after-any``) on this
machine, through the real CLI and agent."""

from __future__ import annotations

import json
import time
from datetime import datetime

from conftest import Tether
from tether.notifications.content import render
from tether.notifications.message import NotificationContext

# Fails on its first two runs, succeeds on the third (counts in ./count).
FLAKY = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ "$n" -ge 3 ]'


def _until(check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def _jobs(t: Tether) -> dict[int, dict]:  # type: ignore[type-arg]
    return {int(j["number"]): j for j in t.json("ls", "--all")}  # type: ignore[union-attr]


def _settled(t: Tether) -> bool:
    return all(j["status"] not in ("queued", "running") for j in _jobs(t).values())


def test_retry_2_of_fail_fail_succeed_gives_three_linked_attempts(tether: Tether) -> None:
    t = tether
    t("agent", "start")
    first = int(t("run", "--retry", "2", "--", "sh", "-c", FLAKY).stdout.strip())
    _until(lambda: len(_jobs(t)) == 3 and _settled(t))
    jobs = _jobs(t)
    chain = sorted(jobs)
    assert chain[0] == first
    assert [jobs[n]["status"] for n in chain] == ["failed", "failed", "succeeded"]
    assert [jobs[n]["parent"] for n in chain] == [None, chain[0], chain[1]]
    shown = [t.json("show", str(n))["extra"]["retry"] for n in chain]  # type: ignore[index]
    assert [r["attempt"] for r in shown] == [1, 2, 3]
    assert (t.cwd / "count").read_text().strip() == "3"


def test_retry_on_other_code_and_cancelled_jobs_are_not_retried(tether: Tether) -> None:
    t = tether
    t("agent", "start", "--parallel", "2")
    t("run", "--retry", "3", "--retry-on", "7", "--", "sh", "-c", "exit 1")
    sleeper = t("run", "--retry", "3", "--", "sleep", "60").stdout.strip()
    _until(lambda: _jobs(t)[int(sleeper)]["status"] == "running")
    t("cancel", sleeper)
    _until(lambda: _settled(t))
    for _ in range(2):  # two jobs through the agent, one after the other: turns taken after
        t("run", "-w", "--", "true")  # both ended, where a new attempt would have appeared
    assert len(_jobs(t)) == 4  # no new attempt, only the two markers


def test_retry_delay_holds_the_next_attempt(tether: Tether) -> None:
    t = tether
    t("agent", "start")
    t("run", "--retry", "1", "--retry-delay", "3s", "--", "false")
    _until(lambda: len(_jobs(t)) == 2)
    jobs = _jobs(t)
    second = max(jobs)
    assert jobs[second]["status"] == "queued"
    _until(lambda: _settled(t))
    ended = datetime.fromisoformat(t.json("show", str(min(jobs)))["ended"])  # type: ignore[index]
    started = datetime.fromisoformat(t.json("show", str(second))["started"])  # type: ignore[index]
    assert (started - ended).total_seconds() >= 2.5


def test_after_orders_jobs_with_parallel_4(tether: Tether) -> None:
    t = tether
    t("agent", "start", "--parallel", "4")
    # a ends only once `free` has run: were `free` held behind a, b, c, nothing would end
    held = "while [ ! -e free-ran ]; do sleep 0.05; done; touch a-done"
    a = t("run", "--", "sh", "-c", held).stdout.strip()
    b = t("run", "--after", a, "--", "sh", "-c", "test -e a-done && touch b-done").stdout.strip()
    c = t("run", "--after", f"{a},{b}", "--", "sh", "-c", "test -e b-done").stdout.strip()
    free = t("run", "--", "sh", "-c", "test ! -e a-done && touch free-ran").stdout.strip()
    _until(lambda: _settled(t))
    jobs = _jobs(t)
    assert [jobs[int(n)]["status"] for n in (a, b, c, free)] == ["succeeded"] * 4


def test_failed_dependency_cancels_its_dependent_and_after_any_still_runs(tether: Tether) -> None:
    t = tether
    t("agent", "start", "--parallel", "4")
    bad = t("run", "--", "sh", "-c", "sleep 0.5; exit 3").stdout.strip()
    dep = t("run", "--after", bad, "--", "touch", "never").stdout.strip()
    anyway = t("run", "--after-any", bad, "--", "true").stdout.strip()
    _until(lambda: _settled(t))
    shown = t.json("show", dep)
    assert shown["status"] == "cancelled"  # type: ignore[index]
    assert shown["reason"] == f"dependency #{bad} failed"  # type: ignore[index]
    assert not (t.cwd / "never").exists()
    assert _jobs(t)[int(anyway)]["status"] == "succeeded"


def test_unknown_dependency_and_bad_retry_values_are_refused(tether: Tether) -> None:
    for args, words in (
        (["--after", "99"], "--after 99"),
        (["--after-any", "nosuchjob"], "--after-any nosuchjob"),
        (["--retry-delay", "5s"], "need --retry"),
        (["--retry", "2", "--retry-on", "x"], "--retry-on"),
    ):
        proc = tether("run", *args, "--", "true", check=False)
        assert proc.returncode != 0 and words in proc.stderr, proc.stderr
        assert proc.stderr.strip().count("\n") == 0
    assert tether.json("ls", "--all") == []


def test_notifications_say_which_attempt() -> None:
    ctx = NotificationContext(
        event="failed", job_number=4, program="train.py", exit_code=1, attempt="attempt 2 of 3"
    )
    note = render(ctx, for_email=False)
    assert "attempt 2 of 3" in note.subject
    assert "attempt 2 of 3" in note.title
    assert "Attempt" in note.text


def test_sweep_and_batch_accept_after(tether: Tether) -> None:
    t = tether
    t("agent", "start", "--parallel", "4")
    a = t("run", "--", "sh", "-c", "sleep 1.5; touch a-done").stdout.strip()
    out = t("sweep", "--json", "-p", "x=1,2", "--after", a, "--", "sh", "-c", "test -e a-done")
    swept = json.loads(out.stdout)
    (t.cwd / "batch.txt").write_text("sh -c 'test -e a-done'\nsh -c 'test -e a-done'\n")
    batch = t("run", "--batch", "batch.txt", "--after", a).stdout.split()
    assert len(batch) == 2
    _until(lambda: _settled(t))
    jobs = _jobs(t)
    numbers = [*swept["jobs"], *map(int, batch)]  # type: ignore[index]
    assert [jobs[n]["status"] for n in numbers] == ["succeeded"] * 4


def test_failed_dependency_cancels_its_dependent_while_every_slot_is_taken(tether: Tether) -> None:
    t = tether
    t("agent", "start")  # one slot
    bad = t("run", "--", "false").stdout.strip()
    blocker = t("run", "--", "sleep", "60").stdout.strip()
    dep = t("run", "--after", bad, "--", "true").stdout.strip()
    _until(lambda: _jobs(t)[int(dep)]["status"] == "cancelled", timeout=20)
    assert _jobs(t)[int(blocker)]["status"] == "running"
    t("cancel", blocker)


def test_wait_all_waits_for_a_retry_the_agent_has_not_queued_yet(tether: Tether) -> None:
    """A failed attempt whose next attempt is due (the agent has not looked yet) is not done:
    ``wait --all`` waits for the attempts after it."""
    from tether.jobs import state
    from tether.jobs.status import FAILED
    from tether.store.jobs import JobSpec, JobStore

    t = tether
    held = f"while [ ! -e go ]; do sleep 0.05; done; {FLAKY}"  # attempts wait for ./go
    (t.cwd / "count").write_text("1\n")  # attempt 1 ran and failed
    store = JobStore(t.home)
    try:  # ... a moment ago: no agent has seen it yet (none runs)
        spec = JobSpec(["sh", "-c", held], str(t.cwd), "flaky", env=dict(t.env),
                       extra={"retry": {"max": 2, "attempt": 1}})  # fmt: skip
        first = store.add(spec).number
        state.claim(store, first)
        state.finish(store, first, FAILED, exit_code=1, reason="exit code 1", expected="running")
    finally:
        store.close()
    early = t("wait", "--all", "--timeout", "1", check=False)
    assert early.returncode == 124, early  # not done: its next attempt is coming
    t("agent", "start")
    waiting = t.popen("wait", "--all", "--timeout", "120")
    (t.cwd / "go").touch()
    assert waiting.wait(timeout=150) == 0  # followed to attempt 3, which succeeded
    assert [j["status"] for _, j in sorted(_jobs(t).items())] == ["failed", "failed", "succeeded"]


def test_run_wait_batch_says_as_each_job_ends_and_each_retry_starts(tether: Tether) -> None:
    t = tether
    t("agent", "start")
    (t.cwd / "batch.txt").write_text(f"true\nsh -c '{FLAKY}'\n")
    proc = t("run", "--wait", "--retry", "2", "--batch", "batch.txt")
    lines = proc.stderr.splitlines()
    assert "tether: job #1 succeeded" in lines
    assert "tether: job #2 failed (exit code 1); attempt 2 of 3 started as job #3" in lines
    assert "tether: job #3 failed (exit code 1); attempt 3 of 3 started as job #4" in lines
    assert "tether: job #4 succeeded" in lines
