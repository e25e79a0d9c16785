"""Asking a host: run ``tether ARGS`` on an SSH host, hand it a job tracked here, follow its
output, list every host's jobs. Each verb keeps the local records of the host's jobs up to date
and returns plain data; printing is the caller's.

The local record of a job that runs on a host (its backend is ``ssh``; see
:func:`tether.backends.ssh.remote_job`) is handed to the host with :func:`run_on_host`, which
writes the host's numbers for the job as the local ones in its answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tether.backends.ssh import RemoteJob

_HOST_LINE = re.compile(r"^(  host\s+)local$", re.MULTILINE)


@dataclass
class HostAnswer:
    """What ``tether ARGS`` on a host printed and its exit code."""

    stdout: str
    stderr: str
    returncode: int


def call_on_host(host: str, args: list[str], *, timeout: float | None = 120.0) -> HostAnswer:
    """Run ``tether ARGS`` on HOST; a ``--json`` answer also updates the local records."""
    import json

    from tether.targets.ssh import remote_jobs

    transport = remote_jobs.transport_for(host)
    result = remote_jobs.call(transport, args, timeout=timeout)
    if "--json" in args and result.returncode == 0:
        try:
            data = json.loads(result.stdout)
        except ValueError:
            data = None
        rows = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        remote_jobs.update_local(transport.spec.name, rows)
    return HostAnswer(result.stdout, result.stderr, result.returncode)


def _local_numbers(job: RemoteJob, text: str) -> str:
    """The host's answer with its number for the job (``#25``) written as the local one."""
    if job.host_number is None or job.host_number == job.local_number:
        return text
    return re.sub(rf"#{job.host_number}\b", f"#{job.local_number}", text)


def run_on_host(job: RemoteJob, args: list[str], *, timeout: float | None = 120.0) -> HostAnswer:
    """Run ``tether ARGS`` on the job's host with its numbers written as the local ones, and
    bring the local record up to date (one more call, ``show --json``, unless ARGS was it)."""
    import json

    from tether.errors import TetherError
    from tether.targets.ssh import remote_jobs

    transport = remote_jobs.transport_for(job.host)
    result = remote_jobs.call(transport, args, timeout=timeout)
    shown = args[0] == "show" and result.returncode == 0
    data: object = None
    if shown and "--json" in args:
        try:
            data = json.loads(result.stdout)  # the fresh state already: no second call
        except ValueError:
            data = None
    if isinstance(data, dict):
        # One identity: "number" is the local one (what local verbs take), as for local jobs.
        data.update(host=job.host, local_number=job.local_number)
        data.update(remote_number=data.get("number"), number=job.local_number)
        stdout = json.dumps(data, indent=2, default=str) + "\n"
    elif shown:  # the host calls itself "local"
        stdout = _local_numbers(job, _HOST_LINE.sub(rf"\g<1>{job.host}", result.stdout, count=1))
    else:
        stdout = _local_numbers(job, result.stdout)
    answer = HostAnswer(stdout, _local_numbers(job, result.stderr), result.returncode)
    if data is None:
        try:
            data = remote_jobs.call_json(transport, ["show", job.uuid], timeout=30)
        except TetherError:
            return answer  # the answer stands; the record is refreshed next time
    if isinstance(data, dict):
        remote_jobs.update_local(job.host, [data])
    return answer


def follow_on_host(
    host: str, job: str | None, *, tail: int | None = None, grep: str | None = None
) -> Iterator[bytes]:
    """``logs -f --on HOST``: the output of the host's JOB (its number or uuid there; None:
    its last job) until it ends, reconnecting when the link drops: its last ``tail`` lines
    (those matching ``grep``, when given) first, then all that comes (the reader filters)."""
    from tether.backends.ssh import ask_host
    from tether.targets.ssh import remote_jobs

    shown = ask_host(host, "show", {"job": job})
    transport = remote_jobs.transport_for(host)
    yield from remote_jobs.stream(transport, str(shown["uuid"]), tail=tail, grep=grep)


def list_all(statuses: Sequence[str], limit: int | None) -> tuple[list[dict[str, Any]], list[str]]:
    """``ls --all``: this machine's jobs and every SSH host's (asked in parallel, each within
    its ``timeout``; the local records of their jobs updated), as ``ls --json`` rows with a
    host; and a warning for each host that did not answer."""
    import concurrent.futures as cf

    from tether.api.verbs import open_store
    from tether.backends import refresh_many
    from tether.jobs import views
    from tether.targets.ssh import all_hosts
    from tether.targets.ssh.hosts_config import load_hosts

    names = [spec.name for spec in all_hosts.ssh_hosts(load_hosts())]
    listings: list[all_hosts.HostListing] = []
    if names:
        with cf.ThreadPoolExecutor(max_workers=min(16, len(names))) as pool:
            listings = list(pool.map(_listing, names))
    warnings = [all_hosts.warning(listing) for listing in listings if not listing.answered]
    store = open_store()
    jobs = refresh_many(store, store.jobs(statuses=list(statuses) or None, limit=limit))
    local = [(job, views.listing_json(job)) for job in jobs]
    rows = all_hosts.merge(local, listings, statuses=tuple(statuses), limit=limit)
    return rows, warnings


def _listing(host: str) -> Any:
    """The host's jobs (``ls`` asked over the protocol), or why it could not be asked; a host
    without tether has none (not worth a warning). Never raises."""
    from tether.backends.ssh import ask_host
    from tether.errors import NotInstalled, TetherError
    from tether.targets.ssh.all_hosts import HostListing

    try:
        rows = ask_host(host, "ls", {})
    except NotInstalled:
        return HostListing(host, [])
    except TetherError as exc:
        return HostListing(host, None, str(exc))
    if not isinstance(rows, list):
        return HostListing(host, None, f"{host}: its answer to ls is no list")
    return HostListing(host, [r for r in rows if isinstance(r, dict)])
