"""Email notifications over SMTP: settings, building the MIME message, sending it.

Every failure is raised as `NotifyError` with one line saying what went wrong and what to check;
the password never appears in a message.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal, Protocol, get_args

from tether.errors import ConfigError, NotifyError
from tether.mail import CHART_CID, CHART_FILENAME


class MailContent(Protocol):
    """What a mail says (a :class:`tether.notifications.message.Notification` is one)."""

    @property
    def subject(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def html(self) -> str | None: ...
    @property
    def png(self) -> bytes | None: ...


Security = Literal["none", "starttls", "ssl"]
SECURITY_CHOICES: tuple[str, ...] = get_args(Security)
DEFAULT_PORTS: dict[str, int] = {"none": 25, "starttls": 587, "ssl": 465}


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """How to reach the SMTP server and whom to mail. `port=None` means the usual port for
    `security` (25, 587, 465); `cafile` replaces the system CAs (self-signed test servers)."""

    host: str
    port: int | None = None
    security: Security = "starttls"
    user: str | None = None
    sender: str
    recipients: tuple[str, ...]
    cafile: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.security not in SECURITY_CHOICES:
            raise ConfigError(
                f"SMTP security {self.security!r} is not known; use one of: "
                + ", ".join(SECURITY_CHOICES)
            )
        if not self.host:
            raise ConfigError("SMTP host is empty; set the SMTP server name (e.g. smtp.gmail.com)")
        if self.port is not None and not 0 < self.port < 65536:
            raise ConfigError(f"SMTP port {self.port} is out of range; use 1-65535 (often 587)")
        if "@" not in self.sender:
            raise ConfigError(f"SMTP sender {self.sender!r} is not an email address")
        if isinstance(self.recipients, str) or not self.recipients:
            raise ConfigError("SMTP recipients must be a non-empty list of email addresses")
        object.__setattr__(self, "recipients", tuple(self.recipients))
        bad = [r for r in self.recipients if "@" not in r]
        if bad:
            raise ConfigError(f"SMTP recipient(s) {', '.join(map(repr, bad))} are not addresses")

    @property
    def effective_port(self) -> int:
        """The port to connect to."""
        return self.port if self.port is not None else DEFAULT_PORTS[self.security]

    @property
    def where(self) -> str:
        """`host:port`, for messages."""
        return f"{self.host}:{self.effective_port}"


def build_email(
    notification: MailContent,
    settings: SmtpSettings,
    *,
    message_id: str,
    in_reply_to: str | None = None,
) -> EmailMessage:
    """The email for `notification`: text, or text + HTML (chart inline by `cid:`) alternatives.

    With HTML and a chart: multipart/alternative [text/plain, multipart/related [text/html,
    image/png]]. With a chart but no HTML the PNG is an attachment.
    """
    msg = EmailMessage()
    msg["Subject"] = notification.subject
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = _angle(message_id)
    if in_reply_to:
        msg["In-Reply-To"] = _angle(in_reply_to)
        msg["References"] = _angle(in_reply_to)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(notification.text)
    png = notification.png
    if notification.html is not None:
        msg.add_alternative(notification.html, subtype="html")
        if png:
            html_part = next(p for p in msg.iter_parts() if p.get_content_type() == "text/html")
            html_part.add_related(
                png,
                "image",
                "png",
                cid=f"<{CHART_CID}>",
                filename=CHART_FILENAME,
                disposition="inline",
            )
    elif png:
        msg.add_attachment(png, "image", "png", filename=CHART_FILENAME)
    return msg


def send_email(settings: SmtpSettings, msg: EmailMessage, password: str | None) -> None:
    """Send `msg` to `settings.recipients`; raise NotifyError with the reason on any failure."""
    with _session(settings, password) as smtp, _translated(settings, "sending the email"):
        refused = smtp.send_message(
            msg, from_addr=settings.sender, to_addrs=list(settings.recipients)
        )
    if refused:
        who = ", ".join(
            f"{addr} ({code} {_text(reply)})" for addr, (code, reply) in refused.items()
        )
        raise NotifyError(f"SMTP server {settings.where} refused some recipients: {who}")


def check_login(settings: SmtpSettings, password: str | None) -> None:
    """Connect, secure and log in as `settings` say, then quit; raise NotifyError if that fails."""
    with _session(settings, password):
        pass


@contextmanager
def _session(settings: SmtpSettings, password: str | None) -> Iterator[smtplib.SMTP]:
    """An SMTP connection that is secured and logged in as `settings` say, closed afterwards."""
    context = _tls_context(settings)
    with _translated(settings, "connecting"):
        if settings.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.effective_port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.effective_port, timeout=settings.timeout)
    try:
        with _translated(settings, "greeting the server"):
            smtp.ehlo()
            if settings.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise NotifyError(
                        f"SMTP server {settings.where} does not offer STARTTLS; use security "
                        "'ssl' (usually port 465) or, only on a trusted network, 'none'"
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
        if settings.user:
            if password is None:
                raise NotifyError(
                    f"no SMTP password for {settings.user} at {settings.host}; set "
                    "TETHER_SMTP_PASSWORD or store it in the system keyring"
                )
            if not smtp.has_extn("auth"):
                hint = " (it may want STARTTLS first)" if settings.security == "none" else ""
                raise NotifyError(
                    f"SMTP server {settings.where} does not offer login (AUTH){hint}; "
                    "check the security setting, or leave the user empty if no login is needed"
                )
            with _translated(settings, "logging in"):
                smtp.login(settings.user, password)
        yield smtp
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    if settings.security == "none":
        return None
    try:
        return ssl.create_default_context(cafile=settings.cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the CA file {settings.cafile!r} for SMTP: {exc}; "
            "give a PEM file of the server's CA certificate"
        ) from exc


@contextmanager
def _translated(settings: SmtpSettings, doing: str) -> Iterator[None]:
    """Turn smtplib / socket / ssl errors raised while `doing` into a one-line NotifyError."""
    where = f"SMTP server {settings.where}"
    try:
        yield
    except NotifyError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError(
            f"{where} rejected the login of {settings.user!r} ({exc.smtp_code} "
            f"{_text(exc.smtp_error)}); check the user and password (Gmail and others "
            "need an app password)"
        ) from exc
    except smtplib.SMTPSenderRefused as exc:
        raise NotifyError(
            f"{where} refused the sender {settings.sender!r} ({exc.smtp_code} "
            f"{_text(exc.smtp_error)}); the sender usually must be the login's own address"
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        who = ", ".join(
            f"{addr} ({code} {_text(reply)})" for addr, (code, reply) in exc.recipients.items()
        )
        raise NotifyError(f"{where} refused every recipient: {who}") from exc
    except smtplib.SMTPServerDisconnected as exc:
        if isinstance(exc.__context__, TimeoutError):
            raise _timeout(settings, doing) from exc
        raise NotifyError(
            f"{where} closed the connection while {doing} ({_text(exc) or 'no reason given'}); "
            "check that the security setting (ssl, starttls, none) matches the port"
        ) from exc
    except smtplib.SMTPResponseException as exc:
        raise NotifyError(
            f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)} while {doing}"
        ) from exc
    except smtplib.SMTPException as exc:
        raise NotifyError(f"SMTP error with {settings.where} while {doing}: {_text(exc)}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise NotifyError(
            f"the TLS certificate of {where} could not be verified "
            f"({exc.verify_message or _text(exc)}); check the host name, or give the "
            "server's CA file (cafile) for a private CA"
        ) from exc
    except ssl.SSLError as exc:
        raise NotifyError(
            f"TLS failed with {where} while {doing} ({exc.reason or _text(exc)}); check that "
            "the security setting matches the port: 'ssl' for 465, 'starttls' for 587"
        ) from exc
    except ConnectionRefusedError as exc:
        raise NotifyError(
            f"{where} refused the connection; check the host and port, and that the server runs"
        ) from exc
    except socket.gaierror as exc:
        raise NotifyError(
            f"cannot resolve the SMTP host {settings.host!r} ({exc.strerror}); check the name "
            "and the network"
        ) from exc
    except TimeoutError as exc:
        raise _timeout(settings, doing) from exc
    except OSError as exc:
        raise NotifyError(
            f"network error with {where} while {doing}: {exc.strerror or _text(exc)}"
        ) from exc


def _timeout(settings: SmtpSettings, doing: str) -> NotifyError:
    return NotifyError(
        f"SMTP server {settings.where} did not answer within {settings.timeout:g} s while "
        f"{doing}; check the host, port and firewall, and that 'ssl' is not used for a "
        "STARTTLS port or the other way round"
    )


def _angle(message_id: str) -> str:
    message_id = message_id.strip()
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def _text(value: object) -> str:
    """Server replies (bytes, maybe several lines) as one line."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).split())
