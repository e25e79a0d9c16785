"""The mailbox watcher: reads replies over IMAP, acts on them, answers them.

Settings come from ``[mail.imap]`` (see `tether.mail.imap_settings`); the password from
``TETHER_IMAP_PASSWORD`` or the keyring. Each message is handled at most once, also across
restarts: the folder's UIDVALIDITY and the last handled UID are kept in the store's settings
table and written *before* a command runs (a crash loses that command rather than running it
twice). Handled mail is marked \\Seen. Rejected mail is never answered, only logged
(`tether mail log`); Invalid mail is answered, rate-limited.

With ``move_to`` set, mail tether acted on (a command, or an invalid command it answered) is
moved to that folder after it was handled; ignored (Rejected) mail stays where it is, so a
mailbox that also gets other mail never loses it to the tether folder.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tether.errors import ConfigError
from tether.mail import secrets
from tether.mail.answer import answer_message, read_headers
from tether.mail.imap_folders import capabilities, ensure_folder, move_message
from tether.mail.imap_settings import DEFAULT_PORTS, SECURITY, ImapSettings, imap_settings
from tether.mail.mail_log import LOG_FILE, append_log, read_log, record_watch
from tether.mail.reply import Command, Invalid, Rejected, parse_reply
from tether.mail.steering import apply_command, find_job
from tether.store.jobs import JobStore

log = logging.getLogger("tether.mail")

CONNECT_TIMEOUT = 30.0
CHECK_TIMEOUT = 5.0
"""Seconds `tether mail setup` waits for the IMAP server when it checks the settings."""
RETRY_FIRST = 5.0
RETRY_MAX = 300.0
"""A failing mailbox is retried after 5 s, then twice as long each time, at most 5 min."""
IDLE_TIMEOUT = 25.0
IDLE_SLICE = 1.0
INVALID_LIMIT = 5
"""At most this many "not a valid command" answers per sender per hour."""
_STATE_KEY = "mail.imap.state"

__all__ = [
    "DEFAULT_PORTS",
    "LOG_FILE",
    "SECURITY",
    "ImapSettings",
    "InboxWatcher",
    "append_log",
    "imap_settings",
    "read_log",
]


class InboxWatcher:
    """Handles the new mail of one IMAP folder; `run` loops until `should_stop()`."""

    client_class: type | None = None
    """An `imapclient.IMAPClient` subclass to connect with (None: IMAPClient itself)."""

    def __init__(
        self,
        home: Path,
        settings: ImapSettings,
        password: str,
        send: Callable[[EmailMessage], None],
        sender: str,
    ) -> None:
        self.home = home
        self.settings = settings
        self.password = password
        self.send = send
        self.sender = sender
        self._invalid_sent: dict[str, list[float]] = {}
        self.caps: frozenset[str] = frozenset()

    def connect(self, timeout: float = CONNECT_TIMEOUT) -> Any:
        """A logged-in IMAP client (an `imapclient.IMAPClient`, or `client_class` if set)."""
        from imapclient import IMAPClient

        s = self.settings
        context = ssl.create_default_context(cafile=s.cafile) if s.security != "none" else None
        client = (self.client_class or IMAPClient)(
            s.host, port=s.port, ssl=s.security == "ssl", ssl_context=context, timeout=timeout
        )
        if s.security == "starttls":
            client.starttls(context)
        client.login(s.user, self.password)
        return client

    def run(self, should_stop: Callable[[], bool]) -> None:
        """Connect, handle new mail, wait (IDLE or poll), repeat; reconnect after errors."""
        try:
            self._run(should_stop)
        finally:
            s = self.settings
            record_watch(self.home, mode="stopped", host=s.host, folder=s.folder, poll=s.poll)

    def _run(self, should_stop: Callable[[], bool]) -> None:
        """Serve; after a failure wait (5 s, doubling, at most 5 min) and connect again.

        A failure is logged and written to the watch state (`tether mail log`) when it differs
        from the last one, not on every retry; getting through again is logged once too.
        """
        s = self.settings
        delay = RETRY_FIRST
        failing: str | None = None
        tries, since = 0, 0.0
        while not should_stop():
            try:
                client = self.connect()
                try:
                    delay = RETRY_FIRST
                    if failing is not None:
                        log.info("IMAP %s:%d: connected again", s.host, s.port)
                        failing, tries = None, 0
                    self._serve(client, should_stop)
                finally:
                    try:
                        client.logout()
                    except Exception:
                        pass
            except Exception as exc:
                reason = describe_imap_error(exc, s)
                if reason != failing:
                    log.warning("%s (retrying, at most every %.0f s)", reason, RETRY_MAX)
                    failing, tries, since = reason, 0, time.time()
                tries += 1  # every try is counted where `mail log` reads it; logged once
                record_watch(
                    self.home, mode="failing", host=s.host, folder=s.folder, poll=s.poll,
                    error=reason, tries=tries, since=since,
                )  # fmt: skip
                end = time.monotonic() + delay
                while time.monotonic() < end and not should_stop():
                    time.sleep(0.2)
                delay = min(delay * 2, RETRY_MAX)

    def _serve(self, client: Any, should_stop: Callable[[], bool]) -> None:
        s = self.settings
        self.caps = capabilities(client)
        idle = "IDLE" in self.caps
        if s.move_to:
            try:
                if ensure_folder(client, s.move_to):
                    log.info("created IMAP folder %s for handled mail", s.move_to)
            except client.Error as exc:  # the server refused it: read mail anyway, move nothing
                log.warning("cannot create IMAP folder %s: %s", s.move_to, exc)
        mode = "idle" if idle else "poll"
        self.process_new(client, "start")  # the backlog; then say how new mail is waited for
        record_watch(self.home, mode=mode, host=s.host, folder=s.folder, poll=s.poll)
        log.info("waiting for mail in %s on %s by %s", s.folder, s.host, mode.upper())
        while not should_stop():
            if idle and self._arrived(client):  # while the last ones were handled
                via = "recheck"
            elif idle:
                via = "idle" if self._idle(client, should_stop) else "idle-timeout"
            else:
                end = time.monotonic() + s.poll
                while time.monotonic() < end and not should_stop():
                    time.sleep(0.2)
                via = "poll"
            if not should_stop():
                self.process_new(client, via)

    def _arrived(self, client: Any) -> bool:
        """Whether mail came in since the last look (asked just before IDLE). The server
        tells of new mail once, and a notice that comes with another command's answer is
        lost to IDLE: mail that arrived while earlier mail was handled waited for the IDLE
        timeout (25 s) before this look."""
        store = JobStore(self.home)
        try:
            last = int(json.loads(store.get_setting(_STATE_KEY) or "{}").get("last_uid", 0))
        finally:
            store.close()
        return any(uid > last for uid in client.search(["UID", f"{last + 1}:*"]))

    def _idle(self, client: Any, should_stop: Callable[[], bool]) -> bool:
        """Wait in IDLE; True when the server announced a change, False on timeout or stop."""
        client.idle()
        try:
            end = time.monotonic() + IDLE_TIMEOUT
            while time.monotonic() < end and not should_stop():
                if client.idle_check(timeout=IDLE_SLICE):
                    return True
            return False
        finally:
            client.idle_done()

    def process_new(self, client: Any, via: str = "start") -> int:
        """Handle every message not handled before; returns how many were handled.

        `via` says what woke the watcher ("start", "idle", "idle-timeout", "recheck", "poll"); it is
        written to the mail log with each message.
        """
        info = client.select_folder(self.settings.folder)
        validity = int(info[b"UIDVALIDITY"])
        store = JobStore(self.home)
        try:
            state = json.loads(store.get_setting(_STATE_KEY) or "{}")
            if state.get("uidvalidity") == validity:
                last = int(state.get("last_uid", 0))
                uids = [u for u in client.search(["UID", f"{last + 1}:*"]) if u > last]
            else:  # first start, or the folder was rebuilt: what is unread
                last = 0
                uids = list(client.search(["UNSEEN"]))
            for uid in sorted(uids):
                last = max(last, uid)
                _save_state(store, validity, last)
                data = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]", b"")
                client.add_flags([uid], [b"\\Seen"])
                if self.handle(bytes(data), uid, via) and self.settings.move_to:
                    self._file_away(client, uid, self.settings.move_to)
            if not uids:
                _save_state(store, validity, last)
        finally:
            store.close()
        return len(uids)

    def _file_away(self, client: Any, uid: int, folder: str) -> None:
        caps = self.caps or capabilities(client)
        try:
            how = move_message(client, uid, folder, caps)
            log.info("moved mail uid %d to %s (%s)", uid, folder, how)
        except Exception as exc:
            log.warning("could not move mail uid %d to %s: %s", uid, folder, exc)
            append_log(self.home, {"uid": uid, "outcome": "not-moved", "reason": str(exc)})

    def handle(self, raw: bytes, uid: int = 0, via: str = "") -> bool:
        """Parse one message, act on it, answer it (never a Rejected one).

        Returns whether the message was for tether (a command or an invalid command), i.e.
        whether it may be filed away.
        """
        store = JobStore(self.home)
        try:
            outcome = parse_reply(
                raw,
                allowed_senders=self.settings.allow,
                token_is_valid=lambda token: find_job(store, token),
            )
        finally:
            store.close()
        headers = read_headers(raw)
        entry = {"uid": uid, "from": headers.get("From", ""), "subject": headers.get("Subject", "")}
        if via:
            entry["via"] = via
        if isinstance(outcome, Rejected):
            log.info("ignored mail uid %d: %s", uid, outcome.reason)
            append_log(self.home, {**entry, "outcome": "rejected", "reason": outcome.reason})
            return False
        if isinstance(outcome, Invalid):
            append_log(self.home, {**entry, "outcome": "invalid", "reason": outcome.reason})
            if self._may_answer_invalid(outcome.sender):
                self._answer(headers, outcome.sender, f"error: {outcome.reason}")
            return True
        assert isinstance(outcome, Command)
        text = apply_command(self.home, outcome)
        append_log(self.home, {**entry, "outcome": outcome.kind, "reply": text.split("\n")[0]})
        self._answer(headers, outcome.sender, text)
        return True

    def _may_answer_invalid(self, sender: str) -> bool:
        now = time.time()
        recent = [t for t in self._invalid_sent.get(sender, []) if now - t < 3600]
        if len(recent) >= INVALID_LIMIT:
            self._invalid_sent[sender] = recent
            return False
        self._invalid_sent[sender] = [*recent, now]
        return True

    def _answer(self, headers: dict[str, str], to: str, text: str) -> None:
        try:
            self.send(answer_message(headers, self.sender, to, text))
        except Exception as exc:
            log.warning("could not answer %s: %s", to, exc)


def describe_imap_error(exc: BaseException, settings: ImapSettings, timeout: float = 0) -> str:
    """One line saying what failed with the IMAP server of `settings` (no traceback)."""
    where = f"IMAP server {settings.host}:{settings.port}"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the connection (nothing listens there)"
    if isinstance(exc, TimeoutError):
        within = f" within {timeout:g} s" if timeout else ""
        return f"{where} did not answer{within}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS with {where} failed ({exc}); check --imap-security and --imap-cafile"
    from imapclient.exceptions import LoginError

    if isinstance(exc, LoginError):
        return f"{where} refused the login of {settings.user} ({_one_line(exc)})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot reach {where}: {exc.strerror}"
    return f"{where}: {_one_line(exc) or type(exc).__name__}"


def _one_line(exc: BaseException) -> str:
    text = exc.args[0] if len(exc.args) == 1 else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(str(text).split())


def _save_state(store: JobStore, validity: int, last: int) -> None:
    store.set_setting(_STATE_KEY, json.dumps({"uidvalidity": validity, "last_uid": last}))


def watcher_from_config(home: Path, config: dict[str, Any]) -> InboxWatcher | None:
    """A watcher for the configured mailbox; None when IMAP is not set up."""
    from tether.mail.account import smtp_password, smtp_settings
    from tether.mail.smtp import send_email

    settings = imap_settings(config)
    if settings is None:
        return None
    password = secrets.get_password("imap", settings.user, settings.host)
    if password is None:
        raise ConfigError(
            f"no IMAP password for {settings.user}: set {secrets.env_var('imap')} or the keyring"
        )
    smtp = smtp_settings(config)

    def send(msg: EmailMessage) -> None:
        send_email(smtp, msg, smtp_password(smtp))

    return InboxWatcher(home, settings, password, send, smtp.sender)
