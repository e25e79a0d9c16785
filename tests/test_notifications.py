"""Notifications end to end: the real CLI, agent and notifier, a real SMTP server (the mail rig:
aiosmtpd with STARTTLS/SSL and a self-signed certificate) and a local HTTP server receiving
Apprise ``json://`` webhooks. Nothing is mocked."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
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
)
from rigs.common import free_port
from rigs.mail import MailServer
from waiting import wait_for

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

__all__ = ["config_dir"]  # a fixture, used by name

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Hook:
    """An HTTP server on 127.0.0.1 that records Apprise json:// posts; it can go down and
    come back on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.cond = threading.Condition()
        self.server: http.server.ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def start(self) -> None:
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook.cond:
                    hook.posts.append((self.path, json.loads(body)))
                    hook.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def titles(self) -> list[str]:
        with self.cond:
            return [str(p["title"]) for _, p in self.posts]

    def wait(
        self, predicate: Callable[[dict[str, Any]], bool], count: int = 1, timeout: float = 60
    ) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [p for _, p in self.posts if predicate(p)]
                left = end - time.monotonic()
                if len(hits) >= count or left <= 0:
                    break
                self.cond.wait(left)
        assert len(hits) >= count, f"{len(hits)} of {count} posts; titles: {self.titles()}"
        return hits


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail(tether: Tether, config_dir: Path, mail_server: MailServer) -> MailServer:
    """Email set up with `tether mail setup` on the STARTTLS submission port (self-signed)."""
    tether.env["TETHER_SMTP_PASSWORD"] = mail_server.password
    tether(*smtp_setup_args(mail_server))
    return mail_server


TRAIN = """
    import time
    import tether
    for step, acc in enumerate([0.5, 0.7, 0.913]):
        tether.report(step=step, loss=1 - acc, val_acc=acc)
        time.sleep(0.1)
    print("training done")
"""


def test_a_finished_job_sends_one_email_and_one_webhook(
    tether: Tether, mail: MailServer, hook: Hook
) -> None:
    name = unique("ok")
    script(tether, "train.py", TRAIN)
    number = run(tether, "-n", name, "--notify", hook.url(), "--notify-on", "ended", "train.py")
    tether("wait", str(number))
    [accepted] = mails_for(mail, name)
    token = job_extra(tether, number)["token"]
    subject = accepted.subject
    assert re.fullmatch(
        rf"\[tether #{number} {token}\] {name} succeeded in \d+s: val_acc=0\.913", subject
    ), subject
    msg = accepted.message
    assert str(msg["Message-ID"]).startswith(f"<tether.{number}.{token}.")
    assert accepted.listener == "submission" and accepted.auth_user == mail.user
    body = text_of(accepted)
    assert "Status:    succeeded (exit 0)" in body
    assert "training done" in body  # the log tail
    assert "val_acc" in body and "0.913" in body  # the metrics table
    assert "CONTROLS" not in body  # no IMAP set up: replies are not read, so no footer
    # the chart: a valid PNG, inline in the HTML part by Content-ID
    pngs = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(pngs) == 1
    data = pngs[0].get_content()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert pngs[0]["Content-ID"] == "<metrics-chart@tether>"
    html = msg.get_body(("html",))
    assert html is not None and "cid:metrics-chart@tether" in html.get_content()

    [post] = hook.wait(lambda p: name in p["title"])
    assert post["title"] == subject.replace(f" {token}]", "]")  # no token in chat
    assert post["type"] == "success" and "val_acc=0.913" in post["message"]
    notifier_passes_later(tether, hook)  # nothing more comes
    assert len([r for r in mail.outbox if name in r.subject]) == 1
    assert len([t for t in hook.titles() if name in t]) == 1


def test_a_failed_jobs_mail_ends_with_the_traceback(tether: Tether, mail: MailServer) -> None:
    name = unique("bad")
    script(
        tether,
        "crash.py",
        """
        def step(lr):
            raise ValueError(f"learning rate {lr} is too high")
        step(3.0)
        """,
    )
    number = run(tether, "-n", name, "--notify-on", "failed", "crash.py")
    tether("wait", str(number), check=False)
    [accepted] = mails_for(mail, name)
    assert f"{name} failed (exit 1)" in accepted.subject
    body = text_of(accepted)
    assert "ValueError: learning rate 3.0 is too high" in body
    assert body.index("Traceback (most recent call last)") < body.index("ValueError: learning")


