"""Memoised Dataset results: same function source + same arguments -> the stored result.

Keys: the function's key is a SHA-256 of the target's name, its source text
(``inspect.getsource``), its qualified name and, when there is no source, its cloudpickled
bytes; a run's key is a SHA-256 of the cloudpickled, name-sorted keyword arguments.
Successful results live under
``TETHER_HOME/memo/FUNCTION_KEY/`` as one pickle per finished dataset (a dict run key -> value),
named ``NANOSECONDS-UUID.pkl`` so that, read oldest first, the newest result of a run wins
(``run(force=True)`` replaces what a later plain run returns). A re-run in any later process
reads a few files, not one per run. Failed runs are never
stored (``retry_failed`` and a re-run both run them again).

Trust boundary as in :mod:`tether.functions.serialization`: only files tether wrote itself, as the
same user, under ``TETHER_HOME``, are unpickled.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import pickle
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tether.functions import serialization

MEMO_DIR = "memo"


def function_key(function: Callable[..., Any], target: str = "local") -> str:
    """A stable key for ``function`` on ``target``: its source and name (or its pickled bytes).

    The target's name is part of the key: the same function may give other results elsewhere.
    """
    h = hashlib.sha256()
    h.update(f"{target}\0".encode())
    h.update(str(getattr(function, "__qualname__", type(function).__name__)).encode())
    try:
        h.update(inspect.getsource(function).encode())
    except (OSError, TypeError):
        h.update(serialization.dumps(function))
    return h.hexdigest()[:32]


def run_key(arguments: Mapping[str, Any]) -> str:
    """A key for one run's keyword arguments (order of the names does not matter)."""
    data = serialization.dumps(sorted(arguments.items()))
    return hashlib.sha256(data).hexdigest()[:32]


class MemoStore:
    """The stored results of one function (by its key) under ``TETHER_HOME/memo``."""

    def __init__(self, home: Path, fn_key: str) -> None:
        self.dir = Path(home) / MEMO_DIR / fn_key

    def load(self) -> dict[str, Any]:
        """Every stored result of this function, by run key."""
        out: dict[str, Any] = {}
        try:
            names = [n for n in os.listdir(self.dir) if n.endswith(".pkl")]
        except FileNotFoundError:
            return out
        for name in sorted(names, key=self._age):  # oldest first: the newest result wins
            try:
                with open(self.dir / name, "rb") as f:
                    out.update(pickle.load(f))  # our own file (see module docstring)
            except (OSError, EOFError, pickle.UnpicklingError):
                continue
        return out

    def _age(self, name: str) -> tuple[int, str]:
        """When a file was saved: the nanoseconds its name starts with (older files, named
        by a bare uuid, by their modification time)."""
        stamp, sep, _ = name.partition("-")
        if sep and stamp.isdigit():
            return int(stamp), name
        try:
            return (self.dir / name).stat().st_mtime_ns, name
        except OSError:
            return 0, name

    def save(self, results: Mapping[str, Any]) -> None:
        """Store successful results (run key -> value) as one new file."""
        if not results:
            return
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{max(time.time_ns(), self._newest() + 1):020d}-{uuid.uuid4().hex}.pkl"
        tmp = self.dir / f".{name}.tmp"
        try:
            data = pickle.dumps(dict(results), protocol=serialization.PROTOCOL)
        except Exception:
            data = serialization.dumps(dict(results))
        tmp.write_bytes(data)
        os.replace(tmp, self.dir / name)

    def _newest(self) -> int:
        """The save time of the newest file (so a new one sorts after it even if the clock
        stepped back)."""
        try:
            names = [n for n in os.listdir(self.dir) if n.endswith(".pkl")]
        except FileNotFoundError:
            return 0
        return max((self._age(n)[0] for n in names), default=0)
