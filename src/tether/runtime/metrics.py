"""``tether.report``: metrics from inside a training loop, at the cost of a list append.

Calls only append a tuple to an in-memory buffer. A background thread turns the buffer into
JSON lines in the job's ``metrics.jsonl`` (and columns in ``metrics/``, ``runtime.columns``)
every half second, evaluates conditions as values arrive, and a final flush runs at exit
(also on SIGTERM when the program has no handler of its own).
Outside a tether job every call returns at once and nothing is written.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.runtime import context
from tether.runtime.events import record_event

if TYPE_CHECKING:
    from tether.runtime.columns import ColumnWriter

FLUSH_INTERVAL = 0.5


class Condition:
    """A predicate over named metrics; fires an event each time it turns true."""

    def __init__(self, names: tuple[str, ...], predicate: Callable[..., Any], label: str) -> None:
        self.names = names
        self.predicate = predicate
        self.label = label
        self.was_true = False

    def check(self, latest: dict[str, float]) -> None:
        if any(name not in latest for name in self.names):
            return
        values = [latest[name] for name in self.names]
        try:
            now_true = bool(self.predicate(*values))
        except Exception as exc:  # a broken predicate must never break the program
            record_event("condition_error", condition=self.label, error=repr(exc))
            self.predicate = lambda *_: False
            return
        if now_true and not self.was_true:
            record_event(
                "condition", condition=self.label, values=dict(zip(self.names, values, strict=True))
            )
        self.was_true = now_true


class Reporter:
    """The per-process metric buffer and its flush thread."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / context.METRICS_FILE
        self.buffer: list[tuple[int, float, dict[str, Any]]] = []
        self.step = 0
        self.lock = threading.Lock()
        self.conditions: list[Condition] = []
        self.latest: dict[str, float] = {}
        self.nonfinite_seen = False  # the first NaN/inf is recorded as an event (--notify-on nan)
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.columns: ColumnWriter | None = None

    def add(self, step: int | None, values: dict[str, Any]) -> None:
        if step is None:
            step = self.step
            self.step += 1
        else:
            self.step = step + 1
        self.buffer.append((step, time.time(), values))
        if self.thread is None:
            self._start()

    def _start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="tether-metrics", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            self.wake.wait(FLUSH_INTERVAL)
            self.wake.clear()
            self.flush()

    def flush(self) -> None:
        with self.lock:
            pending, self.buffer = self.buffer, []
            if not pending:
                return
            lines = []
            cleaned: list[tuple[int, float, dict[str, float | None]]] = []
            for step, when, values in pending:
                clean = {k: _number(v) for k, v in values.items()}
                cleaned.append((step, when, clean))
                self.latest.update({k: v for k, v in clean.items() if v is not None})
                if not self.nonfinite_seen:
                    bad = [(k, v) for k, v in clean.items() if v is not None and v - v != 0]
                    if bad:
                        self.nonfinite_seen = True
                        record_event("nonfinite", metric=bad[0][0], value=str(bad[0][1]), step=step)
                lines.append(json.dumps({"step": step, "time": when, "values": clean}))
                for condition in self.conditions:
                    condition.check(self.latest)
            data = ("\n".join(lines) + "\n").encode()
            try:
                with open(self.path, "ab") as out:
                    out.write(data)
            except OSError:
                pass
            self._write_columns(cleaned)

    def _write_columns(self, points: list[tuple[int, float, dict[str, float | None]]]) -> None:
        """The same points into the column store (``metrics/``), which fast readers use."""
        try:
            if self.columns is None:
                from tether.runtime.columns import ColumnWriter  # lazily: import tether stays cheap

                self.columns = ColumnWriter(self.path.parent)
            self.columns.append(points)
        except Exception:  # the store must never break the program; jsonl stays the record
            pass


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number  # NaN and +/-inf are kept: a diverging loss is what users most want to see


_reporter: Reporter | None = None
_forked = False  # set in a forked child (e.g. a DataLoader worker): it sets up its own


def _after_fork_in_child() -> None:
    global _reporter, _forked
    _reporter = None  # the parent's buffer and flush thread are not this process's
    _forked = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def _get() -> Reporter | None:
    """The reporter of a forked child, set up on its first report (no syscall per call)."""
    global _forked
    if _forked:
        _forked = False
        _set_up()
    return _reporter


def _set_up() -> None:
    global _reporter
    folder = context.job_dir()
    if folder is None or not folder.is_dir():
        return
    _reporter = Reporter(folder)
    atexit.register(_reporter.flush)
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _flush_and_die)


def _flush_and_die(signum: int, frame: Any) -> None:
    if _reporter is not None:
        _reporter.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


_set_up()


def report(step: int | None = None, **scalars: Any) -> None:
    """Record metrics, e.g. ``tether.report(loss=0.3, acc=0.91)``; ``step`` is optional."""
    reporter = _reporter or _get()
    if reporter is not None:
        reporter.add(step, scalars)


def report_scalar(*names_and_values: Any) -> None:
    """Meeshkan's form: ``report_scalar("train loss", 0.3, "val loss", 0.4)``."""
    if len(names_and_values) % 2:
        raise TypeError("report_scalar takes name, value pairs")
    it = iter(names_and_values)
    report(**{str(name): value for name, value in zip(it, it, strict=False)})


def add_condition(*args: Any, label: str | None = None) -> None:
    """Notify when ``predicate(*values of the named metrics)`` turns true.

    ``tether.add_condition("val loss", lambda v: v < 0.1)`` or with several names:
    ``tether.add_condition("train loss", "val loss", lambda t, v: abs(t - v) > 0.2)``.
    """
    if not args or not callable(args[-1]):
        raise TypeError("add_condition(name, ..., predicate): the last argument must be callable")
    names = tuple(str(a) for a in args[:-1])
    if not names:
        raise TypeError("add_condition needs at least one metric name before the predicate")
    reporter = _get()
    if reporter is None:
        return
    reporter.conditions.append(Condition(names, args[-1], label or " & ".join(names)))


def flush() -> None:
    """Write buffered metrics now (normally done every half second and at exit)."""
    reporter = _get()
    if reporter is not None:
        reporter.flush()
