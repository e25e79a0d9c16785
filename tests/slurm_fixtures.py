"""One tether CLI with Slurm hosts on the real rig, in both modes, for the Slurm job tests.

* ``here``: DEST ``local`` (tether runs on the login node itself);
* ``far``: the same cluster driven through the loopback sshd (laptop mode), with
  ``SLURM_CONF`` set through the host's ``env`` settings;
* ``here-count`` / ``far-count``: the same, with ``PATH`` starting at a folder of wrapper
  scripts that log each squeue/scontrol/sacct/sbatch/scancel call, then run the real one.

Every host asks for ``--mem 64M`` and ``--oversubscribe`` by default, so jobs share the
rig's cores and run at once. A job that outlives its time limit is submitted in each
mode when the session starts (Slurm checks limits every 30 s, so it takes ~1.5 min);
``timeout_jobs`` holds their numbers for the test that checks them last.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import Tether
from rigs.slurm import SlurmCluster
from rigs.sshd import SSHServer
from ssh_fixtures import module_cli

MODES = ("here", "far")
WRAPPED = ("squeue", "scontrol", "sacct", "sbatch", "scancel")


@dataclass
class SlurmSetup:
    tt: Tether
    cluster: SlurmCluster
    server: SSHServer
    project: Path
    calls: Path
    """The log of wrapped Slurm calls (``here-count``/``far-count`` hosts)."""
    timeout_jobs: dict[str, str] = field(default_factory=dict)

    def show(self, number: str) -> dict[str, object]:
        data = self.tt.json("show", number)
        assert isinstance(data, dict)
        return data

    def wait_status(self, number: str, wanted: str, timeout: float = 30) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while True:
            data = self.show(number)
            if data["status"] == wanted:
                return data
            assert time.monotonic() < deadline, f"job {number} still {data['status']}"
            time.sleep(0.3)

    def slurm_id(self, number: str) -> str:
        extra = self.show(number)["extra"]
        assert isinstance(extra, dict)
        return str(extra["slurm_id"])

    def run(self, host: str, *args: str) -> str:
        """``run --on HOST --json ARGS``: the job's number."""
        data = json.loads(self.tt("run", "--on", host, "--json", *args).stdout)
        return str(data["number"])

    def calls_log(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


def _wrappers(folder: Path, log: Path) -> Path:
    """Scripts named like the Slurm commands: log the call, then exec the real one."""
    folder.mkdir(mode=0o755)
    for name in WRAPPED:
        real = shutil.which(name)
        assert real, f"{name} not found"
        script = folder / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\nexec {real} "$@"\n')
        script.chmod(0o755)
    log.touch()
    log.chmod(0o666)
    return folder


@pytest.fixture(scope="session", name="slurm_setup")
def slurm_setup_fixture(
    slurm_cluster: SlurmCluster, sshd_host: SSHServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SlurmSetup]:
    scratch = slurm_cluster.jobs_dir / f"wrap-{uuid.uuid4().hex[:6]}"  # readable by the ssh user
    scratch.mkdir(mode=0o755)
    scratch.chmod(0o755)
    calls = scratch / "calls.log"
    wrappers = _wrappers(scratch / "bin", calls)
    conf = f"SLURM_CONF={slurm_cluster.conf_path}"
    path = f"PATH={wrappers}:/usr/local/bin:/usr/bin:/bin"
    defaults = ["--scheduler", "slurm", "--partition", slurm_cluster.partition, "--mem", "64M",
                "--sbatch=--oversubscribe"]  # fmt: skip
    ssh = [sshd_host.alias, "--ssh-config", str(sshd_host.ssh_config)]
    with module_cli(tmp_path_factory.mktemp("slurmjobs"), sshd_host) as cli:
        tt, project = cli.tt, cli.project
        tt("hosts", "add", "here", "local", *defaults)
        tt("hosts", "add", "far", *ssh, *defaults, "--env", conf)
        tt("hosts", "add", "here-count", "local", *defaults, "--env", path)
        tt("hosts", "add", "far-count", *ssh, *defaults, "--env", conf, "--env", path)
        setup = SlurmSetup(tt, slurm_cluster, sshd_host, project, calls)
        for mode in MODES:  # the first run over ssh also installs tether there
            number = setup.run(mode, "--time", "1", "--name", "too-long", "--", "sleep", "300")
            setup.timeout_jobs[mode] = number
        yield setup
