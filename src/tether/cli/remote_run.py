"""``tether run --on HOST``: the CLI side (flags to words, output, ``--wait``).

The work (sync, install, the remote call, the local record) is in
:mod:`tether.targets.ssh.remote_jobs`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tether.cli.context import ctrl_c_detaches, print_json


def pick_host(host: str | None) -> str | None:
    """The host a ``run`` goes to: ``--on``, else the project's pinned one; None for here.

    ``auto`` (given or pinned) probes every host and picks the least busy one."""
    if host == "local":
        return None
    if host is not None:
        return _auto_host() if host == "auto" else host
    if not _any_project_file_above(Path.cwd()):
        return None  # the common case, decided without importing the project machinery
    from tether.targets.ssh.hosts_config import PROJECT_FILE, project_default_host
    from tether.targets.ssh.project import find_project

    root = find_project().root
    if not (root / PROJECT_FILE).is_file():
        return None
    pinned = project_default_host(root)
    return _auto_host() if pinned == "auto" else pinned


def _auto_host() -> str:
    from tether.targets.ssh.auto_host import choose_host

    return choose_host(say=sys.stderr)


def _any_project_file_above(folder: Path) -> bool:
    """Is there a ``tether.toml`` in ``folder`` or any folder above it?"""
    return any((candidate / "tether.toml").is_file() for candidate in (folder, *folder.parents))


def option_words(options: dict[str, Any]) -> list[str]:
    """Click option values back to words: ``{"stall_after": "5m"}`` -> ``--stall-after 5m``."""
    words: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False or value == ():
            continue
        if value is True:
            words.append(flag)
        elif isinstance(value, (tuple, list)):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, str(value)]
    return words


def remote_dependencies(host: str, options: dict[str, Any]) -> dict[str, Any]:
    """``--after``/``--after-any`` JOBs given as local records of jobs on ``host`` become
    those jobs' uuids, which the host knows them by (one identity on both sides)."""
    from tether.cli.context import open_store
    from tether.errors import TetherError

    store = None
    out = dict(options)
    for key in ("after", "after_any"):
        refs: list[str] = []
        for value in options.get(key) or ():
            for ref in filter(None, (r.strip() for r in str(value).split(","))):
                store = store or open_store()
                try:
                    job = store.resolve(ref)
                except TetherError:
                    refs.append(ref)  # not known here: the host resolves it
                    continue
                refs.append(job.uuid if job.target == host else ref)
        if refs:
            out[key] = tuple(refs)
    return out


def run_remote(
    host: str,
    *,
    name: str | None,
    wait: bool,
    batch: str | None,
    param: tuple[str, ...],
    as_json: bool,
    command: tuple[str, ...],
    notify: dict[str, Any],
) -> None:
    """Queue the job(s) on HOST, announce them, and with ``--wait`` follow and exit likewise."""
    from tether.errors import UsageError
    from tether.targets.ssh import remote_jobs

    batch_text = None
    if batch:
        if command:
            raise UsageError("give either --batch FILE or a command, not both")
        batch_text = sys.stdin.read() if batch == "-" else Path(batch).read_text()
    elif not command:
        raise UsageError("nothing to run: give a SCRIPT.py or `-- COMMAND ARGS...`")
    words = [*(["--name", name] if name else []), *[w for p in param for w in ("-p", p)]]
    words += option_words(notify)
    if command[:1] == ("-m",) and len(command) > 1:  # `run -m MODULE ARGS`: -m goes as -m
        words += ["-m", command[1], "--", *command[2:]]
    elif command:
        words += ["--", *command]
    submitted = remote_jobs.submit(
        host, words, batch_text=batch_text, say=sys.stderr if sys.stderr.isatty() else None
    )
    jobs = [
        {**job, "host": submitted.host, "local_number": local}
        for job, local in zip(submitted.jobs, submitted.local_numbers, strict=True)
    ]
    if as_json:
        print_json(jobs[0] if len(jobs) == 1 else jobs)
    elif not wait:
        # One identity: the local number (and uuid), which every local verb accepts.
        for job in jobs:
            click.echo(job["local_number"])
        if len(jobs) == 1 and sys.stderr.isatty():
            job = jobs[0]
            click.echo(f"tether: job #{job['local_number']} (uuid {job['uuid']}) queued on "
                       f"{submitted.host}", err=True)  # fmt: skip
            click.echo(f"follow it with: tether logs -f {job['local_number']}", err=True)
    if wait:
        with ctrl_c_detaches([int(job["local_number"]) for job in jobs], submitted.host):
            _wait_remote(submitted.host, jobs)


def _wait_remote(host: str, jobs: list[dict[str, Any]]) -> None:
    """Follow the one job's output (reconnecting), then exit with the jobs' exit code."""
    from tether.targets.ssh import remote_jobs

    transport = remote_jobs.transport_for(host)
    if len(jobs) == 1:
        remote_jobs.follow(transport, str(jobs[0]["uuid"]))
    codes = []
    for job in jobs:
        data = _final_state(transport, str(job["uuid"]))
        remote_jobs.update_local(host, [data])
        if data.get("status") != "succeeded":
            click.echo(f"tether: job #{job['local_number']} on {host} {data['status']} "
                       f"({data.get('reason')})", err=True)  # fmt: skip
        codes.append(_exit_code(data))
    sys.exit(next((c for c in codes if c), 0))


def _final_state(transport: Any, uuid: str) -> dict[str, Any]:
    from tether.targets.ssh import remote_jobs

    remote_jobs.call(transport, ["wait", uuid], timeout=None)
    data = remote_jobs.call_json(transport, ["show", uuid])
    return data if isinstance(data, dict) else {}


def _exit_code(data: dict[str, Any]) -> int:
    from tether.jobs.state import exit_code_of

    code = data.get("exit_code")
    return exit_code_of(str(data.get("status")), code if isinstance(code, int) else None)
