"""GPU slots on this machine: ``run --gpus N [--gpu-mem SIZE]`` and ``agent start --gpus``.

There is no GPU on the test machine: ``nvidia-smi`` here is a stand-in command put first on
PATH (tests/data/nvidia_smi_standin.py) that prints recorded output of a real two-GPU
``nvidia-smi`` (A100 80 GB); the memory used per GPU is set through its environment.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from conftest import Tether
from gpu_fixtures import fake_nvidia_smi

HOLD = (
    "echo $CUDA_VISIBLE_DEVICES > gpu-$TETHER_JOB_NUMBER;"
    " while [ ! -e go-$TETHER_JOB_NUMBER ]; do sleep 0.05; done"
)


@pytest.fixture
def gpu_tether(tether: Tether, tmp_path: Path) -> Tether:
    """The ``tether`` fixture with the two-GPU stand-in ``nvidia-smi`` first on PATH."""
    return fake_nvidia_smi(tether, tmp_path)


def _status(t: Tether, number: str) -> str:
    return str(t.json("show", number)["status"])


def _until(check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def _scheduled_past(t: Tether) -> None:
    """A CPU job submitted now has run: the agent has had its scheduling pass over every job
    queued before it (a positive sign before asserting that one was held back)."""
    later = t("run", "--", "true").stdout.strip()
    t("wait", later, timeout=60)
    assert _status(t, later) == "succeeded"


def _gpu_of(t: Tether, number: str) -> str:
    path = t.cwd / f"gpu-{number}"
    _until(lambda: path.exists() and path.read_text().strip() != "")
    return path.read_text().strip()


def test_jobs_get_different_gpus_a_third_waits_and_cpu_jobs_pass_it(gpu_tether: Tether) -> None:
    t = gpu_tether
    t("agent", "start", "--parallel", "4")
    first = t("run", "--gpus", "1", "--", "sh", "-c", HOLD).stdout.strip()
    second = t("run", "--gpus", "1", "--", "sh", "-c", HOLD).stdout.strip()
    assert {_gpu_of(t, first), _gpu_of(t, second)} == {"0", "1"}
    third = t("run", "--gpus", "1", "--", "sh", "-c", HOLD).stdout.strip()
    cpu = t("run", "--", "sh", "-c", "echo cpu-only").stdout.strip()
    t("wait", cpu, timeout=60)
    assert _status(t, cpu) == "succeeded"  # ran at once, not held behind the GPU job
    assert _status(t, third) == "queued"
    # ls and probe say who holds which GPU
    listing = {str(j["number"]): j for j in t.json("ls")}  # type: ignore[union-attr]
    assert sorted(listing[first]["gpus"] + listing[second]["gpus"]) == [0, 1]
    assert "local gpu " in t("ls").stdout
    probe = t.json("probe", "--no-local")
    assert probe == []
    local = next(r for r in t.json("probe") if r["host"] == "local")  # type: ignore[union-attr]
    assert set(local["gpu_holders"].values()) == {int(first), int(second)}
    freed = _gpu_of(t, first)
    (t.cwd / f"go-{first}").touch()
    assert _gpu_of(t, third) == freed
    env = json.loads(t("show", "--json", third).stdout)
    assert env["extra"]["gpu_held"] == [int(freed)]
    for n in (second, third):
        (t.cwd / f"go-{n}").touch()
    t("wait", "--all", timeout=60)


def test_gpu_mem_larger_than_any_free_gpu_waits(gpu_tether: Tether) -> None:
    t = gpu_tether
    t.env["NVIDIA_SMI_STANDIN_USED"] = "30000,70000"  # 50000 and 11920 MiB free
    t("agent", "start", "--parallel", "2")
    big = t("run", "--gpus", "1", "--gpu-mem", "60G", "--", "true").stdout.strip()
    fits = t("run", "--gpus", "1", "--gpu-mem", "40G", "--", "sh", "-c", HOLD).stdout.strip()
    assert _gpu_of(t, fits) == "0"  # the only GPU with 40 GB free
    _scheduled_past(t)
    assert _status(t, big) == "queued"
    (t.cwd / f"go-{fits}").touch()
    t("wait", fits, timeout=60)
    t("cancel", big)


def test_agent_gpus_limits_the_set(gpu_tether: Tether) -> None:
    t = gpu_tether
    t("agent", "start", "--parallel", "3", "--gpus", "1")
    first = t("run", "--gpus", "1", "--", "sh", "-c", HOLD).stdout.strip()
    second = t("run", "--gpus", "1", "--", "true").stdout.strip()
    assert _gpu_of(t, first) == "1"
    _scheduled_past(t)
    assert _status(t, second) == "queued"  # GPU 0 exists but is not the agent's to give
    (t.cwd / f"go-{first}").touch()
    t("wait", second, timeout=60)
    assert _status(t, second) == "succeeded"


def test_no_nvidia_smi_refuses_gpus_with_one_line(tether: Tether) -> None:
    tether.env["PATH"] = "/usr/bin:/bin"
    assert shutil.which("nvidia-smi", path=tether.env["PATH"]) is None
    proc = tether("run", "--gpus", "1", "--", "true", check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0
    assert "no nvidia-smi" in proc.stderr
    assert tether.json("ls") == []


def test_bad_gpu_values_are_refused(gpu_tether: Tether) -> None:
    for args, words in (
        (["--gpus", "3"], "has 2 GPU"),
        (["--gpus", "a100:1"], "number of GPUs"),
        (["--gpus", "1", "--gpu-mem", "lots"], "--gpu-mem"),
        (["--gpu-mem", "20G"], "needs --gpus"),
    ):
        proc = gpu_tether("run", *args, "--", "true", check=False)
        assert proc.returncode != 0 and words in proc.stderr, proc.stderr
    assert gpu_tether.json("ls") == []


def test_a_hanging_nvidia_smi_never_holds_back_jobs_that_need_no_gpu(
    gpu_tether: Tether, tmp_path: Path
) -> None:
    """nvidia-smi runs off the agent's loop: while it hangs (a file makes the stand-in wait),
    jobs without --gpus queued after a waiting GPU job run at once, many of them."""
    t = gpu_tether
    hold = tmp_path / "smi-hangs"
    t.env["NVIDIA_SMI_STANDIN_HOLD"] = str(hold)
    t.env["NVIDIA_SMI_STANDIN_USED"] = "81920,81920"  # both GPUs full: the GPU job waits
    t("agent", "start")
    gpu_job = t("run", "--gpus", "1", "--gpu-mem", "10G", "--", "true").stdout.strip()
    hold.touch()  # from now on every nvidia-smi call hangs
    try:
        cpu_jobs = [t("run", "--", "true").stdout.strip() for _ in range(12)]
        for number in cpu_jobs:  # the old loop lost 10 s (the timeout) per pass to each
            t("wait", number, timeout=60)
            assert _status(t, number) == "succeeded"
        assert _status(t, gpu_job) == "queued"
    finally:
        hold.unlink()
    t("cancel", gpu_job)


def test_a_gpu_job_that_cannot_be_placed_says_why(gpu_tether: Tether, tmp_path: Path) -> None:
    t = gpu_tether
    broken = tmp_path / "driver-gone"
    t.env["NVIDIA_SMI_STANDIN_BROKEN"] = str(broken)
    t.env["NVIDIA_SMI_STANDIN_USED"] = "81920,81920"
    t("agent", "start")
    number = t("run", "--gpus", "2", "--gpu-mem", "10G", "--", "true").stdout.strip()
    _until(lambda: "2 free GPUs with 10240 MiB free" in str(t.json("show", number)["reason"]))
    broken.touch()  # the driver goes away after the submit
    _until(
        lambda: "nvidia-smi failed: NVIDIA-SMI has failed" in str(t.json("show", number)["reason"])
    )
    assert str(t.json("show", number)["reason"]).startswith("waiting: ")
    shown = " ".join(t("show", number).stdout.split())
    assert "reason waiting: 2 free GPUs" in shown and "nvidia-smi failed" in shown
    t("cancel", number)


def test_ls_shows_why_a_queued_job_waits(gpu_tether: Tether) -> None:
    t = gpu_tether
    t.env["NVIDIA_SMI_STANDIN_USED"] = "81920,81920"
    t("agent", "start")
    number = t("run", "--gpus", "1", "--gpu-mem", "10G", "--", "true").stdout.strip()
    _until(lambda: "waiting: 1 free GPU with 10240 MiB free" in " ".join(t("ls").stdout.split()))
    t("cancel", number)
