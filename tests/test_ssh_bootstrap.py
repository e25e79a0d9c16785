"""``tether hosts setup``: tether installed on the host from wheels built here."""

from __future__ import annotations

import pytest

from ssh_fixtures import Remote, remote
from tether import __version__

__all__ = ["remote"]

pytestmark = pytest.mark.rig


@pytest.mark.timeout(600)
def test_setup_installs_tether_and_is_idempotent(remote: Remote) -> None:
    remote.add_alias("rig1")
    remote.server.run("rm -rf .tether/venv")  # earlier tests of the session may have installed it
    out = remote.tt("hosts", "setup", "rig1", timeout=600).stdout
    assert f"installed tether {__version__} on rig1" in out
    version = remote.server.run(".tether/venv/bin/tether --version").stdout
    assert __version__ in version
    assert f"tether {__version__}" in remote.tt("hosts", "check", "rig1").stdout
    again = remote.tt("hosts", "setup", "rig1").stdout
    assert "already installed" in again
    rows = remote.tt.json("probe", "--no-local")
    assert isinstance(rows, list) and rows[0]["tether_version"] == __version__
