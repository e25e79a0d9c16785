"""The audit log of controls used from the dashboard: what, when, from where (JSON lines)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

AUDIT_FILE = "web-audit.jsonl"


def record(home: Path, action: str, job: str, client: str, **details: Any) -> None:
    """Append one control to TETHER_HOME/web-audit.jsonl."""
    entry = {"time": time.time(), "action": action, "job": job, "from": client, **details}
    with open(home / AUDIT_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, default=str) + "\n")


def read(home: Path, job: str | None = None) -> list[dict[str, Any]]:
    """Every recorded control (of one job's uuid when given), oldest first."""
    try:
        lines = (home / AUDIT_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if job is None or entry.get("job") == job:
            out.append(entry)
    return out
