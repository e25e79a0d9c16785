"""A robust agent and runtime (issue 32): each fault checked through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import psutil

from conftest import Tether

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
