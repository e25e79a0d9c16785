"""``tether run`` on an SSH host behaves as ``python`` here: a subset of the corpus of
tests/test_run_like_python.py on the test sshd, with a git project (``.git`` is not synced, so
the host's copy has no marker) and a project pinned to the host by ``tether.toml``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from rigs.sshd import SSHServer
from ssh_fixtures import Remote, host_cli
from test_run_like_python import SHAPES, _lines

pytestmark = [pytest.mark.rig, pytest.mark.timeout(600)]

HOST = "rig1"


@pytest.fixture(scope="module")
def host(sshd_host: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    with host_cli(tmp_path_factory.mktemp("sshrun"), sshd_host, HOST) as remote:
        yield remote


def _fresh(remote: Remote, name: str, git: bool) -> None:
    """The project folder holds only shape ``name``'s files (and a marker)."""
    for child in remote.project.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    for rel, text in SHAPES[name].files.items():
        path = remote.project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if git:
        subprocess.run(["git", "init", "-q", str(remote.project)], check=True)


def _compare(remote: Remote, name: str, *run_args: str) -> None:
    argv = SHAPES[name].argv
    plain = subprocess.run(
        [sys.executable, *argv], cwd=remote.project, capture_output=True, text=True, timeout=60
    )
    run = remote.tt("run", "--wait", *run_args, *argv, check=False, timeout=300)
    assert run.returncode == plain.returncode, run.stdout + run.stderr
    # a traceback names the project's file: here the original, there the host's copy of it
    # (never a stored copy under TETHER_HOME/code)
    where = re.compile(r'File "[^"]*/' + re.escape(remote.name) + "/")
    ran = where.sub('File "PROJECT/', run.stdout + run.stderr)
    assert _lines(ran) == _lines(where.sub('File "PROJECT/', plain.stdout + plain.stderr))


@pytest.mark.parametrize(
    "name", ["sibling_module", "package", "config_via_file", "argparse_flags", "raising_script"]
)
def test_git_project_on_the_host_runs_as_python(host: Remote, name: str) -> None:
    _fresh(host, name, git=True)
    _compare(host, name, "--on", HOST)


def test_a_project_pinned_to_the_host_runs_there(host: Remote) -> None:
    _fresh(host, "config_via_file", git=False)
    (host.project / "tether.toml").write_text(f'[tether]\nhost = "{HOST}"\n')
    _compare(host, "config_via_file")
    _compare(host, "config_via_file", "--on", HOST)
    assert host.tt.json("ls")[-1]["host"] == HOST  # type: ignore[index]


@pytest.mark.parametrize("name", ["sibling_module", "dash_m_module", "config_via_file"])
def test_a_folder_with_no_marker_runs_on_the_host_as_python(host: Remote, name: str) -> None:
    _fresh(host, name, git=False)  # no .git, no pyproject, no tether.toml
    _compare(host, name, "--on", HOST)
