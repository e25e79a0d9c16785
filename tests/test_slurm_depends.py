"""``--after``/``--after-any`` on a real Slurm cluster become ``--dependency`` (slurm rig)."""

from __future__ import annotations

import pytest

from slurm_fixtures import (
    SlurmSetup,
    slurm_setup_fixture,  # noqa: F401 (the session's, shared)
)

pytestmark = [pytest.mark.rig, pytest.mark.timeout(300)]


def _sbatch_lines(slurm_setup: SlurmSetup, number: str) -> list[str]:
    job_dir = str(slurm_setup.show(number)["job_dir"]).rsplit("/", 1)[-1]
    text = (slurm_setup.tt.home / "jobs" / job_dir / "job.sbatch").read_text()
    return [line for line in text.splitlines() if line.startswith("#SBATCH")]


def test_after_and_after_any_reach_slurm(slurm_setup: SlurmSetup) -> None:
    bad = slurm_setup.run("here", "--", "sh", "-c", "sleep 2; exit 1")
    ok = slurm_setup.run("here", "--after", bad, "--", "true")
    anyway = slurm_setup.run("here", "--after-any", bad, "--", "true")
    bad_id = slurm_setup.slurm_id(bad)
    assert f"#SBATCH --dependency=afterok:{bad_id}" in _sbatch_lines(slurm_setup, ok)
    assert f"#SBATCH --dependency=afterany:{bad_id}" in _sbatch_lines(slurm_setup, anyway)
    info = slurm_setup.cluster.job_info(slurm_setup.slurm_id(ok))
    assert f"afterok:{bad_id}" in info.get("Dependency", ""), info
    waited = slurm_setup.tt("wait", anyway, check=False, timeout=120)
    assert waited.returncode == 0, waited.stderr
    assert slurm_setup.show(bad)["status"] == "failed"
    slurm_setup.tt("cancel", ok)


def test_after_a_job_that_is_not_a_slurm_job_is_refused(slurm_setup: SlurmSetup) -> None:
    local = slurm_setup.tt("run", "--", "true").stdout.strip()
    proc = slurm_setup.tt("run", "--on", "here", "--after", local, "--", "true", check=False)
    assert proc.returncode != 0 and "is not a Slurm job" in proc.stderr, proc.stderr
    retry = slurm_setup.tt("run", "--on", "here", "--retry", "1", "--", "true", check=False)
    assert retry.returncode != 0 and "--retry" in retry.stderr, retry.stderr
