"""A job on a host survives a cut network link, and ``logs -f`` picks up where it was.

``rig2`` lives in a network namespace; cutting its link drops every packet (like a pulled
cable). The host is added with ``ServerAliveInterval=1 ServerAliveCountMax=2``, so the ssh
connection notices the dead link within ~3 s (with tether's defaults it takes 45 s),
and ``ConnectTimeout=3`` so attempts to reconnect while it is cut fail quickly.
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest

from rigs.sshd import NetNamespace, SSHServer
from ssh_fixtures import Remote, module_cli, put_fake_jupyter
from waiting import wait_for

pytestmark = [pytest.mark.rig, pytest.mark.timeout(300)]

HOST = "rig2"
LINES = 40
# tick 0, then wait for go-1 (given while the link is cut), the other ticks, mark `ran`,
# then wait for go-2 (given once the link is back): no timing is assumed
TICKER = (
    "import os, time\n"
    "def gate(name):\n"
    "    while not os.path.exists(name):\n"
    "        time.sleep(0.05)\n"
    f"for i in range({LINES}):\n"
    "    print('tick', i, flush=True)\n"
    "    if i == 0:\n"
    "        gate('go-1')\n"
    "open('ran', 'w').close()\n"
    "gate('go-2')\n"
)


def _stderr_until(follower: subprocess.Popen[bytes], part: str, timeout: float = 60) -> bytes:
    """The follower's stderr lines up to the first that contains `part` (waits for it)."""
    assert follower.stderr is not None
    seen = b""
    end = time.monotonic() + timeout
    while part.encode() not in seen:
        left = end - time.monotonic()
        ready, _, _ = select.select([follower.stderr], [], [], max(left, 0))
        assert ready, f"no {part!r} on stderr within {timeout} s: {seen!r}"
        line = follower.stderr.readline()
        assert line, f"stderr closed before {part!r}: {seen!r}"
        seen += line
    return seen


def _fresh_gates(rig2: Remote) -> None:
    for name in ("go-1", "go-2", "ran"):
        rig2.remote_project(name).unlink(missing_ok=True)


def _run_through_the_cut(rig2: Remote, follower: subprocess.Popen[bytes]) -> bytes:
    """With the link cut: the follower says it lost the connection; the job, let go, runs to
    its end meanwhile. Returns the stderr line seen (the caller heals the link)."""
    line = _stderr_until(follower, "reconnecting")
    rig2.remote_project("go-1").touch()
    wait_for(lambda: rig2.remote_project("ran").exists(), "the job to run on through the cut")
    return line


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
    _fresh_gates(rig2)
    data = json.loads(rig2.tt("run", "--on", HOST, "--json", "ticker.py").stdout)
    follower = rig2.tt.popen(
        "logs", "-f", "--on", HOST, str(data["number"]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert follower.stdout is not None and follower.stderr is not None
    first = follower.stdout.readline()
    assert first == b"tick 0\n"
    with sshd_link.link_cut():  # the connection dies (~3 s); reconnecting fails while cut
        seen = _run_through_the_cut(rig2, follower)
    rig2.remote_project("go-2").touch()
    out = follower.stdout.read()  # not communicate(): it would skip what readline buffered
    err = seen.decode() + follower.stderr.read().decode()
    assert follower.wait(timeout=60) == 0, err
    assert (first + out).decode().splitlines() == [f"tick {i}" for i in range(LINES)]
    assert err.count("lost the connection to rig2; reconnecting") == 1, err

    final = rig2.tt.json("show", "--on", HOST, data["uuid"])
    assert isinstance(final, dict)
    assert final["status"] == "succeeded" and final["exit_code"] == 0
    # the job ran on through the cut: it reached its end (`ran`) while the link was down


def test_local_record_follow_reconnects_too(rig2: Remote, sshd_link: NetNamespace) -> None:
    """``logs -f N`` with N the local record of the job: the same reconnecting follower."""
    (rig2.project / "ticker.py").write_text(TICKER)
    _fresh_gates(rig2)
    data = json.loads(rig2.tt("run", "--on", HOST, "--json", "ticker.py").stdout)
    follower = rig2.tt.popen(
        "logs", "-f", str(data["local_number"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert follower.stdout is not None and follower.stderr is not None
    first = follower.stdout.readline()
    assert first == b"tick 0\n"
    sshd_link.cut()
    try:
        seen = _run_through_the_cut(rig2, follower)
    finally:
        sshd_link.heal()
    rig2.remote_project("go-2").touch()
    out = follower.stdout.read()
    err = seen.decode() + follower.stderr.read().decode()
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
