"""A content-addressed store of program versions.

Each file's bytes are stored once, by their sha256, under ``root/objects`` (loose or packed:
:mod:`tether.tuning.objects`). A version is a manifest
(JSON: the entry script and ``relative path -> sha256`` for every file) stored the same
way; the version id is the manifest's sha256. Objects are checked against their hash when
read, so a damaged store is reported instead of silently running the wrong code.

What a snapshot covers: for a script inside a project (the nearest parent folder holding
``.git``, ``pyproject.toml``, ``setup.py``, ``tether.toml`` or ``.tetherignore``), the
project's ``*.py`` files plus the entry script, honouring ``.gitignore`` and
``.tetherignore`` files at any depth (git semantics; ``.tetherignore`` is read after
``.gitignore`` so it can re-include with ``!``). The entry script is always included; what
else is skipped (virtualenvs, Python installs, caches, ``data/``, big files) and the caps
(tighter for a script outside any project, whose own folder is then taken) are
:mod:`tether.tuning.project_files`'s rules.

Rehashing is avoided with a per-project cache (``root/cache/<project>.json``) of
``(size, mtime_ns, ctime_ns, inode) -> sha256``; files changed within the last two seconds
are always rehashed, so an edit right after a snapshot is never missed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from tether.errors import ProgramError, UsageError
from tether.tuning.objects import ObjectStore, temp_name, write_atomic
from tether.tuning.objects import write_file as _write_file  # a test makes it fail
from tether.tuning.project_files import (
    DEFAULT_INCLUDE,
    DEFAULT_MAX_FILE_BYTES,
    Caps,
    FoundFile,
    caps_for,
    find_project_root,
    list_project_files,
    walk_project,
)

__all__ = [
    "Manifest",
    "Version",
    "VersionStore",
    "find_project_root",
    "list_project_files",
]

MANIFEST_FORMAT = 1
_RACY_NS = 2_000_000_000
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Manifest:
    """The content of a version: the entry script and ``relpath -> sha256`` of each file."""

    entry: str
    files: dict[str, str]

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes (their sha256 is the version id)."""
        doc = {"format": MANIFEST_FORMAT, "entry": self.entry, "files": self.files}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes, version_id: str) -> Manifest:
        """Parse manifest bytes, raising :class:`ProgramError` if they are not one."""
        try:
            doc = json.loads(data)
            entry, files = doc["entry"], doc["files"]
            ok = (
                doc.get("format") == MANIFEST_FORMAT
                and isinstance(entry, str)
                and isinstance(files, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            ok = False
        if not ok:
            raise ProgramError(
                f"{version_id} is not a program version (it is a stored file, or damaged); "
                "pass a version id returned by a snapshot."
            )
        return cls(entry=entry, files=dict(files))


@dataclass(frozen=True)
class Version:
    """A stored program version, as returned by :meth:`VersionStore.snapshot`.

    ``project_root`` and ``script`` say where it was taken from (not part of the id);
    ``skipped`` lists files left out for being over the size limit.
    """

    id: str
    manifest: Manifest
    project_root: Path
    script: Path
    skipped: tuple[str, ...] = ()

    @property
    def entry(self) -> str:
        """Path of the entry script inside the version."""
        return self.manifest.entry


class VersionStore:
    """Content-addressed program versions under ``root`` (see the module docstring)."""

    def __init__(self, root: Path, *, never_take: Sequence[Path] = ()) -> None:
        """``never_take``: folders no snapshot takes files from (tether's home, whose stored
        and written-out versions would otherwise be taken again by each snapshot of a
        project that holds it)."""
        self.root = Path(os.path.abspath(root))
        self.never_take = {str(self.root), *(os.path.abspath(p) for p in never_take)}
        self.objects = self.root / "objects"
        self._objects = ObjectStore(self.objects, self.root)

    # -- taking snapshots ---------------------------------------------------------------

    def snapshot(
        self,
        script: Path,
        project_root: Path | None = None,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        extra_ignores: Sequence[str] = (),
        include: Sequence[str] = DEFAULT_INCLUDE,
        max_files: int | None = None,
    ) -> Version:
        """Store the script and its project's files; return the version (same content, same
        id). ``project_root`` defaults to :func:`find_project_root`; outside a project the
        script's folder is taken, with tighter caps (see :func:`caps_for`).
        ``extra_ignores`` are gitignore lines applied at the root."""
        script = Path(os.path.abspath(script))
        if not script.is_file():
            what = "is not a file" if script.exists() else "does not exist"
            raise ProgramError(f"the script {script} {what}; check the path and try again.")
        if project_root is None:
            project_root = find_project_root(script)
        caps = caps_for(project_root)
        if max_files is not None:
            caps = Caps(max_files, caps.max_bytes, caps.outside)
        if project_root is None:
            project_root = script.parent
        root = Path(os.path.abspath(project_root))
        entry = _relative_inside(script, root)

        listing = walk_project(
            root,
            max_file_bytes,
            extra_ignores,
            include,
            skip_dirs=self.never_take,
            caps=caps,
        )
        if not any(f.rel == entry for f in listing.files):
            listing.files.append(FoundFile(entry, str(script), os.stat(script)))

        cache = _HashCache(self._cache_path(root))
        files: dict[str, str] = {}
        to_read: list[FoundFile] = []
        for found in listing.files:
            sha = cache.get(found.rel, found.st)
            if sha is not None and self._objects.has(sha):
                files[found.rel] = sha
            else:
                to_read.append(found)
        new: dict[str, bytes] = {}
        for found, read in zip(to_read, map(_read_found, to_read), strict=True):
            if read is None:
                if found.rel == entry:
                    raise ProgramError(f"the script {script} vanished while it was being stored.")
                continue
            data, st = read
            sha = hashlib.sha256(data).hexdigest()
            files[found.rel] = sha
            if sha not in new and not self._objects.has(sha):
                new[sha] = data
            self._objects.hold(sha, data)
            if len(data) == st.st_size:
                cache.put(found.rel, st, sha)
        self._objects.put_new(new)
        cache.save()
        manifest = Manifest(entry=entry, files=dict(sorted(files.items())))
        version_id = self._put(manifest.to_bytes())
        skipped = tuple(sorted(r for r in listing.skipped if r != entry))
        return Version(version_id, manifest, root, script, skipped)

    def _cache_path(self, project_root: Path) -> Path:
        key = hashlib.sha256(os.fsencode(project_root)).hexdigest()[:24]
        return self.root / "cache" / f"{key}.json"

    # -- reading versions ---------------------------------------------------------------

    def has_version(self, version_id: str) -> bool:
        """Whether a version with this id is stored (and readable)."""
        try:
            self.manifest(version_id)
        except (UsageError, ProgramError):
            return False
        return True

    def manifest(self, version_id: str) -> Manifest:
        """The manifest of a stored version."""
        return Manifest.from_bytes(self._get(_check_id(version_id), "program version"), version_id)

    def read_file(self, version_id: str, relpath: str) -> bytes:
        """The bytes of one file of a stored version."""
        files = self.manifest(version_id).files
        if relpath not in files:
            sample = ", ".join(sorted(files)[:5])
            raise ProgramError(
                f"version {version_id[:12]} has no file {relpath!r}; it holds {len(files)} "
                f"file(s), e.g. {sample}. Use a path relative to the project root."
            )
        return self._get(files[relpath], relpath)

    def materialize(self, version_id: str, dest_dir: Path) -> Path:
        """Write a version's files under ``dest_dir`` and return the entry script's path
        there. Every path must be relative and stay inside ``dest_dir``."""
        manifest = self.manifest(version_id)
        dest = Path(os.path.abspath(dest_dir))
        for rel in manifest.files:
            _check_relpath(rel, version_id)
        _check_relpath(manifest.entry, version_id)
        if not os.path.lexists(dest):
            self._materialize_new(manifest, dest)
            return dest.joinpath(*manifest.entry.split("/"))
        real_dest = dest.resolve()
        for rel, sha in manifest.files.items():
            data = self._get(sha, rel)
            target = dest.joinpath(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.parent.resolve().is_relative_to(real_dest):
                raise ProgramError(
                    f"{rel!r} of version {version_id[:12]} would be written outside {dest} "
                    "(through a symbolic link there); refusing. Use an empty folder."
                )
            write_atomic(target, data, 0o644)
        return dest.joinpath(*manifest.entry.split("/"))

    def _materialize_new(self, manifest: Manifest, dest: Path) -> None:
        """Write the files into a new folder beside ``dest``, then rename it to ``dest``: a
        crash leaves no half-written ``dest``, and a fresh folder holds no symbolic link to
        check, so each file is one plain create (no temporary file and rename apiece)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = temp_name(dest.parent / f".{dest.name}")
        os.mkdir(staging)
        try:
            for folder in sorted({rel.rpartition("/")[0] for rel in manifest.files} - {""}):
                os.makedirs(f"{staging}/{folder}", exist_ok=True)
            for rel, sha in manifest.files.items():
                _write_file(f"{staging}/{rel}", self._get(sha, rel, just_stored=True), 0o644)
            try:
                os.rename(staging, dest)
            except OSError:  # another submit wrote this version first: use theirs
                if not (dest / manifest.entry).is_file():
                    raise
        finally:
            self._objects.release()
            if os.path.exists(staging):
                shutil.rmtree(staging, ignore_errors=True)

    # -- making new versions --------------------------------------------------------------

    def store_text(
        self,
        version: str | Version,
        relpath: str,
        new_text: str | bytes,
        *,
        encoding: str = "utf-8",
    ) -> str:
        """Store a new version equal to ``version`` with one file replaced (or added);
        return its id. Text is encoded with ``encoding``."""
        base_id = version.id if isinstance(version, Version) else version
        manifest = self.manifest(base_id)
        _check_relpath(relpath, base_id)
        data = new_text.encode(encoding) if isinstance(new_text, str) else new_text
        files = dict(manifest.files)
        files[relpath] = self._put(data)
        new = Manifest(entry=manifest.entry, files=dict(sorted(files.items())))
        return self._put(new.to_bytes())

    def put_blob(self, data: bytes) -> str:
        """Keep bytes that are no program file (a git diff); returns their id."""
        return self._put(data)

    def read_blob(self, blob_id: str, what: str) -> bytes:
        """Bytes kept by :meth:`put_blob`, checked against their id."""
        return self._get(_check_id(blob_id), what)

    # -- objects ----------------------------------------------------------------------------

    def _object_path(self, sha: str) -> Path:
        return self._objects.path(sha)

    def _put(self, data: bytes) -> str:
        """Store bytes once; return their sha256."""
        return self._objects.put(data)

    def _get(self, sha: str, what: str, *, just_stored: bool = False) -> bytes:
        return self._objects.get(sha, what, just_stored=just_stored)


class _HashCache:
    """``relpath -> (size, mtime_ns, ctime_ns, inode, sha256)`` for one project."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.now_ns = time.time_ns()
        self.old: dict[str, list] = {}
        try:
            doc = json.loads(path.read_bytes())
            if isinstance(doc, dict) and isinstance(doc.get("files"), dict):
                self.old = doc["files"]
        except (OSError, ValueError):
            pass
        self.new: dict[str, list] = {}

    @staticmethod
    def _key(st: os.stat_result) -> list:
        return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]

    def get(self, rel: str, st: os.stat_result) -> str | None:
        entry = self.old.get(rel)
        if not (isinstance(entry, list) and len(entry) == 5 and entry[:4] == self._key(st)):
            return None
        sha = entry[4]
        if not (isinstance(sha, str) and _SHA256.fullmatch(sha)):
            return None
        self.new[rel] = entry
        return sha

    def put(self, rel: str, st: os.stat_result, sha: str) -> None:
        if max(st.st_mtime_ns, st.st_ctime_ns) < self.now_ns - _RACY_NS:
            self.new[rel] = [*self._key(st), sha]

    def save(self) -> None:
        if self.new == self.old:
            return
        doc = {"files": self.new}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(doc, separators=(",", ":")).encode(), 0o644)
        except OSError:
            pass  # the cache only saves time


def _read_found(found: FoundFile) -> tuple[bytes, os.stat_result] | None:
    """A listed file's bytes and its status after the read (None: the file is gone)."""
    try:
        with open(found.path, "rb") as handle:
            data = handle.read()
        return data, os.stat(found.path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProgramError(
            f"cannot read {found.path} for the snapshot ({exc.strerror}); make it readable, "
            "or list it in the project's .tetherignore."
        ) from exc


def _relative_inside(path: Path, root: Path) -> str:
    rel = os.path.relpath(path, root)
    if rel == os.curdir or rel.startswith(os.pardir + os.sep) or rel == os.pardir:
        raise UsageError(
            f"the script {path} is not inside the project folder {root}; pass a project "
            "folder that contains it, or leave the project folder out."
        )
    return PurePosixPath(*Path(rel).parts).as_posix()


def _check_id(version_id: str) -> str:
    if not _SHA256.fullmatch(version_id):
        raise UsageError(
            f"{version_id!r} is not a version id; a version id is 64 hex digits, as returned "
            "by a snapshot."
        )
    return version_id


def _check_relpath(rel: str, version_id: str) -> None:
    """Refuse paths that are absolute, empty, or climb out with '..'."""
    posix, windows = PurePosixPath(rel), PureWindowsPath(rel)
    bad = (
        not rel
        or "\0" in rel
        or posix.is_absolute()
        or windows.is_absolute()
        or bool(windows.drive)
        or any(part in ("", ".", "..") for part in rel.split("/"))
        or ".." in windows.parts
    )
    if bad:
        raise ProgramError(
            f"version {version_id[:12]} holds the unsafe path {rel!r} (absolute, empty or "
            "climbing out with '..'); refusing to write it. The store may have been tampered "
            "with; snapshot the script again."
        )
