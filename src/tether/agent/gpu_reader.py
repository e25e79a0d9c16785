"""``nvidia-smi`` off the agent's loop.

An ``nvidia-smi`` that takes seconds (or hangs until its timeout) must not hold back jobs that
need no GPU. The scheduler asks :meth:`GpuReader.latest` for the last reading; when that is
older than ``interval`` a background thread reads again (one at a time, with a timeout).
Until a first reading arrives, or while ``nvidia-smi`` fails, GPU jobs wait and the reason
says why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tether.agent import gpus

Reading = tuple[list[gpus.Gpu] | None, str | None]


class GpuReader:
    """The last GPU reading and why there is none, refreshed in the background."""

    def __init__(
        self,
        read: Callable[[], Reading] = gpus.read,
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._reading: Reading = (None, "reading the GPUs (nvidia-smi) for the first time")
        self._asked_at: float | None = None
        self._thread: threading.Thread | None = None

    def latest(self) -> Reading:
        """The last reading (GPUs, or None and why); starts a fresh read when it is old."""
        now = self.clock()
        with self._lock:
            busy = self._thread is not None and self._thread.is_alive()
            due = self._asked_at is None or now - self._asked_at >= self.interval
            if due and not busy:
                self._asked_at = now
                self._thread = threading.Thread(target=self._refresh, name="gpus", daemon=True)
                self._thread.start()
            return self._reading

    def _refresh(self) -> None:
        try:
            reading = self._read()
        except Exception as exc:  # never let the thread die silently
            reading = (None, f"reading the GPUs failed: {exc}")
        with self._lock:
            if reading[0] is not None or self._reading[0] is None:
                self._reading = reading
            else:  # keep the last good reading; remember the error for the reason
                self._reading = (self._reading[0], reading[1])
