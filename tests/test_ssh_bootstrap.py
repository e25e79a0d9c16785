"""``tether hosts setup``: tether installed on the host from wheels built here."""

from __future__ import annotations

import json
import re

import pytest

from ssh_fixtures import Remote, remote
from tether import __version__

__all__ = ["remote"]

pytestmark = pytest.mark.rig


@pytest.mark.timeout(600)
def test_setup_installs_tether_and_is_idempotent(remote: Remote) -> None:
    remote.add_alias("rig1")
    remote.server.run("rm -rf .tether/venv")  # earlier tests of the session may have installed it
    proc = remote.tt("hosts", "setup", "rig1", timeout=600)
    assert f"installed tether {__version__} on rig1" in proc.stdout
    # each step is said on stderr, also when it is not a terminal (issue 27)
    assert "tether: copying the wheels to rig1" in proc.stderr
    assert "tether: making the venv on rig1" in proc.stderr
    assert f"tether: installing tether {__version__} and its dependencies" in proc.stderr
    version = remote.server.run(".tether/venv/bin/tether --version").stdout
    assert __version__ in version
    assert f"tether {__version__}" in remote.tt("hosts", "check", "rig1").stdout
    again = remote.tt("hosts", "setup", "rig1").stdout
    assert "already installed" in again
    rows = remote.tt.json("probe", "--no-local")
    assert isinstance(rows, list) and rows[0]["tether_version"] == __version__


@pytest.mark.timeout(600)
def test_first_run_on_a_fresh_host_says_the_install_on_stderr(remote: Remote) -> None:
    """`run --on` installing tether (a minute or more) says so and how long it took, on
    stderr also when it is not a terminal; stdout stays JSON (issue 27)."""
    remote.add_alias("rig1")
    remote.server.run("rm -rf .tether/venv")
    (remote.project / "a.py").write_text("print('hi')\n")
    proc = remote.tt("run", "--on", "rig1", "--json", "a.py", timeout=600)
    data = json.loads(proc.stdout)
    assert data["number"] >= 1
    lines = proc.stderr.splitlines()
    assert (
        f"tether: installing tether {__version__} on rig1 (first use; about a minute)..." in lines
    )
    assert "tether: making the venv on rig1 (~/.tether/venv) if missing..." in lines
    assert re.fullmatch(r"tether: installed on rig1 in \d+\.\d s", lines[-1]), proc.stderr
    again = remote.tt("run", "--on", "rig1", "--json", "a.py")
    assert "installing" not in again.stderr
    remote.tt("wait", str(json.loads(again.stdout)["local_number"]), timeout=120)
