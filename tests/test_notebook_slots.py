"""Notebook servers take no job slot: with every slot busy, ``tether notebook`` still starts.

Jupyter is not installed on the test machine: ``jupyter-lab`` here is the stand-in HTTP
server of ssh_fixtures (it prints its URL with a token the way Jupyter does).
"""

from __future__ import annotations

import shutil
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