def test_the_end_notification_gives_the_jobs_peak_use(
    tether: Tether, config_dir: Path, hook: Hook
) -> None:
    name = unique("peaks")
    script(
        tether, "busy.py", "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass\n"
    )
    number = run(tether, "-n", name, "--notify", hook.url(), "--notify-on", "ended", "busy.py")
    tether("wait", str(number))
    [post] = hook.wait(lambda p: name in p["title"] and "succeeded" in p["title"])
    assert re.search(r"peak use: CPU \d+%, memory \d+ MB", post["message"]), post["message"]


def test_every_sends_periodic_reports(tether: Tether, config_dir: Path, hook: Hook) -> None:
    name = unique("every")
    script(
        tether,
        "slow.py",
        """
        import os
        import time
        import tether
        step = 0
        while not os.path.exists("enough") and step < 300:  # the test says when
            step += 1
            tether.report(loss=1 / step)
            time.sleep(0.2)
        """,
    )
    number = run(
        tether, "-n", name, "--notify", hook.url(), "--every", "2s", "--notify-on", "interval",
        "slow.py",
    )  # fmt: skip
    posts = hook.wait(lambda p: name in p["title"] and "running for" in p["title"], count=2)
    assert all("loss=" in p["title"] for p in posts)
    (tether.cwd / "enough").touch()
    tether("wait", str(number))
    assert all("running for" in t for t in hook.titles() if name in t)  # only reports


def test_a_condition_notifies_once_when_it_turns_true(
    tether: Tether, config_dir: Path, hook: Hook
) -> None:
    name = unique("cond")
    script(
        tether,
        "cond.py",
        """
        import time
        import tether
        tether.add_condition("acc", lambda v: v > 0.5)
        for step in range(10):
            tether.report(acc=step / 10)
            time.sleep(0.1)
        """,
    )
    number = run(tether, "-n", name, "--notify", hook.url(), "--notify-on", "condition", "cond.py")
    [post] = hook.wait(lambda p: name in p["title"])
    assert "condition met: acc" in post["title"]
    tether("wait", str(number))
    notifier_passes_later(tether, hook)
    assert len([t for t in hook.titles() if name in t]) == 1


def notifier_passes_later(tether: Tether, hook: Hook) -> None:
    """Wait until the notifier has finished two whole scan-and-deliver passes after now, so
    whatever it was going to send about earlier events has been sent: a marker job notifies
    the hook, then a second one submitted after the first marker's post arrived."""
    for _ in range(2):
        marker = unique("marker")
        tether("run", "-w", "-n", marker, "--notify", hook.url(), "--notify-on", "ended", "true")
        hook.wait(lambda p, m=marker: m in p["title"], timeout=60)


def notification_rows(tether: Tether, number: int) -> list[dict[str, Any]]:
    rows = tether.json("notifications", str(number))
    assert isinstance(rows, list)
    return rows


def wait_rows(
    tether: Tether, number: int, ok: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
) -> list[dict[str, Any]]:
    end = time.monotonic() + timeout
    while True:
        rows = notification_rows(tether, number)
        if ok(rows) or time.monotonic() > end:
            assert ok(rows), rows
            return rows
        time.sleep(0.2)


def test_a_down_channel_is_retried_and_never_delays_the_job(
    tether: Tether, config_dir: Path, hook: Hook
) -> None:
    hook.stop()
    name = unique("down")
    # the hook stays down until the job has ended: were the job held up by its notifications
    # (retried for minutes), `run -w` would not return
    proc = tether("run", "-w", "-n", name, "--notify", hook.url(), "--", "sleep", "0.3")
    assert proc.returncode == 0
    number = int(tether.json("show")["number"])  # type: ignore[index]
    assert tether.json("show", str(number))["status"] == "succeeded"  # type: ignore[index]
    assert not hook.titles()
    rows = wait_rows(tether, number, lambda rs: any(r["attempts"] >= 2 for r in rs))
    assert all(r["status"] == "pending" for r in rows)
    assert any("did not take the notification" in (r["error"] or "") for r in rows)
    hook.start()
    hook.wait(lambda p: name in p["title"] and "succeeded" in p["title"])
    rows = wait_rows(tether, number, lambda rs: all(r["status"] == "sent" for r in rs))
    assert [r["event"] for r in rows] == ["started", "succeeded"]
    assert all(r["channel"] == "json://…" and r["sent"] for r in rows)


