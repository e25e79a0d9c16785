"""Senders against real servers on 127.0.0.1: aiosmtpd (plain, STARTTLS, SSL, AUTH), an HTTP
webhook for Apprise, and the password lookup."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.core
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hook_fixtures import Hook, webhook_server
from tether.errors import ConfigError, NotifyError
from tether.mail import CHART_CID, secrets
from tether.mail.smtp import SmtpSettings, build_email, check_login, send_email
from tether.notifications.channels import send_apprise, validate_channel_url
from tether.notifications.content import render
from tether.notifications.message import NotificationContext

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
USER, PASSWORD = "alice@example.org", "s3cret-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- certificates


@dataclass
class Certs:
    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    tmp = tmp_path_factory.mktemp("certs")
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("tether test CA"))
        .issuer_name(_name("tether test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certs(ca=tmp / "ca.pem", cert=tmp / "cert.pem", key=tmp / "key.pem")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


# ---------------------------------------------------------------- SMTP server


@dataclass
class Inbox:
    """What the aiosmtpd handler received."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == USER
            and auth_data.password.decode() == PASSWORD
        )
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)


@dataclass
class Server:
    inbox: Inbox
    port: int


@pytest.fixture
def smtp_server(certs: Certs) -> Iterator[Callable[[str], Server]]:
    """Start aiosmtpd servers that require AUTH and speak 'none', 'starttls' or 'ssl'."""
    controllers: list[Controller] = []

    def start(mode: str) -> Server:
        inbox = Inbox()
        port = free_port()
        kwargs: dict[str, Any] = {
            "hostname": "127.0.0.1",
            "port": port,
            "authenticator": inbox.authenticate,
            "auth_required": True,
        }
        if mode == "starttls":
            kwargs.update(tls_context=certs.server_context(), require_starttls=True)
        elif mode == "ssl":
            # aiosmtpd does not count implicit TLS as TLS, so it must be told AUTH is fine.
            kwargs.update(ssl_context=certs.server_context(), auth_require_tls=False)
        else:
            kwargs.update(auth_require_tls=False)
        controller = Controller(inbox, **kwargs)
        controller.start()
        controllers.append(controller)
        return Server(inbox, port)

    yield start
    for controller in controllers:
        controller.stop()


def settings(port: int, security: str, certs: Certs | None = None, **kw: Any) -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1",
        port=port,
        security=security,  # type: ignore[arg-type]
        user=USER,
        sender=USER,
        recipients=("bob@example.org", "carol@example.org"),
        cafile=str(certs.ca) if certs else None,
        **{"timeout": 10, **kw},
    )


def failure_context() -> NotificationContext:
    return NotificationContext(
        event="failed",
        job_number=42,
        program="train.py",
        status="failed",
        host="gpu1",
        duration_s=300,
        exit_code=1,
        token="T0ken",
        log_tail=["Traceback (most recent call last):", "ValueError: bad lr"],
        metrics={"loss": [(1, 0.9), (2, 0.5), (3, 0.7)]},
    )


