"""``--after`` and ``--retry`` on an SSH host (real sshd on loopback); ``--gpus`` there is
refused in one line when the host has no ``nvidia-smi`` (the rig host has none)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from rigs.sshd import SSHServer
from ssh_fixtures import Remote, host_cli

pytestmark = [pytest.mark.rig, pytest.mark.timeout(300)]

HOST = "rig1"


@pytest.fixture(scope="module")
def host(sshd_host: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    with host_cli(tmp_path_factory.mktemp("sshsched"), sshd_host, HOST) as remote:
        yield remote


def _status(remote: Remote, number: str) -> str:
    """The status of a job `run --on` printed (its local number; `show` asks the host)."""
    return str(remote.tt.json("show", number)["status"])  # type: ignore[index]


def _until_done(remote: Remote, number: str) -> str:
    deadline = time.monotonic() + 60
    while (status := _status(remote, number)) in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.3)
    return status


def test_after_and_failed_dependency_on_a_host(host: Remote) -> None:
    run = ("run", "--on", HOST)
    a = host.tt(*run, "--", "sh", "-c", "sleep 1.5; touch a-done").stdout.strip()
    b = host.tt(*run, "--after", a, "--", "sh", "-c", "test -e a-done").stdout.strip()
    bad = host.tt(*run, "--", "sh", "-c", "exit 4").stdout.strip()
    dep = host.tt(*run, "--after", bad, "--", "touch", "never").stdout.strip()
    assert _until_done(host, b) == "succeeded"
    assert _until_done(host, dep) == "cancelled"
    assert not host.remote_project("never").exists()


def test_retry_on_a_host_gives_linked_attempts(host: Remote) -> None:
    flaky = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ "$n" -ge 2 ]'
    first = host.tt("run", "--on", HOST, "--retry", "1", "--", "sh", "-c", flaky).stdout.strip()
    assert _until_done(host, first) == "failed"
    there = host.tt.json("show", first)["remote_number"]  # type: ignore[index]
    deadline = time.monotonic() + 60
    while True:
        rows = host.tt.json("ls", "--on", HOST)
        nxt = [r for r in rows if r.get("parent") == int(first)]  # type: ignore[union-attr]
        if nxt and nxt[0]["status"] == "succeeded":
            # the attempt the host made has a record here, its parent the first one's
            assert nxt[0]["remote_parent"] == there
            assert host.tt.json("show", str(nxt[0]["number"]))["parent"] == int(first)  # type: ignore[index]
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.3)
    assert host.remote_project("count").read_text().strip() == "2"


def test_gpus_on_a_host_without_nvidia_smi_is_one_line(host: Remote) -> None:
    proc = host.tt("run", "--on", HOST, "--gpus", "1", "--", "true", check=False)
    assert proc.returncode != 0
    assert "no nvidia-smi" in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
