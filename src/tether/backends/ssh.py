"""SSH hosts: a job started with ``tether run --on HOST`` runs under that host's own tether;
this machine keeps a record of it (``Job.backend == "ssh"``, ``Job.remote_id`` is the job's
uuid there) and asks the host about it."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tether.errors import EnvNeeded, ProjectMissing, UsageError
from tether.store.jobs import Job, JobStore

if TYPE_CHECKING:
    from tether.backends.base import Change, RunRequest, Submitted
    from tether.envs.lines import Requirements
    from tether.targets.ssh.project import Project
    from tether.targets.ssh.remote_probe import ProbeRow
    from tether.targets.ssh.transport import Transport


@dataclass(frozen=True)
class RemoteJob:
    """Where a local record's job really runs: the host's name and the job's uuid there."""

    host: str
    uuid: str
    local_number: int
    host_number: int | None = None
    """The job's number on the host, which its answers use (shown as the local one)."""


def remote_job(record: Job, *, required: bool = True) -> RemoteJob | None:
    """The host and remote uuid of ``record`` when its job runs on an SSH host, else None.

    A record whose host is no longer configured is an error when ``required`` (the job
    cannot be reached), else None (callers then show the record as last seen).
    """
    if record.backend != "ssh" or not record.remote_id:
        return None
    from tether.targets.ssh.hosts_config import load_hosts

    spec = load_hosts().get(record.target)
    if spec is None:
        if not required:
            return None
        raise UsageError(
            f"job #{record.number} runs on {record.target}, which is no longer configured; "
            f"add it back with `tether hosts add {record.target} DEST` to reach the job"
        )
    if spec.scheduler != "none":
        return None
    return RemoteJob(record.target, record.remote_id, record.number, record.remote_number)


SUBMIT_SECONDS = 110.0
"""How much longer than a control call the host may take to queue jobs (it copies the
program of each)."""


def _reachable(record: Job) -> RemoteJob:
    """Where ``record``'s job runs; an error saying why when it cannot be reached."""
    where = remote_job(record)
    if where is None:
        raise UsageError(f"job #{record.number} has no job on {record.target} to reach")
    return where


def _mirror(where: RemoteJob) -> dict[str, Any] | None:
    """The host's record of the job (``show``), also brought into its record here."""
    data = ask_host(where.host, "show", {"job": where.uuid})
    return data if isinstance(data, dict) else None


def ask_host(
    host: str,
    verb: str,
    args: dict[str, Any],
    *,
    longer: float | None = 0.0,
    in_project: bool = False,
    project: Project | None = None,
) -> Any:
    """The host's tether's answer to ``verb`` with ``args`` (the keyword arguments of
    :mod:`tether.api.commands`' verb), over the JSON protocol of :mod:`tether.backends.wire`;
    its error is raised here as the same class. Job records in the answer (rows with a uuid)
    bring the records here of the host's jobs up to date. The call may take the host's
    ``timeout`` (``hosts.toml``; connecting included) plus ``longer`` seconds (None: no
    bound but the connection's, for a wait). ``in_project`` runs the verb in the project's
    copy there (``project``, else the one here), in the folder matching the current one (for
    verbs given paths)."""
    from tether.backends import wire
    from tether.targets.ssh import answer_socket, remote_jobs

    folder = ""
    if in_project or project is not None:
        from tether.targets.ssh.project import find_project

        project = project or find_project()
        folder = remote_jobs.project_folder(project)
    transport = remote_jobs.transport_for(host, project.root if project else None)
    timeout = None if longer is None else transport.spec.timeout + longer
    request = wire.request(verb, args, folder)
    name = transport.spec.name
    text = answer_socket.ask(transport, request, timeout)  # the short way
    if text is not None:
        answer = wire.read_answer(name, text, 0)
    else:
        result = remote_jobs.answer_call(
            transport, wire.MODULE, request, folder=folder, timeout=timeout,
            what=f"tether {verb}",
        )  # fmt: skip
        if not result.stdout.strip() and result.returncode not in (0, 2):
            raise remote_jobs.remote_failure(transport, result)  # e.g. the link
        answer = wire.read_answer(name, result.stdout, result.returncode)
        server = wire.server_of(result.stdout)
        if server:  # the host's resident answerer: the short way next time
            answer_socket.forward(transport, server)
    rows = answer if isinstance(answer, list) else [answer]
    jobs = [r for r in rows if isinstance(r, dict) and "uuid" in r and "status" in r]
    if jobs:
        remote_jobs.update_local(name, jobs)
    return answer


def forget_records(store: JobStore, host: str, uuids: Sequence[str]) -> int:
    """Delete the records here of ``host``'s jobs whose uuids (there) are ``uuids``, once the
    host has removed them (``clean --on HOST``); how many there were."""
    if not uuids:
        return 0
    marks = ",".join("?" * len(uuids))
    numbers = [
        job.number
        for job in store.iter_where(
            f"backend = 'ssh' AND target = ? AND remote_id IN ({marks})", (host, *uuids)
        )
    ]
    store.delete(numbers)
    return len(numbers)


