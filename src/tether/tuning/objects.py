"""The objects of the version store: each file's bytes stored once under their sha256, as a
loose file (``objects/<sha[:2]>/<sha>``, written through a temporary file and a rename,
read-only) or in a pack (:mod:`tether.tuning.packs`), and checked against their hash when
read. :class:`~tether.tuning.snapshot.VersionStore` keeps its versions here."""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from pathlib import Path

from tether.errors import ProgramError
from tether.tuning.packs import PACK_FROM, Packs

REMEMBER_BYTES = 64 << 20
"""How many bytes just stored are kept in memory, so that writing a version out right after
its snapshot reads no object back."""


class ObjectStore:
    """The objects under ``folder`` of the version store at ``root`` (named in messages)."""

    def __init__(self, folder: Path, root: Path) -> None:
        self.folder = folder
        self.root = root
        self._folder_str = str(folder)
        self._made: set[str] = set()  # object folders known to exist
        self.packs = Packs(folder, write_atomic)
        self._held: dict[str, bytes] = {}  # bytes stored by this process: sha -> bytes
        self._held_bytes = 0

    def path(self, sha: str) -> Path:
        """Where the object ``sha`` is as a loose file."""
        return self.folder / sha[:2] / sha

    def has(self, sha: str) -> bool:
        return os.path.exists(f"{self._folder_str}/{sha[:2]}/{sha}") or self.packs.has(sha)

    def put(self, data: bytes) -> str:
        """Store bytes once (a loose file when new); return their sha256."""
        sha = hashlib.sha256(data).hexdigest()
        if not self.has(sha):
            self._write_loose(sha, data)
        self.hold(sha, data)
        return sha

    def put_new(self, new: dict[str, bytes]) -> None:
        """Store objects known to be new: many in one pack, a few as loose files."""
        if len(new) >= PACK_FROM:
            self.packs.write(new)
            return
        for sha, data in new.items():
            self._write_loose(sha, data)

    def hold(self, sha: str, data: bytes) -> None:
        """Keep bytes just hashed (up to :data:`REMEMBER_BYTES`) until :meth:`release`."""
        if self._held_bytes + len(data) <= REMEMBER_BYTES:
            self._held[sha] = data
            self._held_bytes += len(data)

    def release(self) -> None:
        self._held.clear()
        self._held_bytes = 0

    def get(self, sha: str, what: str, *, just_stored: bool = False) -> bytes:
        """The bytes of an object, checked against their hash; with ``just_stored``, the
        bytes this process stored a moment ago when it still holds them."""
        if just_stored and sha in self._held:
            return self._held[sha]
        path = self.path(sha)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            packed = self.packs.read(sha)
            if packed is None:
                raise ProgramError(
                    f"{what} ({sha[:12]}) is missing from the version store at {self.root}; "
                    "it may have been deleted. Snapshot the script again."
                ) from None
            data, path = packed
        if hashlib.sha256(data).hexdigest() != sha:
            raise ProgramError(
                f"{what} ({sha[:12]}) is damaged in the version store at {self.root}; delete "
                f"{path} and snapshot the script again."
            )
        return data

    def _write_loose(self, sha: str, data: bytes) -> None:
        folder = f"{self._folder_str}/{sha[:2]}"
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        write_atomic(Path(f"{folder}/{sha}"), data, 0o444)


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write bytes to a temporary file next to ``path``, then rename it into place."""
    tmp = temp_name(path.parent / ".tmp-", ".part")
    try:
        write_file(tmp, data, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_file(path: str, data: bytes, mode: int) -> None:
    """Create ``path`` (it must not exist) holding ``data``, with ``mode`` (the umask applies,
    as for any new file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with open(fd, "wb") as handle:
        handle.write(data)


_serial = itertools.count()


def temp_name(prefix: Path, suffix: str = ".part") -> str:
    """A name no other process uses: this process's id and a serial number (a left-over of
    a dead process with the same id makes the create fail, not clobber anything)."""
    return f"{prefix}{os.getpid()}-{next(_serial)}-{time.monotonic_ns() % 1_000_000}{suffix}"