def notifier_pids(home: Path) -> list[int]:
    pids = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "tether.notifications.worker" in cmd and str(home) in cmd:
            pids.append(proc.info["pid"])
    return pids


def test_a_killed_agent_resends_unsent_notifications_after_restart(
    tether: Tether, config_dir: Path, hook: Hook
) -> None:
    hook.stop()
    name = unique("kill")
    number = run(tether, "-n", name, "--notify", hook.url(), "--notify-on", "ended", "--", "true")
    tether("wait", str(number))
    wait_rows(tether, number, lambda rs: len(rs) == 1 and rs[0]["attempts"] >= 1)
    agent = json.loads((tether.home / "agent.json").read_text())["pid"]
    os.kill(agent, signal.SIGKILL)
    wait_for(lambda: not notifier_pids(tether.home), "the notifier to go with its agent")
    hook.start()
    # no notifier process is left (waited for above), so nobody can send while no agent runs
    assert not hook.titles()
    assert notification_rows(tether, number)[0]["status"] == "pending"
    tether("agent", "start")
    [post] = hook.wait(lambda p: name in p["title"])
    assert "succeeded" in post["title"]
    wait_rows(tether, number, lambda rs: rs[0]["status"] == "sent")


def test_mail_setup_with_flags_writes_no_password_and_notify_test_reports_each_channel(
    tether: Tether, config_dir: Path, mail_server: MailServer, hook: Hook
) -> None:
    tether.env["TETHER_SMTP_PASSWORD"] = mail_server.password
    proc = tether(*smtp_setup_args(mail_server, port=mail_server.smtps_port, security="ssl"))
    assert "logged in" in proc.stdout
    text = (config_dir / "config.toml").read_text()
    assert mail_server.password not in text and "password" not in text.lower()
    assert 'security = "ssl"' in text and '"email"' in text
    assert (config_dir / "config.toml").stat().st_mode & 0o077 == 0
    (tether.cwd / "tether.toml").write_text(f'[notify]\nchannels = ["{hook.url("proj")}"]\n')
    before = len(mail_server.outbox)
    proc = tether("notify", "test")
    assert "sent    email" in proc.stdout and "sent    json://…" in proc.stdout
    [accepted] = mail_server.wait_for_outbox(lambda r: r.listener == "smtps", count=1)
    assert len(mail_server.outbox) > before and "test notification" in accepted.subject
    hook.wait(lambda p: "test notification" in p["title"])

    # a wrong password is refused at setup, and nothing is saved
    tether.env["TETHER_SMTP_PASSWORD"] = "wrong"
    proc = tether(*smtp_setup_args(mail_server), check=False)
    assert proc.returncode == 1 and "rejected the login" in proc.stderr
    assert (config_dir / "config.toml").read_text() == text

    # 'none' works for a loopback server, with a warning
    proc = tether(
        "mail", "setup", "--smtp-host", mail_server.host,
        "--smtp-port", str(mail_server.smtp_port), "--smtp-security", "none",
        "--from", mail_server.user, "--to", mail_server.human,
    )  # fmt: skip
    assert "warning" in proc.stderr and "unencrypted" in proc.stderr


def test_notify_test_reports_a_failing_channel(
    tether: Tether, config_dir: Path, hook: Hook
) -> None:
    hook.stop()
    (tether.cwd / "tether.toml").write_text(f'[notify]\nchannels = ["{hook.url()}"]\n')
    proc = tether("notify", "test", check=False)
    assert proc.returncode == 1
    assert "failed  json://…" in proc.stdout and "1 of 1 channel(s) failed" in proc.stderr


def test_notifications_json_lists_each_notification(
    tether: Tether, config_dir: Path, hook: Hook
) -> None:
    name = unique("list")
    script(tether, "say.py", "import tether\ntether.notify('checkpoint saved')\n")
    number = run(tether, "-n", name, "--notify", hook.url(), "say.py")
    tether("wait", str(number))
    rows = wait_rows(
        tether, number, lambda rs: len(rs) == 3 and all(r["status"] == "sent" for r in rs)
    )
    assert [r["event"] for r in rows] == ["started", "message", "succeeded"]
    for row in rows:
        assert set(row) >= {"id", "job", "event", "channel", "status", "attempts", "sent"}
        assert row["job"] == number and row["channel"] == "json://…" and row["attempts"] == 1
        assert row["sent"].startswith("20") and row["error"] is None
    [post] = hook.wait(lambda p: name in p["title"] and "says" in p["title"])
    assert post["title"].endswith("says: checkpoint saved")
    table = tether("notifications", str(number)).stdout
    assert "message" in table and "sent" in table


