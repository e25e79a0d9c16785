"""What is particular to laptop mode (a Slurm cluster driven over ssh), and the time limit.

The shared tests run in both modes in test_slurm_jobs.py; this file holds what only the
ssh path has, and the time-limit test, which runs last: its jobs were submitted when the
session started (see slurm_fixtures.py), and Slurm needs ~1.5 min to end them.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from conftest import Tether
from slurm_fixtures import (
    MODES,
    SlurmSetup,
    slurm_setup_fixture,  # noqa: F401 (the session's, shared)
)
from test_env_cmd import make_wheel, offline

pytestmark = [pytest.mark.rig, pytest.mark.timeout(300)]


def test_laptop_job_runs_in_the_synced_project_and_writes_on_the_cluster(
    slurm_setup: SlurmSetup,
) -> None:
    (slurm_setup.project / "data.txt").write_text("synced\n")
    number = slurm_setup.run("far", "--", "cat", "data.txt")
    assert slurm_setup.tt("wait", number, check=False, timeout=90).returncode == 0
    data = slurm_setup.show(number)
    extra = data["extra"]
    assert isinstance(extra, dict) and extra["slurm_local"] is False
    uuid = str(data["uuid"])
    remote_log = slurm_setup.server.remote_path(".tether", "slurm", "jobs", uuid, "output.log")
    assert remote_log.read_text() == "synced\n"
    assert remote_log.stat().st_uid != 0  # written by the ssh user's job, not root
    assert slurm_setup.tt("logs", number).stdout == "synced\n"  # copied here


def test_params_and_sweeps_over_ssh(slurm_setup: SlurmSetup) -> None:
    project = slurm_setup.project
    (project / "helper.py").write_text("SCALE = 10\n")
    (project / "p2.py").write_text(
        "import tether\nfrom helper import SCALE\nLR = 0.1\n"
        "print(LR * SCALE, tether.param('BS', 4))\n"
    )
    proc = slurm_setup.tt(
        "run", "--on", "far", "--wait", "-p", "LR=0.5", "-p", "BS=8", "--json", "p2.py",
        timeout=90,
    )  # fmt: skip
    assert proc.stdout.splitlines()[-1] == "5.0 8", proc.stdout + proc.stderr
    rows = slurm_setup.tt.json("ls")
    assert isinstance(rows, list)
    shown = slurm_setup.show(str(rows[-1]["number"]))
    extra = shown["extra"]
    assert isinstance(extra, dict) and extra["params"] == {"LR": 0.5, "BS": 8}
    assert "+LR = 0.5" in extra["param_diff"]
    assert (project / "p2.py").read_text().count("LR = 0.1") == 1  # the user's file is untouched
    out = slurm_setup.tt("sweep", "--on", "far", "-p", "LR=0.2,0.3", "--json", "p2.py").stdout
    numbers = [str(n) for n in json.loads(out)["jobs"]]
    for number in numbers:
        assert slurm_setup.tt("wait", number, check=False, timeout=90).returncode == 0
    assert sorted(slurm_setup.tt("logs", n).stdout for n in numbers) == ["2.0 4\n", "3.0 4\n"]
    bad = slurm_setup.tt("run", "--on", "far", "-p", "NOPE=1", "p2.py", check=False)
    assert bad.returncode != 0 and "NOPE" in bad.stderr


def test_local_mode_applies_params_and_sweeps(slurm_setup: SlurmSetup) -> None:
    (slurm_setup.project / "p.py").write_text("LR = 0.1\nprint(LR)\n")
    proc = slurm_setup.tt("run", "--on", "here", "--wait", "-p", "LR=0.5", "p.py", timeout=90)
    assert proc.stdout == "0.5\n"
    out = slurm_setup.tt(
        "sweep", "--on", "here", "--time", "2m", "-p", "LR=0.2,0.3", "--json", "p.py"
    ).stdout
    numbers = [str(n) for n in json.loads(out)["jobs"]]
    assert len(numbers) == 2
    for number in numbers:
        assert slurm_setup.tt("wait", number, check=False, timeout=90).returncode == 0
    assert sorted(slurm_setup.tt("logs", n).stdout for n in numbers) == ["0.2\n", "0.3\n"]
    assert {slurm_setup.show(n)["host"] for n in numbers} == {"here"}
    bad = slurm_setup.tt("sweep", "--cpus", "2", "-p", "LR=1,2", "p.py", check=False)
    assert bad.returncode != 0 and "--cpus: Slurm options" in bad.stderr


def test_laptop_jobs_run_with_the_projects_env_made_once(slurm_setup: SlurmSetup) -> None:
    """A fresh project whose script imports a package it lists: the first run makes the env
    on the login node, the next reuses it, ``--no-env`` runs with tether's python as before.
    Offline: the package is a wheel of the project, found through ``[env]``."""
    project = slurm_setup.project.parent / f"envproj-{uuid.uuid4().hex[:8]}"
    project.mkdir()
    (project / "tether.toml").write_text('[env]\nfind_links = ["wheels"]\nno_index = true\n')
    make_wheel(project / "wheels", "tinyslurm", "1.0", body="VALUE = 'from tinyslurm'\n")
    (project / "main.py").write_text(
        "import sys, tinyslurm\nprint(tinyslurm.VALUE)\nprint('prefix', sys.prefix)\n"
    )
    tt = Tether(slurm_setup.tt.home, project)
    tt.env = dict(slurm_setup.tt.env)
    offline(tt)

    def run(*args: str) -> tuple[str, str]:
        proc = tt("run", "--on", "far", "--json", *args, "main.py", timeout=300)
        return str(json.loads(proc.stdout)["number"]), proc.stderr

    first, said = run()
    assert "Installing collected packages: tinyslurm" in said, said
    made = [line for line in said.splitlines() if line.startswith("tether: env on far: ")]
    assert len(made) == 1 and "made in" in made[0], said
    env_dir = made[0].split(": ")[2]
    assert tt("wait", first, check=False, timeout=90).returncode == 0, tt("logs", first).stdout
    assert tt("logs", first).stdout == f"from tinyslurm\nprefix {env_dir}\n"
    assert slurm_setup.show(first)["command"] == [f"{env_dir}/bin/python", "main.py"]

    second, said = run()
    assert "Installing" not in said and "tether: making the env" not in said, said
    assert "tether: env on far" not in said  # reused: said only on a terminal
    assert tt("wait", second, check=False, timeout=90).returncode == 0
    assert tt("logs", second).stdout == f"from tinyslurm\nprefix {env_dir}\n"

    skipped, said = run("--no-env")
    assert "tether: env on far" not in said and "Installing" not in said
    assert tt("wait", skipped, check=False, timeout=90).returncode != 0
    assert "ModuleNotFoundError: No module named 'tinyslurm'" in tt("logs", skipped).stdout
    command = slurm_setup.show(skipped)["command"]
    assert isinstance(command, list) and command[0].endswith("/.tether/venv/bin/python")


def test_too_short_time_limit_fails_with_timeout(slurm_setup: SlurmSetup) -> None:
    deadline = time.monotonic() + 200
    for mode in MODES:
        number = slurm_setup.timeout_jobs[mode]
        while (data := slurm_setup.show(number))["status"] == "running" or data[
            "status"
        ] == "queued":
            assert time.monotonic() < deadline, f"{mode}: still {data['status']}"
            time.sleep(2)
        assert (data["status"], data["reason"], data["host"]) == ("failed", "timeout", mode)
        assert slurm_setup.cluster.job_state(slurm_setup.slurm_id(number)) == "TIMEOUT"
        assert (
            "#SBATCH --time=00:00:01"
            in (slurm_setup.tt.home / "jobs" / str(data["uuid"]) / "job.sbatch").read_text()
        )
