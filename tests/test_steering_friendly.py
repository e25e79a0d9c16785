"""Steering in the friendly reply format, end to end (the real CLI, agent and notifier, the mail
rig's SMTP server and dovecot): `rerun` with parameter lines, a fenced ```python block, an
attached .py file, `status` and `logs`. The seed format is in test_steering.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Tether
from mail_fixtures import (
    answer_to,
    config_dir,
    job_extra,
    mails_for,
    run,
    script,
    setup_steering,
    text_of,
    unique,
    wait_for_watch,
)
from rigs.mail import Accepted, MailServer, make_reply

__all__ = ["config_dir"]

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

TRAIN = """\
lr = 0.1  # learning rate
for step in range(3):
    print(f"step {step} lr={lr}")
print("trained with lr", lr)
"""


@pytest.fixture
def steer(tether: Tether, config_dir: Path, mail_server: MailServer) -> MailServer:
    setup_steering(tether, mail_server)
    return mail_server


def first_run(tether: Tether, mail: MailServer, prefix: str) -> tuple[str, int, Accepted]:
    """Run train.py (notify when it ends); its name, number and ended mail."""
    name = unique(prefix)
    script(tether, "train.py", TRAIN)
    number = run(tether, "-n", name, "--notify-on", "ended", "train.py")
    [ended] = mails_for(mail, name)
    wait_for_watch(tether)  # replies go to a watcher past its start (see wait_for_watch)
    return name, number, ended


def ended_mail(mail: MailServer, name: str, number: int) -> str:
    [hit] = mail.wait_for_outbox(lambda r: f"#{number} " in r.subject and name in r.subject, 60)
    return text_of(hit)


def test_rerun_with_a_parameter_line(tether: Tether, steer: MailServer) -> None:
    name, number, ended = first_run(tether, steer, "param")
    chatty = steer.send_reply(ended.message, "Rerun\nlr = 0.001\n\nThanks!\n")
    refused = text_of(answer_to(steer, chatty))
    assert refused.startswith("error: 'Thanks!' is not a parameter"), refused
    assert len(tether.json("ls")) == 1  # type: ignore[arg-type]
    reply_id = steer.send_reply(ended.message, "Rerun\nlr = 0.001\n")
    confirmation = text_of(answer_to(steer, reply_id))
    new = number + 1
    assert f"job #{new} queued: a re-run of job #{number}" in confirmation
    assert "parameters: lr = 0.001" in confirmation
    assert "-lr = 0.1  # learning rate" in confirmation
    assert "+lr = 0.001  # learning rate" in confirmation
    assert "trained with lr 0.001" in ended_mail(steer, name, new)
    assert job_extra(tether, new)["params"] == {"lr": 0.001}
    assert (tether.cwd / "train.py").read_text() == TRAIN  # the original is not touched


def test_rerun_with_a_fenced_code_block(tether: Tether, steer: MailServer) -> None:
    name, number, ended = first_run(tether, steer, "fence")
    body = 'rerun\n\n```python\nlr = 0.5\nprint("fenced with lr", lr)\n```\n'
    confirmation = text_of(answer_to(steer, steer.send_reply(ended.message, body)))
    new = number + 1
    assert f"job #{new} queued: a re-run of job #{number}" in confirmation
    assert '+print("fenced with lr", lr)' in confirmation
    assert "fenced with lr 0.5" in ended_mail(steer, name, new)


def test_rerun_with_an_attached_program(tether: Tether, steer: MailServer) -> None:
    name, number, ended = first_run(tether, steer, "attach")
    reply = make_reply(ended.message, steer.human, "rerun\nlr = 0.25\n")
    program = b'lr = 1.0\nprint("attached with lr", lr)\n'
    reply.add_attachment(program, maintype="text", subtype="x-python", filename="train.py")
    confirmation = text_of(answer_to(steer, steer.send(reply)))
    new = number + 1
    assert f"job #{new} queued: a re-run of job #{number}" in confirmation
    assert "parameters: lr = 0.25" in confirmation
    assert "attached with lr 0.25" in ended_mail(steer, name, new)


def test_status_and_logs_answer_allowed_senders_only(tether: Tether, steer: MailServer) -> None:
    name, number, ended = first_run(tether, steer, "info")
    status = text_of(answer_to(steer, steer.send_reply(ended.message, "status")))
    assert f"job #{number} {name}: succeeded" in status and "exit code: 0" in status
    logs = text_of(answer_to(steer, steer.send_reply(ended.message, "logs 2")))
    assert f"last 2 lines of job #{number}'s output:" in logs
    assert logs.rstrip().splitlines()[-2:] == ["step 2 lr=0.1", "trained with lr 0.1"]

    # a stranger, and an allowed sender without a valid token, get no answer at all
    stranger = steer.send_reply(ended.message, "logs", sender="eve@rig.test")
    untokened = make_reply(ended.message, steer.human, "status")
    for header in ("In-Reply-To", "References"):
        del untokened[header]
    untokened.replace_header("Subject", f"Re: {name}")
    no_token = steer.send(untokened)
    late = steer.send_reply(ended.message, "status")  # handled after both of them
    answer_to(steer, late)
    for mid in (stranger, no_token):
        assert not [r for r in steer.outbox if r.message.get("In-Reply-To") == mid]
    log = tether("mail", "log").stdout
    assert "sender not allowed: eve@rig.test" in log and "no tether token" in log
