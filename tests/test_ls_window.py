"""``tether ls`` at 10,000 jobs: a window (every queued and running job, the latest finished
ones, a line counting the rest), paged in SQL, without opening any job's file (issue 28).
These tests check the shape of the work (files opened, queries issued), not its time."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tether.cli import jobs_cmd
from tether.store.jobs import JobSpec, JobStore

COUNT = 10_000
QUEUED = 3
RUNNING = 2

_watched: list[tuple[str, list[str]]] = []  # (folder, paths opened under it) while watched


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _watched or isinstance(args[0], int):
        return
    path = os.fsdecode(args[0])
    for folder, opened in _watched:
        if path.startswith(folder):
            opened.append(path)


sys.addaudithook(_audit)  # cannot be removed: it does nothing outside ``opens_under``


@contextmanager
def opens_under(folder: Path) -> Iterator[list[str]]:
    """The paths opened under ``folder`` (by this process) inside the block."""
    opened: list[str] = []
    _watched.append((str(folder), opened))
    try:
        yield opened
    finally:
        _watched.pop()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JobStore]:
    """A home with COUNT records written in two statements: the last QUEUED queued, the
    RUNNING before them running (no folder: they have not started), the others finished."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("TETHER_HOME", str(home))
    monkeypatch.setenv("TETHER_CONFIG_DIR", str(tmp_path / "config"))
    opened = JobStore(home)
    specs = [JobSpec(command=["python", "t.py"], cwd=str(home), name=f"t{i}") for i in range(COUNT)]
    opened.add_many(specs)
    summary = json.dumps({"metrics": {"loss": {"last": 0.5, "min": 0.5, "max": 0.5}}})
    with opened.conn:
        opened.conn.execute(
            "UPDATE jobs SET status = CASE WHEN number % 3 = 0 THEN 'failed' ELSE 'succeeded'"
            " END, started = created, ended = created + 1 WHERE number <= ?",
            (COUNT - QUEUED - RUNNING,),
        )  # half of them reported metrics (a summary in the record), half none
        opened.conn.execute("UPDATE jobs SET extra = ? WHERE number % 2 = 0", (summary,))
        opened.conn.execute(
            "UPDATE jobs SET status = 'running', started = created"
            " WHERE number > ? AND number <= ?",
            (COUNT - QUEUED - RUNNING, COUNT - QUEUED),
        )
    monkeypatch.setattr(jobs_cmd, "open_store", lambda: opened)
    yield opened
    opened.close()


def ls(*args: str) -> str:
    result = CliRunner().invoke(jobs_cmd.ls, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def numbers(output: str) -> list[int]:
    return [int(m) for m in re.findall(r"^\s*(\d+)\s+t\d+", output, flags=re.MULTILINE)]


def test_default_window_shape(store: JobStore) -> None:
    out = ls()
    shown = numbers(out)
    unfinished = list(range(COUNT - QUEUED - RUNNING + 1, COUNT + 1))
    latest = list(range(COUNT - QUEUED - RUNNING - 19, COUNT - QUEUED - RUNNING + 1))
    assert shown == latest + unfinished
    hidden = COUNT - len(shown)
    assert f"… {hidden:,} older jobs not shown" in out
    assert "-n 0" in out


def test_limit_and_status_filters(store: JobStore) -> None:
    assert numbers(ls("-n", "5")) == list(range(COUNT - 4, COUNT + 1))
    assert f"{COUNT - 5:,} older jobs" in ls("-n", "5")
    failed = numbers(ls("-s", "failed"))
    assert len(failed) == 20 and all(n % 3 == 0 for n in failed)
    assert numbers(ls("-s", "queued")) == list(range(COUNT - QUEUED + 1, COUNT + 1))
    assert len(numbers(ls("-n", "0"))) == COUNT


def test_listing_opens_no_job_file(store: JobStore) -> None:
    """Finished and queued jobs are listed from their records alone; only a running job's
    own folder may be read (its result, progress and latest metrics)."""
    running = [str(store.get(n).job_dir) for n in range(COUNT - QUEUED - RUNNING + 1, COUNT - 2)]
    for args in ((), ("--json",), ("-n", "0")):
        with opens_under(store.home / "jobs") as opened:
            ls(*args)
        others = [p for p in opened if not any(p.startswith(r) for r in running)]
        assert others == [], args


def test_queries_do_not_grow_with_jobs(store: JobStore) -> None:
    """The default listing issues a bounded number of SQL statements (a few for the window
    and a few per running job), not one per job."""
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        ls()
        ls("-n", "5")
    finally:
        store.conn.set_trace_callback(None)
    assert len(statements) <= 10 + 5 * RUNNING, statements
