"""Jobs on a host: ``tether run --on HOST`` and the job verbs with ``--on HOST``.

Every verb runs the host's own tether CLI (``~/.tether/venv/bin/tether``) over the shared
ssh connection. The remote command is a fixed ``sh`` script that changes to a folder and
``exec``s tether with the user's words as positional parameters, each quoted by
:func:`~tether.targets.ssh.command.remote_join`: nothing the user typed is parsed as shell
code on the host. The host's agent runs the jobs, so they survive a dropped link.

``run --on`` syncs the project, installs tether on the host when missing or outdated, and
records a local job (``target`` = the host, ``extra`` = the remote number and uuid) so the
job shows up in the local ``tether ls`` with its status as last seen.
``logs -f --on`` reconnects when the link drops and goes on from the byte it had reached.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tether.errors import NotInstalled, ProjectMissing, RemoteError, UsageError
from tether.jobs import state
from tether.store.jobs import JobSpec, JobStore
from tether.targets.ssh.command import REMOTE_VENV
from tether.targets.ssh.transport import Result, Transport

if TYPE_CHECKING:  # imported when used: `ls --on` and friends start faster without it
    from tether.targets.ssh.project import Project

REMOTE_TETHER = f"{REMOTE_VENV}/bin/tether"
_MISSING = "tether-remote: not installed"
_NO_DIR = "tether-remote: no folder"
#: cd to "$HOME/$1" (or stay home when empty), then exec the host's tether with "$@".
_SCRIPT = "\n".join(
    [
        f'[ -x "$HOME/{REMOTE_TETHER}" ] || {{ echo "{_MISSING}" >&2; exit 127; }}',
        f'cd "$HOME/$1" 2>/dev/null || {{ echo "{_NO_DIR} $1" >&2; exit 2; }}',
        "shift",
        f'exec "$HOME/{REMOTE_TETHER}" "$@"',
    ]
)
REMOTE_PYTHON = f"{REMOTE_VENV}/bin/python"
#: The same checks, then exec the host's Python on module "$1" (no CLI start-up; ``-I``: no
#: PYTHON* variables, user site or current folder on the import path).
_MODULE_SCRIPT = "\n".join([*_SCRIPT.splitlines()[:3], f'exec "$HOME/{REMOTE_PYTHON}" -I -m "$1"'])
_NO_MODULE = "No module named"


def remote_cli(args: Sequence[str], folder: str = "") -> list[str]:
    """The remote command words that run ``tether ARGS`` in ``~/FOLDER`` on the host."""
    return ["sh", "-c", _SCRIPT, "tether-remote", folder, *args]


def remote_module(module: str, folder: str = "") -> list[str]:
    """The remote command words that run ``python -I -m MODULE`` of the host's tether venv
    in ``~/FOLDER``."""
    return ["sh", "-c", _MODULE_SCRIPT, "tether-remote", folder, module]


def answer_call(
    transport: Transport,
    module: str,
    request: bytes,
    *,
    folder: str = "",
    timeout: float | None = 120.0,
    what: str = "the request",
) -> Result:
    """The host's answer to ``request`` (:mod:`tether.backends.wire`), from its Python
    running ``module`` (:data:`tether.backends.wire.MODULE`). A host whose tether has no such
    module (an older one) comes back with exit code 2, as ``tether _answer`` unknown to its
    CLI."""
    result = transport.run(
        remote_module(module, folder), input=request, timeout=timeout, check=False, what=what
    )
    if (result.returncode == 127 and _MISSING in result.stderr) or _NO_DIR in result.stderr:
        raise remote_failure(transport, result)
    if older_tether(result):
        return Result(2, result.stdout, result.stderr)
    return result


def older_tether(result: Result) -> bool:
    """Whether the host's Python failed to find the module it was to run (before answering
    anything): its tether is older than this one."""
    return result.returncode == 1 and not result.stdout.strip() and _NO_MODULE in result.stderr


def transport_for(host: str, project_root: Path | None = None) -> Transport:
    """The transport for host ``host`` (a configured name)."""
    from tether.targets.ssh import hosts_config

    return Transport(hosts_config.resolve_host(host, project_root))


def remote_failure(transport: Transport, result: Result) -> RemoteError:
    """One line for a remote tether call that failed before doing its work."""
    host = transport.spec.name
    if _MISSING in result.stderr:
        return NotInstalled(
            f"tether is not installed on {host}: run `tether hosts setup {host}` "
            f"(or `tether run --on {host} ...`, which installs it)"
        )
    if _NO_DIR in result.stderr:
        return ProjectMissing(f"the project is not on {host} yet: run `tether sync --on {host}`")
    lines = result.stderr.strip().splitlines()
    text = lines[-1] if lines else f"exit code {result.returncode}"
    return RemoteError(f"on {host}: {text.removeprefix('tether: error: ')}")


def call(
    transport: Transport,
    args: Sequence[str],
    *,
    folder: str = "",
    input: bytes | None = None,
    timeout: float | None = 120.0,
    what: str | None = None,
) -> Result:
    """Run ``tether ARGS`` on the host; ssh failures raise, the remote exit code is returned.
    ``what`` names the call in messages (default: ``tether`` and its first word)."""
    name = what or " ".join(["tether", *args[:1]])
    result = transport.run(
        remote_cli(args, folder), input=input, timeout=timeout, check=False, what=name
    )
    if (result.returncode == 127 and _MISSING in result.stderr) or _NO_DIR in result.stderr:
        raise remote_failure(transport, result)
    return result


# --- run --on ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    """What ``run --on`` queued: the remote jobs (their JSON) and their local numbers."""

    host: str
    jobs: list[dict[str, Any]]
    local_numbers: list[int]


def ensure_tether(transport: Transport, say: IO[str] | None = None) -> None:
    """Install this tether version on the host unless it is there already.

    An install takes a minute or more, so its steps and time are said on ``say``, or on
    stderr when not given (also when stderr is not a terminal; never on stdout)."""
    import sys
    import time

    from tether import __version__
    from tether.targets.ssh import answer_socket

    if answer_socket.forwarded(transport):  # its answerer of this version: installed
        return
    from tether.targets.ssh.bootstrap import bootstrap, installed_version

    found = installed_version(transport)
    if found == __version__:
        return
    out = say if say is not None else sys.stderr
    name = transport.spec.name
    why = f"replacing {found}" if found else "first use"
    out.write(f"tether: installing tether {__version__} on {name} ({why}; about a minute)...\n")
    out.flush()
    start = time.monotonic()
    bootstrap(transport, say=out)
    out.write(f"tether: installed on {name} in {time.monotonic() - start:.1f} s\n")
    out.flush()


def project_folder(project: Project, cwd: Path | None = None) -> str:
    """The remote folder matching the current one (inside the project's copy)."""
    here = Path(os.path.abspath(cwd or Path.cwd()))
    rel = os.path.relpath(here, project.root)
    if rel == ".." or rel.startswith(".." + os.sep):
        raise UsageError(f"{here} is not inside the project {project.root}")
    return project.remote_path(Path(rel).as_posix())


def prepare_host(
    host: str, say: IO[str] | None = None, *, max_size: int | None = None
) -> tuple[Project, Transport]:
    """Sync this project to ``host`` (``max_size``: the cap, see :func:`sync_project`) and
    install tether there if needed (saying so on ``say``)."""
    from tether.targets.ssh.project import find_project
    from tether.targets.ssh.sync import describe, sync_project

    project = find_project()
    transport = transport_for(host, project.root)
    synced = sync_project(transport, project, max_size=max_size, skip_unchanged=True)
    if say is not None:
        say.write(f"tether: {describe(synced, transport.spec.name)}\n")
    ensure_tether(transport, say)
    return project, transport


def submit(
    host: str,
    run_args: Sequence[str],
    *,
    batch_text: str | None = None,
    say: IO[str] | None = None,
    verb: str = "run",
) -> Submitted:
    """Sync, install if needed, ``tether VERB --json RUN_ARGS`` on the host; record locally.

    ``verb`` is ``run``, or another verb that queues jobs and prints them (``notebook``)."""
    project, transport = prepare_host(host, say)
    args = [verb, "--json", *run_args]
    if verb == "run":
        # the host runs the job itself: a synced tether.toml pin must never forward it again
        args[2:2] = ["--on", "local"]
    if batch_text is not None:
        args[2:2] = ["--batch", "-"]
    result = call(
        transport,
        args,
        folder=project_folder(project),
        input=batch_text.encode() if batch_text is not None else None,
    )
    if result.returncode != 0:
        raise remote_failure(transport, result)
    try:
        data = json.loads(result.stdout)
    except ValueError:
        raise RemoteError(f"{host}: `tether {verb}` printed no JSON ({result.stdout[:80]!r})")
    jobs = data if isinstance(data, list) else [data]
    return Submitted(transport.spec.name, jobs, record_local(transport.spec.name, jobs))


def record_local(
    host: str,
    jobs: list[dict[str, Any]],
    cwd: Path | None = None,
    extra: dict[str, Any] | None = None,
    parent: int | None = None,
) -> list[int]:
    """Add a local record (``target`` = ``host``) for each remote job; their numbers.

    ``extra`` adds entries to each record's ``extra`` (shown by ``tether show``); ``parent``
    is the local record the jobs are new attempts of."""
    from tether.paths import tether_home

    store = JobStore(tether_home())
    try:
        taken = {j["uuid"] for j in jobs if _uuid_taken(store, str(j["uuid"]))}
        specs = [
            JobSpec(
                command=list(j.get("command") or []),
                cwd=str(cwd or Path.cwd()),
                name=str(j.get("name") or "job"),
                env=None,
                target=host,
                parent=parent,
                extra={**(extra or {}), "remote_number": j["number"], "remote_uuid": j["uuid"]},
                backend="ssh",
                remote_id=str(j["uuid"]),
                remote_number=int(j["number"]),
                # One identity: the record has the job's uuid, so `show UUID` works here and
                # there (unless this store has it already: a host that shares this home).
                uuid=None if j["uuid"] in taken else str(j["uuid"]),
            )
            for j in jobs
        ]
        local = store.add_many(specs)
        for job, data in zip(local, jobs, strict=True):
            _apply_status(store, job.number, data)
        return [j.number for j in local]
    finally:
        store.close()


def _uuid_taken(store: JobStore, uuid: str) -> bool:
    row = store.conn.execute("SELECT 1 FROM jobs WHERE uuid = ?", (uuid,)).fetchone()
    return row is not None


def _apply_status(store: JobStore, number: int, data: dict[str, Any]) -> None:
    """Mirror the remote job's status into its local record (through the state model)."""
    status = data.get("status")
    if status:
        code = data.get("exit_code")
        state.mirror(
            store,
            store.get(number),
            str(status),
            exit_code=code if isinstance(code, int) else None,
            reason=data.get("reason"),
        )


def update_local(host: str, rows: list[dict[str, Any]]) -> None:
    """Bring the local records of ``host``'s jobs up to date with rows of its JSON."""
    from tether.paths import tether_home

    by_uuid = {str(r["uuid"]): r for r in rows if isinstance(r, dict) and r.get("uuid")}
    uuids = list(by_uuid)
    store = JobStore(tether_home())
    try:
        for at in range(0, len(uuids), 500):  # the records of these jobs only, not all of host's
            chunk = uuids[at : at + 500]
            marks = ",".join("?" * len(chunk))
            for job in store.iter_where(
                f"backend = 'ssh' AND target = ? AND remote_id IN ({marks})", (host, *chunk)
            ):
                row = by_uuid[str(job.remote_id)]
                if row.get("status") != job.status:
                    _apply_status(store, job.number, row)
    finally:
        store.close()
