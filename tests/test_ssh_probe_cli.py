"""``tether probe`` against a real sshd: one row per host, unreachable hosts within the timeout."""

from __future__ import annotations

import pytest

import tether
from rigs.common import free_port
from ssh_fixtures import Remote, remote
from tether.targets.ssh.check import REMOTE_VERSION_FILE

__all__ = ["remote"]

pytestmark = pytest.mark.rig


def test_probe_reports_local_and_the_test_host(remote: Remote) -> None:
    remote.add_alias("rig1")
    remote.tt("hosts", "add", "closed", f"nobody@127.0.0.1:{free_port()}")
    stamp_file = remote.server.home / REMOTE_VERSION_FILE  # read directly: we are root
    stamp = stamp_file.read_text().strip() if stamp_file.exists() else ""
    assert stamp in ("", tether.__version__)
    rows = remote.tt.json("probe", "--timeout", "10")  # a closed port must not make it hang
    assert isinstance(rows, list)
    by_host = {row["host"]: row for row in rows}
    assert [row["host"] for row in rows] == ["local", "rig1", "closed"]

    rig = by_host["rig1"]
    assert rig["reachable"] is True and rig["error"] is None
    assert rig["cpu_count"] >= 1
    assert rig["mem_free_bytes"] > 0 and rig["disk_free_bytes"] > 0
    assert rig["python_version"].startswith("3.")
    assert rig["gpus"] == []
    # the stamp a tether install leaves on the host (another test of the session may have
    # installed it there): its version, or None when tether is not installed
    assert rig["tether_version"] == (stamp or None)

    closed = by_host["closed"]
    assert closed["reachable"] is False
    assert "refused the connection" in closed["error"]
    assert by_host["local"]["reachable"] is True

    table = remote.tt("probe", "--no-local").stdout
    assert "rig1" in table and "closed" in table and "local" not in table.split()


def test_a_slow_host_is_named_in_words_for_people(remote: Remote) -> None:
    """A host that does not answer within the timeout: its name and what to do, never the
    internal ``sh`` or other words of the transport (issue 27)."""
    slow = remote.server.home / "slowpy"
    slow.write_text('#!/bin/sh\nsleep 20\nexec python3 "$@"\n')
    slow.chmod(0o755)
    remote.server.run(f"chown {remote.server.user} {slow} || true")
    remote.tt(
        "hosts", "add", "gpu1", remote.server.alias,
        "--ssh-config", str(remote.server.ssh_config), "--python", str(slow),
    )  # fmt: skip
    [row] = remote.tt.json("probe", "--no-local", "--timeout", "3")
    assert row["host"] == "gpu1" and row["reachable"] is False
    assert row["error"] == (
        "gpu1: no answer to the probe within 3 s "
        "(check the host is up and not overloaded: `tether hosts check gpu1`)"
    )
