"""A plain `pip install .` (no extras) does the whole mission: a job with metrics gets its end
mail (without a chart, saying how to get one) and its webhook, `notify test` goes through, and
steering by reply works over the mail rig's IMAP. The venv is built once per session."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Tether, _stop_everything
from mail_fixtures import imap_setup_args, mails_for, run, script, smtp_setup_args, text_of, unique
from rigs.mail import MailServer
from test_notifications import Hook

pytestmark = [
    pytest.mark.plain_install,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

ROOT = Path(__file__).resolve().parents[1]
CHARTS_HINT = "No chart: charts need matplotlib (pip install 'tether[charts]')."

TRAIN = """
    import tether
    for step, loss in enumerate([0.9, 0.5, 0.25]):
        tether.report(step=step, loss=loss)
    print("training done")
"""


@pytest.fixture(scope="session")
def plain_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv with `pip install .` of this checkout and no extras."""
    venv = tmp_path_factory.mktemp("plain") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    probe = subprocess.run([str(python), "-c", "import matplotlib"], capture_output=True)
    assert probe.returncode != 0, "a plain install must not bring matplotlib"
    return python


@pytest.fixture
def plain(tmp_path: Path, plain_python: Path, mail_server: MailServer) -> Iterator[Tether]:
    """tether of the plain venv, with its own home and config, mail set up on the rig."""
    home, work, config = tmp_path / "home", tmp_path / "work", tmp_path / "config"
    for folder in (home, work, config):
        folder.mkdir()
    (config / "config.toml").write_text('[notify]\nretry_first = "0.5s"\nretry_max = "2s"\n')
    tether = Tether(home, work)
    tether.python = str(plain_python)
    tether.env["TETHER_CONFIG_DIR"] = str(config)
    tether.env["TETHER_SMTP_PASSWORD"] = mail_server.password
    tether.env["TETHER_IMAP_PASSWORD"] = mail_server.password
    tether.env.pop("PYTHONPATH", None)
    yield tether
    _stop_everything(home)


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    server.start()
    yield server
    server.stop()


def test_a_job_with_metrics_gets_its_end_mail_and_webhook(
    plain: Tether, mail_server: MailServer, hook: Hook
) -> None:
    plain(*smtp_setup_args(mail_server))
    name = unique("plain")
    script(plain, "train.py", TRAIN)
    number = run(plain, "-n", name, "--notify", hook.url(), "--notify-on", "ended", "train.py")
    plain("wait", str(number))
    [accepted] = mails_for(mail_server, name)
    body = text_of(accepted)
    assert "succeeded" in accepted.subject and "training done" in body
    assert "loss" in body and body.count(CHARTS_HINT) == 1
    assert not [p for p in accepted.message.walk() if p.get_content_type() == "image/png"]
    [post] = hook.wait(lambda p: name in p["title"])
    assert post["type"] == "success" and CHARTS_HINT in post["message"]
    rows = plain.json("notifications", str(number))
    assert {row["status"] for row in rows} == {"sent"}  # type: ignore[index, union-attr]


def test_notify_test_takes_the_path_of_a_job_notification(
    plain: Tether, mail_server: MailServer
) -> None:
    plain(*smtp_setup_args(mail_server))
    proc = plain("notify", "test")
    assert proc.stdout.startswith("sent")
    # the rig's SMTP server is shared by the session: find this test's mail by its body
    hits = mail_server.wait_for_outbox(
        lambda r: "tether can reach you" in text_of(r) and CHARTS_HINT in text_of(r), 30
    )
    assert hits


def test_steering_by_reply_round_trip(plain: Tether, mail_server: MailServer) -> None:
    plain(*smtp_setup_args(mail_server), *imap_setup_args(mail_server))
    name = unique("steer")
    script(plain, "train.py", 'LR = 0.1\nprint("trained with", LR)\n')
    number = run(plain, "-n", name, "--notify-on", "ended", "train.py")
    [first] = mails_for(mail_server, name)
    assert ">>>>> CONTROLS <<<<<" in text_of(first)  # IMAP is set up: the footer says how
    reply_id = mail_server.send_reply(first.message, 'LR = 0.5\nprint("retrained with", LR)\n'
                                      ">EOM<\n$r\n>EOM<\n")  # fmt: skip
    [answer] = mail_server.wait_for_outbox(lambda r: r.message.get("In-Reply-To") == reply_id, 30)
    assert f"a re-run of job #{number}" in text_of(answer)
    rerun = mail_server.wait_for_outbox(
        lambda r: f"#{number + 1} " in r.subject and name in r.subject, 60
    )
    assert "retrained with 0.5" in text_of(rerun[0])


def test_a_notebook_without_the_notebook_extra_is_refused_with_what_to_install(
    plain: Tether,
) -> None:
    """A plain install has no nbclient: `tether run nb.ipynb` queues nothing and says what
    to install; `tether.watch` needs nothing more."""
    nb = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (plain.cwd / "nb.ipynb").write_text(json.dumps(nb))
    proc = plain("run", "nb.ipynb", check=False)
    assert proc.returncode != 0
    assert "running a notebook needs nbclient" in proc.stderr
    assert "pip install 'tether[notebook]'" in proc.stderr and "nothing queued" in proc.stderr
    code = "import tether\n@tether.watch(channels=[])\ndef f():\n    return 2\nprint(f())\n"
    watched = subprocess.run([plain.python, "-c", code], capture_output=True, text=True,
                             timeout=60, cwd=plain.cwd, env=plain.env)  # fmt: skip
    assert watched.stdout.strip() == "2", watched.stderr
