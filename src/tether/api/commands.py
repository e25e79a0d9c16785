"""Every verb of the CLI as one function, each taking ``on=HOST``: what scripts and notebooks
call. Each returns what ``tether VERB --json`` prints.

``on`` names where the jobs are: None (or ``"local"``) for the records here; a cluster's
name for its jobs, which are recorded here too; an SSH host's name for the jobs its own tether
keeps, in which case the same verb is asked of the host (its tether answers one JSON request
over SSH, :mod:`tether.backends.wire`, within a timeout). Job numbers are this machine's
everywhere: a host's job has a record here, and the host's number for it is the
``remote_number`` field.
Which of these applies is decided once, by :func:`tether.backends.kept_by_host`.

    from tether import api
    [job] = api.run(["train.py", "--epochs", "3"], params={"lr": 0.1}, on="gpu1")
    print(api.wait(job["number"])[0]["status"], api.scalars(job["number"]))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from tether.backends import kept_by_host
from tether.errors import UsageError
from tether.store.jobs import JobStore

Ref = str | int | None
"""A job: its number here (a host's job too), uuid or uuid prefix; None is the last job."""


@contextmanager
def _opened(store: JobStore | None) -> Iterator[JobStore]:
    """``store``, or the store of ``$TETHER_HOME`` for the length of one call."""
    if store is not None:
        yield store
        return
    from tether.api.verbs import open_store

    opened = open_store()
    try:
        yield opened
    finally:
        opened.close()


def _ask(
    on: str | None,
    verb: str,
    args: dict[str, Any],
    *,
    longer: float | None = 0.0,
    in_project: bool = False,
    store: JobStore | None = None,
) -> Any:
    """The answer of the SSH host ``on`` to ``verb`` with ``args`` (this module's keyword
    arguments; those that are None are left to the host's defaults), within the host's
    ``timeout`` plus ``longer`` seconds (None: a wait, no bound but the connection's);
    ``in_project``: run where the current folder is in the project's copy there. Jobs are
    named by their numbers here both ways (:mod:`tether.backends.host_numbers`)."""
    from tether.backends.host_numbers import HostNumbers, localize, to_host
    from tether.backends.ssh import ask_host

    assert on is not None
    wanted = {k: v for k, v in args.items() if v is not None}
    with _opened(store) as opened:
        numbers = HostNumbers(opened, on)
        sent = to_host(numbers, wanted)
        answer = ask_host(on, verb, sent, longer=longer, in_project=in_project)
        return localize(numbers, verb, answer)


def run(
    command: str | Sequence[str],
    *,
    params: Mapping[str, object] | None = None,
    name: str | None = None,
    on: str | None = None,
) -> list[dict[str, Any]]:
    """Queue ``command`` (``"train.py ARGS"`` or an argv list; ``-m MODULE`` works) on ``on``
    (default: where ``tether run`` would: the host ``tether.toml`` pins, else here), with its
    tunables overridden by ``params``. Refused, with nothing queued, when the program is
    missing or does not compile. Returns the new jobs (``tether run --json``)."""
    import shlex

    from tether.api.running import run as run_request
    from tether.backends import RunRequest
    from tether.tuning.values import to_source

    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if not argv:
        raise UsageError("give a program to run")
    texts = tuple(f"{k}={to_source(v)}" for k, v in (params or {}).items())
    request = RunRequest(command=tuple(argv), name=name, params=texts)
    return [s.shown for s in run_request(request, on=on)]


def sweep(
    command: str | Sequence[str],
    params: Sequence[str],
    *,
    random_n: int | None = None,
    seed: str | None = None,
    name: str | None = None,
    on: str | None = None,
) -> dict[str, Any]:
    """One job of ``command`` per point of the grid of ``params`` (``"lr=0.1,0.01"``), or
    ``random_n`` random points; on this machine or a cluster (``on``). ``tether sweep --json``:
    the sweep's id, its jobs and their points."""
    import shlex

    from tether.api.tuning import sweep as queue_sweep

    argv = shlex.split(command) if isinstance(command, str) else list(command)
    made = queue_sweep(argv, params, random_n=random_n, seed=seed, name=name, on=on)
    return made.to_json()


def ls(
    *,
    status: Sequence[str] = (),
    limit: int | None = None,
    on: str | None = None,
    store: JobStore | None = None,
) -> list[dict[str, Any]]:
    """The jobs, oldest first (``tether ls --json``): every record here, or those of ``on``."""
    from tether.api.jobs import ls as list_rows

    with _opened(store) as opened:
        return list_rows(opened, on=on, statuses=status, limit=limit)


def show(job: Ref = None, *, on: str | None = None, store: JobStore | None = None) -> Any:
    """Everything about one job (``tether show --json``), asked of wherever it runs."""
    from tether.api.jobs import show as show_job

    if kept_by_host(on):
        return _ask(on, "show", {"job": job}, store=store)
    with _opened(store) as opened:
        return show_job(opened, None if job is None else str(job))


def logs(
    job: Ref = None,
    *,
    tail: int | None = None,
    grep: str | None = None,
    on: str | None = None,
    store: JobStore | None = None,
) -> list[str]:
    """A job's output as lines (the last ``tail``; only those matching the regular
    expression ``grep``), from wherever it runs."""
    from tether.api.verbs import grep_log, read_log, tail_log

    if kept_by_host(on):
        return list(_ask(on, "logs", {"job": job, "tail": tail, "grep": grep}, store=store))
    with _opened(store) as opened:
        ref = opened.resolve(None if job is None else str(job)).number
        if grep is not None:
            return grep_log(opened, ref, grep, tail=tail)
        if tail is not None:
            return tail_log(opened, ref, tail)
        return read_log(opened, ref)


def wait(
    *jobs: str | int,
    all_jobs: bool = False,
    timeout: float | None = None,
    on: str | None = None,
    store: JobStore | None = None,
) -> list[dict[str, Any]]:
    """Block until each of ``jobs`` (default: the last; ``all_jobs``: every queued, running or
    retrying one) has finished, wherever it runs; their records (a job retried: its last
    attempt). :class:`tether.errors.WaitTimeout` names the ones still running after
    ``timeout`` seconds."""
    from tether.api.verbs import wait_jobs

    if all_jobs and jobs:
        raise UsageError("give jobs or all_jobs, not both")
    if kept_by_host(on):
        args = {"jobs": [str(j) for j in jobs], "all_jobs": all_jobs, "timeout": timeout}
        return list(_ask(on, "wait", args, longer=timeout, store=store))
    with _opened(store) as opened:
        if all_jobs:
            from tether.api.watch import unfinished_here

            return wait_jobs(opened, unfinished_here(opened), timeout=timeout)
        refs: list[str | None] = [str(j) for j in jobs] or [None]
        return wait_jobs(opened, [opened.resolve(ref).number for ref in refs], timeout=timeout)


def cancel(
    *jobs: str | int,
    grace: float = 10.0,
    on: str | None = None,
    store: JobStore | None = None,
) -> list[dict[str, Any]]:
    """Cancel each of ``jobs`` (default: the last) where it runs; each one's record after,
    with ``already`` true for a job that had ended before (``tether cancel --json``)."""
    from tether.api.jobs import cancel_jobs

    if kept_by_host(on):
        args = {"jobs": [str(j) for j in jobs], "grace": grace}
        return list(_ask(on, "cancel", args, longer=grace, store=store))
    with _opened(store) as opened:
        return cancel_jobs(opened, [str(j) for j in jobs] or [None], grace=grace)


def rerun(
    job: Ref = None,
    *,
    params: Mapping[str, object] | None = None,
    program: str | None = None,
    name: str | None = None,
    on: str | None = None,
    store: JobStore | None = None,
) -> list[dict[str, Any]]:
    """Queue ``job`` again where it ran, from its version of the program (or ``program``, its
    new text: refused, nothing queued, when it does not compile), with more ``params``
    overrides on top; the new jobs (``tether rerun --json``). With ``on`` an SSH host, the
    host re-runs it and each new job also gets a record here."""
    from tether.api.jobs import find_job, rerun_job

    if kept_by_host(on):
        args = {"job": job, "params": params, "program": program, "name": name}
        return list(_ask(on, "rerun", args, store=store))
    with _opened(store) as opened:
        old = find_job(opened, None if job is None else str(job))
        new = rerun_job(opened, old, overrides=dict(params or {}), edited_source=program, name=name)
        return [j.to_json() for j in new]


def save(
    job: Ref = None,
    *,
    to: str | None = None,
    force: bool = False,
    on: str | None = None,
    store: JobStore | None = None,
) -> dict[str, Any]:
    """Write ``job``'s program back over the file it came from (on ``on``: that host's
    file), keeping a ``.bak``; where it went (``tether save --json``)."""
    from tether.api.tuning import save as save_program

    if kept_by_host(on):
        return dict(
            _ask(on, "save", {"job": job, "to": to, "force": force}, in_project=True, store=store)
        )
    with _opened(store) as opened:
        return save_program(opened, job, to=to, force=force).to_json()


def history(
    script: str | None = None,
    *,
    sweep: str | None = None,
    sort_by: str | None = None,
    best_of: str | None = None,
    minimize: bool = False,
    on: str | None = None,
    store: JobStore | None = None,
) -> list[dict[str, Any]]:
    """Every attempt of ``script`` (default: the last job's program) or of a sweep, with
    what changed and the final metrics (``tether history --json``)."""
    from tether.api.tuning import history as attempts

    if kept_by_host(on):
        args: dict[str, Any] = {"script": script, "sweep": sweep, "sort_by": sort_by}
        args.update(best_of=best_of, minimize=minimize)
        return list(_ask(on, "history", args, in_project=script is not None, store=store))
    with _opened(store) as opened:
        rows = attempts(
            opened, script, sweep=sweep, sort_by=sort_by, best_of=best_of, minimize=minimize
        )
        return [r.to_json() for r in rows]


def diff(
    job: Ref = None, other: Ref = None, *, on: str | None = None, store: JobStore | None = None
) -> dict[str, Any]:
    """What changed between ``job`` and ``other`` (default: its parent, or the file it came
    from): parameters and the program's diff (``tether diff --json``)."""
    from tether.api.tuning import diff as diff_jobs

    if other is not None and job is None:
        raise UsageError("give job= with other=")
    if kept_by_host(on):
        return dict(_ask(on, "diff", {"job": job, "other": other}, store=store))
    with _opened(store) as opened:
        return diff_jobs(opened, job, other).to_json()


def scalars(job: Ref = None, *, on: str | None = None, store: JobStore | None = None) -> Any:
    """A job's metrics: for each, its last value, min, max and count (``tether scalars
    --json``)."""
    from tether.api.jobs import find_job
    from tether.api.metrics import job_scalars

    if kept_by_host(on):
        return _ask(on, "scalars", {"job": job}, store=store)
    with _opened(store) as opened:
        record = find_job(opened, None if job is None else str(job))
        return {name: s.to_json() for name, s in job_scalars(opened, record).summary().items()}


def top(job: Ref = None, *, on: str | None = None, store: JobStore | None = None) -> Any:
    """CPU, memory, processes and GPU use (now, mean, peak) of each running job, or of
    ``job`` (finished too), wherever it runs (``tether top --json``)."""
    from tether.api.jobs import job_usage

    if kept_by_host(on):
        return list(_ask(on, "top", {"job": job}, store=store))
    with _opened(store) as opened:
        return job_usage(opened, None if job is None else str(job))


def clean(
    *,
    status: Sequence[str] = (),
    on: str | None = None,
    all_hosts: bool = False,
    confirm: Callable[[int | None], None] | None = None,
    store: JobStore | None = None,
) -> dict[str, Any]:
    """Remove the finished jobs (only those of ``status`` when given) and their files, here
    or on the SSH host ``on`` (with the records here of the jobs removed there), or here and
    on every SSH host (``all_hosts``): the numbers and uuids removed (``tether clean --yes
    --json``; with ``all_hosts``, ``hosts`` has each host's, or why it was not reached, and
    the records here of an unreached host's jobs stay). ``confirm(count)`` is called first
    (``count`` None when hosts are asked, which are not asked twice) and may raise to remove
    nothing."""
    from tether.api.cleaning import clean_jobs

    if all_hosts:
        if on is not None:
            raise UsageError("give --all or --on HOST, not both")
        return _clean_everywhere(status, confirm, store)
    if kept_by_host(on):
        from tether.backends.ssh import forget_records

        assert on is not None
        if confirm is not None:
            confirm(None)
        asked = dict(_ask(on, "clean", {"status": list(status)}, store=store))
        with _opened(store) as opened:
            forget_records(opened, on, asked.get("uuids") or [])
        return asked
    with _opened(store) as opened:
        removed = clean_jobs(opened, status, confirm=confirm)
        return {"removed": [j.number for j in removed], "uuids": [j.uuid for j in removed]}


def _clean_everywhere(
    status: Sequence[str],
    confirm: Callable[[int | None], None] | None,
    store: JobStore | None,
) -> dict[str, Any]:
    """``clean --all``: each SSH host's finished jobs, then those here."""
    from tether.api.cleaning import clean_jobs
    from tether.api.host_admin import ssh_host_names
    from tether.errors import TetherError

    if confirm is not None:
        confirm(None)
    hosts: dict[str, Any] = {}
    for host in ssh_host_names():
        try:
            hosts[host] = clean(status=status, on=host, store=store)
        except TetherError as exc:
            hosts[host] = {"error": str(exc)}
    unreached = [host for host, answer in hosts.items() if "error" in answer]
    with _opened(store) as opened:
        removed = clean_jobs(opened, status, keep_targets=unreached)
    return {"removed": [j.number for j in removed], "uuids": [j.uuid for j in removed],
            "hosts": hosts}  # fmt: skip


def notifications(
    job: Ref = None, *, on: str | None = None, store: JobStore | None = None
) -> list[dict[str, Any]]:
    """Each notification of a job, oldest first: event, channel, when queued and sent, and
    whether it was delivered (``tether notifications --json``)."""
    from tether.api.jobs import find_job
    from tether.api.outbox import job_notifications

    if kept_by_host(on):
        return list(_ask(on, "notifications", {"job": job}, store=store))
    with _opened(store) as opened:
        number = find_job(opened, None if job is None else str(job)).number
        return [row.to_json() for row in job_notifications(opened, number)]


def hosts(*, on: str | None = None) -> list[dict[str, Any]]:
    """The configured hosts (``tether hosts ls --json``), or only ``on``: the name,
    destination, scheduler and options of each."""
    from tether.api.host_admin import get_host, list_hosts

    if on is not None and on != "local":
        return [{"name": on, **get_host(on).to_dict()}]
    return [{"name": name, **spec.to_dict()} for name, spec in list_hosts().items()]
