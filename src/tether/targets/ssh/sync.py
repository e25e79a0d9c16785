"""Copying the project to a host (``tether sync``) and files both ways (``push``/``pull``).

``sync`` uses rsync (deltas only; ``.gitignore``/``.tetherignore`` read in every folder;
``data/`` at the project root, caches and virtualenvs left out; files deleted here are
deleted there, except excluded ones such as ``data/``). When rsync is missing on either
side it falls back to a tar stream over ssh that sends only files whose size or mtime
changed since the last tar sync to that host (remembered under ``TETHER_HOME/ssh/sync``,
checked against a token in the remote copy so a wiped copy is sent whole again).
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shlex
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tether.errors import UsageError
from tether.targets.ssh.command import DEFAULT_EXCLUDES, Remote, count_itemized_changes, rsync_argv
from tether.targets.ssh.failures import SshFailure
from tether.targets.ssh.project import Project
from tether.targets.ssh.transport import Transport
from tether.tuning.project_files import caps_for, walk_project
from tether.tuning.snapshot import list_project_files

SYNC_EXCLUDES: tuple[str, ...] = (*DEFAULT_EXCLUDES, "/data/")
IGNORE_FILES: tuple[str, ...] = (".gitignore", ".tetherignore")
TOKEN_FILE = ".tether-sync"
_BIG = 1 << 62
_DELETE_CHUNK = 400


@dataclass(frozen=True)
class SyncResult:
    """What a sync did: files sent or deleted, how, and how long it took."""

    changed: int
    method: str
    seconds: float
    remote_dir: str


def _rsync(transport: Transport, argv: list[str], what: str) -> str:
    return transport.call(argv, timeout=None, what=what).stdout


def sync_project(transport: Transport, project: Project, *, method: str = "auto") -> SyncResult:
    """Bring ``~/tether/projects/NAME/`` on the host up to date with the project here."""
    if method not in ("auto", "rsync", "tar"):
        raise UsageError(f"unknown sync method {method!r}: use auto, rsync or tar")
    t0 = time.monotonic()
    if project.outside:
        check_outside_folder(project)
    use_rsync = method == "rsync" or (method == "auto" and shutil.which("rsync") is not None)
    if use_rsync:
        argv = rsync_argv(
            transport.spec,
            transport.controls,
            f"{project.root}/",
            Remote(project.remote_dir + "/"),
            excludes=(*SYNC_EXCLUDES, f"/{TOKEN_FILE}"),
            dir_merge=IGNORE_FILES,
            connect_timeout=transport.connect_timeout,
        )
        try:
            out = _rsync(transport, argv, "rsync")
        except SshFailure as exc:
            if exc.kind != "no_rsync" or method == "rsync":
                raise
        else:
            return SyncResult(
                count_itemized_changes(out), "rsync", time.monotonic() - t0, project.remote_dir
            )
    changed = _tar_sync(transport, project)
    return SyncResult(changed, "tar", time.monotonic() - t0, project.remote_dir)


def check_outside_folder(project: Project) -> None:
    """Refuse to sync a folder that is no project (a home folder, say) when it holds more than
    a script's folder should: the caps and refusal of a local snapshot outside a project."""
    walk_project(
        project.root,
        _BIG,
        (),
        ("*",),
        caps=caps_for(None),
    )


# --- tar fallback ----------------------------------------------------------------------


def _state_path(transport: Transport, project: Project) -> Path:
    folder = transport.controls.parent / "ssh-sync"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder / f"{transport.spec.name}--{project.name}.json"


