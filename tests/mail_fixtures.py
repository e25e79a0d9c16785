"""Shared by the notification and steering tests: a private config folder, the arguments of
`tether mail setup` for the mail rig, and small helpers to run jobs and read their mail."""

from __future__ import annotations

import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import Tether
from rigs.mail import Accepted, MailServer


@pytest.fixture
def config_dir(tether: Tether, tmp_path: Path) -> Path:
    """A private user config folder; delivery retries start after half a second."""
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "config.toml").write_text('[notify]\nretry_first = "0.5s"\nretry_max = "2s"\n')
    tether.env["TETHER_CONFIG_DIR"] = str(folder)
    return folder


def smtp_setup_args(
    mail_server: MailServer, *, port: int | None = None, security: str = "starttls"
) -> list[str]:
    """`tether mail setup` for the rig (default: the STARTTLS submission port, self-signed)."""
    return [
        "mail", "setup",
        "--smtp-host", mail_server.host,
        "--smtp-port", str(port or mail_server.submission_port),
        "--smtp-security", security,
        "--smtp-user", mail_server.user,
        "--smtp-cafile", str(mail_server.cert_path),
        "--from", mail_server.user,
        "--to", mail_server.human,
    ]  # fmt: skip


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def script(tether: Tether, name: str, body: str) -> str:
    (tether.cwd / name).write_text(textwrap.dedent(body))
    return name


def run(tether: Tether, *args: str) -> int:
    return int(tether("run", *args).stdout.strip())


def job_extra(tether: Tether, number: int) -> dict[str, Any]:
    from tether.store.jobs import JobStore

    store = JobStore(tether.home)
    try:
        return store.get(number).extra
    finally:
        store.close()


def text_of(accepted: Accepted) -> str:
    part = accepted.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def mails_for(mail_server: MailServer, name: str, timeout: float = 30) -> list[Accepted]:
    return mail_server.wait_for_outbox(lambda r: name in r.subject, timeout=timeout)


def imap_setup_args(mail_server: MailServer) -> list[str]:
    """The `tether mail setup` flags that read replies from the rig's dovecot (STARTTLS)."""
    return [
        "--imap-host", mail_server.host,
        "--imap-port", str(mail_server.imap_port),
        "--imap-security", "starttls",
        "--imap-user", mail_server.user,
        "--allow", mail_server.human,
    ]  # fmt: skip


def setup_steering(tether: Tether, mail_server: MailServer, *extra: str) -> None:
    """Mail set up for notifications and for steering by reply (passwords from the env)."""
    tether.env["TETHER_SMTP_PASSWORD"] = mail_server.password
    tether.env["TETHER_IMAP_PASSWORD"] = mail_server.password
    tether(*smtp_setup_args(mail_server), *imap_setup_args(mail_server), *extra)


def answer_to(mail_server: MailServer, reply_id: str, timeout: float = 30) -> Accepted:
    """tether's answer to the reply with Message-ID `reply_id` (exactly one)."""
    [hit] = mail_server.wait_for_outbox(lambda r: r.message.get("In-Reply-To") == reply_id, timeout)
    return hit


def wait_for_watch(tether: Tether, after: float = 0, timeout: float = 30) -> dict[str, Any]:
    """What the watcher reported (after wall-clock time `after`) about how it waits for mail
    (see `tether mail log`)."""
    from tether.mail.mail_log import read_watch

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        watch = read_watch(tether.home)
        if watch and watch["since"] >= after and watch["mode"] != "stopped":
            return watch
        time.sleep(0.05)
    raise AssertionError("the mail watcher never started")
