"""Where tether keeps its state: everything lives under one folder, ``TETHER_HOME``."""

from __future__ import annotations

import os
from pathlib import Path


def tether_home() -> Path:
    """Return the state folder (``$TETHER_HOME`` or the platform's user data dir), creating it."""
    env = os.environ.get("TETHER_HOME")
    if env:
        home = Path(env).expanduser()
    else:
        from platformdirs import user_data_dir

        home = Path(user_data_dir("tether", appauthor=False))
    if not home.is_dir():
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home


def db_path(home: Path) -> Path:
    return home / "tether.db"


def jobs_dir(home: Path) -> Path:
    return home / "jobs"


def agent_socket(home: Path) -> Path:
    return home / "agent.sock"


def agent_lock(home: Path) -> Path:
    return home / "agent.lock"


def agent_log(home: Path) -> Path:
    return home / "agent.log"
