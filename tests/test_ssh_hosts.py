"""``tether hosts``, ``tether ssh`` and their one-line errors, against a real sshd."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rigs.common import free_port
from ssh_fixtures import Remote, remote

__all__ = ["remote"]

pytestmark = pytest.mark.rig


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tether: error: ")
    return lines[0]


def test_add_ls_check_rm(remote: Remote) -> None:
    tt = remote.tt
    remote.add_alias("rig1")
    listed = tt.json("hosts", "ls")
    assert listed == [{"name": "rig1", "dest": "rig1", "ssh_config": str(remote.server.ssh_config)}]
    assert (remote.config_dir / "hosts.toml").is_file()

    out = tt("hosts", "check", "rig1").stdout
    assert "rig1 (rig1): reachable, python 3." in out
    assert "rsync yes" in out
    data = tt.json("hosts", "check", "rig1")
    assert isinstance(data, dict) and data["rsync"] is True and data["python_ok"] is True

    again = tt("hosts", "add", "rig1", "rig1", check=False)
    assert "exists already" in _one_error_line(again)

    tt("hosts", "rm", "rig1")
    assert tt.json("hosts", "ls") == []
    gone = tt("hosts", "check", "rig1", check=False)
    assert "no host named 'rig1'" in _one_error_line(gone)


def test_direct_destination_with_identity_and_options(remote: Remote) -> None:
    remote.add_direct("direct")
    out = remote.tt("hosts", "check", "direct").stdout
    assert "reachable" in out and "python 3." in out


def test_bad_auth_is_one_line(remote: Remote, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    remote.add_direct("badkey", identity=str(stranger))
    line = _one_error_line(remote.tt("hosts", "check", "badkey", check=False))
    assert "badkey refused the login" in line
    s = remote.server
    assert f"ssh-copy-id -i {stranger} -p {s.port} {s.user}@{s.host}" in line


def test_open_master_is_not_shared_with_another_identity_or_host_key(
    remote: Remote, tmp_path: Path
) -> None:
    """A master to user@host:port opened with the right key must not let in a host added
    with another identity file, or one whose host key is not known (issue 17)."""
    remote.add_direct("good")
    assert "reachable" in remote.tt("hosts", "check", "good").stdout  # master now open
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    remote.add_direct("badkey", identity=str(stranger))
    line = _one_error_line(remote.tt("hosts", "check", "badkey", check=False))
    assert "badkey refused the login" in line
    s = remote.server
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    remote.tt(
        "hosts", "add", "unknownkey", f"{s.user}@{s.host}:{s.port}", "-i", str(s.identity_file),
        "-o", f"UserKnownHostsFile={empty}", "-o", "StrictHostKeyChecking=yes",
        "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentityAgent=none",
    )  # fmt: skip
    line = _one_error_line(remote.tt("hosts", "check", "unknownkey", check=False))
    assert "unknownkey" in line and "reachable" not in line
    # The job verbs go through the same transport: they are refused as well.
    assert remote.tt("ls", "--on", "badkey", check=False).returncode != 0
    # ... while the good host still rides on its own master.
    assert "reachable" in remote.tt("hosts", "check", "good").stdout


def test_unreachable_port_is_one_line(remote: Remote) -> None:
    port = free_port()  # nothing listens there
    remote.tt("hosts", "add", "closed", f"nobody@127.0.0.1:{port}", "-o", "BatchMode=yes")
    line = _one_error_line(remote.tt("hosts", "check", "closed", check=False))
    assert "closed refused the connection" in line and str(port) in line


def test_unresolvable_host_is_one_line(remote: Remote) -> None:
    remote.tt("hosts", "add", "nowhere", "nobody@no-such-host.invalid")
    line = _one_error_line(remote.tt("hosts", "check", "nowhere", check=False))
    assert "cannot resolve the host name nowhere (nobody@no-such-host.invalid)" in line


def test_changed_host_key_is_one_line(remote: Remote, tmp_path: Path) -> None:
    other = tmp_path / "otherhost"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    s = remote.server
    known = tmp_path / "known_hosts"
    pub = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    known.write_text(f"[{s.host}]:{s.port} {pub}\n")
    remote.tt(
        "hosts", "add", "mitm", f"{s.user}@{s.host}:{s.port}", "-i", str(s.identity_file),
        "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
        "-o", "GlobalKnownHostsFile=/dev/null",
    )  # fmt: skip
    line = _one_error_line(remote.tt("hosts", "check", "mitm", check=False))
    assert "the host key of mitm has changed" in line


def test_no_python_is_one_line(remote: Remote) -> None:
    remote.add_direct("nopy", "--python", "python3.99")
    line = _one_error_line(remote.tt("hosts", "check", "nopy", check=False))
    s = remote.server
    assert "nopy has no python3.99 on PATH (no Python 3 found there)" in line
    # the hint gives the flags the host was added with again (issue 27)
    assert (
        f"`tether hosts add nopy {s.user}@{s.host}:{s.port} --identity {s.identity_file} "
        "--python /path/to/python3 --replace`" in line
    )
    remote.tt(
        "hosts", "add", "nopy2", s.alias, "--ssh-config", str(s.ssh_config),
        "--python", "/nonexistent/python3",
    )  # fmt: skip
    line = _one_error_line(remote.tt("hosts", "check", "nopy2", check=False))
    assert "nopy2 has no /nonexistent/python3 (no Python 3 found there)" in line
    assert f"`tether hosts add nopy2 {s.alias} --ssh-config {s.ssh_config} --python" in line


def test_bad_names_and_options_are_refused(remote: Remote) -> None:
    line = _one_error_line(remote.tt("hosts", "add", "bad/name", "a@b", check=False))
    assert "bad host name 'bad/name'" in line
    line = _one_error_line(remote.tt("hosts", "add", "ok", "a@b;rm", check=False))
    assert "bad host name" in line
    line = _one_error_line(remote.tt("hosts", "add", "ok", "a@b", "-o", "NoEquals", check=False))
    assert "has no '='" in line
    line = _one_error_line(remote.tt("hosts", "add", "local", "a@b", check=False))
    assert "reserved" in line


def test_ssh_runs_in_project_folder_with_pinned_host(remote: Remote) -> None:
    remote.add_alias("rig1")
    (remote.project / "tether.toml").write_text('[tether]\nhost = "rig1"\n')
    out = remote.tt("ssh", "rig1", "pwd").stdout.strip()
    assert out == str(remote.remote_project())
    # a shell (on the pinned host) reading commands from stdin starts there too
    out = remote.tt("ssh", input="pwd\nexit 3\n", check=False)
    assert out.returncode == 3
    assert str(remote.remote_project()) in out.stdout
    # arguments reach the remote program as they are, never as shell code
    evil = "$(touch PWNED); `id`"
    out = remote.tt("ssh", "rig1", "printf", "%s", evil).stdout
    assert out == evil
    assert not remote.remote_project("PWNED").exists()
    # one word is a shell command line, as with plain ssh (issue 17)
    out = remote.tt("ssh", "rig1", "pwd; echo two").stdout.splitlines()
    assert out == [str(remote.remote_project()), "two"]


def test_no_host_given_and_none_pinned(remote: Remote) -> None:
    line = _one_error_line(remote.tt("sync", check=False))
    assert "which host? pass --on HOST" in line


def test_hosts_file_is_private_and_valid_toml(remote: Remote) -> None:
    remote.add_direct("direct")
    path = remote.config_dir / "hosts.toml"
    assert path.stat().st_mode & 0o077 == 0
    text = path.read_text()
    assert "[hosts.direct]" in text and "StrictHostKeyChecking" in text
    listed = remote.tt.json("hosts", "ls")
    assert isinstance(listed, list)
    assert json.dumps(listed)
