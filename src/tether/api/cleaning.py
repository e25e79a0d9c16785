"""``tether clean`` through the API: remove finished jobs, their folders and the datasets only
they used."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from tether.backends import refresh_many
from tether.jobs.status import FINISHED
from tether.store.jobs import Job, JobStore


def clean_jobs(
    store: JobStore,
    statuses: Sequence[str] = (),
    *,
    confirm: Callable[[int], None] | None = None,
    keep_targets: Sequence[str] = (),
) -> list[Job]:
    """Remove the finished jobs with these statuses (default: every finished one), their
    folders and the datasets only they used; their records as they were. The records of jobs
    on the hosts ``keep_targets`` stay. ``confirm(count)`` is called first when there are
    any, and may raise to remove nothing."""
    wanted = statuses or tuple(FINISHED)
    jobs = [
        j
        for j in refresh_many(store, store.jobs(statuses=wanted))
        if j.finished and j.target not in keep_targets
    ]
    if not jobs:
        return []
    if confirm is not None:
        confirm(len(jobs))
    home = store.home.resolve()
    datasets = _dataset_folders(store, jobs, home)
    for job in jobs:
        folder = Path(job.job_dir).resolve()
        if folder.is_relative_to(home / "jobs"):
            shutil.rmtree(folder, ignore_errors=True)
    for folder in datasets:
        shutil.rmtree(folder, ignore_errors=True)
    for folder in _checkouts(store, jobs, home):
        shutil.rmtree(folder, ignore_errors=True)
    store.delete(j.number for j in jobs)
    return jobs


def _checkouts(store: JobStore, removed: list[Job], home: Path) -> list[Path]:
    """The TETHER_HOME/checkouts/COMMIT folders (``run --git``) of the removed jobs that no
    job left in the store still runs from."""
    root = home / "checkouts"

    def folder_of(job: Job) -> Path | None:
        git = job.extra.get("git")
        commit = git.get("commit") if isinstance(git, dict) and git.get("ref") else None
        if not isinstance(commit, str) or not commit.isalnum():
            return None
        return root / commit

    gone = {j.number for j in removed}
    found = {folder_of(j) for j in removed}
    for job in store.iter_where("extra LIKE ?", ('%"ref"%',)):
        if job.number not in gone:
            found.discard(folder_of(job))
    return sorted(f for f in found if f is not None and f.is_dir())


def _dataset_folders(store: JobStore, removed: list[Job], home: Path) -> list[Path]:
    """The local TETHER_HOME/datasets/NAME folders of the removed function jobs that no job
    left in the store still uses (never anything outside TETHER_HOME/datasets)."""
    root = home / "datasets"

    def folder_of(job: Job) -> Path | None:
        path = job.extra.get("dataset_dir") if job.extra.get("kind") == "functions" else None
        if not isinstance(path, str) or not path:
            return None
        folder = Path(path).resolve()
        return folder if folder.parent == root else None

    gone = {j.number for j in removed}
    found = {folder_of(j) for j in removed}
    for job in store.iter_where("extra LIKE ?", ('%"dataset_dir"%',)):
        if job.number not in gone:
            found.discard(folder_of(job))  # still used by a job that stays
    return sorted(f for f in found if f is not None and f.is_dir())
