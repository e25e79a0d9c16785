"""The mailbox watcher: reads replies over IMAP, acts on them, answers them.

Settings come from ``[mail.imap]`` of the user config (host, port, security, user, allow,
cafile, poll); the password from ``TETHER_IMAP_PASSWORD`` or the keyring. Each message is
handled at most once, also across restarts: the folder's UIDVALIDITY and the last handled UID
are kept in the store's settings table and written *before* a command runs (a crash loses
that command rather than running it twice). Handled mail is marked \\Seen. Rejected mail is
never answered, only logged (`tether mail log`); Invalid mail is answered, rate-limited.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import formatdate
from pathlib import Path
from typing import Any

from tether.config import line_of, table, user_config_path
from tether.errors import ConfigError
from tether.mail import secrets
from tether.mail.reply import Command, Invalid, Rejected, parse_reply
from tether.mail.steering import apply_command, find_job
from tether.store.jobs import JobStore

log = logging.getLogger("tether.mail")

SECURITY = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 143, "starttls": 143, "ssl": 993}
IDLE_TIMEOUT = 25.0
IDLE_SLICE = 1.0
LOG_FILE = "mail_log.jsonl"
INVALID_LIMIT = 5
"""At most this many "not a valid command" answers per sender per hour."""
_STATE_KEY = "mail.imap.state"


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str
    user: str
    allow: tuple[str, ...]
    folder: str = "INBOX"
    cafile: str | None = None
    poll: float = 30.0


def imap_settings(config: dict[str, Any]) -> ImapSettings | None:
    """The ``[mail.imap]`` settings, None when IMAP is not set up; ConfigError if malformed."""
    path = user_config_path()
    imap = table(table(config, "mail", path), "imap", path)
    if not imap:
        return None
    smtp = table(table(config, "mail", path), "smtp", path)
    try:
        security = str(imap.get("security", "ssl"))
        if security not in SECURITY:
            raise ValueError(f"security must be one of {', '.join(SECURITY)}")
        allow = imap.get("allow", [])
        return ImapSettings(
            host=str(imap["host"]),
            port=int(imap.get("port") or DEFAULT_PORTS[security]),
            security=security,
            user=str(imap["user"]),
            allow=tuple([allow] if isinstance(allow, str) else allow),
            folder=str(imap.get("folder", "INBOX")),
            cafile=imap.get("cafile") or smtp.get("cafile") or None,
            poll=float(imap.get("poll", 30.0)),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"{line_of(path, '[mail.imap]')}: bad IMAP setting: {exc}") from None


def append_log(home: Path, entry: dict[str, Any]) -> None:
    """One line of the mail log (what came in and what was done)."""
    entry = {"time": time.time(), **entry}
    with open(home / LOG_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, default=str) + "\n")


def read_log(home: Path) -> list[dict[str, Any]]:
    try:
        lines = (home / LOG_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


class InboxWatcher:
    """Handles the new mail of one IMAP folder; `run` loops until `should_stop()`."""

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

    def connect(self) -> Any:
        from imapclient import IMAPClient

        s = self.settings
        context = ssl.create_default_context(cafile=s.cafile) if s.security != "none" else None
        client = IMAPClient(
            s.host, port=s.port, ssl=s.security == "ssl", ssl_context=context, timeout=30
        )
        if s.security == "starttls":
            client.starttls(context)
        client.login(s.user, self.password)
        return client

    def run(self, should_stop: Callable[[], bool]) -> None:
        """Connect, handle new mail, wait (IDLE or poll), repeat; reconnect after errors."""
        delay = 1.0
        while not should_stop():
            try:
                client = self.connect()
                try:
                    delay = 1.0
                    self._serve(client, should_stop)
                finally:
                    try:
                        client.logout()
                    except Exception:
                        pass
            except Exception as exc:
                log.warning("IMAP %s: %s (retry in %.0f s)", self.settings.host, exc, delay)
                end = time.monotonic() + delay
                while time.monotonic() < end and not should_stop():
                    time.sleep(0.2)
                delay = min(delay * 2, 300.0)

    def _serve(self, client: Any, should_stop: Callable[[], bool]) -> None:
        idle = client.has_capability("IDLE")
        while not should_stop():
            self.process_new(client)
            if idle:
                self._idle(client, should_stop)
            else:
                end = time.monotonic() + self.settings.poll
                while time.monotonic() < end and not should_stop():
                    time.sleep(0.2)

    def _idle(self, client: Any, should_stop: Callable[[], bool]) -> None:
        client.idle()
        try:
            end = time.monotonic() + IDLE_TIMEOUT
            while time.monotonic() < end and not should_stop():
                if client.idle_check(timeout=IDLE_SLICE):
                    break
        finally:
            client.idle_done()

    def process_new(self, client: Any) -> int:
        """Handle every message not handled before; returns how many were handled."""
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
                store.set_setting(
                    _STATE_KEY, json.dumps({"uidvalidity": validity, "last_uid": last})
                )
                data = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]", b"")
                client.add_flags([uid], [b"\\Seen"])
                self.handle(bytes(data), uid)
            if not uids:
                store.set_setting(
                    _STATE_KEY, json.dumps({"uidvalidity": validity, "last_uid": last})
                )
        finally:
            store.close()
        return len(uids)

    def handle(self, raw: bytes, uid: int = 0) -> None:
        """Parse one message, act on it, answer it (never a Rejected one)."""
        store = JobStore(self.home)
        try:
            outcome = parse_reply(
                raw,
                allowed_senders=self.settings.allow,
                token_is_valid=lambda token: find_job(store, token),
            )
        finally:
            store.close()
        headers = _headers(raw)
        entry = {"uid": uid, "from": headers.get("From", ""), "subject": headers.get("Subject", "")}
        if isinstance(outcome, Rejected):
            log.info("ignored mail uid %d: %s", uid, outcome.reason)
            append_log(self.home, {**entry, "outcome": "rejected", "reason": outcome.reason})
            return
        if isinstance(outcome, Invalid):
            append_log(self.home, {**entry, "outcome": "invalid", "reason": outcome.reason})
            if self._may_answer_invalid(outcome.sender):
                self._answer(headers, outcome.sender, f"error: {outcome.reason}")
            return
        assert isinstance(outcome, Command)
        text = apply_command(self.home, outcome)
        append_log(self.home, {**entry, "outcome": outcome.kind, "reply": text.split("\n")[0]})
        self._answer(headers, outcome.sender, text)

    def _may_answer_invalid(self, sender: str) -> bool:
        now = time.time()
        recent = [t for t in self._invalid_sent.get(sender, []) if now - t < 3600]
        if len(recent) >= INVALID_LIMIT:
            self._invalid_sent[sender] = recent
            return False
        self._invalid_sent[sender] = [*recent, now]
        return True

    def _answer(self, headers: dict[str, str], to: str, text: str) -> None:
        subject = " ".join(headers.get("Subject", "").split())  # unfold, no stray spaces
        if not subject.lower().startswith("re:"):
            subject = f"Re: {subject}"
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=True)
        msg["Auto-Submitted"] = "auto-replied"
        message_id = headers.get("Message-ID", "").strip()
        if message_id:
            msg["In-Reply-To"] = message_id
            msg["References"] = f"{headers.get('References', '')} {message_id}".strip()
        msg.set_content(text + "\n")
        try:
            self.send(msg)
        except Exception as exc:
            log.warning("could not answer %s: %s", to, exc)


def _save_state(store: JobStore, validity: int, last: int) -> None:
    store.set_setting(_STATE_KEY, json.dumps({"uidvalidity": validity, "last_uid": last}))


def _headers(raw: bytes) -> dict[str, str]:
    """Subject, Message-ID, References and From of `raw`, "" where absent or unreadable."""
    try:
        msg = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    except Exception:
        return {}
    found = {}
    for name in ("From", "Subject", "Message-ID", "References"):
        try:
            found[name] = " ".join(str(msg.get(name, "")).split())[:998]
        except Exception:
            found[name] = ""
    return found


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
