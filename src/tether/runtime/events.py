"""Messages and condition events a program records for its notifications (``events.jsonl``)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from tether.runtime import context


def record_event(kind: str, **fields: Any) -> None:
    """Append one event line to the job's events file; does nothing outside a tether job."""
    folder = context.job_dir()
    if folder is None:
        return
    line = json.dumps({"time": time.time(), "kind": kind, **fields}, default=str) + "\n"
    try:
        fd = os.open(folder / context.EVENTS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:
        return
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def notify(text: str) -> None:
    """Send ``text`` with the job's next notification (and as a notification of its own)."""
    record_event("message", text=str(text))


def send_status(text: str) -> None:
    """The seed's name for :func:`notify`: the program's "OUTPUT STATUS"."""
    record_event("message", text=str(text), status=True)