def split_by_host(jobs: list[Job]) -> tuple[list[int], list[RemoteJob]]:
    """The numbers of ``jobs`` tracked here, and where the others (records of jobs on SSH
    hosts) run. Records of hosts no longer configured are in neither: nothing to wait for."""
    here: list[int] = []
    there: list[RemoteJob] = []
    for job in jobs:
        if job.backend != "ssh":
            here.append(job.number)
            continue
        found = remote_job(job, required=False)
        if found is not None:
            there.append(found)
    return here, there


def remote_dependencies(host: str, options: dict[str, Any]) -> dict[str, Any]:
    """``--after``/``--after-any`` JOBs given as local records of jobs on ``host`` become
    those jobs' uuids, which the host knows them by (one identity on both sides)."""
    from tether.errors import TetherError
    from tether.paths import tether_home

    store = None
    out = dict(options)
    for key in ("after", "after_any"):
        refs: list[str] = []
        for value in options.get(key) or ():
            for ref in filter(None, (r.strip() for r in str(value).split(","))):
                store = store or JobStore(tether_home())
                try:
                    job = store.resolve(ref)
                except TetherError:
                    refs.append(ref)  # not known here: the host resolves it
                    continue
                refs.append(job.uuid if job.target == host else ref)
        if refs:
            out[key] = tuple(refs)
    return out


def probe_host_named(host: str, *, timeout: float) -> ProbeRow:
    """Probe the configured host ``host`` over its transport (never raises for a dead link:
    the row says why)."""
    from tether.targets.ssh.hosts_config import get_host
    from tether.targets.ssh.remote_probe import probe_host
    from tether.targets.ssh.transport import Transport

    connect = max(1, min(10, int(timeout)))
    return probe_host(Transport(get_host(host), connect_timeout=connect), timeout)


def requirements_for(request: RunRequest) -> Requirements | None:
    """The project's requirements when the jobs run Python (a script, ``-m``, a batch) and
    it has any (worked out here, as ``tether env`` does); None: no env is needed, and the
    request asks for none."""
    if not request.use_env:
        return None
    first = request.command[0] if request.command else ""
    if request.batch_text is None and not (first.endswith(".py") or first == "-m"):
        return None
    from tether.envs.requirements import cached_project_requirements
    from tether.jobs.env_records import project_root
    from tether.paths import tether_home

    requirements = cached_project_requirements(project_root(Path.cwd()), home=tether_home())
    return requirements if requirements.lines else None


def make_env(
    host: str,
    requirements: Requirements,
    prepared: tuple[Project, Transport],
    say: IO[str] | None,
    *,
    missing: bool = True,
) -> dict[str, Any]:
    """``tether env --on HOST`` as part of a run: the project's env on the host, made or
    reused; the host's answer (``python``: the env's). ``missing``: the host said it has no
    env for the requirements yet, and everything is shown, on stderr even when not a terminal
    (stdout is the run's answer); else (a Slurm cluster, asked on every run) a reused env is
    shown only on ``say``."""
    from tether.envs.installer import project_index
    from tether.envs.remote import on_host

    out = say or sys.stderr
    unpinned = ""
    if requirements.unpinned:
        unpinned = f"; not installed here, unpinned: {', '.join(requirements.unpinned)}"
    announce = out if missing else say
    if announce is not None:
        doing = "making the project's env" if missing else "the project's env"
        announce.write(
            f"tether: {doing} on {host} ({len(requirements.lines)} requirements from "
            f"{requirements.source}: {' '.join(requirements.lines)}{unpinned})\n"
        )
        announce.flush()
    index = project_index(Path.cwd())
    _, data = on_host(host, "env", requirements, index=index, say=out, prepared=prepared)
    if not isinstance(data, dict):
        return {}
    reused = bool(data.get("reused"))
    how = "reused" if reused else f"made in {data.get('seconds', 0):.1f} s"
    shown = say if reused and not missing else out
    if shown is not None:
        shown.write(f"tether: env on {host}: {data.get('env_dir')}: {how}\n")
        shown.flush()
    return data


