"""Steering jobs by replying to their mail, end to end: the real CLI, agent and notifier, the
mail rig's SMTP server and dovecot IMAP (STARTTLS, self-signed). Nothing is mocked."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Tether
from mail_fixtures import (
    config_dir,
    job_extra,
    mails_for,
    run,
    script,
    smtp_setup_args,
    text_of,
    unique,
    wait_for_watch,
)
from rigs.mail import Accepted, MailServer, parse_message
from waiting import wait_for

__all__ = ["config_dir"]

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

TRAIN = """
    LR = 0.1
    print("trained with", LR)
"""


@pytest.fixture
def steer(tether: Tether, config_dir: Path, mail_server: MailServer) -> MailServer:
    tether.env["TETHER_SMTP_PASSWORD"] = mail_server.password
    tether.env["TETHER_IMAP_PASSWORD"] = mail_server.password
    tether(
        *smtp_setup_args(mail_server),
        "--imap-host", mail_server.host,
        "--imap-port", str(mail_server.imap_port),
        "--imap-security", "starttls",
        "--imap-user", mail_server.user,
        "--allow", mail_server.human,
    )  # fmt: skip
    return mail_server


def answer_to(mail: MailServer, reply_id: str, timeout: float = 30) -> Accepted:
    [hit] = mail.wait_for_outbox(lambda r: r.message.get("In-Reply-To") == reply_id, timeout)
    return hit


def count_jobs(tether: Tether) -> int:
    return len(tether.json("ls"))  # type: ignore[arg-type]


def test_a_modified_program_rerun_by_reply_then_saved(tether: Tether, steer: MailServer) -> None:
    name = unique("seed")
    script(tether, "train.py", TRAIN)
    number = run(tether, "-n", name, "--notify-on", "ended", "train.py")
    [first] = mails_for(steer, name)
    wait_for_watch(tether)  # past its start: a reply sent meanwhile may wait out an IDLE
    body = 'LR = 0.5\nprint("retrained with", LR)\n>EOM<\n$r\n>EOM<\n'
    reply_id = steer.send_reply(first.message, body)
    confirmation = answer_to(steer, reply_id)
    assert confirmation.subject.strip().startswith("Re: [tether #")
    text = text_of(confirmation)
    assert f"a re-run of job #{number}" in text and "+LR = 0.5" in text
    new = number + 1
    result = steer.wait_for_outbox(lambda r: f"#{new} " in r.subject and name in r.subject, 60)
    assert "retrained with 0.5" in text_of(result[0])
    assert job_extra(tether, new)["version"] != job_extra(tether, number)["version"]

    # a message is never handled twice, also across an agent restart
    tether("agent", "stop")
    tether("agent", "start")
    status_id = steer.send_reply(result[0].message, "status")
    # the restarted watcher handles mail in UID order: once this newer message is answered,
    # a second answer to the older reply would already be in the outbox
    assert "succeeded" in text_of(answer_to(steer, status_id))
    assert len(steer.wait_for_outbox(lambda r: r.message.get("In-Reply-To") == reply_id)) == 1
    assert count_jobs(tether) == 2

    # $sq writes job 2's program over the original, keeping a .bak
    save_id = steer.send_reply(result[0].message, ">EOM<\n$sq\n>EOM<\n")
    assert "saved job" in text_of(answer_to(steer, save_id))
    assert "retrained" in (tether.cwd / "train.py").read_text()
    assert "trained with" in (tether.cwd / "train.py.bak").read_text()


def test_quit_stops_a_running_job(tether: Tether, steer: MailServer) -> None:
    name = unique("long")
    script(tether, "slow.py", "import time\nprint('up', flush=True)\ntime.sleep(300)\n")
    number = run(tether, "-n", name, "--notify-on", "started", "slow.py")
    [started] = mails_for(steer, name)
    wait_for_watch(tether)
    reply_id = steer.send_reply(started.message, ">EOM<\n$q\n>EOM<")
    assert "cancelled" in text_of(answer_to(steer, reply_id))
    assert tether.json("show", str(number))["status"] == "cancelled"  # type: ignore[index]
    assert job_extra(tether, number)["steering"] == "stopped"


def test_strangers_bad_tokens_and_broken_programs_run_nothing(
    tether: Tether, steer: MailServer
) -> None:
    name = unique("safe")
    script(tether, "train.py", TRAIN)
    run(tether, "-n", name, "--notify-on", "ended", "train.py")
    [first] = mails_for(steer, name)
    wait_for_watch(tether)
    steer.add_user("mallory@rig.test", "m-pw")
    stranger = steer.send_reply(first.message, ">EOM<\n$r\n>EOM<", sender="mallory@rig.test")
    forged = parse_message(first.data)
    del forged["Message-ID"]
    forged["Message-ID"] = "<tether.1.aaaaaaaaaaaaaaaaaaaaaaaa.x@rig.test>"
    del forged["Subject"]
    forged["Subject"] = f"[tether #1 aaaaaaaaaaaaaaaaaaaaaaaa] {name}"
    wrong_token = steer.send_reply(forged, ">EOM<\n$r\n>EOM<")
    broken = steer.send_reply(first.message, "def f(:\n    pass\n>EOM<\n$r\n>EOM<\n")
    error = text_of(answer_to(steer, broken))
    assert "error:" in error and "line 1" in error and "nothing was run" in error
    wait_for(  # both were handled (and ignored) before the unanswered check
        lambda: all(
            part in tether("mail", "log").stdout
            for part in ("sender not allowed: mallory@rig.test", "unknown or expired")
        ),
        "the stranger's and the wrong token's mail in the mail log",
    )
    for mid in (stranger, wrong_token):
        assert not [r for r in steer.outbox if r.message.get("In-Reply-To") == mid]
    assert count_jobs(tether) == 1
    log = tether("mail", "log").stdout
    assert "sender not allowed: mallory@rig.test" in log and "unknown or expired" in log
