"""How the agent waits for replies and files them away: IMAP IDLE pick-up time, and moving
handled mail to a folder (MOVE, or COPY + \\Deleted + UID EXPUNGE). The real CLI and agent,
the mail rig's SMTP server and dovecot; nothing is mocked."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import Tether
from mail_fixtures import (
    config_dir,
    imap_setup_args,
    mails_for,
    run,
    script,
    setup_steering,
    smtp_setup_args,
    text_of,
    unique,
    wait_for_watch,
)
from rigs.mail import MailServer, make_message, make_reply
from waiting import wait_for

__all__ = ["config_dir"]

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

SLOW = "import time\nprint('up', flush=True)\ntime.sleep(300)\n"


def job_status(tether: Tether, number: int) -> str:
    from tether.store.jobs import JobStore

    store = JobStore(tether.home)
    try:
        return store.get(number).status
    finally:
        store.close()


def log_entry(
    tether: Tether, part: str, timeout: float = 30, field: str = "subject"
) -> dict[str, Any]:
    """The last mail log entry whose `field` contains `part` (waits for one)."""
    from tether.mail.mail_log import read_log

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        hits = [e for e in read_log(tether.home) if part in str(e.get(field, ""))]
        if hits:
            return hits[-1]
        time.sleep(0.05)
    raise AssertionError(f"no mail log entry for {part!r}: {read_log(tether.home)}")


def uids_with(client: Any, message_id: str) -> list[int]:
    return list(client.search(["HEADER", "Message-ID", message_id]))


def test_idle_picks_up_a_reply_without_polling(
    tether: Tether, config_dir: Path, mail_server: MailServer
) -> None:
    # a 600 s poll interval and a 60 s deadline: only IDLE can explain the pick-up, and the
    # mail log says what woke the watcher ("idle", not "idle-timeout", "poll" or "start")
    setup_steering(tether, mail_server, "--imap-poll", "600")
    name = unique("idle")
    script(tether, "slow.py", SLOW)
    number = run(tether, "-n", name, "--notify-on", "started", "slow.py")
    [started] = mails_for(mail_server, name)
    watch = wait_for_watch(tether)  # recorded once the backlog is handled, right before IDLE
    assert watch["mode"] == "idle" and watch["poll"] == 600
    assert "by IMAP IDLE" in tether("mail", "log").stdout

    mail_server.inject(make_reply(started.message, mail_server.human, "stop"))
    wait_for(lambda: job_status(tether, number) == "cancelled", "the mailed stop to cancel")
    entry = log_entry(tether, name)
    assert entry["outcome"] == "quit" and entry["via"] == "idle", entry
    # how fast IDLE picks a reply up is a figure for a benchmark, not an assert here


def test_handled_replies_move_to_a_folder_and_ignored_mail_stays(
    tether: Tether, config_dir: Path, mail_server: MailServer
) -> None:
    folder = f"tether-done-{uuid.uuid4().hex[:6]}"
    setup_steering(tether, mail_server, "--imap-move-to", folder)
    name = unique("move")
    script(tether, "quick.py", "print('hello from quick')\n")
    run(tether, "-n", name, "--notify-on", "ended", "quick.py")
    [ended] = mails_for(mail_server, name)
    wait_for_watch(tether)  # a reply sent while the watcher starts may wait out an IDLE
    stranger = make_reply(ended.message, "mallory@rig.test", "status")
    stranger.replace_header("Subject", f"{stranger['Subject']} stranger")
    stranger_id = mail_server.inject(stranger)
    status_id = mail_server.send_reply(ended.message, "status")
    answer = mail_server.wait_for_outbox(lambda r: r.message.get("In-Reply-To") == status_id, 30)
    assert "succeeded" in text_of(answer[0])
    bad_id = mail_server.send_reply(ended.message, "make it faster please")
    mail_server.wait_for_outbox(lambda r: r.message.get("In-Reply-To") == bad_id, 30)
    log_entry(tether, "stranger")

    client = mail_server.imap()
    try:
        assert client.folder_exists(folder)  # created by the agent

        def moved() -> bool:
            client.noop()
            return not uids_with(client, bad_id)

        wait_for(moved, "the answered invalid command to be moved")
        # the command and the answered invalid command were moved, the stranger's mail stays
        assert not uids_with(client, status_id) and not uids_with(client, bad_id)
        assert len(uids_with(client, stranger_id)) == 1
        client.select_folder(folder)
        assert len(uids_with(client, status_id)) == 1 and len(uids_with(client, bad_id)) == 1
        assert not uids_with(client, stranger_id)
        flags = client.get_flags(client.search(["ALL"]))
        assert all(b"\\Seen" in f for f in flags.values())
    finally:
        client.logout()


@pytest.mark.parametrize("caps", [{"UIDPLUS"}, set()], ids=["copy-uid-expunge", "copy-deleted"])
def test_without_move_a_message_is_copied_and_only_it_is_removed(
    mail_server: MailServer, caps: set[str]
) -> None:
    """A server without MOVE (dovecot has it; the capability is left out of what the watcher
    is told): COPY, \\Deleted, then UID EXPUNGE of that message only when UIDPLUS is there."""
    from tether.mail.imap_folders import ensure_folder, move_message

    folder = f"tether-old-{uuid.uuid4().hex[:6]}"
    client = mail_server.imap()
    try:
        assert ensure_folder(client, folder) is True
        assert ensure_folder(client, folder) is False
        ours = make_message(mail_server.human, mail_server.user, "ours", "status")
        users = make_message(mail_server.human, mail_server.user, "deleted by the user")
        for message in (users, ours):
            client.append("INBOX", message.as_bytes())
        client.select_folder("INBOX")
        [user_uid] = uids_with(client, users["Message-ID"])
        client.add_flags([user_uid], [b"\\Deleted"])  # the user's, not yet expunged
        [uid] = uids_with(client, ours["Message-ID"])

        how = move_message(client, uid, folder, frozenset(caps))

        assert how == ("copy+expunge" if caps else "copy+deleted")
        assert uids_with(client, users["Message-ID"]) == [user_uid]  # never expunged by us
        left = uids_with(client, ours["Message-ID"])
        if caps:
            assert left == []
        else:
            assert left == [uid] and b"\\Deleted" in client.get_flags([uid])[uid]
        client.select_folder(folder)
        assert len(uids_with(client, ours["Message-ID"])) == 1
        client.select_folder("INBOX")
        client.remove_flags([user_uid], [b"\\Deleted"])
    finally:
        client.logout()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--imap-move-to", "INBOX"], "that is the folder being watched"),
        (["--imap-move-to", "bad\nname"], "not a usable IMAP folder name"),
        (["--imap-poll", "0.5"], "0.5 is not in the range"),
    ],
)
def test_bad_imap_settings_are_refused(
    tether: Tether, config_dir: Path, mail_server: MailServer, args: list[str], message: str
) -> None:
    tether.env["TETHER_SMTP_PASSWORD"] = mail_server.password
    proc = tether(
        *smtp_setup_args(mail_server),
        "--imap-host", mail_server.host,
        "--imap-user", mail_server.user,
        "--allow", mail_server.human,
        "--no-check",
        *args,
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    assert "[mail.imap]" not in (config_dir / "config.toml").read_text()


def test_imap_options_need_an_imap_host(tether: Tether, config_dir: Path) -> None:
    proc = tether(
        "mail", "setup", "--smtp-host", "127.0.0.1", "--from", "a@b.c", "--to", "a@b.c",
        "--imap-move-to", "Done", "--no-check", check=False,
    )  # fmt: skip
    assert proc.returncode != 0 and "need --imap-host" in proc.stderr


def test_a_folder_the_server_refuses_is_reported_at_setup(
    tether: Tether, config_dir: Path, mail_server: MailServer
) -> None:
    tether.env["TETHER_SMTP_PASSWORD"] = mail_server.password
    tether.env["TETHER_IMAP_PASSWORD"] = mail_server.password
    args = [*smtp_setup_args(mail_server), *imap_setup_args(mail_server)]
    proc = tether(*args, "--imap-move-to", "done/tether", check=False)
    assert proc.returncode != 0
    assert "the IMAP server refused folder 'done/tether'" in proc.stderr, proc.stderr
    assert "[mail.imap]" not in (config_dir / "config.toml").read_text()


def test_replies_are_still_answered_when_the_folder_cannot_be_made(
    tether: Tether, config_dir: Path, mail_server: MailServer
) -> None:
    setup_steering(tether, mail_server, "--imap-move-to", "done/tether", "--no-check")
    name = unique("nofolder")
    script(tether, "quick.py", "print('hi')\n")
    run(tether, "-n", name, "--notify-on", "ended", "quick.py")
    [ended] = mails_for(mail_server, name)
    wait_for_watch(tether)  # a reply sent while the watcher starts may wait out an IDLE
    status_id = mail_server.send_reply(ended.message, "status")
    answer = mail_server.wait_for_outbox(lambda r: r.message.get("In-Reply-To") == status_id, 30)
    assert "succeeded" in text_of(answer[0])
    entry = log_entry(tether, "not-moved", field="outcome")
    assert "done/tether" in entry["reason"] or "Invalid mailbox name" in entry["reason"]
    client = mail_server.imap()
    try:
        assert len(uids_with(client, status_id)) == 1  # left in INBOX, marked seen
    finally:
        client.logout()


def test_without_idle_the_watcher_polls_at_its_interval(
    tether: Tether, config_dir: Path, mail_server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dovecot has IDLE; the watcher here connects with a client that leaves IDLE out of the
    server's capabilities (everything else is the real server), so it must poll."""
    import dataclasses
    import threading

    from imapclient import IMAPClient

    from tether.config import load_user_config
    from tether.mail.inbox import InboxWatcher, imap_settings

    class NoIdleClient(IMAPClient):  # type: ignore[misc]
        def capabilities(self) -> tuple[bytes, ...]:
            return tuple(c for c in super().capabilities() if c.upper() != b"IDLE")

    setup_steering(tether, mail_server, "--imap-poll", "1")
    name = unique("poll")
    script(tether, "quick.py", "print('polled')\n")
    number = run(tether, "-n", name, "--notify-on", "ended", "quick.py")
    [ended] = mails_for(mail_server, name)
    tether("agent", "stop")  # its own watcher must not take the reply
    assert "not watching INBOX" in tether("mail", "log").stdout
    begin = time.time()

    monkeypatch.setenv("TETHER_CONFIG_DIR", str(config_dir))
    settings = imap_settings(load_user_config())
    assert settings is not None and settings.poll == 1.0
    watcher = InboxWatcher(
        tether.home,
        dataclasses.replace(settings, cafile=str(mail_server.cert_path)),
        mail_server.password,
        lambda msg: mail_server.send(msg),
        mail_server.user,
    )
    watcher.client_class = NoIdleClient
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop.is_set,), daemon=True)
    thread.start()
    try:
        assert wait_for_watch(tether, after=begin)["mode"] == "poll"
        assert "by polling every 1.0 s" in tether("mail", "log").stdout
        reply_id = mail_server.send_reply(ended.message, "status")
        answer = mail_server.wait_for_outbox(lambda r: r.message.get("In-Reply-To") == reply_id)
        assert f"job #{number} {name}: succeeded" in text_of(answer[0])
        assert log_entry(tether, name)["via"] == "poll"
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
