"""Moving a dataset's files to and from a host: one ``rsync`` per stage and one per poll.

Both ride on the host's shared ssh connection (the ``-e`` command is tether's multiplexed ssh).

* Staging sends named files of the local dataset folder (``--files-from``), so an Executor's
  later batch costs one small transfer; the first stage also empties the remote folder and
  makes ``in/`` and ``results/`` there (in the same call, through ``--rsync-path``).
* A poll copies back ``done.json``, the job's ``result.json`` (how the job ended, written by
  the host's agent) and the result chunks not here yet, into the local dataset folder. The
  sources are listed in that order on purpose: rsync looks at ``done.json`` before it lists
  ``results/``, and the launcher writes every chunk before ``done.json``, so a poll that brings
  ``done.json`` brings every chunk too.

What comes back is filtered twice: rsync copies only ``done.json``, ``result.json`` and files
named like chunks (never symlinks: no ``-l``, no ``-L``), and :func:`read_chunk` opens only
regular files, without following links, inside the dataset's own ``results/`` folder.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
from pathlib import Path
from typing import Any

from tether.errors import RemoteError
from tether.functions import layout
from tether.targets.ssh.command import rsync_shell
from tether.targets.ssh.transport import Transport

JOB_RESULT = "result.json"  # the remote job's end record, copied next to done.json
_DIGIT = "[0-9]"
CHUNK_PATTERN = f"{_DIGIT * 6}-{_DIGIT * 5}.pkl"
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._/+@%=,:-]+")


def check_remote_path(path: str, what: str) -> str:
    """An absolute remote path tether may put on an rsync command line."""
    if not _SAFE_PATH.fullmatch(path) or "/../" in f"{path}/" or "/./" in f"{path}/":
        raise RemoteError(
            f"{what} on the host is {path!r}; tether only sends absolute paths of letters, "
            "digits and . _ / + @ % = , : - over rsync (set TETHER_HOME there to such a path)"
        )
    return path


def _base(transport: Transport) -> list[str]:
    shell = rsync_shell(
        transport.spec, transport.controls, connect_timeout=transport.connect_timeout
    )
    # -r -t -z only: no -l (symlinks are skipped), no owners, groups or devices
    return ["rsync", "-rtz", "-e", shell]


def stage_argv(transport: Transport, local_dir: Path, remote_dir: str, *, fresh: bool) -> list[str]:
    """Send the files named on stdin (relative to ``local_dir``) into ``remote_dir``."""
    check_remote_path(remote_dir, "the dataset folder")
    argv = [*_base(transport), "--files-from=-", "--chmod=go="]
    if fresh:
        q = shlex.quote(remote_dir)
        folders = f"{shlex.quote(remote_dir + '/in')} {shlex.quote(remote_dir + '/results')}"
        argv.append(f"--rsync-path=rm -rf {q} && mkdir -p -m 700 {folders} && rsync")
    target = transport.spec.destination.rsync_target
    return [*argv, f"{local_dir}/", f"{target}:{remote_dir}/"]


def pull_argv(
    transport: Transport, remote_dir: str, job_dir: str | None, local_dir: Path
) -> list[str]:
    """Copy ``done.json``, the job's ``result.json`` and new chunks back into ``local_dir``."""
    check_remote_path(remote_dir, "the dataset folder")
    sources = [f"{remote_dir}/./{layout.DONE}"]
    if job_dir:
        sources.append(f"{check_remote_path(job_dir, 'the job folder')}/./{JOB_RESULT}")
    sources.append(f"{remote_dir}/./{layout.RESULTS_DIR}")
    target = transport.spec.destination.rsync_target
    return [
        *_base(transport),
        "-R",
        "--ignore-missing-args",
        f"--include=/{layout.DONE}",
        f"--include=/{JOB_RESULT}",
        f"--include=/{layout.RESULTS_DIR}/",
        f"--include=/{layout.RESULTS_DIR}/{CHUNK_PATTERN}",
        "--exclude=*",
        f"{target}:{sources[0]}",
        *(f":{source}" for source in sources[1:]),
        f"{local_dir}/",
    ]


def read_chunk(ddir: layout.DatasetDir, name: str) -> bytes:
    """The bytes of result chunk ``name``: a regular file in the dataset's ``results/``."""
    if layout.parse_chunk_file(name) is None:
        raise RemoteError(f"{name!r} is not a result chunk's name; not read")
    folder = ddir.results_dir
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            raise RemoteError(f"{folder} is not a plain folder; results not read")
        fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise RemoteError(f"{folder / name}: cannot open it as a plain file ({exc.strerror})")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RemoteError(f"{folder / name} is not a regular file; not read")
        with os.fdopen(fd, "rb") as f:
            fd = -1
            return f.read()
    finally:
        if fd >= 0:
            os.close(fd)


def job_end(ddir: layout.DatasetDir) -> tuple[str, str | None, int | None] | None:
    """``(status, reason, exit code)`` from the copied ``result.json``; None while it runs."""
    try:
        data: Any = json.loads((ddir.path / JOB_RESULT).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    code = data.get("exit_code")
    if data.get("cancelled"):
        return "cancelled", "cancelled", code
    if code == 0:
        return "succeeded", None, 0
    reason = f"killed by {data['signal']}" if data.get("signal") else f"exit code {code}"
    return "failed", reason, code
