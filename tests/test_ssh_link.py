"""A job on a host survives a cut network link, and ``logs -f`` picks up where it was.

``rig2`` lives in a network namespace; cutting its link drops every packet (like a pulled
cable). The host is added with ``ServerAliveInterval=1 ServerAliveCountMax=2``, so the ssh
connection notices the dead link within ~3 s (with tether's defaults it takes 45 s),
and ``ConnectTimeout=3`` so attempts to reconnect while it is cut fail quickly.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest

from rigs.sshd import NetNamespace, SSHServer
from ssh_fixtures import Remote, module_cli, put_fake_jupyter

pytestmark = [pytest.mark.rig, pytest.mark.timeout(300)]

HOST = "rig2"
LINES = 40
TICKER = (
    "import time\n"
    f"for i in range({LINES}):\n"
    "    print('tick', i, flush=True)\n"
    "    time.sleep(0.25)\n"
)


@pytest.fixture(scope="module")
def rig2(sshd_host2: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    with module_cli(tmp_path_factory.mktemp("link"), sshd_host2) as cli:
        cli.tt(
            "hosts", "add", HOST, HOST, "--ssh-config", str(sshd_host2.ssh_config),
            "--option", "ServerAliveInterval=1", "--option", "ServerAliveCountMax=2",
            "--option", "ConnectTimeout=3",
        )  # fmt: skip
        cli.tt("hosts", "setup", HOST, timeout=600)
        yield cli


def test_follow_reconnects_after_the_link_is_cut(rig2: Remote, sshd_link: NetNamespace) -> None:
    (rig2.project / "ticker.py").write_text(TICKER)
    data = json.loads(rig2.tt("run", "--on", HOST, "--json", "ticker.py").stdout)
    follower = rig2.tt.popen(
        "logs", "-f", "--on", HOST, str(data["number"]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert follower.stdout is not None and follower.stderr is not None
    first = follower.stdout.readline()
    assert first == b"tick 0\n"
    with sshd_link.link_cut():
        time.sleep(5)  # the connection dies (~3 s); reconnecting fails while cut
    out = follower.stdout.read()  # not communicate(): it would skip what readline buffered
    err = follower.stderr.read().decode()
    assert follower.wait(timeout=60) == 0, err
    assert (first + out).decode().splitlines() == [f"tick {i}" for i in range(LINES)]
    assert err.count("lost the connection to rig2; reconnecting") == 1, err

    final = rig2.tt.json("show", "--on", HOST, data["uuid"])
    assert isinstance(final, dict)
    assert final["status"] == "succeeded" and final["exit_code"] == 0
    # the job ran on through the cut: it started before and ended after, without a pause
    assert final["runtime"] < LINES * 0.25 + 5


def test_local_record_follow_reconnects_too(rig2: Remote, sshd_link: NetNamespace) -> None:
    """``logs -f N`` with N the local record of the job: the same reconnecting follower."""
    (rig2.project / "ticker.py").write_text(TICKER)
    data = json.loads(rig2.tt("run", "--on", HOST, "--json", "ticker.py").stdout)
    follower = rig2.tt.popen(
        "logs", "-f", str(data["local_number"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert follower.stdout is not None and follower.stderr is not None
    first = follower.stdout.readline()
    assert first == b"tick 0\n"
    sshd_link.cut()
    try:
        time.sleep(4)
    finally:
        sshd_link.heal()
    out = follower.stdout.read()
    err = follower.stderr.read().decode()
    assert follower.wait(timeout=60) == 0, err
    assert (first + out).decode().splitlines() == [f"tick {i}" for i in range(LINES)]
    assert "reconnecting" in err
    waited = rig2.tt("wait", str(data["local_number"]), check=False)
    assert waited.returncode == 0


def test_notebook_forward_comes_back_after_a_cut(rig2: Remote, sshd_link: NetNamespace) -> None:
    """The forward lives in the ssh connection: after a cut, a new one forwards again.

    Jupyter is not installed here: the host runs the stand-in ``jupyter-lab``."""
    fake = put_fake_jupyter(rig2.server)
    proc = rig2.tt.popen("notebook", "--on", HOST, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        url = proc.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read1().decode()
        assert _get(url) == 200
        assert b"forwarding port" in proc.stderr.readline()
        with sshd_link.link_cut():
            line = proc.stderr.readline()  # the master dies within ~3 s
        assert b"lost the connection to rig2; reconnecting" in line
        assert b"forwarding again" in proc.stderr.readline()
        assert _get(url) == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        fake.unlink(missing_ok=True)
        rig2.tt("cancel", "--grace", "1", check=False)  # the server: the last job here


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return int(resp.status)