def _load_state(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _tar_sync(transport: Transport, project: Project) -> int:
    """Send changed files as a tar stream; delete files that were removed here."""
    files, _ = list_project_files(project.root, max_file_bytes=_BIG, include=("*",))
    files = [f for f in files if f != TOKEN_FILE and not f.startswith("data/")]
    stats: dict[str, list[int]] = {}
    for rel in files:
        st = os.stat(project.root / rel)
        stats[rel] = [st.st_size, st.st_mtime_ns]
    state_path = _state_path(transport, project)
    state = _load_state(state_path)
    remote = shlex.quote(project.remote_dir)
    token = transport.script(f"cat {remote}/{TOKEN_FILE} 2>/dev/null || true").stdout.strip()
    old = state.get("files") if state.get("token") == token and token else None
    known: dict[str, list[int]] = old if isinstance(old, dict) else {}
    send = [rel for rel in files if known.get(rel) != stats[rel]]
    gone = sorted(set(known) - set(stats))
    new_token = secrets.token_hex(8)

    script = f"mkdir -p {remote} && tar -xzf - -C {remote}"
    argv = transport.argv(["sh", "-c", script])
    with tempfile.TemporaryFile() as buffer:
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for rel in send:
                tar.add(project.root / rel, arcname=rel, recursive=False)
            info = tarfile.TarInfo(TOKEN_FILE)
            data = new_token.encode()
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
        buffer.seek(0)
        transport.call(argv, stdin=buffer, timeout=None, what="tar")
    for start in range(0, len(gone), _DELETE_CHUNK):
        chunk = gone[start : start + _DELETE_CHUNK]
        quoted = " ".join(shlex.quote(rel) for rel in chunk)
        transport.script(f"cd {remote} && rm -f -- {quoted}")
    state_path.write_text(json.dumps({"token": new_token, "files": stats}))
    return len(send) + len(gone)


# --- push / pull -----------------------------------------------------------------------


def remote_kind(transport: Transport, path: str) -> str:
    """``dir``, ``file`` or ``missing`` for ``path`` (relative to the remote home)."""
    quoted = shlex.quote(path)
    out = transport.script(
        f"if [ -d {quoted} ]; then echo dir; elif [ -e {quoted} ]; then echo file; "
        "else echo missing; fi"
    ).stdout.split()
    return out[-1] if out else "missing"


def push(transport: Transport, project: Project, local_rel: str, remote_rel: str) -> int:
    """Copy ``local_rel`` (in the project here) to ``remote_rel`` (in the copy there)."""
    local = project.root / local_rel
    target = project.remote_path(remote_rel)
    if local.is_dir():
        src: str = f"{local}/"
        dest = Remote(target + "/")
    elif local.exists():
        src, dest = str(local), Remote(target)
    else:
        raise UsageError(f"{local_rel} does not exist in the project here ({project.root})")
    argv = rsync_argv(
        transport.spec, transport.controls, src, dest, delete=False, excludes=(),
        connect_timeout=transport.connect_timeout,
    )  # fmt: skip
    return count_itemized_changes(_rsync(transport, argv, "rsync"))


def pull(
    transport: Transport, project: Project, remote_rel: str, local_rel: str,
    *, into_folder: bool = False,
) -> int:  # fmt: skip
    """Copy ``remote_rel`` (in the copy there) to ``local_rel`` (in the project here).

    ``into_folder`` (LOCAL written ``ckpt/``, or an existing folder): a file goes inside it,
    the folder made if missing. Files get this user's ownership, never the host's uid.
    """
    source = project.remote_path(remote_rel)
    kind = remote_kind(transport, source)
    if kind == "missing":
        raise UsageError(f"{remote_rel} does not exist in the project on {transport.spec.name}")
    local = project.root / local_rel
    if kind == "dir":
        local.mkdir(parents=True, exist_ok=True)
        src, dest = Remote(source + "/"), f"{local}/"
    else:
        if into_folder:
            local = local / PurePosixPath(remote_rel).name
        local.parent.mkdir(parents=True, exist_ok=True)
        src, dest = Remote(source), str(local)
    argv = rsync_argv(
        transport.spec, transport.controls, src, dest, delete=False, excludes=(),
        connect_timeout=transport.connect_timeout,
    )  # fmt: skip
    after = argv.index("-az") + 1  # after -a, which (as root) keeps the host's uid and gid
    argv[after:after] = ["--no-owner", "--no-group"]
    return count_itemized_changes(_rsync(transport, argv, "rsync"))


def describe(result: SyncResult, host: str) -> str:
    """One line for people: ``3 files changed on gpu1 (rsync, 0.21 s)``."""
    noun = "file" if result.changed == 1 else "files"
    return (
        f"{result.changed} {noun} changed on {host}:~/{result.remote_dir} "
        f"({result.method}, {result.seconds:.2f} s)"
    )
