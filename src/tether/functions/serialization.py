"""Turning functions, arguments and results into bytes and back.

Functions and arguments are pickled with cloudpickle, so lambdas, closures and functions defined
in ``__main__`` or a notebook travel by value; functions of importable modules travel by
reference (the worker imports the module). Results are pickled with the standard ``pickle``
when possible (no cloudpickle import in the worker for plain values) and cloudpickle otherwise.

Trust boundary: unpickling runs code. tether only unpickles files that its own processes wrote,
as the same user, under ``TETHER_HOME`` (created mode 0700): the inputs the client staged for the
worker, and the result chunks the worker wrote for the client. Nothing received from the network
is ever unpickled, except what a remote target vouches for in its own ``fetch_results``: the SSH
target unpickles result chunks that our own worker wrote on a host reached over the user's own
authenticated ssh account (the argument and the checks are in :mod:`tether.functions.ssh_target`).
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Any

from tether.errors import UsageError
from tether.functions.errors import RemoteTraceback, RunFailed

#: One run's outcome as a worker writes it: (index, ok, value or exception, traceback text).
RunResult = tuple[int, bool, Any, str]

PROTOCOL = pickle.HIGHEST_PROTOCOL


def python_tag() -> str:
    """This interpreter's ``major.minor``, e.g. ``"3.11"``."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def check_python(remote: str, where: str) -> None:
    """Refuse to send pickles to a Python whose ``major.minor`` differs from ours."""
    if remote != python_tag():
        raise UsageError(
            f"{where} runs Python {remote} but this is Python {python_tag()}; pickled functions "
            "only load in the same major.minor version: use the same Python on both sides"
        )


def dumps(obj: Any) -> bytes:
    """Pickle with cloudpickle (client side: functions and their arguments)."""
    import cloudpickle

    return cloudpickle.dumps(obj, protocol=PROTOCOL)


def loads(data: bytes) -> Any:
    """Unpickle bytes that tether itself wrote (never bytes from the network)."""
    return pickle.loads(data)


def dump_value(obj: Any) -> bytes:
    """Pickle a result: plain ``pickle`` first (fast, no import), cloudpickle if that fails."""
    try:
        return pickle.dumps(obj, protocol=PROTOCOL)
    except Exception:
        return dumps(obj)


def dump_chunk(results: list[RunResult]) -> bytes:
    """Pickle a chunk of run results; a value or exception that cannot be pickled becomes a
    :class:`RunFailed` for that run alone."""
    try:
        return dump_value(results)
    except Exception:
        pass
    safe: list[RunResult] = []
    for index, ok, value, tb in results:
        try:
            dump_value(value)
            safe.append((index, ok, value, tb))
        except Exception as exc:
            what = "result" if ok else f"exception ({type(value).__name__}: {value})"
            safe.append((index, False, RunFailed(f"the {what} could not be pickled: {exc}"), tb))
    return dump_value(safe)


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes so that readers see either no file or the whole file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def with_remote_traceback(exc: BaseException, tb_text: str) -> BaseException:
    """The run's exception, with the worker's traceback text as its cause (and a note)."""
    if tb_text and not isinstance(exc.__cause__, RemoteTraceback):
        exc.__cause__ = RemoteTraceback(tb_text)
        add_note = getattr(exc, "add_note", None)
        if add_note is not None and not any(
            n.startswith("remote traceback") for n in getattr(exc, "__notes__", ())
        ):
            add_note("remote traceback: see the cause above (raised in a tether worker)")
    return exc
