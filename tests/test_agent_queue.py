"""The agent's questions about a long queue (issue 28): answered from indexes, so a start
costs the same with 10,000 jobs queued as with 10; and a job whose ``extra`` holds Python's
NaN (which SQLite before 3.42 cannot read as JSON) is still scheduled, gated and retried."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tether.agent import scheduling
from tether.agent.scheduling import Scheduler
from tether.jobs import state
from tether.jobs.status import FAILED, QUEUED, RUNNING
from tether.store.jobs import JobSpec, JobStore


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path)


def spec(name: str, **extra: object) -> JobSpec:
    return JobSpec(command=["true"], cwd="/", name=name, extra=dict(extra))


@pytest.mark.parametrize("query", ["_GATED", "_NEXT_PLAIN", "_SERVICES"])
def test_each_question_is_an_index_search(store: JobStore, query: str) -> None:
    sql = getattr(scheduling, query)
    plan = [tuple(row)[-1] for row in store.conn.execute(
        "EXPLAIN QUERY PLAN " + sql, {"q": QUEUED, "t": "local", "after": 0})]  # fmt: skip
    assert plan and all("SCAN" not in step for step in plan), plan
    assert any("jobs_by_gate" in step or "jobs_by_kind" in step for step in plan), plan


def test_a_start_reads_few_rows_of_a_long_queue(store: JobStore) -> None:
    store.add_many([spec(f"j{i}") for i in range(10_000)])
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    claimed = Scheduler(store).claim_next()
    store.conn.set_trace_callback(None)
    assert claimed is not None and claimed[0].number == 1
    assert len(statements) <= 12, statements
    steps = store.conn.execute("SELECT count(*) FROM jobs WHERE status = ?", (RUNNING,))
    assert steps.fetchone()[0] == 1


def test_gated_jobs_keep_their_turn_and_do_not_block_the_queue(store: JobStore) -> None:
    first = store.add(spec("first"))
    store.add(spec("waits", gate={"after": [first.number]}))
    store.add(spec("plain"))
    scheduler = Scheduler(store)
    assert [job.name for job, _ in [scheduler.claim_next()]] == ["first"]  # type: ignore[misc]
    second = scheduler.claim_next()
    assert second is not None and second[0].name == "plain"  # "waits" waits for #1
    state.finish(store, first.number, "succeeded", exit_code=0, reason=None)
    third = scheduler.claim_next()
    assert third is not None and third[0].name == "waits"


def test_nan_in_extra_is_still_gated_and_scheduled(store: JobStore) -> None:
    first = store.add(spec("first"))
    store.add(spec("nan-gated", params={"lr": math.nan}, gate={"after": [first.number]}))
    store.add(spec("nan-plain", params={"lr": math.nan}))
    scheduler = Scheduler(store)
    names = []
    while (claimed := scheduler.claim_next()) is not None:
        names.append(claimed[0].name)
    assert names == ["first", "nan-plain"]  # the gate of a NaN job is still seen


def test_a_failed_job_with_nan_metrics_is_retried(store: JobStore) -> None:
    job = store.add(spec("diverged", retry={"max": 2}))
    state.claim(store, job.number)
    state.finish(store, job.number, FAILED, exit_code=1, reason=None)
    store.merge_extra(job.number, metrics={"loss": {"last": math.nan, "min": None}})
    assert [j.number for j in store.unseen_retries([FAILED])] == [job.number]
