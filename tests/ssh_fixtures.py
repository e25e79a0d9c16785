"""Fixtures shared by the SSH tests: a tether CLI with its own config folder and project."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def module_cli(base: Path, server: SSHServer) -> Iterator[Remote]:
    """A tether CLI with its own home, config and project under ``base`` (for module-scoped
    fixtures); its masters, agent and jobs are stopped afterwards."""
    from conftest import _stop_everything

    home, config = base / "home", base / "config"
    project = base / f"proj-{uuid.uuid4().hex[:8]}"
    home.mkdir()
    project.mkdir()
    (project / "tether.toml").write_text("")
    tt = Tether(home, project)
    tt.env["TETHER_CONFIG_DIR"] = str(config)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TETHER_HOME", str(home))
        mp.setenv("TETHER_CONFIG_DIR", str(config))
        try:
            yield Remote(tt, server, config, project)
        finally:
            _close_masters(home, config)
            _stop_everything(home)


@contextlib.contextmanager
def host_cli(base: Path, server: SSHServer, host: str = "rig1") -> Iterator[Remote]:
    """:func:`module_cli` with ``host`` added (an alias of ``server``) and tether set up there."""
    with module_cli(base, server) as remote:
        remote.add_alias(host)
        remote.tt("hosts", "setup", host, timeout=600)
        yield remote


#: A stand-in for ``jupyter-lab``: serves 200 with its token (403 without), prints its URL
#: the way Jupyter Server does.
FAKE_JUPYTER = """\
#!{python}
import argparse, http.server, os, secrets

parser = argparse.ArgumentParser()
parser.add_argument("--no-browser", action="store_true")
parser.add_argument("--ip", default="localhost")
parser.add_argument("--port", type=int, default=8888)
args = parser.parse_args()
token = secrets.token_hex(24)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path.endswith("?token=" + token)
        body = ("fake jupyter lab in " + os.getcwd() if ok else "403: bad token").encode()
        self.send_response(200 if ok else 403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.HTTPServer((args.ip, args.port), Handler)
port = server.server_address[1]
print("[I 2026-01-01 00:00:00.000 ServerApp] Jupyter Server 2.14.0 is running at:", flush=True)
print(f"[I 2026-01-01 00:00:00.000 ServerApp] http://{{args.ip}}:{{port}}/lab?token={{token}}",
      flush=True)
server.serve_forever()
"""


def put_fake_jupyter(server: SSHServer) -> Path:
    """A stand-in ``jupyter-lab`` in the host's tether venv (Jupyter is not installed here)."""
    venv_bin = server.remote_path(".tether", "venv", "bin")
    path = venv_bin / "jupyter-lab"
    path.write_text(FAKE_JUPYTER.format(python=venv_bin / "python"))
    path.chmod(0o755)
    server.chown_to_user(path)
    return path
