"""``tether.watch`` (issue 30): notifications on the start, end and failure of a function or a
block, sent from the watched process itself (no agent), to a real webhook on 127.0.0.1 through
Apprise's ``json://``; a channel that cannot be reached never changes the watched code."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tether
from hook_fixtures import Hook, webhook_server


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_server() as served:
        served.url += "/hook"
        yield served


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    monkeypatch.setenv("TETHER_CONFIG_DIR", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"json://127.0.0.1:{port}/nobody"


def test_a_decorated_function_tells_its_start_and_its_end(hook: Hook) -> None:
    @tether.watch("nightly eval", channels=[hook.url])
    def evaluate(x: int) -> dict[str, float]:
        return {"acc": 0.5 + x}

    assert evaluate(0.25) == {"acc": 0.75}
    started, ended = hook.wait_for(2)
    assert started["title"] == "[tether] nightly eval started on " + socket.gethostname()
    assert ended["title"].startswith("[tether] nightly eval succeeded")
    assert ended["type"] == "success"
    assert "returned {'acc': 0.75}" in ended["message"]


def test_a_failure_is_told_and_raised_unchanged(hook: Hook) -> None:
    error = ValueError("bad learning rate")

    @tether.watch(channels=[hook.url])
    def train() -> None:
        raise error

    with pytest.raises(ValueError) as raised:
        train()
    assert raised.value is error
    started, failed = hook.wait_for(2)
    assert "train" in started["title"]
    assert failed["type"] == "failure"
    assert "ValueError: bad learning rate" in failed["title"]
    assert "raise error" in failed["message"]  # the traceback's last lines


def test_a_block_is_watched_with_a_context_manager(hook: Hook) -> None:
    with tether.watch("training", channels=hook.url):
        pass
    titles = [post["title"] for post in hook.wait_for(2)]
    assert titles[0].startswith("[tether] training started")
    assert titles[1].startswith("[tether] training succeeded")


def test_an_async_function_is_watched(hook: Hook) -> None:
    import asyncio

    @tether.watch(channels=[hook.url])
    async def fetch() -> int:
        await asyncio.sleep(0)
        return 7

    assert asyncio.run(fetch()) == 7
    assert "returned 7" in hook.wait_for(2)[1]["message"]


def test_an_unreachable_channel_changes_nothing_but_a_line_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @tether.watch(channels=[dead_url()])
    def work() -> int:
        return 42

    started = time.monotonic()
    assert work() == 42
    assert time.monotonic() - started < 20
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2, lines  # the start's and the end's
    assert all(line.startswith("tether.watch: could not send the ") for line in lines)
    assert "to json://…: " in lines[1]  # the channel named as everywhere: its scheme only


def test_a_broken_config_changes_nothing_but_a_line_on_stderr(
    no_user_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (no_user_config / "config.toml").write_text("[notify\nchannels = 3\n")

    @tether.watch
    def work() -> str:
        return "done"

    assert work() == "done"
    err = capsys.readouterr().err
    assert err.count("tether.watch: could not send the") == 2


def test_the_configured_channels_get_the_events_they_ask_for(
    hook: Hook, no_user_config: Path, tmp_path: Path
) -> None:
    """A plain script run with ``python``, as a user runs one: the user config sends only
    failures to the webhook."""
    (no_user_config / "config.toml").write_text(
        f'[notify]\nchannels = [{{ url = "{hook.url}", on = ["failed"] }}]\n'
    )
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            """
            import tether

            @tether.watch
            def ok():
                return 1

            @tether.watch
            def broken():
                return 1 / 0

            ok()
            tether.notify("outside a job: nothing")  # still the function after tether.watch
            broken()
            """
        )
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    [failed] = hook.wait_for(1)
    time.sleep(0.3)
    assert len(hook.posts) == 1
    assert failed["title"].startswith("[tether] broken failed")


def test_tether_notify_stays_a_function_after_the_notifications_package_loads() -> None:
    code = (
        "import tether, tether.notifications.routing, tether.notifications.watch\n"
        "tether.notify('hi'); tether.watch\n"
        "print(callable(tether.notify))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.stdout.strip() == "True", proc.stderr
