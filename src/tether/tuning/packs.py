"""Packs: many objects of the version store in one file.

The first snapshot of a big project stores thousands of new files at once; as loose objects
that is a file created and renamed apiece, several times the cost of copying the project.
A pack holds them all: ``objects/pack/pack-<id>.pack`` is their bytes one after another and
``pack-<id>.idx`` maps each sha256 to its offset and length (JSON). The pack is written
first, then its index, each through a temporary file and a rename: a reader sees a pack
once its index is there, and a crash leaves at most an unused file. Objects read from a
pack are checked against their hash like loose ones (by :class:`~tether.tuning.snapshot.
VersionStore`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

PACK_FROM = 64
"""New objects in one snapshot from which they go into a pack rather than loose files."""


class Packs:
    """The packs under ``objects/pack`` of one version store."""

    def __init__(self, objects: Path, write_atomic: Callable[[Path, bytes, int], None]) -> None:
        self.folder = objects / "pack"
        self._write_atomic = write_atomic
        self._where: dict[str, tuple[str, int, int]] | None = None  # sha -> pack, offset, size

    def has(self, sha: str) -> bool:
        """Whether a pack holds the object ``sha``, as far as the packs read so far say (one
        packed since by another process may be stored again: no harm)."""
        return sha in self._load()

    def read(self, sha: str) -> tuple[bytes, Path] | None:
        """The object's bytes as stored and the pack holding them (None: in no pack)."""
        where = self._find(sha)
        if where is None:
            return None
        name, offset, size = where
        path = self.folder / name
        try:
            with open(path, "rb") as pack:
                pack.seek(offset)
                return pack.read(size), path
        except FileNotFoundError:
            return None

    def write(self, objects: Mapping[str, bytes]) -> None:
        """Store ``objects`` (sha256 -> bytes) as one new pack."""
        if not objects:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        index: dict[str, list[int]] = {}
        offset = 0
        for sha, data in objects.items():
            index[sha] = [offset, len(data)]
            offset += len(data)
        name = "pack-" + hashlib.sha256("".join(sorted(objects)).encode()).hexdigest()[:40]
        self._write_atomic(self.folder / f"{name}.pack", b"".join(objects.values()), 0o444)
        text = json.dumps(index, separators=(",", ":")).encode()
        self._write_atomic(self.folder / f"{name}.idx", text, 0o444)
        if self._where is not None:
            for sha, (start, size) in index.items():
                self._where.setdefault(sha, (f"{name}.pack", start, size))

    def _find(self, sha: str) -> tuple[str, int, int] | None:
        found = self._load().get(sha)
        if found is None and self._where is not None:  # another process may have packed it
            self._where = None
            found = self._load().get(sha)
        return found

    def _load(self) -> dict[str, tuple[str, int, int]]:
        if self._where is None:
            where: dict[str, tuple[str, int, int]] = {}
            try:
                names = sorted(n for n in os.listdir(self.folder) if n.endswith(".idx"))
            except FileNotFoundError:
                names = []
            for name in names:
                try:
                    index = json.loads((self.folder / name).read_bytes())
                    entries = [(sha, int(start), int(size)) for sha, (start, size) in index.items()]
                except (OSError, ValueError, TypeError, AttributeError):
                    continue  # a damaged index: its objects read as missing, and are stored again
                pack = name[: -len(".idx")] + ".pack"
                for sha, start, size in entries:
                    where.setdefault(sha, (pack, start, size))
            self._where = where
        return self._where
