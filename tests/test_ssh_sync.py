"""``tether sync``, ``push`` and ``pull`` against a real sshd and rsync."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from ssh_fixtures import Remote, remote

__all__ = ["remote"]

pytestmark = pytest.mark.rig


def _make_project(root: Path) -> None:
    (root / "train.py").write_text("print('hi')\n")
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "model.py").write_text("W = 1\n")
    (root / ".gitignore").write_text("*.ckpt\nbuild/\n")
    (root / "weights.ckpt").write_text("big")
    (root / "build").mkdir()
    (root / "build" / "out.o").write_text("x")
    (root / ".tetherignore").write_text("secret.txt\n")
    (root / "secret.txt").write_text("s")
    (root / "data").mkdir()
    (root / "data" / "big.bin").write_bytes(b"\0" * 1000)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.pyc").write_bytes(b"\0")


def _sync(remote: Remote, *args: str) -> dict[str, object]:
    data = remote.tt.json("sync", "--on", "rig1", *args)
    assert isinstance(data, dict)
    return data


def _touch_later(path: Path, text: str) -> None:
    path.write_text(text)
    later = time.time() + 5  # same size edits within one second must still be seen
    os.utime(path, (later, later))


@pytest.mark.parametrize("method", ["rsync", "tar"])
def test_sync_sends_only_changed_files(remote: Remote, method: str) -> None:
    _make_project(remote.project)
    remote.add_alias("rig1")

    first = _sync(remote, "--method", method)
    assert first["method"] == method
    # tether.toml, train.py, pkg/__init__.py, pkg/model.py, .gitignore, .tetherignore
    assert first["changed"] == 6
    there = remote.remote_project()
    assert (there / "train.py").read_text() == "print('hi')\n"
    assert (there / "pkg" / "model.py").is_file()
    for left_out in ("weights.ckpt", "build", "secret.txt", "data", "__pycache__"):
        assert not (there / left_out).exists(), left_out

    assert _sync(remote, "--method", method)["changed"] == 0

    _touch_later(remote.project / "pkg" / "model.py", "W = 2\n")
    assert _sync(remote, "--method", method)["changed"] == 1
    assert (there / "pkg" / "model.py").read_text() == "W = 2\n"

    (remote.project / "train.py").unlink()
    assert _sync(remote, "--method", method)["changed"] == 1
    assert not (there / "train.py").exists()

    human = remote.tt("sync", "--on", "rig1", "--method", method).stdout
    assert human.startswith(
        f"tether: synced 0 files (0 B) to rig1:~/tether/projects/{remote.name} (5 unchanged; "
        f"{method}"
    ), human
    assert "data/ (1 file) not synced: `tether push data --on rig1`" in human


@pytest.mark.parametrize("method", ["rsync", "tar"])
def test_sync_reports_files_and_bytes(remote: Remote, method: str) -> None:
    remote.add_alias("rig1")
    (remote.project / "a.py").write_text("x" * 1500)
    (remote.project / "b.py").write_text("y" * 500)
    data = _sync(remote, "--method", method)
    assert data["sent"] == 3 and data["unchanged"] == 0 and data["data_files"] == 0
    assert data["sent_bytes"] == 2000  # a.py, b.py and the empty tether.toml
    _touch_later(remote.project / "a.py", "z" * 1200)
    human = remote.tt("sync", "--on", "rig1", "--method", method).stdout
    assert human.startswith("tether: synced 1 file (1.2 kB) to rig1:~/"), human
    assert "(2 unchanged; " in human and "data/" not in human


BIG = 200 * 1024 * 1024


@pytest.mark.parametrize("method", ["rsync", "tar"])
def test_a_big_file_is_refused_until_ignored(remote: Remote, method: str) -> None:
    remote.add_alias("rig1")
    (remote.project / "train.py").write_text("print('hi')\n")
    (remote.project / "big").mkdir()
    with open(remote.project / "big" / "model.bin", "wb") as out:
        os.truncate(out.fileno(), BIG)  # sparse: 200 MiB that take no room
    proc = remote.tt("sync", "--on", "rig1", "--method", method, check=False)
    assert proc.returncode == 2, proc
    err = proc.stderr
    assert "refused, nothing sent" in err and "209.7 MB" in err and "100.0 MB" in err, err
    assert "209.7 MB  big/model.bin" in err and "\n  big/model.bin\n" in err, err
    assert "--max-size 1GB" in err and 'max_size = "1GB"' in err, err
    assert not remote.remote_project().exists() or not any(remote.remote_project().iterdir())

    (remote.project / ".tetherignore").write_text("big/model.bin\n")
    data = _sync(remote, "--method", method)
    assert data["sent"] == 3  # tether.toml, train.py, .tetherignore
    assert remote.remote_project("train.py").is_file()
    assert not remote.remote_project("big", "model.bin").exists()


def test_the_cap_from_tether_toml_and_the_flag(remote: Remote) -> None:
    remote.add_alias("rig1")
    (remote.project / "tether.toml").write_text('[sync]\nmax_size = "1kB"\n')
    (remote.project / "a.bin").write_bytes(b"\1" * 3000)
    proc = remote.tt("sync", "--on", "rig1", check=False)
    assert proc.returncode == 2 and "over the cap of 1.0 kB" in proc.stderr, proc
    assert "\n  /a.bin\n" in proc.stderr
    assert not remote.remote_project("a.bin").exists()
    assert _sync(remote, "--max-size", "10kB")["sent"] == 2
    assert remote.remote_project("a.bin").is_file()
    assert _sync(remote)["sent"] == 0  # the cap is on what is sent: a.bin is there already

    (remote.project / "a.bin").write_bytes(b"\2" * 5000)
    (remote.project / "tether.toml").write_text('[sync]\nmax_size = "none"\n')
    assert _sync(remote)["sent"] == 2
    proc = remote.tt("sync", "--on", "rig1", "--max-size", "12 parsecs", check=False)
    assert proc.returncode == 2 and "--max-size: '12 parsecs' is not a size" in proc.stderr


def test_a_bad_cap_in_tether_toml_is_one_clear_error(remote: Remote) -> None:
    remote.add_alias("rig1")
    (remote.project / "tether.toml").write_text('[tether]\n\n[sync]\nmax_size = "lots"\n')
    proc = remote.tt("sync", "--on", "rig1", check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert (
        f"{remote.project / 'tether.toml'}, line 4: [sync] max_size: 'lots' is not a size"
        in (lines[0])
    ), lines
    assert not remote.remote_project().exists()


def test_tar_resends_everything_when_the_copy_was_wiped(remote: Remote) -> None:
    _make_project(remote.project)
    remote.add_alias("rig1")
    assert _sync(remote, "--method", "tar")["changed"] == 6
    remote.server.run(f"rm -rf tether/projects/{remote.name}")
    assert _sync(remote, "--method", "tar")["changed"] == 6


def test_sync_falls_back_to_tar_without_remote_rsync(remote: Remote) -> None:
    """A host whose PATH has no rsync (set through ~/.ssh/environment) gets a tar stream."""
    _make_project(remote.project)
    remote.add_alias("rig1")
    s = remote.server
    bin_dir = s.remote_path("norsync-bin")
    bin_dir.mkdir(exist_ok=True)
    for tool in ("sh", "bash", "tar", "gzip", "mkdir", "cat", "rm", "python3", "env"):
        link = bin_dir / tool
        if not link.exists():
            link.symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    env_file = s.home / ".ssh" / "environment"
    before = env_file.read_text() if env_file.exists() else None
    s.set_env("PATH", str(bin_dir))
    try:
        data = _sync(remote)
    finally:
        if before is None:
            env_file.unlink()
        else:
            env_file.write_text(before)
    assert data["method"] == "tar" and data["changed"] == 6
    assert remote.remote_project("train.py").is_file()


def test_push_and_pull_round_trip(remote: Remote) -> None:
    remote.add_alias("rig1")
    tt = remote.tt
    (remote.project / "results").mkdir()
    (remote.project / "results" / "a.txt").write_text("A")
    (remote.project / "notes.md").write_text("N")

    assert "1 file(s) sent" in tt("push", "--on", "rig1", "notes.md").stdout
    assert remote.remote_project("notes.md").read_text() == "N"
    tt("push", "--on", "rig1", "results", "out/res")
    assert remote.remote_project("out", "res", "a.txt").read_text() == "A"

    remote.server.run(f"cd tether/projects/{remote.name} && echo B > out/res/b.txt")
    tt("pull", "--on", "rig1", "out/res", "back")
    assert (remote.project / "back" / "b.txt").read_text() == "B\n"
    assert (remote.project / "back" / "a.txt").read_text() == "A"
    tt("pull", "--on", "rig1", "out/res/b.txt")
    assert (remote.project / "out" / "res" / "b.txt").read_text() == "B\n"

    # the README's `pull out/result.txt ckpt/`: a new folder, the file inside (issue 17)
    tt("pull", "--on", "rig1", "out/res/b.txt", "ckpt/")
    assert (remote.project / "ckpt" / "b.txt").read_text() == "B\n"
    tt("pull", "--on", "rig1", "notes.md", "ckpt")  # an existing folder: into it too
    assert (remote.project / "ckpt" / "notes.md").read_text() == "N"
    assert (remote.project / "ckpt" / "b.txt").stat().st_uid == os.getuid()

    missing = tt("pull", "--on", "rig1", "nope.txt", check=False)
    assert missing.returncode != 0
    assert "nope.txt does not exist in the project on rig1" in missing.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("push", "/etc/passwd"), "is absolute"),
        (("push", "../outside.txt"), "leads out of the project"),
        (("push", "sub/../../x"), "leads out of the project"),
        (("push", "notes.md", "/tmp/x"), "is absolute"),
        (("push", "notes.md", "../../x"), "leads out of the project on the host"),
        (("push", "notes.md", "~/x"), "is absolute"),
        (("pull", "/etc/passwd"), "is absolute"),
        (("pull", "../../.ssh/authorized_keys"), "leads out of the project on the host"),
        (("pull", "notes.md", "../stolen"), "leads out of the project"),
    ],
)
def test_push_pull_refuse_escaping_paths(
    remote: Remote, args: tuple[str, ...], message: str
) -> None:
    remote.add_alias("rig1")
    (remote.project / "notes.md").write_text("N")
    proc = remote.tt(*args, "--on", "rig1", check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
