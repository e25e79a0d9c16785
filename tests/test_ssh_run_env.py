"""``tether run --on HOST`` makes (or reuses) the project's env on the host first: the first
run of a fresh project whose script imports a third-party package works, the next ones cost
nothing more, ``--no-env`` skips it. Offline: packages come from wheels built by the test,
found through ``[env]`` of ``tether.toml``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rigs.sshd import SSHServer
from ssh_fixtures import Remote, host_cli
from test_env_cmd import make_wheel, offline

pytestmark = [pytest.mark.timeout(300), pytest.mark.rig]

HOST = "rig1"
MAKING = f"tether: making the project's env on {HOST} ("


@pytest.fixture(scope="module")
def rig(sshd_host: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    with host_cli(tmp_path_factory.mktemp("runenv"), sshd_host, HOST) as remote:
        offline(remote.tt)
        (remote.project / "tether.toml").write_text(
            '[env]\nfind_links = ["wheels"]\nno_index = true\n'
        )
        yield remote


def test_first_run_makes_the_env_the_next_reuses_it(rig: Remote) -> None:
    make_wheel(rig.project / "wheels", "tinyrun", "1.0")
    (rig.project / "main.py").write_text(
        "import sys, tinyrun\nprint('tinyrun', tinyrun.VERSION)\nprint('prefix', sys.prefix)\n"
    )
    first = rig.tt("run", "--on", HOST, "-w", "main.py", timeout=300)
    assert "tinyrun 1.0" in first.stdout
    assert (
        f"{MAKING}1 requirements from imports: tinyrun; not installed here, unpinned: tinyrun)"
        in first.stderr
    )
    assert "Installing collected packages: tinyrun" in first.stderr
    made = [line for line in first.stderr.splitlines() if line.startswith(f"tether: env on {HOST}")]
    assert len(made) == 1 and "made in" in made[0], first.stderr
    env_dir = made[0].split(": ")[2]
    assert f"prefix {env_dir}" in first.stdout
    second = rig.tt("run", "--on", HOST, "-w", "main.py", timeout=120)
    assert "tinyrun 1.0" in second.stdout and f"prefix {env_dir}" in second.stdout
    assert MAKING not in second.stderr and "Installing" not in second.stderr


def test_no_env_skips_it(rig: Remote) -> None:
    make_wheel(rig.project / "wheels", "tinylater", "0.2")
    (rig.project / "later.py").write_text("import tinylater\nprint('later', tinylater.VERSION)\n")
    skipped = rig.tt("run", "--on", HOST, "--no-env", "-w", "later.py", check=False, timeout=120)
    assert skipped.returncode != 0 and "ModuleNotFoundError: No module named 'tinylater'" in (
        skipped.stdout + skipped.stderr
    )
    assert MAKING not in skipped.stderr
    made = rig.tt("run", "--on", HOST, "-w", "later.py", timeout=300)
    assert "later 0.2" in made.stdout and MAKING in made.stderr


def test_no_requirements_no_env(rig: Remote) -> None:
    """A command that is not Python never makes an env (nor does a project without imports)."""
    proc = rig.tt("run", "--on", HOST, "-w", "--", "echo", "plain", timeout=120)
    assert "plain" in proc.stdout and MAKING not in proc.stderr
