"""What a program can learn about the tether job it runs in (from environment variables)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ENV_JOB_DIR = "TETHER_JOB_DIR"
ENV_JOB_NUMBER = "TETHER_JOB_NUMBER"
ENV_JOB_UUID = "TETHER_JOB_UUID"
ENV_PARAMS = "TETHER_PARAMS"

METRICS_FILE = "metrics.jsonl"
EVENTS_FILE = "events.jsonl"


def job_dir() -> Path | None:
    """The running job's folder, or None outside a tether job."""
    value = os.environ.get(ENV_JOB_DIR)
    return Path(value) if value else None


def job_number() -> int | None:
    value = os.environ.get(ENV_JOB_NUMBER)
    return int(value) if value and value.isdigit() else None


def params() -> dict[str, Any]:
    """Parameter overrides given with ``tether run -p NAME=VALUE`` (empty outside tether)."""
    raw = os.environ.get(ENV_PARAMS)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
