"""Notification and mail defects a newcomer hit (issue 24), each checked through the real CLI,
agent and notifier against real servers (the mail rig, a local webhook). Nothing is mocked."""

from __future__ import annotations

import re
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
    text_of,
    unique,
)
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