def test_bad_settings_are_one_clear_line(tether: Tether, config_dir: Path) -> None:
    proc = tether("run", "--notify", "nope", "--", "true", check=False)
    assert proc.returncode == 1 and "neither 'email' nor a URL" in proc.stderr
    proc = tether("run", "--every", "soon", "--", "true", check=False)
    assert "--every: 'soon' is not a duration" in proc.stderr
    proc = tether("run", "--notify-on", "started,exploded", "--", "true", check=False)
    assert "unknown event 'exploded'" in proc.stderr
    (tether.cwd / "tether.toml").write_text('[notify]\nchannels = ["json://x/y"]\nevery = 3h\n')
    proc = tether("notify", "test", check=False)
    assert proc.returncode == 1 and "tether.toml" in proc.stderr and "line 3" in proc.stderr
    (tether.cwd / "tether.toml").write_text('[notify]\nchannels = ["json://x/y"]\nevery = "3x"\n')
    proc = tether("notify", "test", check=False)
    assert "tether.toml, line 3: '3x' is not a duration" in proc.stderr


def test_a_rerun_mail_names_the_parents_value_written_in_its_script(
    tether: Tether, tmp_path: Path
) -> None:
    """`rerun -p lr=...` of a job that ran the script's own lr: the mail says `was 0.01`."""
    from tether.notifications.snapshot import param_changes
    from tether.store.jobs import JobStore

    script = tmp_path / "train.py"
    script.write_text("lr = 0.01  # learning rate\nprint(lr)\n")
    tether("run", "-w", str(script))
    tether("rerun", "-w", "-p", "lr=0.001", "1")
    store = JobStore(tether.home)
    try:
        assert param_changes(store, store.get(2)) == {"lr": (0.01, 0.001)}
        assert param_changes(store, store.get(1)) == {}
    finally:
        store.close()


def test_an_event_line_of_any_size_never_stops_later_messages(
    tether: Tether, config_dir: Path, hook: Hook
) -> None:
    name = unique("huge")
    script(
        tether,
        "huge.py",
        """
        import json
        import os
        import time
        import tether
        tether.notify("x" * (2 * 1024 * 1024))  # cut by tether.notify itself
        path = os.path.join(os.environ["TETHER_JOB_DIR"], "events.jsonl")
        with open(path, "a") as f:  # a line no cap cut (an older tether, another writer)
            event = {"time": time.time(), "kind": "message", "text": "y" * (3 * 1024 * 1024)}
            f.write(json.dumps(event) + "\\n")
        tether.notify("after the big ones")
        """,
    )
    number = run(tether, "-n", name, "--notify", hook.url(), "--notify-on", "message", "huge.py")
    tether("wait", str(number))
    hook.wait(lambda p: name in p["title"] and "after the big ones" in p["title"])
    job_dir = Path(str(tether.json("show", str(number))["job_dir"]))  # type: ignore[index]
    first = json.loads((job_dir / "events.jsonl").open("rb").readline())
    assert first["text"].endswith("characters cut by tether]")
    assert len(first["text"]) < 70 * 1024


def test_an_event_line_too_long_to_read_is_skipped_with_a_note(tmp_path: Path) -> None:
    from tether.notifications.watcher import MAX_EVENT_BYTES, _new_events
    from tether.store.outbox import WatchState

    path = tmp_path / "events.jsonl"
    huge = json.dumps({"kind": "message", "text": "y" * (MAX_EVENT_BYTES * 3)}) + "\n"
    path.write_text(huge + json.dumps({"kind": "message", "text": "later"}) + "\n")
    state = WatchState(job=1)
    found = _new_events(path, state)
    assert [event["text"] for _, event in found] == [
        f"(an event of {len(huge)} bytes was too long to read; it was skipped)",
        "later",
    ]
    whole = path.stat().st_size
    assert state.events_offset == whole
    with path.open("a") as f:
        f.write('{"kind": "message", "text": "torn')  # its end is not written yet
    assert _new_events(path, state) == [] and state.events_offset == whole
