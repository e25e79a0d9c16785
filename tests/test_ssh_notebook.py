"""``tether notebook --on HOST``: Jupyter as a job on the host, a local port forwarded to it.

Jupyter is not installed on the test machine (nor in tether's venv here), so the host gets
a stand-in: ``jupyter-lab`` in the host's tether venv, a small Python HTTP server that
takes ``--no-browser --ip --port`` and prints its URL with a token the way Jupyter does
(``[I ... ServerApp] http://127.0.0.1:PORT/lab?token=...``); it answers 200 only with the
token. When ``jupyter_server`` is importable here, the real one is used instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rigs.common import free_port
from rigs.sshd import SSHServer
from ssh_fixtures import FAKE_JUPYTER, Remote, module_cli, put_fake_jupyter

pytestmark = [pytest.mark.rig, pytest.mark.timeout(600)]

HOST = "rig1"
REAL_JUPYTER = importlib.util.find_spec("jupyter_server") is not None


@pytest.fixture(scope="module")
def host(sshd_host: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    with module_cli(tmp_path_factory.mktemp("notebook"), sshd_host) as cli:
        cli.add_alias(HOST)
        cli.tt("hosts", "setup", HOST, timeout=600)
        yield cli


def _listens(port: int) -> bool:
    """True when something here accepts connections on 127.0.0.1:PORT."""
    with socket.socket() as sock:
        sock.settimeout(5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.skipif(REAL_JUPYTER, reason="Jupyter is installed here: no missing-Jupyter case")
def test_without_jupyter_the_error_says_how_to_install_it(host: Remote) -> None:
    fake = host.server.remote_path(".tether", "venv", "bin", "jupyter-lab")
    assert not fake.exists()
    proc = host.tt("notebook", "--on", HOST, check=False, timeout=120)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1, proc.stderr
    assert "Jupyter is not installed" in proc.stderr
    assert f"`tether install jupyterlab --on {HOST}`" in proc.stderr


def test_notebook_forwards_a_port_until_ctrl_c(host: Remote) -> None:
    fake = None if REAL_JUPYTER else put_fake_jupyter(host.server)
    err = ""
    try:
        for _ in range(5):  # a free port may be taken by another test before tether binds it
            local_port = free_port()
            proc = host.tt.popen(
                "notebook", "--on", HOST, "--port", str(local_port), "--name", "nb",
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline().decode().strip()
            if line or proc.wait(timeout=60) == 0:
                break
            err = proc.stderr.read().decode()
            if f"port {local_port} is in use here" not in err:
                break
        assert line, err or (proc.stderr.read().decode() if proc.poll() is not None else "no URL")
        match = re.fullmatch(rf"http://127\.0\.0\.1:{local_port}/lab\?token=(\w+)", line)
        assert match, line
        status, body = _get(line)
        assert status == 200
        if not REAL_JUPYTER:
            assert body == f"fake jupyter lab in {host.remote_project()}"
            assert _get(line.replace(match.group(1), "wrong"))[0] == 403
        # the server is a job: its local record and the host's row
        rows = host.tt.json("ls", "--on", HOST)
        assert isinstance(rows, list)
        job = next(r for r in reversed(rows) if r["name"] == "nb")
        assert job["status"] == "running"

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        err = proc.stderr.read().decode()
        assert "stopped forwarding; the server keeps running" in err
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(line, timeout=5)
        shown = host.tt.json("show", "--on", HOST, str(job["number"]))
        assert isinstance(shown, dict) and shown["status"] == "running"

        host.tt("cancel", "--on", HOST, "--grace", "2", str(job["number"]))
        shown = host.tt.json("show", "--on", HOST, str(job["number"]))
        assert isinstance(shown, dict) and shown["status"] == "cancelled"
    finally:
        if fake is not None:
            fake.unlink(missing_ok=True)


def test_notebook_here_is_a_local_job(host: Remote, tmp_path: Path) -> None:
    """Without --on: the server starts as a local job; its URL answers directly."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if not REAL_JUPYTER:
        fake = bin_dir / "jupyter-lab"
        fake.write_text(FAKE_JUPYTER.format(python=shutil.which("python3")))
        fake.chmod(0o755)
    env = dict(host.tt.env)
    host.tt.env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    try:
        data = host.tt.json("notebook", "--name", "here")
    finally:
        host.tt.env = env
    assert isinstance(data, dict) and data["status"] in ("queued", "running")
    status, _ = _get(str(data["url"]))
    assert status == 200
    host.tt("cancel", "--grace", "2", str(data["number"]))
    assert json.loads(host.tt("show", "--json", str(data["number"])).stdout)["status"] == (
        "cancelled"
    )


