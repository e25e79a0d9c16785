"""Copying the project to a host (``tether sync``) and files both ways (``push``/``pull``).

``sync`` uses rsync (deltas only; ``.gitignore``/``.tetherignore`` read in every folder;
``data/`` at the project root, caches and virtualenvs left out; files deleted here are
deleted there, except excluded ones such as ``data/``). When rsync is missing on either
side it falls back to a tar stream over ssh that sends only files whose size or mtime
changed since the last tar sync to that host (remembered under ``TETHER_HOME/ssh/sync``,
checked against a token in the remote copy so a wiped copy is sent whole again).

Before sending, what would be sent is totalled (an rsync ``--dry-run``, or the tar fallback's
own list); over the cap (``[sync] max_size`` in ``tether.toml``, ``--max-size``; 100 MB by
default, ``0``/``none``: no cap) nothing is sent and the error names the biggest files and the
``.tetherignore`` lines that leave them out. The summary says how many files and bytes went.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tether.errors import UsageError
from tether.targets.ssh.command import DEFAULT_EXCLUDES, Remote, count_itemized_changes, rsync_argv
from tether.targets.ssh.failures import SshFailure
from tether.targets.ssh.project import Project
from tether.targets.ssh.sync_size import check_cap, human_size, scan
from tether.targets.ssh.transport import Transport
from tether.tuning.project_files import caps_for, walk_project

SYNC_EXCLUDES: tuple[str, ...] = (*DEFAULT_EXCLUDES, "/data/")
IGNORE_FILES: tuple[str, ...] = (".gitignore", ".tetherignore")
TOKEN_FILE = ".tether-sync"
_BIG = 1 << 62
_DELETE_CHUNK = 400


@dataclass(frozen=True)
class SyncResult:
    """What a sync did: files sent or deleted, how (``rsync``, ``tar``, or ``unchanged``:
    nothing asked of the host, no file here changed since the last rsync), and how long it
    took.

    ``changed`` counts files sent plus files deleted there; ``sent``/``sent_bytes`` the files
    sent and their size; ``unchanged`` the files already there (None: rsync did not say);
    ``data_files`` the files in the project's ``data/`` folder, which is never synced.
    """

    changed: int
    method: str
    seconds: float
    remote_dir: str
    sent: int = 0
    sent_bytes: int = 0
    deleted: int = 0
    unchanged: int | None = None
    data_files: int = 0


@dataclass(frozen=True)
class _Plan:
    """Files to send (relative path, size), files deleted there, files already there."""

    send: list[tuple[str, int]]
    deleted: int
    unchanged: int | None


def _rsync(transport: Transport, argv: list[str], what: str) -> str:
    return transport.call(argv, timeout=None, what=what).stdout


_OUT_FORMAT = "--out-format=%i %l %n"
_REG_RE = re.compile(r"^Number of files: [\d,.]+ \(reg: ([\d,.]+)", re.MULTILINE)


def _parse_rsync(out: str) -> _Plan:
    """Files sent and deleted from ``--out-format='%i %l %n' --stats`` output."""
    send: list[tuple[str, int]] = []
    deleted = 0
    for line in out.splitlines():
        if line.startswith("*deleting ") and not line.endswith("/"):
            deleted += 1
        elif len(line) > 12 and line[0] in "<>" and line[1] == "f" and line[11] == " ":
            size, _, name = line[12:].partition(" ")
            send.append((name, int(size) if size.isdigit() else 0))
    match = _REG_RE.search(out)
    unchanged = None
    if match:
        regular = int(re.sub(r"[,.]", "", match.group(1)))
        unchanged = max(regular - len(send), 0)
    return _Plan(send, deleted, unchanged)


def _synced_path(transport: Transport, project: Project) -> Path:
    """Where the fingerprint of the project as last sent to the host by rsync is kept."""
    return _state_path(transport, project).with_suffix(".rsync.json")


def _data_files(project: Project, limit: int = 100_000) -> int:
    """How many files the project's ``data/`` holds (counting stops at ``limit``)."""
    count = 0
    for _root, _dirs, files in os.walk(project.root / "data"):
        count += len(files)
        if count >= limit:
            break
    return count


