"""``tether ls --all``: the jobs of this machine and of every configured SSH host, in one list.

Every SSH host (``scheduler = "none"``) is asked for its jobs in parallel, each call with its
own time limit (:func:`tether.api.remote.list_all`). A job started with ``run --on HOST`` has
a local record (``target`` = HOST, ``Job.remote_uuid``) mirroring the job there: when HOST
answers, its live row is shown instead (with ``local_number``) and the record is brought up
to date; when HOST cannot be reached, the record is shown as last seen and one warning says
so. Slurm jobs are tracked locally already, so Slurm hosts are not asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tether.store.jobs import Job
from tether.targets.ssh.hostspec import HostSpec


@dataclass(frozen=True)
class HostListing:
    """One host's jobs (its ``ls --json`` rows), or why it could not be asked."""

    host: str
    rows: list[dict[str, Any]] | None
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.rows is not None


def ssh_hosts(hosts: Mapping[str, HostSpec]) -> list[HostSpec]:
    """The hosts whose jobs run under their own tether agent (not Slurm clusters)."""
    return [spec for spec in hosts.values() if spec.scheduler == "none"]


def _created(row: Mapping[str, Any]) -> float:
    text = row.get("created")
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return 0.0


def merge(
    local: Iterable[tuple[Job, dict[str, Any]]],
    listings: Iterable[HostListing],
    *,
    statuses: Iterable[str] = (),
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """One list, oldest first: local rows (``local`` pairs of job and its JSON row) and each
    answering host's rows (``host`` = its name, ``local_number`` = the mirror's number).

    A local mirror of a job the host listed is left out (the host's row stands for it).
    ``statuses`` and ``limit`` apply to the merged list."""
    local = list(local)
    answered = {listing.host: listing.rows or [] for listing in listings if listing.answered}
    mirrors: dict[tuple[str, str], int] = {}
    for job, _row in local:
        uuid = job.remote_uuid
        if job.target in answered and isinstance(uuid, str):
            mirrors[(job.target, uuid)] = job.number
    rows: list[dict[str, Any]] = []
    listed = set()
    for host, host_rows in answered.items():
        for row in host_rows:
            key = (host, str(row.get("uuid")))
            listed.add(key)
            rows.append({**row, "host": host, "local_number": mirrors.get(key)})
    for job, row in local:
        if (job.target, str(job.remote_uuid)) not in listed:
            rows.append(row)
    wanted = set(statuses)
    if wanted:
        rows = [r for r in rows if r.get("status") in wanted]
    rows.sort(key=_created)
    return rows[-limit:] if limit is not None and limit > 0 else rows if limit is None else []


def warning(listing: HostListing) -> str:
    """The one line printed for a host that did not answer."""
    reason = (listing.error or "no answer").removeprefix(f"on {listing.host}: ")
    return f"tether: {listing.host} not reached ({reason}); its jobs are shown as last seen here"