class SshBackend:
    """Jobs run by an SSH host's tether; their local records mirror what the host says."""

    kind = "ssh"

    def submit(self, host: str, request: RunRequest) -> list[Submitted]:
        """Sync the project, install tether there if needed, ask the host's tether to queue
        the jobs (a ``submit`` request, answered in the project's copy), and keep a record
        here of each."""
        from tether.backends import base
        from tether.backends.host_numbers import HostNumbers
        from tether.backends.local import check_what_to_run
        from tether.backends.slurm_submit import refuse_resources
        from tether.paths import tether_home
        from tether.targets.ssh import remote_jobs

        if request.points is not None:
            raise UsageError(f"sweep --on needs a Slurm host; {host!r} is not one")
        resources = dict(request.resources)
        gpus_text = resources.pop("gpus", None)  # GPU slots of the host's agent
        refuse_resources(resources, host)
        check_what_to_run(request)
        fields = request.wire_fields()
        fields["schedule"] = remote_dependencies(host, request.schedule)
        fields["resources"] = {"gpus": gpus_text} if gpus_text else {}
        project, transport = remote_jobs.prepare_host(
            host, request.say, max_size=request.sync_max_size
        )
        needs = requirements_for(request)
        if needs is not None:
            fields["env"] = {"lines": needs.lines, "source": needs.source}

        def ask() -> Any:
            try:
                return ask_host(host, "submit", fields, longer=SUBMIT_SECONDS, project=project)
            except ProjectMissing:  # the copy there went since the last sync: send it again
                from tether.targets.ssh.sync import sync_project

                sync_project(transport, project)
                return ask_host(host, "submit", fields, longer=SUBMIT_SECONDS, project=project)

        try:
            rows = ask()
        except EnvNeeded:
            if needs is None:
                raise
            make_env(transport.spec.name, needs, (project, transport), request.say)
            rows = ask()
        jobs = [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []
        store = JobStore(tether_home())
        try:
            named = HostNumbers(store, transport.spec.name)  # records each new job here
            shown = [named.row(job) for job in jobs]
            return [base.Submitted(store.get(row["number"]), row) for row in shown]
        finally:
            store.close()

    def list_jobs(
        self, store: JobStore, host: str, *, statuses: Sequence[str], limit: int | None
    ) -> list[dict[str, Any]]:
        """The host's own list with this machine's numbers (its jobs not yet recorded here
        are recorded), which also brings the records here of its jobs up to date."""
        from tether.backends.host_numbers import HostNumbers, localize

        args = {"status": list(statuses), "limit": limit}
        rows = ask_host(host, "ls", args)
        rows = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
        return list(localize(HostNumbers(store, host), "ls", rows))

    def refresh(self, store: JobStore, jobs: Sequence[Job], *, fresh: bool = False) -> list[Job]:
        """The records as last seen: asking each host on every local look would make ``ls``
        as slow as the slowest link. ``fresh`` (a wait), ``show`` and ``ls --all`` ask it."""
        if not fresh:
            return list(jobs)
        for job in jobs:
            where = remote_job(job, required=False)
            if where is not None:
                _mirror(where)
        return [store.get(job.number) for job in jobs]

    def endings(self, store: JobStore, jobs: Sequence[Job]) -> Iterator[tuple[Job, Job | None]]:
        """A wait on the host (it follows retries there), whose answer brings the record
        here up to date."""
        for job in jobs:
            where = _reachable(job)
            ask_host(where.host, "wait", {"jobs": [where.uuid]}, longer=None)
            yield store.get(job.number), None

    def cancel(self, store: JobStore, jobs: Sequence[Job], *, grace: float) -> list[Job]:
        """A cancel on each job's host, whose answer brings the record here up to date."""
        done = []
        for job in jobs:
            where = _reachable(job)
            args = {"jobs": [where.uuid], "grace": grace}
            ask_host(where.host, "cancel", args, longer=grace)
            done.append(store.get(job.number))
        return done

    def rerun(self, store: JobStore, old: Job, change: Change) -> Job:
        """The host's tether re-runs its job (its program is kept there); the new job gets a
        record here, its parent the old record."""
        from tether.targets.ssh import remote_jobs

        where = _reachable(old)
        args = {"job": where.uuid, "params": change.overrides or None,
                "program": change.edited_source, "name": change.name}  # fmt: skip
        rows = ask_host(where.host, "rerun", {k: v for k, v in args.items() if v is not None})
        [number] = remote_jobs.record_local(
            where.host, list(rows)[:1], cwd=Path(old.cwd), extra=change.extra, parent=old.number
        )
        return store.get(number)

    def show(self, store: JobStore, job: Job) -> dict[str, Any]:
        """The host's ``show --json`` of the job, with this machine's numbers for it and its
        parent (the host's are ``remote_number`` and ``remote_parent``); the record here is
        brought up to date with it."""
        from tether.jobs.views import show_json

        where = remote_job(job, required=False)
        if where is None:  # its host is no longer configured: the record as last seen
            return show_json(job)
        data = _mirror(where)
        if data is None:
            raise UsageError(f"{where.host} sent no record for job #{job.number}")
        data.update(host=where.host, local_number=job.number)
        data.update(remote_number=data.get("number"), number=job.number)
        data.update(remote_parent=data.get("parent"), parent=job.parent)
        return data

    def files_here(self, store: JobStore, job: Job) -> Path:
        raise UsageError(
            f"job #{job.number}'s files are on {job.target}: read its output with "
            f"`tether logs {job.number}`"
        )

    def follow(self, store: JobStore, job: Job, start: int = 0) -> Iterator[bytes]:
        """The job's output as it comes (:mod:`tether.backends.ssh_stream`), reconnected from
        the byte reached when the link drops."""
        from tether.backends.ssh_stream import stream
        from tether.targets.ssh import remote_jobs

        where = _reachable(job)
        transport = remote_jobs.transport_for(where.host)
        yield from stream(transport, where.uuid, start=start)

    def probe(self, host: str, *, timeout: float) -> ProbeRow:
        return probe_host_named(host, timeout=timeout)
