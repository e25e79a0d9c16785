"""Fixtures shared by the SSH tests: a tether CLI with its own config folder and project."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import Tether
from rigs.sshd import SSHServer


@dataclass
class Remote:
    """A tether CLI (own TETHER_HOME and config) in a fresh project, and the rig host."""

    tt: Tether
    server: SSHServer
    config_dir: Path
    project: Path

    @property
    def name(self) -> str:
        return self.project.name

    def remote_project(self, *parts: str) -> Path:
        """A path inside the project's copy on the rig host (read directly: we are root)."""
        return self.server.remote_path("tether", "projects", self.name, *parts)

    def add_alias(self, name: str = "rig1") -> None:
        """``hosts add NAME rig1 --ssh-config CFG`` (the rig's client config)."""
        self.tt(
            "hosts", "add", name, self.server.alias, "--ssh-config", str(self.server.ssh_config)
        )

    def add_direct(self, name: str, *extra: str, identity: str | None = None) -> None:
        """``hosts add`` with user@host:port, --identity and -o options (no config file)."""
        s = self.server
        self.tt(
            "hosts", "add", name, f"{s.user}@{s.host}:{s.port}",
            "--identity", identity or str(s.identity_file),
            "--option", f"UserKnownHostsFile={s.known_hosts}",
            "--option", "GlobalKnownHostsFile=/dev/null",
            "--option", "StrictHostKeyChecking=yes",
            "--option", "IdentityAgent=none",
            *extra,
        )  # fmt: skip


def _close_masters(home: Path, config_dir: Path) -> None:
    from tether.targets.ssh.hosts_config import load_hosts
    from tether.targets.ssh.transport import Transport

    old = os.environ.get("TETHER_CONFIG_DIR")
    os.environ["TETHER_CONFIG_DIR"] = str(config_dir)
    try:
        for spec in load_hosts().values():
            Transport(spec, controls=home / "ssh").close()
    except Exception:
        pass
    finally:
        from tether.targets.ssh.command import control_socket_dir

        shutil.rmtree(control_socket_dir(home / "ssh"), ignore_errors=True)
        if old is None:
            os.environ.pop("TETHER_CONFIG_DIR", None)
        else:
            os.environ["TETHER_CONFIG_DIR"] = old


@pytest.fixture
def remote(
    tether: Tether, sshd_host: SSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Remote]:
    config = tmp_path / "config"
    project = tmp_path / f"proj-{uuid.uuid4().hex[:8]}"
    project.mkdir()
    (project / "tether.toml").write_text("")
    tether.cwd = project
    tether.env["TETHER_CONFIG_DIR"] = str(config)
    monkeypatch.setenv("TETHER_CONFIG_DIR", str(config))
    yield Remote(tether, sshd_host, config, project)
    _close_masters(tether.home, config)
