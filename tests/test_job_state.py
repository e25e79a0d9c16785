"""The job state model (tether.jobs.state): allowed moves, refused moves, compare-and-set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.errors import InvalidTransition
from tether.jobs import state
from tether.jobs import status as status_model
from tether.jobs.status import Status
from tether.store.jobs import JobSpec, JobStore


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path)


def _add(store: JobStore, tmp_path: Path) -> int:
    return store.add(JobSpec(["true"], str(tmp_path), "j")).number


def test_status_is_an_enum_equal_to_its_text(store: JobStore, tmp_path: Path) -> None:
    number = _add(store, tmp_path)
    job = store.get(number)
    assert job.status == Status.QUEUED
    assert job.status == "queued" and f"{job.status}" == "queued" and str(job.status) == "queued"
    assert f"{Status.FAILED}" == "failed" and Status.LOST in {"lost"}


def test_the_store_acts_on_the_models_values() -> None:
    """The store knows only the status values it acts on; they are the model's."""
    from tether.store import records

    assert records.QUEUED_VALUE == Status.QUEUED and records.RUNNING_VALUE == Status.RUNNING
    assert records.FINISHED_VALUES == status_model.FINISHED


def test_the_state_model_does_no_io() -> None:
    """tether.jobs.status imports nothing but the enum and the error it raises."""
    import ast

    tree = ast.parse(Path(status_model.__file__).read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert imported == {"__future__", "enum", "tether.errors"}, imported


def test_claim_then_finish(store: JobStore, tmp_path: Path) -> None:
    number = _add(store, tmp_path)
    job = state.claim_next(store)
    assert job is not None and job.number == number and job.status == Status.RUNNING
    assert state.finish(store, number, Status.SUCCEEDED, exit_code=0)
    done = store.get(number)
    assert done.status == Status.SUCCEEDED and done.exit_code == 0 and done.ended is not None
    # a second writer racing with the first records nothing
    assert not state.finish(store, number, Status.FAILED, exit_code=3)
    assert store.get(number).status == Status.SUCCEEDED


def test_requeue_after_a_claim_that_never_started(store: JobStore, tmp_path: Path) -> None:
    number = _add(store, tmp_path)
    job = state.claim_next(store)
    assert job is not None
    assert state.requeue(store, job)
    again = store.get(number)
    assert again.status == Status.QUEUED and again.started is None


@pytest.mark.parametrize("final", ["succeeded", "failed", "cancelled", "lost"])
def test_finished_is_final(store: JobStore, tmp_path: Path, final: str) -> None:
    number = _add(store, tmp_path)
    state.finish(store, number, final, exit_code=None, expected=Status.QUEUED)
    job = store.get(number)
    for new in Status:
        assert not status_model.allowed(final, new)
    with pytest.raises(InvalidTransition):
        state.requeue(store, job)
    with pytest.raises(InvalidTransition):
        state.start(store, job)
    with pytest.raises(InvalidTransition):
        state.finish(store, number, Status.FAILED, exit_code=1, expected=final)
    assert not state.mirror(store, job, "running", exit_code=None, reason=None)
    assert store.get(number).status == final


def test_queued_cannot_requeue_and_finish_needs_a_final_status(
    store: JobStore, tmp_path: Path
) -> None:
    number = _add(store, tmp_path)
    with pytest.raises(InvalidTransition):
        state.requeue(store, store.get(number))
    with pytest.raises(InvalidTransition):
        state.finish(store, number, Status.RUNNING, exit_code=None)
    assert state.cancel_queued(store, number)
    assert store.get(number).status == Status.CANCELLED


def test_only_the_model_writes_status(store: JobStore, tmp_path: Path) -> None:
    number = _add(store, tmp_path)
    with pytest.raises(ValueError):
        store.update(number, status="running")
    assert store.get(number).status == Status.QUEUED


def test_mirror_copies_allowed_moves_only(store: JobStore, tmp_path: Path) -> None:
    number = _add(store, tmp_path)
    job = store.get(number)
    assert not state.mirror(store, job, "bogus", exit_code=None, reason=None)
    assert state.mirror(store, job, "running", exit_code=None, reason="on host")
    job = store.get(number)
    assert job.status == Status.RUNNING
    assert state.mirror(store, job, "failed", exit_code=2, reason="exit code 2")
    assert store.get(number).exit_code == 2


@pytest.mark.parametrize(
    ("status", "code", "want"),
    [
        ("succeeded", 0, 0),
        ("failed", 3, 3),
        ("failed", None, 1),
        ("failed", -9, 1),
        ("cancelled", None, 1),
        ("lost", None, 1),
    ],
)
def test_one_exit_code_rule(status: str, code: int | None, want: int) -> None:
    assert status_model.exit_code_of(status, code) == want


def test_no_module_but_the_store_primitives_writes_a_jobs_status() -> None:
    """Every status move goes through tether.jobs.state, whose only writes are the two
    compare-and-set primitives of JobStore (the agent's claim included)."""
    import re

    import tether

    root = Path(tether.__file__).parent
    writes = re.compile(r"UPDATE\s+jobs\s+SET\s+[^;]*\bstatus\s*=", re.I | re.S)
    found = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if writes.search(path.read_text())
    )
    assert found == ["store/jobs.py"], found
    callers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if re.search(r"store\.(set_status|claim_next)\(", path.read_text())
    )
    assert callers == ["jobs/state.py"], callers
