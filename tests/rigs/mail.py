"""Mail rig: aiosmtpd (SMTP, submission+STARTTLS, SMTPS) in this process + dovecot IMAP.

* SMTP (``smtp_port``): plain, AUTH optional and allowed without TLS (a local MTA).
* Submission (``submission_port``): STARTTLS and AUTH both required (like :587).
* SMTPS (``smtps_port``): implicit TLS, AUTH required (like :465).
* dovecot (run as ``dovecot -F -c <own config>``, nothing from /etc/dovecot):
  IMAP with STARTTLS (``imap_port``, plaintext LOGIN also allowed), IMAPS
  (``imaps_port``), LMTP (``lmtp_port``) for delivery.

All listeners are on 127.0.0.1 and use one self-signed certificate
(``cert_path``, SAN ``DNS:localhost, IP:127.0.0.1``); clients verify it with
:meth:`MailServer.ssl_context`. One passwd-file serves dovecot and SMTP AUTH.
The SMTP server only accepts recipients that are users here (never relays),
records every accepted message (:attr:`MailServer.outbox`, also saved as
``.eml``) and delivers it into the recipient's Maildir INBOX over LMTP (or by
writing the Maildir directly with ``deliver="maildir"``).

Needs root: dovecot accesses the mailboxes as the ``mail`` uid.
"""

from __future__ import annotations

import asyncio
import email.utils
import grp
import mailbox
import os
import pwd
import smtplib
import ssl
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from rigs.common import (
    LOOPBACK,
    Daemon,
    free_port,
    make_workdir,
    remove_tree,
    require_binaries,
    require_root,
    run,
    wait_until,
)

# aiosmtpd noise: SMTPS must not require TLS for AUTH (it has no STARTTLS state),
# and aiosmtpd itself still sets the deprecated Session.login_data
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")

MAIL_BINARIES = ("dovecot", "doveconf", "openssl")
DOMAIN = "rig.test"

Deliver = Literal["lmtp", "maildir"]


def parse_message(data: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(msg, EmailMessage)
    return msg


def make_message(
    sender: str,
    to: str | Iterable[str],
    subject: str,
    body: str = "",
    **headers: str,
) -> EmailMessage:
    """A text message with Date and a fresh Message-ID; ``In_Reply_To="..."`` style headers."""
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to if isinstance(to, str) else ", ".join(to)
    m["Subject"] = subject
    m["Date"] = email.utils.formatdate(localtime=True)
    m["Message-ID"] = f"<{uuid.uuid4().hex}@{DOMAIN}>"
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(body)
    return m


def make_reply(original: EmailMessage, sender: str, body: str) -> EmailMessage:
    """A reply to ``original`` (Re: subject, In-Reply-To/References set), sent by ``sender``."""
    subject = str(original.get("Subject", ""))
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    mid = str(original["Message-ID"])
    refs = f"{original['References']} {mid}" if original.get("References") else mid
    to = str(original.get("Reply-To") or original["From"])
    return make_message(sender, to, subject, body, In_Reply_To=mid, References=refs)


def _as_bytes(message: EmailMessage | bytes | str) -> bytes:
    if isinstance(message, bytes):
        return message
    if isinstance(message, str):
        return message.encode()
    return message.as_bytes(policy=policy.SMTP)


@dataclass
class Accepted:
    """One message the SMTP server accepted (what a real MTA would have queued)."""

    listener: str  # "smtp" | "submission" | "smtps"
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    auth_user: str | None
    received_at: float
    delivery_error: str | None = None
    _parsed: EmailMessage | None = field(default=None, repr=False)

    @property
    def message(self) -> EmailMessage:
        if self._parsed is None:
            self._parsed = parse_message(self.data)
        return self._parsed

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))


class _Handler:
    """aiosmtpd handler: local recipients only, record, deliver."""

    def __init__(self, server: MailServer, listener: str) -> None:
        self.server = server
        self.listener = listener

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() not in self.server.accounts:
            return "550 5.1.1 no such local user (this test server never relays)"
        envelope.rcpt_tos.append(address.lower())
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        auth = getattr(session, "auth_data", None)
        login = getattr(auth, "login", None)
        rec = Accepted(
            listener=self.listener,
            mail_from=str(envelope.mail_from),
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content),
            auth_user=login.decode() if isinstance(login, bytes) else None,
            received_at=time.time(),
        )
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.server._deliver, rec.rcpt_tos, rec.data)
        except Exception as e:
            rec.delivery_error = f"{type(e).__name__}: {e}"
        self.server._record(rec)
        if rec.delivery_error:
            return f"451 4.3.0 local delivery failed: {rec.delivery_error}"
        return "250 2.0.0 delivered"


