"""Files a supervisor leaves in a job's folder: ``run.json`` at start, ``result.json`` at the end.

The supervisor never touches the database: it writes these files atomically and tells the agent.
Whoever reads the job next (the agent, or any CLI call if the agent is down) records the result,
so an exit code is never lost even when no agent is alive at that moment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"
RESULT_FILE = "result.json"
GRACE_FILE = "cancel-grace"
"""Written by a cancel: the seconds the supervisor waits between SIGTERM and SIGKILL."""


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON so that readers see either nothing or the whole file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as out:
        json.dump(data, out)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
