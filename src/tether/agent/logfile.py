"""``agent.log``: the agent's log, rotated by size so that it never grows without bound.

At ``MAX_BYTES`` the file becomes ``agent.log.1`` (the previous ``.1`` becomes ``.2``; older
ones are dropped). When the agent's stdout and stderr were pointed at ``agent.log`` (as
`tether.agent.control.spawn` does), they follow the new file after each rotation, so stray
output and tracebacks land in the current log too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 2
MAX_BYTES_ENV = "TETHER_AGENT_LOG_MAX_BYTES"
FORMAT = "%(asctime)s agent[%(process)d] %(levelname)s %(message)s"


class AgentLogHandler(RotatingFileHandler):
    """A size-rotated log file that the process's stdout/stderr follow (if they wrote to it)."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        self.follow = [fd for fd in (1, 2) if _same_file(fd, path)]
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self._redirect()

    def doRollover(self) -> None:
        super().doRollover()
        self._redirect()

    def _redirect(self) -> None:
        if self.stream is None or not self.follow:
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd in self.follow:
            os.dup2(self.stream.fileno(), fd)


def max_bytes() -> int:
    """The rotation size: ``$TETHER_AGENT_LOG_MAX_BYTES`` if set (at least 1 KiB), else 5 MiB."""
    try:
        return max(1024, int(os.environ[MAX_BYTES_ENV]))
    except (KeyError, ValueError):
        return MAX_BYTES


def setup(home: Path) -> None:
    """Log to stderr; when stderr is ``home/agent.log`` (a spawned agent), rotate that file."""
    path = home / "agent.log"
    handler: logging.Handler = logging.StreamHandler()
    if _same_file(2, path):
        with contextlib.suppress(OSError):
            handler = AgentLogHandler(path, max_bytes())
    handler.setFormatter(logging.Formatter(FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
