"""Messages and condition events a program records for its notifications (``events.jsonl``)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from tether.runtime import context

#: The longest text an event keeps; longer texts are cut, with a marker saying so.
MAX_TEXT_CHARS = 64 * 1024


def _capped(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        cut = len(value) - MAX_TEXT_CHARS
        return f"{value[:MAX_TEXT_CHARS]}... [{cut} more characters cut by tether]"
    return value


def record_event(kind: str, **fields: Any) -> None:
    """Append one event line to the job's events file; does nothing outside a tether job.
    Texts over :data:`MAX_TEXT_CHARS` are cut with a marker, so a line stays readable."""
    folder = context.job_dir()
    if folder is None:
        return
    fields = {key: _capped(value) for key, value in fields.items()}
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