class MailServer:
    """SMTP (aiosmtpd, in this process) + IMAP (dovecot) on loopback.

    Accounts (``accounts``: address -> password), both with an INBOX:

    * ``user`` / ``password``: the program's mailbox (tether sends with it over
      SMTP AUTH and reads replies from it over IMAP);
    * ``human`` / ``human_password``: the person who gets notifications and replies.
    """

    def __init__(
        self,
        *,
        deliver: Deliver = "lmtp",
        user: str = f"tether@{DOMAIN}",
        password: str = "tether-pw",
        human: str = f"alice@{DOMAIN}",
        human_password: str = "alice-pw",
    ) -> None:
        self.deliver: Deliver = deliver
        self.host = LOOPBACK
        self.domain = DOMAIN
        self.user, self.password = user, password
        self.human, self.human_password = human, human_password
        self.accounts: dict[str, str] = {}
        self.workdir = Path()
        self.cert_path = Path()
        self.key_path = Path()
        self.users_file = Path()
        self.outbox_dir = Path()
        self.dovecot_log = Path()
        self.smtp_port = self.submission_port = self.smtps_port = 0
        self.imap_port = self.imaps_port = self.lmtp_port = 0
        self.startup_seconds = 0.0
        self.outbox: list[Accepted] = []
        self.dovecot: Daemon | None = None
        self._lock = threading.Condition()
        self._uid = self._gid = -1
        self._stack = ExitStack()
        self._initial = {user: password, human: human_password}

    # -- lifecycle

    def __enter__(self) -> MailServer:
        self.start()
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        require_root("mail")
        require_binaries("mail", MAIL_BINARIES)
        t0 = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0

    def stop(self) -> None:
        self._stack.close()
        self.dovecot = None

    def _start(self) -> None:
        self.workdir = make_workdir("mail", 0o711)  # the mail uid must traverse it
        self._stack.callback(remove_tree, self.workdir)
        w = self.workdir
        self._uid, self._gid = pwd.getpwnam("mail").pw_uid, grp.getgrnam("mail").gr_gid
        for d in ("run", "state", "mail", "outbox"):
            (w / d).mkdir()
        self.outbox_dir = w / "outbox"
        os.chown(w / "mail", self._uid, self._gid)

        self.cert_path, self.key_path = w / "cert.pem", w / "key.pem"
        run(["openssl", "req", "-x509", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "7",
             "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(self.key_path), "-out", str(self.cert_path)])  # fmt: skip
        self.key_path.chmod(0o600)

        self.users_file = w / "users"
        self.users_file.touch(0o644)
        for address, pw in self._initial.items():
            self.add_user(address, pw)

        self.imap_port, self.imaps_port, self.lmtp_port = free_port(), free_port(), free_port()
        self._write_dovecot_config(w / "dovecot.conf")
        self.dovecot_log = w / "dovecot.log"
        self.dovecot = Daemon.spawn(
            "dovecot",
            ["dovecot", "-F", "-c", str(w / "dovecot.conf")],
            w / "dovecot.stderr",
            extra_logs=[self.dovecot_log],
        )
        # dovecot's master may wait seconds for children still starting up;
        # the mail data is throwaway, so after 1.5 s the whole group is killed
        self._stack.callback(self.dovecot.stop, 1.5)
        # start the SMTP side while dovecot comes up
        self._start_smtp()
        for port in (self.imap_port, self.imaps_port, self.lmtp_port):
            self.dovecot.wait_port(self.host, port, 20)

    def _write_dovecot_config(self, path: Path) -> None:
        w = self.workdir
        path.write_text(
            f"""\
# own instance: nothing from /etc/dovecot is read
instance_name = tt-mail-{os.getpid()}-{w.name}
base_dir = {w}/run
state_dir = {w}/state
log_path = {w}/dovecot.log
protocols = imap lmtp
# no stats process: at shutdown, login/lmtp processes would otherwise wait 5 s
# for a stats-writer handshake that never comes
stats_writer_socket_path =
listen = {self.host}
# plaintext LOGIN allowed without TLS (loopback tests)
disable_plaintext_auth = no
auth_mechanisms = plain login
# no delay after a failed login, and no anvil penalty on the next one
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
ssl = yes
ssl_cert = <{self.cert_path}
ssl_key = <{self.key_path}
ssl_min_protocol = TLSv1.2
first_valid_uid = {self._uid}
first_valid_gid = {self._gid}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_file}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.users_file}
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {self.host}
    port = {self.lmtp_port}
  }}
}}
"""
        )

    def _start_smtp(self) -> None:
        from aiosmtpd.controller import Controller

        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(self.cert_path), str(self.key_path))
        common: dict[str, Any] = {
            "hostname": self.host,
            "server_hostname": "localhost",
            "authenticator": self._authenticate,
        }
        self.smtp_port, self.submission_port, self.smtps_port = (
            free_port(),
            free_port(),
            free_port(),
        )
        controllers = [
            # plain: no TLS; AUTH offered but optional (a local MTA / relay)
            Controller(
                _Handler(self, "smtp"),
                port=self.smtp_port,
                auth_required=False,
                auth_require_tls=False,
                **common,
            ),
            # submission (:587): STARTTLS, then AUTH, both required
            Controller(
                _Handler(self, "submission"),
                port=self.submission_port,
                tls_context=tls,
                require_starttls=True,
                auth_required=True,
                auth_require_tls=True,
                **common,
            ),
            # SMTPS (:465): implicit TLS, AUTH required
            Controller(
                _Handler(self, "smtps"),
                port=self.smtps_port,
                ssl_context=tls,
                auth_required=True,
                auth_require_tls=False,
                **common,
            ),
        ]
        for c in controllers:
            c.start()
            self._stack.callback(c.stop)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode().lower()
            if self.accounts.get(login) == auth_data.password.decode():
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    # -- accounts and delivery

    def add_user(self, address: str, password: str) -> None:
        """Create an account (passwd-file entry + Maildir); usable at once for SMTP/IMAP."""
        address = address.lower()
        home = self.workdir / "mail" / address
        for sub in ("", "Maildir", "Maildir/cur", "Maildir/new", "Maildir/tmp"):
            (home / sub).mkdir(exist_ok=True)
            os.chown(home / sub, self._uid, self._gid)
        with self._lock:
            self.accounts[address] = password
            line = f"{address}:{{PLAIN}}{password}:{self._uid}:{self._gid}::{home}::\n"
            with open(self.users_file, "a") as f:
                f.write(line)

    def maildir(self, address: str | None = None) -> Path:
        return self.workdir / "mail" / (address or self.user).lower() / "Maildir"

    def _deliver(self, rcpts: list[str], data: bytes) -> None:
        if self.deliver == "lmtp":
            with smtplib.LMTP(self.host, self.lmtp_port, timeout=30) as lmtp:
                # smtplib reads ONE reply after DATA but LMTP sends one per
                # recipient: one recipient per transaction
                for r in rcpts:
                    lmtp.sendmail("rig-deliver@" + DOMAIN, [r], data)
        else:
            for r in rcpts:
                md = mailbox.Maildir(str(self.maildir(r)), factory=None, create=False)
                key = md.add(data)  # written to tmp/, renamed into new/
                os.chown(self.maildir(r) / "new" / key, self._uid, self._gid)

    def _record(self, rec: Accepted) -> None:
        name = f"{rec.received_at:.6f}-{len(self.outbox)}.eml"
        (self.outbox_dir / name).write_bytes(rec.data)
        with self._lock:
            self.outbox.append(rec)
            self._lock.notify_all()

    def inject(self, message: EmailMessage | bytes | str, to: str | None = None) -> str:
        """Deliver straight into ``to``'s INBOX (default: ``user``), bypassing SMTP.

        Not recorded in :attr:`outbox`. Returns the Message-ID (may be '').
        """
        data = _as_bytes(message)
        self._deliver([(to or self.user).lower()], data)
        return str(parse_message(data).get("Message-ID", ""))

    def send(
        self,
        message: EmailMessage | bytes | str,
        to: str | Iterable[str] | None = None,
        sender: str | None = None,
    ) -> str:
        """Send through the plain SMTP listener (recorded in :attr:`outbox`, then delivered).

        Recipients default to the message's To/Cc, sender to its From.
        Returns the Message-ID.
        """
        data = _as_bytes(message)
        parsed = parse_message(data)
        if to is None:
            rcpts = [a for _, a in email.utils.getaddresses(parsed.get_all("To", []))]
            rcpts += [a for _, a in email.utils.getaddresses(parsed.get_all("Cc", []))]
        else:
            rcpts = [to] if isinstance(to, str) else list(to)
        frm = sender or email.utils.parseaddr(str(parsed.get("From", "")))[1] or self.human
        with smtplib.SMTP(self.host, self.smtp_port, timeout=30) as s:
            s.sendmail(frm, rcpts, data)
        return str(parsed.get("Message-ID", ""))

    def send_reply(self, original: EmailMessage, body: str, sender: str | None = None) -> str:
        """The human replies to ``original`` (e.g. a notification) with ``body``."""
        return self.send(make_reply(original, sender or self.human, body))

    # -- inspection

    def inbox(self, address: str | None = None) -> list[EmailMessage]:
        """Every message in ``address``'s INBOX Maildir (new/ and cur/), oldest first."""
        md = self.maildir(address)
        found: list[tuple[float, str, bytes]] = []
        for sub in ("new", "cur"):
            for p in (md / sub).iterdir():
                try:
                    found.append((p.stat().st_mtime, p.name, p.read_bytes()))
                except FileNotFoundError:  # dovecot moved it new/ -> cur/ meanwhile
                    continue
        found.sort(key=lambda t: (t[0], t[1]))
        return [parse_message(data) for _, _, data in found]

    def outbox_for(self, address: str) -> list[Accepted]:
        with self._lock:
            return [r for r in self.outbox if address.lower() in r.rcpt_tos]

    def wait_for_outbox(
        self,
        predicate: Callable[[Accepted], bool] = lambda r: True,
        timeout: float = 60.0,
        count: int = 1,
    ) -> list[Accepted]:
        """Wait until ``count`` accepted messages match ``predicate``; returns all matches."""
        end = time.monotonic() + timeout
        with self._lock:
            while True:
                hits = [r for r in self.outbox if predicate(r)]
                left = end - time.monotonic()
                if len(hits) >= count or left <= 0:
                    break
                self._lock.wait(left)
        if len(hits) < count:
            raise AssertionError(
                f"{len(hits)} of {count} expected messages after {timeout} s; "
                f"outbox subjects: {[r.subject for r in self.outbox]}"
            )
        return hits

    def wait_for_inbox(
        self,
        address: str | None = None,
        predicate: Callable[[EmailMessage], bool] = lambda m: True,
        timeout: float = 60.0,
        count: int = 1,
    ) -> list[EmailMessage]:
        """Wait until ``count`` messages in the Maildir match ``predicate``."""
        hits: list[EmailMessage] = []

        def enough() -> bool:
            nonlocal hits
            hits = [m for m in self.inbox(address) if predicate(m)]
            return len(hits) >= count

        if not wait_until(enough, timeout, 0.02):
            raise AssertionError(f"{len(hits)} of {count} expected messages in INBOX")
        return hits

    def clear(self) -> None:
        """Forget the outbox and empty every INBOX (Maildir files removed)."""
        with self._lock:
            self.outbox.clear()
            for p in self.outbox_dir.iterdir():
                p.unlink()
            for address in self.accounts:
                for sub in ("new", "cur"):
                    for p in (self.maildir(address) / sub).iterdir():
                        p.unlink(missing_ok=True)

    # -- client helpers

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this server's self-signed cert."""
        return ssl.create_default_context(cafile=str(self.cert_path))

    def imap(
        self,
        address: str | None = None,
        password: str | None = None,
        *,
        security: Literal["ssl", "starttls", "plain"] = "ssl",
        folder: str | None = "INBOX",
    ) -> Any:
        """A logged-in ``imapclient.IMAPClient`` (INBOX selected); caller logs out."""
        from imapclient import IMAPClient

        address = (address or self.user).lower()
        password = password if password is not None else self.accounts[address]
        if security == "ssl":
            c = IMAPClient(
                self.host,
                port=self.imaps_port,
                ssl=True,
                ssl_context=self.ssl_context(),
                timeout=15,
            )
        else:
            c = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=15)
            if security == "starttls":
                c.starttls(self.ssl_context())
        c.login(address, password)
        if folder:
            c.select_folder(folder)
        return c

    def logs(self) -> str:
        return self.dovecot.logs() if self.dovecot else ""