def check_received(server: Server) -> None:
    assert server.inbox.logins == [USER]
    assert server.inbox.envelopes == [(USER, ["bob@example.org", "carol@example.org"])]
    msg = server.inbox.messages[0]
    assert msg["Subject"] == "[tether #42 T0ken] train.py failed (exit 1) after 5m"
    assert msg["Message-ID"] == "<job42.1@tether.test>"
    assert msg["In-Reply-To"] == "<reply@example.org>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(preferencelist=("plain",))
    assert plain is not None
    text = plain.get_content()
    assert "ValueError: bad lr" in text and "CONTROLS" in text and ">EOM<" in text
    html = msg.get_body(preferencelist=("html",))
    assert html is not None and f"cid:{CHART_CID}" in html.get_content()
    related = [p for p in msg.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    image = images[0]
    assert image["Content-ID"] == f"<{CHART_CID}>"
    assert image.get_filename() == "metrics.png"
    assert image.get_content_disposition() == "inline"
    payload = image.get_payload(decode=True)
    assert isinstance(payload, bytes) and payload.startswith(PNG_SIGNATURE)


def send_failure(server: Server, s: SmtpSettings) -> None:
    notification = render(failure_context(), for_email=True)
    msg = build_email(
        notification, s, message_id="job42.1@tether.test", in_reply_to="reply@example.org"
    )
    send_email(s, msg, PASSWORD)


@pytest.mark.parametrize("mode", ["none", "starttls", "ssl"])
def test_send_email_with_auth(
    mode: str, smtp_server: Callable[[str], Server], certs: Certs
) -> None:
    server = smtp_server(mode)
    send_failure(server, settings(server.port, mode, certs))
    check_received(server)


@pytest.mark.parametrize("mode", ["none", "starttls", "ssl"])
def test_check_login(mode: str, smtp_server: Callable[[str], Server], certs: Certs) -> None:
    server = smtp_server(mode)
    check_login(settings(server.port, mode, certs), PASSWORD)
    assert server.inbox.logins == [USER]
    assert server.inbox.messages == []


def send_with_password(server: Server, s: SmtpSettings, password: str | None) -> None:
    msg = build_email(render(failure_context(), for_email=False), s, message_id="<x@y>")
    send_email(s, msg, password)


@pytest.mark.parametrize("mode", ["none", "starttls", "ssl"])
def test_wrong_password(mode: str, smtp_server: Callable[[str], Server], certs: Certs) -> None:
    server = smtp_server(mode)
    with pytest.raises(NotifyError, match="rejected the login") as info:
        send_with_password(server, settings(server.port, mode, certs), "wrong-pw")
    message = str(info.value)
    assert "wrong-pw" not in message and "\n" not in message
    assert "check the user and password" in message
    assert server.inbox.messages == []


def test_missing_password(smtp_server: Callable[[str], Server], certs: Certs) -> None:
    server = smtp_server("starttls")
    with pytest.raises(NotifyError, match="TETHER_SMTP_PASSWORD"):
        send_with_password(server, settings(server.port, "starttls", certs), None)


def test_refused_port() -> None:
    with pytest.raises(NotifyError, match="refused the connection"):
        check_login(settings(free_port(), "starttls", None), PASSWORD)


def test_untrusted_certificate(smtp_server: Callable[[str], Server], certs: Certs) -> None:
    server = smtp_server("ssl")
    with pytest.raises(NotifyError, match="could not be verified"):
        check_login(settings(server.port, "ssl", None), PASSWORD)
    server = smtp_server("starttls")
    with pytest.raises(NotifyError, match="could not be verified"):
        check_login(settings(server.port, "starttls", None), PASSWORD)


def test_ssl_against_a_plain_port(smtp_server: Callable[[str], Server], certs: Certs) -> None:
    server = smtp_server("none")
    with pytest.raises(NotifyError, match="TLS failed") as info:
        check_login(settings(server.port, "ssl", certs), PASSWORD)
    assert "'ssl' for 465" in str(info.value)


def test_starttls_not_offered(smtp_server: Callable[[str], Server], certs: Certs) -> None:
    server = smtp_server("none")
    with pytest.raises(NotifyError, match="does not offer STARTTLS"):
        check_login(settings(server.port, "starttls", certs), PASSWORD)


def test_starttls_against_an_ssl_port_times_out(
    smtp_server: Callable[[str], Server], certs: Certs
) -> None:
    server = smtp_server("ssl")
    with pytest.raises(NotifyError, match=r"did not answer within 1 s|closed the connection"):
        check_login(settings(server.port, "starttls", certs, timeout=1), PASSWORD)


def test_email_without_html_attaches_the_chart() -> None:
    s = settings(25, "none")
    msg = build_email(render(failure_context(), for_email=False), s, message_id="<a@b>")
    assert msg.get_content_type() == "multipart/mixed"
    attachment = next(msg.iter_attachments())
    assert attachment.get_content_type() == "image/png"
    assert msg["In-Reply-To"] is None


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="security 'tls' is not known"):
        SmtpSettings(host="h", security="tls", sender="a@b", recipients=("c@d",))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="recipients"):
        SmtpSettings(host="h", sender="a@b", recipients=())
    with pytest.raises(ConfigError, match="not an email address"):
        SmtpSettings(host="h", sender="nobody", recipients=("c@d",))
    assert (
        SmtpSettings(host="h", security="ssl", sender="a@b", recipients=("c@d",)).where == "h:465"
    )


# ---------------------------------------------------------------- Apprise webhook


@pytest.fixture
def webhook() -> Iterator[Hook]:
    """An HTTP server on 127.0.0.1: POST /ok answers 200, POST /fail answers 500."""
    with webhook_server() as hook:
        yield hook


