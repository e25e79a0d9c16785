"""Asking SSH hosts what is not one JSON answer: follow a job's output there as it comes,
list every host's jobs at once. The local records of the hosts' jobs are kept up to date;
printing is the caller's. :func:`remote_job` says where a record's job runs (None: here).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from tether.backends.ssh import RemoteJob, remote_job

__all__ = ["RemoteJob", "follow_on_host", "list_all", "remote_job"]


def follow_on_host(
    host: str, job: str | None, *, tail: int | None = None, grep: str | None = None
) -> Iterator[bytes]:
    """``logs -f --on HOST``: the output of the host's JOB (its number here or uuid; None:
    its last job) until it ends, reconnecting when the link drops: its last ``tail`` lines
    (those matching ``grep``, when given) first, then all that comes (the reader filters)."""
    from tether.api.commands import show
    from tether.backends.ssh_stream import stream
    from tether.targets.ssh import remote_jobs

    shown = show(job, on=host)
    transport = remote_jobs.transport_for(host)
    yield from stream(transport, str(shown["uuid"]), tail=tail, grep=grep)


def list_all(statuses: Sequence[str], limit: int | None) -> tuple[list[dict[str, Any]], list[str]]:
    """``ls --all``: this machine's jobs and every SSH host's (asked in parallel, each within
    its ``timeout``; the local records of their jobs updated), as ``ls --json`` rows with a
    host; and a warning for each host that did not answer."""
    import concurrent.futures as cf

    from tether.api.host_admin import ssh_host_names
    from tether.api.verbs import open_store
    from tether.backends import refresh_many
    from tether.jobs import views
    from tether.targets.ssh import all_hosts

    names = ssh_host_names()
    listings: list[all_hosts.HostListing] = []
    if names:
        with cf.ThreadPoolExecutor(max_workers=min(16, len(names))) as pool:
            listings = list(pool.map(_listing, names))
    warnings = [all_hosts.warning(listing) for listing in listings if not listing.answered]
    store = open_store()
    # no limit here: the hosts' jobs recorded here may be newer records of older jobs; the
    # merged list, oldest first, is cut
    jobs = refresh_many(store, store.jobs(statuses=list(statuses) or None))
    local = [(job, views.listing_json(job)) for job in jobs]
    rows = all_hosts.merge(local, listings, statuses=tuple(statuses), limit=limit)
    return rows, warnings


def _listing(host: str) -> Any:
    """The host's jobs (``ls`` asked over the protocol), or why it could not be asked; a host
    without tether has none (not worth a warning). Never raises."""
    from tether.api import commands
    from tether.errors import NotInstalled, TetherError
    from tether.targets.ssh.all_hosts import HostListing

    try:
        rows = commands.ls(on=host)
    except NotInstalled:
        return HostListing(host, [])
    except TetherError as exc:
        return HostListing(host, None, str(exc))
    if not isinstance(rows, list):
        return HostListing(host, None, f"{host}: its answer to ls is no list")
    return HostListing(host, [r for r in rows if isinstance(r, dict)])
