"""Shared fixtures. Real servers (sshd, SMTP/IMAP, Slurm) live in tests/rigs/."""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("rigs") is not None:
    pytest_plugins = ["rigs.plugin"]

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# A suite started in the background by a non-interactive shell (nohup, some CI runners)
# inherits SIGINT ignored, and so would every CLI it starts: the Ctrl-C tests would then wait
# for nothing. A Python handler here is reset to the default across exec in the children.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


class Tether:
    """Runs the real ``tether`` CLI in a subprocess against one TETHER_HOME."""

    def __init__(self, home: Path, cwd: Path) -> None:
        self.home = home
        self.cwd = cwd
        self.env = {**os.environ, "TETHER_HOME": str(home)}
        self.python = sys.executable  # the interpreter whose tether is run

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.python, "-m", "tether", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"tether {' '.join(args)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def json(self, *args: str) -> object:
        import json

        return json.loads(self(*args, "--json").stdout)

    def popen(self, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [self.python, "-m", "tether", *args],
            cwd=self.cwd,
            env=self.env,
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture
def tether(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tether]:
    """A fresh TETHER_HOME and config folder (no hosts, whatever ran before); its agent and
    leftover jobs are stopped afterwards."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("TETHER_HOME", str(home))
    monkeypatch.setenv("TETHER_CONFIG_DIR", str(tmp_path / "config"))
    yield Tether(home, work)
    _stop_everything(home)


def _stop_everything(home: Path) -> None:
    import signal

    import psutil

    from tether.agent import control

    try:
        control.stop(home, timeout=5)
    except Exception:
        pass
    # any job process still carrying this home in its environment
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid == os.getpid():
                continue
            if proc.environ().get("TETHER_HOME") == str(home):
                os.killpg(proc.pid, signal.SIGKILL) if proc.pid == os.getpgid(proc.pid) else None
                proc.kill()
        except (psutil.Error, ProcessLookupError, PermissionError, OSError):
            pass


@pytest.fixture
def ipython(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An IPython ``InteractiveShell`` (no browser) with ``%load_ext tether`` done."""
    pytest.importorskip("IPython")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "tether")
        yield shell
    finally:
        InteractiveShell.clear_instance()
