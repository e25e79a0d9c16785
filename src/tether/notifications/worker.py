"""The notifier: ``python -m tether.notifications.worker --home DIR --parent PID``.

A process of its own, started (and restarted if it dies) by the agent, so that the agent's loop
never waits on a mail server and stays single-threaded for its forks. It queues what jobs do
into the outbox and sends the outbox. One per home (a lock); it exits when its agent is gone,
and the next agent's notifier sends whatever was left pending.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from tether.config import load_user_config
from tether.errors import TetherError
from tether.notifications.delivery import Deliverer, RetryPolicy
from tether.notifications.watcher import Watcher
from tether.store.jobs import JobStore
from tether.store.outbox import Outbox

log = logging.getLogger("tether.notifications")

POLL = 0.5
LOCK_FILE = "notifier.lock"
INBOX_RETRY_FIRST = 5.0
INBOX_RETRY_MAX = 300.0
"""A mailbox watcher that cannot be set up is tried again after 5 s, doubling, at most 5 min."""


class Notifier:
    """The notifier's state and loop."""

    def __init__(self, home: Path, parent: int | None) -> None:
        self.home = home
        self.parent = parent
        self.stopping = False
        self._config_error: str | None = None
        self._inbox_error: str | None = None
        self._inbox_retry_at = 0.0
        self._inbox_delay = INBOX_RETRY_FIRST
        self._inbox_tries, self._inbox_since = 0, 0.0

    def _on_term(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def orphaned(self) -> bool:
        return self.parent is not None and os.getppid() != self.parent

    def _lock(self) -> Any | None:
        """Take the home's notifier lock, waiting for an old notifier to exit."""
        lock = open(self.home / LOCK_FILE, "a")  # noqa: SIM115 - held for the process's life
        while not (self.stopping or self.orphaned()):
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return lock
            except BlockingIOError:
                time.sleep(0.2)
        lock.close()
        return None

    def _config(self) -> tuple[dict[str, Any], RetryPolicy]:
        try:
            config = load_user_config()
            policy = RetryPolicy.from_config(config)
        except TetherError as exc:
            if self._config_error != str(exc):
                log.warning("%s (using the defaults until it is fixed)", exc)
                self._config_error = str(exc)
            return {}, RetryPolicy()
        self._config_error = None
        return config, policy

    def _start_inbox(self, config: dict[str, Any]) -> threading.Thread | None:
        """The mailbox watcher's thread, when ``[mail.imap]`` is set up (None otherwise).

        When it cannot be set up (e.g. no IMAP password), that is logged and recorded for
        `tether mail log` once per different reason, and tried again with a growing delay.
        """
        from tether.mail.inbox import watcher_from_config

        now = time.monotonic()
        if now < self._inbox_retry_at:
            return None
        try:
            inbox = watcher_from_config(self.home, config)
        except TetherError as exc:
            if self._inbox_error != str(exc):
                log.warning("replies by mail are off: %s", exc)
                self._inbox_error = str(exc)
                self._inbox_delay = INBOX_RETRY_FIRST
                self._inbox_tries, self._inbox_since = 0, time.time()
            self._inbox_tries += 1  # every try is counted for `mail log`; logged once
            self._record_inbox_failure(config, str(exc))
            self._inbox_retry_at = now + self._inbox_delay
            self._inbox_delay = min(self._inbox_delay * 2, INBOX_RETRY_MAX)
            return None
        self._inbox_error = None
        self._inbox_delay = INBOX_RETRY_FIRST
        if inbox is None:
            return None
        log.info("watching %s for replies", inbox.settings.host)
        stop = lambda: self.stopping or self.orphaned()  # noqa: E731
        thread = threading.Thread(target=inbox.run, args=(stop,), name="inbox", daemon=True)
        thread.start()
        return thread

    def _record_inbox_failure(self, config: dict[str, Any], error: str) -> None:
        """Write why the mailbox is not watched where `tether mail log` reads it."""
        from tether.mail.mail_log import record_watch

        imap = config.get("mail", {}).get("imap", {}) if isinstance(config, dict) else {}
        imap = imap if isinstance(imap, dict) else {}
        try:
            record_watch(
                self.home, mode="failing", host=str(imap.get("host", "?")),
                folder=str(imap.get("folder", "INBOX")), poll=imap.get("poll", 30.0), error=error,
                tries=self._inbox_tries, since=self._inbox_since,
            )  # fmt: skip
        except Exception as exc:  # the store is busy or gone: the log line is still there
            log.warning("could not record the mailbox failure: %s", exc)

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        lock = self._lock()
        if lock is None:
            return
        log.info("notifier started for %s", self.home)
        store = JobStore(self.home)
        outbox = Outbox(store.conn)
        watcher, deliverer = Watcher(store, outbox), Deliverer(outbox)
        inbox: threading.Thread | None = None
        try:
            while not (self.stopping or self.orphaned()):
                config, policy = self._config()
                if inbox is None or not inbox.is_alive():
                    inbox = self._start_inbox(config)
                watcher.scan()
                deliverer.deliver_due(config, policy, should_stop=lambda: self.stopping)
                time.sleep(POLL)
        finally:
            self.stopping = True
            if inbox is not None:
                inbox.join(5.0)
            store.close()
            lock.close()
            log.info("notifier stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tether-notifier")
    parser.add_argument("--home", required=True)
    parser.add_argument("--parent", type=int, default=None, help="exit when this pid is gone")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s notifier[%(process)d] %(levelname)s %(message)s"
    )
    Notifier(Path(args.home), args.parent).serve()


if __name__ == "__main__":
    main()
