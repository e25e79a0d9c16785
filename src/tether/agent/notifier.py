"""The agent's side of the notifier (`python -m tether.notifications.worker`): start it as a
separate process, restart it if it dies, stop it with the agent. Nothing here blocks for long; the
agent calls `ensure` every tick."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

RESTART_DELAY = 1.0
LOG_FILE = "notifier.log"


class NotifierProcess:
    """A handle on the agent's notifier child process."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.proc: subprocess.Popen[bytes] | None = None
        self.next_start = 0.0

    def ensure(self) -> None:
        """Start the notifier if it is not running (at most once per `RESTART_DELAY`)."""
        if self.proc is not None and self.proc.poll() is None:
            return
        now = time.monotonic()
        if now < self.next_start:
            return
        self.next_start = now + RESTART_DELAY
        args = [sys.executable, "-m", "tether.notifications.worker", "--home", str(self.home)]
        args += ["--parent", str(os.getpid())]
        with open(self.home / LOG_FILE, "ab") as log:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                close_fds=True,
                env={**os.environ, "TETHER_HOME": str(self.home)},
            )

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the notifier to finish its current send and exit; kill it after ``timeout``."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait(timeout)