def sync_project(
    transport: Transport,
    project: Project,
    *,
    method: str = "auto",
    max_size: int | None = None,
    skip_unchanged: bool = False,
) -> SyncResult:
    """Bring ``~/tether/projects/NAME/`` on the host up to date with the project here.

    ``max_size``: the cap in bytes on what is sent (0: none; None: ``[sync] max_size`` of the
    project's ``tether.toml``, else 100 MB); over it, a UsageError and nothing sent.
    ``skip_unchanged`` (a run): when no file here changed since the last rsync to the host
    (the same names, sizes, times and modes), nothing is asked of the host; a copy changed
    there is left as it is (``tether sync`` always asks rsync).
    """
    if method not in ("auto", "rsync", "tar"):
        raise UsageError(f"unknown sync method {method!r}: use auto, rsync or tar")
    if max_size is None:
        from tether.config import sync_max_size

        max_size = sync_max_size(project.root)
    t0 = time.monotonic()
    if project.outside:
        check_outside_folder(project)
    data_files = _data_files(project)
    use_rsync = method == "rsync" or (method == "auto" and shutil.which("rsync") is not None)
    if use_rsync:

        def argv(dry_run: bool) -> list[str]:
            words = rsync_argv(
                transport.spec,
                transport.controls,
                f"{project.root}/",
                Remote(project.remote_dir + "/"),
                excludes=(*SYNC_EXCLUDES, f"/{TOKEN_FILE}"),
                dir_merge=IGNORE_FILES,
                dry_run=dry_run,
                connect_timeout=transport.connect_timeout,
            )
            return [*words[:1], "--stats", _OUT_FORMAT, *words[1:]]

        fits, fingerprint = scan(project, max_size or _BIG)
        synced = _synced_path(transport, project)
        sent_to = f"{transport.spec.dest}:{project.remote_dir}"
        last = _load_state(synced)
        if skip_unchanged and fingerprint and last == {"to": sent_to, "files": fingerprint}:
            return SyncResult(0, "unchanged", time.monotonic() - t0, project.remote_dir,
                              unchanged=None, data_files=data_files)  # fmt: skip
        try:
            if max_size and not fits:
                check_cap(_parse_rsync(_rsync(transport, argv(True), "rsync")).send,
                          max_size, transport.spec.name)  # fmt: skip
            out = _rsync(transport, argv(False), "rsync")
        except SshFailure as exc:
            if exc.kind != "no_rsync" or method == "rsync":
                raise
        else:
            if fingerprint:
                synced.write_text(json.dumps({"to": sent_to, "files": fingerprint}))
            else:
                synced.unlink(missing_ok=True)
            plan = _parse_rsync(out)
            return SyncResult(
                count_itemized_changes(out), "rsync", time.monotonic() - t0, project.remote_dir,
                sent=len(plan.send), sent_bytes=sum(size for _, size in plan.send),
                deleted=plan.deleted, unchanged=plan.unchanged, data_files=data_files,
            )  # fmt: skip
    plan = _tar_sync(transport, project, max_size)
    return SyncResult(
        len(plan.send) + plan.deleted, "tar", time.monotonic() - t0, project.remote_dir,
        sent=len(plan.send), sent_bytes=sum(size for _, size in plan.send),
        deleted=plan.deleted, unchanged=plan.unchanged, data_files=data_files,
    )  # fmt: skip


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


def _tar_sync(transport: Transport, project: Project, max_size: int) -> _Plan:
    """Send changed files as a tar stream; delete files that were removed here."""
    import io
    import secrets
    import tarfile
    import tempfile

    from tether.tuning.snapshot import list_project_files

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
    check_cap([(rel, stats[rel][0]) for rel in send], max_size, transport.spec.name)
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
    return _Plan([(rel, stats[rel][0]) for rel in send], len(gone), len(files) - len(send))


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
    """One line for people: ``synced 3 files (1.2 MB) to gpu1:~/DIR (412 unchanged; rsync,
    0.21 s)``, and a second naming ``data/`` when it holds files (never synced)."""
    noun = "file" if result.sent == 1 else "files"
    notes = []
    if result.unchanged is not None:
        notes.append(f"{result.unchanged} unchanged")
    if result.deleted:
        notes.append(f"{result.deleted} deleted there")
    if result.method == "unchanged":  # nothing asked of the host
        notes.append(f"nothing changed here since the last sync, {result.seconds:.2f} s")
    else:
        notes.append(f"{result.method}, {result.seconds:.2f} s")
    line = (
        f"synced {result.sent} {noun} ({human_size(result.sent_bytes)}) to "
        f"{host}:~/{result.remote_dir} ({'; '.join(notes)})"
    )
    if result.data_files:
        count = f"{result.data_files}+" if result.data_files >= 100_000 else result.data_files
        what = "file" if result.data_files == 1 else "files"
        line += (
            f"\ntether: data/ ({count} {what}) not synced: `tether push data --on {host}` sends it"
        )
    return line
