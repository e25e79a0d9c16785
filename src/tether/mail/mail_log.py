"""The mail log (``mail_log.jsonl`` in TETHER_HOME): every message the watcher looked at, what
was done with it or why it was ignored, and how the watcher waits for new mail."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tether.store.jobs import JobStore

LOG_FILE = "mail_log.jsonl"
WATCH_KEY = "mail.imap.watch"


def append_log(home: Path, entry: dict[str, Any]) -> None:
    """One line of the mail log (what came in and what was done)."""
    entry = {"time": time.time(), **entry}
    with open(home / LOG_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, default=str) + "\n")


def read_log(home: Path) -> list[dict[str, Any]]:
    """Every entry of the mail log, oldest first."""
    try:
        lines = (home / LOG_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def record_watch(home: Path, **state: Any) -> None:
    """Remember how the watcher waits for mail (mode "idle" or "poll", host, folder, since)."""
    store = JobStore(home)
    try:
        store.set_setting(WATCH_KEY, json.dumps({"since": time.time(), **state}))
    finally:
        store.close()


def read_watch(home: Path) -> dict[str, Any] | None:
    """What `record_watch` last stored; None if the watcher never ran."""
    store = JobStore(home)
    try:
        text = store.get_setting(WATCH_KEY)
    finally:
        store.close()
    return json.loads(text) if text else None
