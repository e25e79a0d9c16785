"""Notebook servers take no job slot: with every slot busy, ``tether notebook`` still starts.

Jupyter is not installed on the test machine: ``jupyter-lab`` here is the stand-in HTTP
server of ssh_fixtures (it prints its URL with a token the way Jupyter does).
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from conftest import Tether
from ssh_fixtures import FAKE_JUPYTER

HOLD = "while [ ! -e go ]; do sleep 0.05; done"


@pytest.fixture
def nb_tether(tether: Tether, tmp_path: Path) -> Tether:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "jupyter-lab"
    fake.write_text(FAKE_JUPYTER.format(python=shutil.which("python3")))
    fake.chmod(0o755)
    tether.env["PATH"] = f"{bin_dir}:{tether.env['PATH']}"
    return tether


def test_two_notebooks_start_while_the_only_slot_is_busy(nb_tether: Tether) -> None:
    t = nb_tether
    t("agent", "start", "--parallel", "1")
    busy = t.json("run", "--name", "busy", "--", "sh", "-c", HOLD)
    first = t.json("notebook", "--name", "nb1")
    second = t.json("notebook", "--name", "nb2")
    assert isinstance(first, dict) and isinstance(second, dict)
    for server in (first, second):
        with urllib.request.urlopen(str(server["url"]), timeout=10) as resp:
            assert resp.status == 200
    # The slot is still the busy job's: a job queued now waits, the notebooks run.
    waiting = t.json("run", "--name", "after", "--", "true")
    assert t.json("show", str(waiting))["status"] == "queued"  # type: ignore[index]
    assert t.json("show", str(busy))["status"] == "running"  # type: ignore[index]
    (t.cwd / "go").touch()
    t("wait", str(waiting), timeout=60)
    for server in (first, second):
        t("cancel", "--grace", "2", str(server["number"]))
        assert t.json("show", str(server["number"]))["status"] == "cancelled"  # type: ignore[index]


SILENT_JUPYTER = "#!/bin/sh\nexec sleep 600\n"


def test_a_stopped_start_leaves_no_server_behind(tether: Tether, tmp_path: Path) -> None:
    """SIGTERM while `tether notebook` waits for the URL: the server's job is cancelled."""
    import signal
    import time

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "jupyter-lab"
    fake.write_text(SILENT_JUPYTER)  # never prints a URL
    fake.chmod(0o755)
    tether.env["PATH"] = f"{bin_dir}:{tether.env['PATH']}"
    proc = tether.popen("notebook", "--name", "silent", stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        rows: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            found = tether.json("ls")
            assert isinstance(found, list)
            rows = [r for r in found if r["name"] == "silent" and r["status"] == "running"]
            if rows:
                break
            time.sleep(0.2)
        assert rows, "the server never started"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        shown = tether.json("show", str(rows[0]["number"]))
        assert isinstance(shown, dict) and shown["status"] == "cancelled", err
    finally:
        if proc.poll() is None:
            proc.kill()
