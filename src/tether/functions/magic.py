"""The ``%%tether`` cell magic: run a notebook cell as a tether job and get its value back.

::

    %load_ext tether

    %%tether --args a=10 b=7
    a * b                      # Out: 70

    %%tether --in data --name fit-1
    model = fit(data)
    model.score_               # the last expression's value is the cell's output

    %%tether --on gpu1 --in data   # on a host added with `tether hosts add gpu1 ...`
    fit(data).score_

The cell runs in a fresh namespace holding only the values passed in (``--args NAME=VALUE``,
Python literals or plain text, and ``--in NAME`` for notebook variables, cloudpickled). What it
prints is shown after it finishes (it also goes to the job's log). The Dataset is kept in the
notebook as ``tether_last``. IPython itself is only imported by IPython: this module is what the
worker imports to run the cell, and it needs nothing of IPython there.
"""

from __future__ import annotations

import argparse
import ast
import io
import shlex
import sys
from contextlib import redirect_stdout
from typing import Any

from tether.errors import UsageError

CELL_FILE = "<tether cell>"


class CellOutput:
    """What a cell gave back: its last expression's value and what it printed."""

    __slots__ = ("stdout", "value")

    def __init__(self, value: Any, stdout: str) -> None:
        self.value = value
        self.stdout = stdout

    def __repr__(self) -> str:
        return f"CellOutput(value={self.value!r}, stdout={self.stdout!r})"


def run_cell(source: str, values: dict[str, Any]) -> CellOutput:
    """Run Python ``source`` with ``values`` as its globals (runs in the worker)."""
    tree = ast.parse(source, CELL_FILE, "exec")
    last: ast.Expression | None = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body[-1].value)
        del tree.body[-1]
    namespace: dict[str, Any] = {"__name__": "__tether_cell__", **values}
    captured = io.StringIO()
    with redirect_stdout(_Tee(captured, sys.stdout)):
        exec(compile(tree, CELL_FILE, "exec"), namespace)
        value = eval(compile(last, CELL_FILE, "eval"), namespace) if last is not None else None
    return CellOutput(value, captured.getvalue())


class _Tee(io.TextIOBase):
    """Writes to the capture and to the job's log."""

    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"%%tether: {message}")


def _parser() -> _Parser:
    p = _Parser(prog="%%tether", add_help=False)
    p.add_argument("--on", default="local", help="where to run: local or a host")
    p.add_argument("--name", default=None, help="the job's name (replaces a finished one)")
    p.add_argument("--args", nargs="*", default=[], metavar="NAME=VALUE")
    p.add_argument("--in", dest="inputs", nargs="*", default=[], metavar="NAME")
    p.add_argument("--timeout", type=float, default=None)
    return p


def parse_line(line: str, user_ns: dict[str, Any]) -> tuple[argparse.Namespace, dict[str, Any]]:
    """The magic's options and the values to pass into the cell."""
    options = _parser().parse_args(shlex.split(line))
    values: dict[str, Any] = {}
    for item in options.args:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"%%tether --args: {item!r} is not NAME=VALUE")
        try:
            values[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[key] = text
    for key in options.inputs:
        if key not in user_ns:
            raise UsageError(f"%%tether --in: no variable {key!r} in the notebook")
        values[key] = user_ns[key]
    return options, values


def tether_cell(line: str, cell: str) -> Any:
    """``%%tether [--on HOST] [--name N] [--args a=1 b=2] [--in x y] [--timeout S]``"""
    from IPython import get_ipython

    from tether.functions.dataset import Dataset

    shell = get_ipython()
    options, values = parse_line(line, shell.user_ns)
    source = shell.transform_cell(cell)
    # a cell is run each time (it may read files, draw random numbers): no memoisation
    ds = Dataset(run_cell, on=options.on, name=options.name, replace=True, skip=False)
    ds.append_run({"source": source, "values": values})
    shell.user_ns["tether_last"] = ds
    ds.run()
    ds.wait(interval=0.2, timeout=options.timeout)
    ds.fetch_results()
    error = ds.errors[0]
    if error is not None:
        raise error
    output = ds.results[0]
    if output.stdout:
        sys.stdout.write(output.stdout)
    return output.value


def register(ipython: Any) -> None:
    """Add ``%%tether`` to an IPython shell (``%load_ext tether`` calls this)."""
    ipython.register_magic_function(tether_cell, magic_kind="cell", magic_name="tether")