JUPYTER_LOG = b"""\
[I 2026-05-01 10:00:00.120 ServerApp] jupyterlab | extension was successfully loaded.
[I 2026-05-01 10:00:00.123 ServerApp] Serving notebooks from local directory: /home/u/p
[I 2026-05-01 10:00:00.123 ServerApp] Jupyter Server 2.14.0 is running at:
[I 2026-05-01 10:00:00.123 ServerApp] http://127.0.0.1:8890/lab?token=0123abcdef
[I 2026-05-01 10:00:00.123 ServerApp]     http://127.0.0.1:8890/lab?token=0123abcdef
[C 2026-05-01 10:00:00.130 ServerApp]

    To access the server, open this file in a browser:
        file:///home/u/.local/share/jupyter/runtime/jpserver-1-open.html
    Or copy and paste one of these URLs:
        http://127.0.0.1:8890/lab?token=0123abcdef
"""


def test_parse_url_reads_jupyter_output() -> None:
    from tether.jobs.notebook import parse_url

    found = parse_url(JUPYTER_LOG)
    assert found is not None
    assert (found.port, found.path, found.token) == (8890, "/lab", "0123abcdef")
    assert found.local_url(9999) == "http://127.0.0.1:9999/lab?token=0123abcdef"
    old = parse_url(b"[I NotebookApp] http://localhost:8888/?token=f00d\n")
    assert old is not None and (old.host, old.port, old.path) == ("localhost", 8888, "/")
    assert parse_url(b"[I ServerApp] http://127.0.0.1:8890/lab\n") is None  # no token yet
    assert parse_url(JUPYTER_LOG[:200]) is None


def test_notebook_refuses_a_slurm_host_and_a_busy_port(host: Remote) -> None:
    host.tt("hosts", "add", "cluster", "local", "--scheduler", "slurm")
    try:
        proc = host.tt("notebook", "--on", "cluster", check=False)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1
        assert "cluster is a Slurm cluster" in proc.stderr
    finally:
        host.tt("hosts", "rm", "cluster")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = host.tt("notebook", "--on", HOST, "--port", str(port), check=False)
    assert proc.returncode == 2 and f"port {port} is in use here" in proc.stderr


def test_forwarding_stops_when_the_server_is_cancelled(host: Remote) -> None:
    fake = None if REAL_JUPYTER else put_fake_jupyter(host.server)
    proc = host.tt.popen("notebook", "--on", HOST, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        url = proc.stdout.readline().decode().strip()
        assert _get(url)[0] == 200
        # the local record is the last job here: cancel it from another terminal
        assert "cancelled" in host.tt("cancel", "--grace", "2").stdout
        assert proc.wait(timeout=40) == 0
        err = proc.stderr.read().decode()
        assert re.search(r"the server \(job #\d+\) cancelled; stopped forwarding", err), err
        port = int(url.split(":")[2].split("/")[0])
        assert not _listens(port), f"port {port} still listens after the server's cancel"
    finally:
        if proc.poll() is None:
            proc.kill()
        if fake is not None:
            fake.unlink(missing_ok=True)


def test_two_notebooks_at_once_and_sigterm_closes_the_port(host: Remote) -> None:
    """Servers take no job slot on the host: a second one starts while the first runs. SIGTERM
    (or SIGHUP) of `tether notebook` closes its forward; the server keeps running."""
    fake = None if REAL_JUPYTER else put_fake_jupyter(host.server)
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    procs = [host.tt.popen("notebook", "--on", HOST, "--name", f"two{i}", **pipes) for i in (1, 2)]
    try:
        urls = []
        for proc in procs:
            assert proc.stdout is not None and proc.stderr is not None
            url = proc.stdout.readline().decode().strip()
            assert url, proc.stderr.read().decode() if proc.poll() is not None else "no URL"
            urls.append(url)
        ports = [int(url.split(":")[2].split("/")[0]) for url in urls]
        assert ports[0] != ports[1]
        for url in urls:
            assert _get(url)[0] == 200
        for proc, sig, port in zip(procs, (signal.SIGTERM, signal.SIGHUP), ports, strict=True):
            proc.send_signal(sig)
            assert proc.wait(timeout=30) == 0
            assert proc.stderr is not None
            assert "stopped forwarding; the server keeps running" in proc.stderr.read().decode()
            assert not _listens(port), f"port {port} still listens after {sig.name}"
        rows = host.tt.json("ls", "--on", HOST)
        assert isinstance(rows, list)
        servers = [r for r in rows if r["name"] in ("two1", "two2")]
        assert [r["status"] for r in servers] == ["running", "running"]
        for row in servers:
            host.tt("cancel", "--on", HOST, "--grace", "2", str(row["number"]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        if fake is not None:
            fake.unlink(missing_ok=True)
