"""What every command needs: the store, JOB resolution and JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from tether.paths import tether_home
from tether.store.jobs import Job, JobStore

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (stable fields).")


def open_store() -> JobStore:
    return JobStore(tether_home())


def resolve_job(store: JobStore, ref: str | None) -> Job:
    """Resolve JOB and bring it up to date with its supervisor's result."""
    from tether.jobs.lifecycle import refresh

    return refresh(store, store.resolve(ref))


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