def test_apprise_webhook_gets_title_message_and_chart(webhook: Hook) -> None:
    notification = render(failure_context(), for_email=False)
    send_apprise(f"{webhook.url}/ok", notification)
    assert len(webhook.posts) == 1
    path, payload = webhook.posts[0]
    assert path == "/ok"
    assert payload["title"] == "[tether #42] train.py failed (exit 1) after 5m"
    assert payload["message"] == notification.short
    assert "ValueError: bad lr" in payload["message"]
    assert payload["type"] == "failure"
    assert "T0ken" not in json.dumps(payload)
    [attachment] = payload["attachments"]
    assert attachment["filename"] == "metrics.png"
    assert base64.b64decode(attachment["base64"]).startswith(PNG_SIGNATURE)


def test_apprise_webhook_error_is_notify_error(webhook: Hook) -> None:
    notification = render(failure_context(), for_email=False, chart=False)
    with pytest.raises(NotifyError, match="500") as info:
        send_apprise(f"{webhook.url}/fail", notification)
    assert "did not take the notification" in str(info.value)
    assert len(webhook.posts) == 1


def test_apprise_unreachable_is_notify_error() -> None:
    notification = render(failure_context(), for_email=False, chart=False)
    with pytest.raises(NotifyError):
        send_apprise(f"json://127.0.0.1:{free_port()}/x", notification)


def test_validate_channel_url() -> None:
    validate_channel_url("email")
    validate_channel_url("json://127.0.0.1:8080/hook")
    validate_channel_url("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")
    with pytest.raises(ConfigError, match="neither 'email' nor a URL"):
        validate_channel_url("emial")
    with pytest.raises(ConfigError, match="does not understand") as info:
        validate_channel_url("nosuchservice://supersecret@host")
    assert "supersecret" not in str(info.value)
    with pytest.raises(ConfigError, match="does not understand") as info:
        validate_channel_url("slack://only-one-secret-token")
    assert "only-one-secret-token" not in str(info.value)


def test_send_apprise_bad_url_is_notify_error() -> None:
    notification = render(failure_context(), for_email=False, chart=False)
    with pytest.raises(NotifyError, match="does not understand"):
        send_apprise("nosuchservice://x", notification)


# ---------------------------------------------------------------- passwords


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that keeps passwords in a dict."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.store[(service, username)]


class BrokenKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("dbus is not running")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("dbus is not running")


@pytest.fixture
def null_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TETHER_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("TETHER_IMAP_PASSWORD", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)


def use_keyring(monkeypatch: pytest.MonkeyPatch, backend: keyring.backend.KeyringBackend) -> None:
    monkeypatch.delenv("TETHER_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("TETHER_IMAP_PASSWORD", raising=False)
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)


def test_no_keyring_backend_gives_none(null_keyring: None) -> None:
    assert not secrets.keyring_available()
    assert secrets.get_password("smtp", USER, "smtp.example.org") is None
    with pytest.raises(ConfigError, match="TETHER_IMAP_PASSWORD"):
        secrets.set_password("imap", USER, "imap.example.org", "pw")
    assert not secrets.delete_password("smtp", USER, "smtp.example.org")


def test_env_var_wins(null_keyring: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_SMTP_PASSWORD", "from-env")
    assert secrets.get_password("smtp", USER, "smtp.example.org") == "from-env"
    assert secrets.get_password("imap", USER, "smtp.example.org") is None
    ring = MemoryKeyring()
    use_keyring(monkeypatch, ring)
    ring.set_password("tether-imap:imap.example.org", USER, "from-ring")
    monkeypatch.setenv("TETHER_IMAP_PASSWORD", "from-env")
    assert secrets.get_password("imap", USER, "imap.example.org") == "from-env"


def test_keyring_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = MemoryKeyring()
    use_keyring(monkeypatch, ring)
    assert secrets.keyring_available()
    secrets.set_password("smtp", USER, "smtp.example.org", "pw1")
    assert ring.store == {("tether-smtp:smtp.example.org", USER): "pw1"}
    assert secrets.get_password("smtp", USER, "smtp.example.org") == "pw1"
    assert secrets.get_password("smtp", USER, "other.example.org") is None
    assert secrets.get_password("imap", USER, "smtp.example.org") is None
    assert secrets.delete_password("smtp", USER, "smtp.example.org")
    assert secrets.get_password("smtp", USER, "smtp.example.org") is None


def test_broken_keyring_never_crashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_keyring(monkeypatch, BrokenKeyring())
    assert secrets.get_password("smtp", USER, "smtp.example.org") is None
    with pytest.raises(ConfigError, match="could not store") as info:
        secrets.set_password("smtp", USER, "smtp.example.org", "hunter2")
    assert "hunter2" not in str(info.value)
