"""Notification and mail defects a newcomer hit (issue 24), each checked through the real CLI,
agent and notifier against real servers (the mail rig, a local webhook). Nothing is mocked."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Tether
from mail_fixtures import (
    answer_to,
    config_dir,
    mails_for,
    run,
    script,
    setup_steering,
    smtp_setup_args,
    text_of,
    unique,
)
from rigs.common import free_port
from rigs.mail import MailServer
from test_notifications import Hook, hook, mail

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

__all__ = ["config_dir", "hook", "mail"]  # fixtures, used by name


def test_started_notice_of_a_job_that_fails_at_once_says_running(
    tether: Tether, mail: MailServer, hook: Hook
) -> None:
    name = unique("boom")
    script(tether, "boom.py", "raise SystemExit(1)\n")
    number = run(tether, "-n", name, "--notify", hook.url(), "--notify-on", "started", "boom.py")
    tether("wait", str(number), check=False)
    [accepted] = mails_for(mail, name)
    assert f"{name} started" in accepted.subject
    body = text_of(accepted)
    assert "Status:  running" in body or "Status: running" in body, body
    assert "failed" not in body and "exit 1" not in body, body
    [post] = hook.wait(lambda p: name in p["title"])
    assert "started" in post["title"]
    assert "exit 1" not in post["message"] and "failed" not in post["message"], post


def test_answers_to_steering_mail_thread_under_it(
    tether: Tether, config_dir: Path, mail_server: MailServer
) -> None:
    setup_steering(tether, mail_server)
    name = unique("thread")
    script(tether, "ok.py", "print('done')\n")
    run(tether, "-n", name, "--notify-on", "ended", "ok.py")
    [first] = mails_for(mail_server, name)
    notice_id = str(first.message["Message-ID"])
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", notice_id), notice_id  # notifications too
    reply_id = mail_server.send_reply(first.message, "status")
    answer = answer_to(mail_server, reply_id).message
    own_id = str(answer["Message-ID"])
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", own_id), own_id
    assert own_id not in (reply_id, notice_id)
    assert str(answer["In-Reply-To"]) == reply_id
    references = str(answer["References"]).split()
    assert references[-1] == reply_id and notice_id in references


def _imap_to(port: int, *extra: str) -> list[str]:
    return ["--imap-host", "127.0.0.1", "--imap-port", str(port), "--imap-security", "none",
            "--imap-user", "me@rig.test", "--allow", "boss@rig.test", *extra]  # fmt: skip


def test_mail_setup_with_an_unreachable_imap_server_says_so_and_saves_nothing(
    tether: Tether, config_dir: Path, mail_server: MailServer
) -> None:
    before = (config_dir / "config.toml").read_text()
    tether.env["TETHER_SMTP_PASSWORD"] = mail_server.password
    tether.env["TETHER_IMAP_PASSWORD"] = "pw"
    dead = free_port()
    proc = tether(*smtp_setup_args(mail_server), *_imap_to(dead), check=False, timeout=30)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "ConnectionRefusedError" not in proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if x.strip()]
    assert f"127.0.0.1:{dead}" in line and "--no-check" in line, line
    assert (config_dir / "config.toml").read_text() == before

    del tether.env["TETHER_IMAP_PASSWORD"]  # no password: refused too, unless --no-check
    proc = tether(*smtp_setup_args(mail_server), *_imap_to(dead), check=False, timeout=30)
    assert proc.returncode != 0 and "no IMAP password" in proc.stderr, proc.stderr
    assert "TETHER_IMAP_PASSWORD" in proc.stderr
    assert (config_dir / "config.toml").read_text() == before
    tether(*smtp_setup_args(mail_server), *_imap_to(dead), "--no-check", timeout=30)
    assert "[mail.imap]" in (config_dir / "config.toml").read_text()


def _wait_for(check: Callable[[], bool], timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.3)


@pytest.mark.parametrize("password", ["pw", None])
def test_a_failing_mailbox_is_logged_once_and_shown_by_mail_log(
    tether: Tether, config_dir: Path, mail_server: MailServer, password: str | None
) -> None:
    tether.env["TETHER_SMTP_PASSWORD"] = mail_server.password
    tether.env.pop("TETHER_IMAP_PASSWORD", None)
    if password:
        tether.env["TETHER_IMAP_PASSWORD"] = password
    dead = free_port()
    tether(*smtp_setup_args(mail_server), *_imap_to(dead), "--no-check")
    tether("agent", "start")
    _wait_for(lambda: "fails" in tether("mail", "log").stdout)
    # the first retry comes 5 s later; the count of tries is the sign it has happened
    _wait_for(lambda: ", 2 tries)" in tether("mail", "log").stdout, timeout=60)
    out = tether("mail", "log").stdout
    assert "the mailbox INBOX on 127.0.0.1 fails" in out, out
    assert ("refused the connection" if password else "no IMAP password") in out, out
    assert "no mail handled yet" not in out
    notifier_log = (tether.home / "notifier.log").read_text()
    warnings = [x for x in notifier_log.splitlines() if "WARNING" in x]
    assert len(warnings) == 1, notifier_log


@pytest.mark.parametrize(
    ("setting", "allowed"),
    [
        ('on = ["started", "finish"]', "use any of: started"),
        ('on = "started,exploded"', "use any of: started"),
        ("on = 3", "must be a list of event names"),
        ('every = "soon"', "write e.g. 30s, 20m"),
        ("every = 0", "write e.g. 30s, 20m"),
        ('stall_after = "-5m"', "write e.g. 30s, 20m"),
        ('channels = ["slak://a/b/c"]', "see https://"),
        ('channels = ["hooks.example.com"]', "neither 'email' nor a URL"),
        ("channels = [42]", "a channel is a URL"),
    ],
)
def test_bad_notify_settings_in_tether_toml_are_refused_at_submit(
    tether: Tether, config_dir: Path, setting: str, allowed: str
) -> None:
    (tether.cwd / "tether.toml").write_text(f"# project\n\n[notify]\n{setting}\n")
    script(tether, "ok.py", "print('hi')\n")
    proc = tether("run", "ok.py", check=False)
    assert proc.returncode != 0, proc.stdout
    assert f"{tether.cwd / 'tether.toml'}, line 4" in proc.stderr, proc.stderr
    assert allowed in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert tether.json("ls") == []


def test_valid_notify_settings_in_tether_toml_still_work(
    tether: Tether, config_dir: Path, hook: Hook
) -> None:
    name = unique("toml")
    (tether.cwd / "tether.toml").write_text(
        "[notify]\n"
        f'channels = ["{hook.url()}", {{ url = "{hook.url("other")}", on = ["failed"] }}]\n'
        'on = ["ended", "message"]\nevery = "1h"\nstall_after = 600\n'
    )
    script(tether, "ok.py", "print('hi')\n")
    number = run(tether, "-n", name, "ok.py")
    tether("wait", str(number))
    [post] = hook.wait(lambda p: name in p["title"])
    assert "succeeded" in post["title"]


def test_a_condition_notice_shows_the_value_that_met_it(
    tether: Tether, config_dir: Path, hook: Hook
) -> None:
    name = unique("met")
    script(
        tether,
        "inf.py",
        """
        import tether
        tether.add_condition("x", lambda v: v > 1e300)
        tether.report(x=float("inf"))
        tether.report(x=float("-inf"))
        """,
    )
    number = run(tether, "-n", name, "--notify", hook.url(), "--notify-on", "condition", "inf.py")
    tether("wait", str(number))
    [post] = hook.wait(lambda p: name in p["title"])
    assert post["title"].endswith("condition met: x: x=inf"), post["title"]
    assert "condition met at x=inf" in post["message"], post["message"]
