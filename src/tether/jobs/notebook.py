"""A Jupyter server as a tracked job on this machine (``tether notebook``).

Jupyter is looked for in the project's env (``tether env``), then next to tether's own
python, then on ``PATH``: ``jupyter-lab`` first, else ``jupyter-notebook``. It starts as
an ordinary job (``--no-browser --ip 127.0.0.1 --port P``, P a free port), so ``ls``,
``logs`` and ``cancel`` work on it; the URL with its token is read from the job's output.
On a host, ``tether notebook --on HOST`` runs this there and forwards a local port to it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.errors import ProgramError, UsageError
from tether.store.jobs import Job, JobSpec, JobStore

#: Where a fresh ``tether notebook --on HOST`` points users without Jupyter.
INSTALL_HINT = "`tether install jupyterlab`"
#: How long the server may take to print its URL (less than a remote call's time limit).
START_TIMEOUT = 90.0
FLAVOURS = ("lab", "notebook")
_URL_RE = re.compile(
    rb"(https?)://(127\.0\.0\.1|localhost|\[::1\]):(\d{1,5})(/[^\s?]*)?\?token=([0-9A-Za-z_-]+)"
)


@dataclass(frozen=True)
class ServerUrl:
    """Where the server listens (on its own machine) and the token it wants."""

    scheme: str
    host: str
    port: int
    path: str
    token: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.path}?token={self.token}"

    def local_url(self, port: int) -> str:
        """The same page through a forwarded port on this machine."""
        return f"{self.scheme}://127.0.0.1:{port}{self.path}?token={self.token}"

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "port": self.port, "path": self.path, "token": self.token}


def parse_url(text: bytes) -> ServerUrl | None:
    """The first ``http://127.0.0.1:PORT/...?token=...`` line Jupyter printed, if any."""
    match = _URL_RE.search(text)
    if match is None:
        return None
    scheme, host, port, path, token = (g.decode() if g else "" for g in match.groups())
    return ServerUrl(scheme, host, int(port), path or "/", token)


def find_jupyter(workdir: Path, home: Path) -> str:
    """The ``jupyter-lab`` (or ``jupyter-notebook``) program to run for the project."""
    from tether.jobs.env_records import env_python_for

    folders = []
    env_python = env_python_for(workdir, home)
    if env_python:
        folders.append(Path(env_python).parent)
    folders.append(Path(sys.executable).parent)
    for folder in folders:
        for flavour in FLAVOURS:
            exe = folder / f"jupyter-{flavour}"
            if exe.is_file() and os.access(exe, os.X_OK):
                return str(exe)
    for flavour in FLAVOURS:
        found = shutil.which(f"jupyter-{flavour}")
        if found:
            return found
    raise UsageError(
        "Jupyter is not installed in the project's env, tether's env or on PATH: install it "
        f"with {INSTALL_HINT}"
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_spec(name: str | None = None, cwd: Path | None = None) -> JobSpec:
    """The job that runs the Jupyter server of the project around ``cwd`` (queue it with
    :func:`tether.backends.local.queue`)."""
    from tether.jobs.submit import build_spec
    from tether.paths import tether_home

    workdir = Path(os.path.abspath(cwd or Path.cwd()))
    exe = find_jupyter(workdir, tether_home())
    argv = [exe, "--no-browser", "--ip", "127.0.0.1", "--port", str(free_port())]
    return build_spec(argv, name=name or "notebook", cwd=str(workdir), extra={"kind": "notebook"})


def wait_for_url(
    job: Job, refresh: Callable[[JobStore, Job], Job], timeout: float = START_TIMEOUT
) -> ServerUrl:
    """Read the server's URL from the job's output; an error if it ends or says nothing.
    ``refresh`` brings the job's record up to date (:func:`tether.backends.refresh`)."""
    from tether.jobs.logs import tail_lines
    from tether.paths import tether_home

    store = JobStore(tether_home())
    log = Path(job.log_path)
    deadline = time.monotonic() + timeout
    try:
        while True:
            found = parse_url(log.read_bytes()) if log.exists() else None
            if found is not None:
                return found
            job = refresh(store, store.get(job.number))
            if job.finished:
                found = parse_url(log.read_bytes()) if log.exists() else None
                if found is not None:
                    return found
                last = b" | ".join(line.strip() for line in tail_lines(log, 3))
                raise ProgramError(
                    f"the notebook server (job #{job.number}) {job.status} before printing its "
                    f"URL: {last.decode(errors='replace') or 'no output'}"
                )
            if time.monotonic() > deadline:
                raise ProgramError(
                    f"the notebook server (job #{job.number}) printed no URL within "
                    f"{timeout:g} s; see `tether logs {job.number}`"
                )
            time.sleep(0.1)
    finally:
        store.close()
