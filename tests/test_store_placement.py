"""Typed placement (issue 25, step 1): where a job runs is in columns, not in ``extra`` keys.

``tests/data/store_v2.db`` was written by the release before this schema (schema 2), through
its own functions (``tests/data/make_store_v2.py`` says how): opened with this code, it is
migrated, every row's placement is right and nothing else changed.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tether.store.jobs import JobSpec, JobStore, Placement
from tether.store.schema import SCHEMA_VERSION

FIXTURE = Path(__file__).parent / "data" / "store_v2.db"
SSH_UUID = "5d6a7b8c-0000-4000-8000-00000000aaaa"

EXPECTED = {
    1: Placement("local", "local"),  # a plain job
    2: Placement("local", "local"),  # a function dataset's worker
    3: Placement("ssh", "gpu1", SSH_UUID, 7),  # the record of a job on an SSH host
    4: Placement("slurm", "hpc", "4242"),  # Slurm over ssh
    5: Placement("slurm", "login", "77"),  # Slurm from this machine's login node
    6: Placement("slurm", "hpc"),  # sbatch failed: never had an id
    7: Placement("ssh", "gpu1"),  # a re-run of #3 that copied its uuid and never ran
}


def _rows(path: Path) -> dict[int, dict[str, object]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return {row["number"]: dict(row) for row in conn.execute("SELECT * FROM jobs")}
    finally:
        conn.close()


def test_a_store_of_the_last_release_migrates_with_every_placement_right(tmp_path: Path) -> None:
    shutil.copy(FIXTURE, tmp_path / "tether.db")
    before = _rows(tmp_path / "tether.db")
    assert len(before) == len(EXPECTED) and "backend" not in before[1]
    store = JobStore(tmp_path)
    try:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        placements = {job.number: job.placement for job in store.jobs()}
        assert placements == EXPECTED
        assert store.get(3).to_json()["remote_number"] == 7
    finally:
        store.close()
    after = _rows(tmp_path / "tether.db")
    for number, old in before.items():  # nothing lost: every old column as it was
        assert {k: after[number][k] for k in old} == old


def test_new_jobs_carry_their_placement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tether.targets.ssh.remote_jobs import record_local

    monkeypatch.setenv("TETHER_HOME", str(tmp_path))
    store = JobStore(tmp_path)
    try:
        local = store.add(JobSpec(command=["true"], cwd="/", name="t"))
        assert local.placement == Placement("local", "local")
        slurm = store.add(JobSpec(command=["x"], cwd="", name="x", target="hpc", backend="slurm"))
        assert slurm.placement == Placement("slurm", "hpc")
        with pytest.raises(ValueError, match="backend None"):
            store.add(JobSpec(command=["x"], cwd="", name="x", target="hpc"))
        there = {"number": 12, "uuid": SSH_UUID, "name": "fit.py", "status": "queued"}
        [number] = record_local("gpu1", [there])
        assert store.get(number).placement == Placement("ssh", "gpu1", SSH_UUID, 12)
    finally:
        store.close()


def test_a_rerun_of_an_ssh_record_goes_to_its_host_and_queues_nothing_here(
    tmp_path: Path,
) -> None:
    """A re-run of an SSH job's record is asked of its host (never a local record that would
    never run); with the host no longer configured it is refused, saying what to do."""
    from tether.api.jobs import rerun_job
    from tether.errors import UsageError

    shutil.copy(FIXTURE, tmp_path / "tether.db")
    store = JobStore(tmp_path)
    try:
        with pytest.raises(UsageError, match=r"job #3 runs on gpu1, .*tether hosts add gpu1"):
            rerun_job(store, "3")
        assert len(store.jobs()) == len(EXPECTED)  # nothing queued
    finally:
        store.close()
