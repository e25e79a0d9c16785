"""Retries and GPU requests as a newcomer meets them: ``--retry-delay 0s``, waiting on a run
that is retried, and ``--gpus``/``--gpu-mem`` this machine (or its agent) can never give.

There is no GPU on the test machine: ``nvidia-smi`` here is a fake, the stand-in command of
tests/test_gpu_slots.py (tests/data/nvidia_smi_standin.py) put first on PATH, told through its
environment how many GPUs to report and how big they are.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Tether
from gpu_fixtures import fake_nvidia_smi

# Fails on its first two runs, succeeds on the third (counts in ./count).
FLAKY = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ "$n" -ge 3 ]'


def _queued(t: Tether) -> list[object]:
    return t.json("ls", "--all")  # type: ignore[return-value]


@pytest.mark.parametrize("delay", ["0", "0s", "0m"])
def test_retry_delay_zero_is_accepted(tether: Tether, delay: str) -> None:
    t = tether
    number = t("run", "--retry", "1", "--retry-delay", delay, "--", "true").stdout.strip()
    shown = t.json("show", number)
    assert shown["extra"]["retry"]["delay"] == 0  # type: ignore[index]


@pytest.mark.parametrize("delay", ["-1", "-5s"])
def test_negative_retry_delay_is_still_refused(tether: Tether, delay: str) -> None:
    t = tether
    proc = t("run", "--retry", "1", f"--retry-delay={delay}", "--", "true", check=False)
    assert proc.returncode != 0
    assert "--retry-delay" in proc.stderr and "not a duration" in proc.stderr
    assert _queued(t) == []


def test_run_wait_and_wait_follow_retries_to_the_last_attempt(tether: Tether) -> None:
    t = tether
    t("agent", "start")
    ran = t("run", "--wait", "--retry", "2", "--", "sh", "-c", f"echo try; {FLAKY}", timeout=90)
    assert ran.returncode == 0
    assert (t.cwd / "count").read_text().strip() == "3"
    assert "attempt 2 of 3 started as job #2" in ran.stderr
    assert "attempt 3 of 3 started as job #3" in ran.stderr
    assert ran.stdout.count("try") == 3  # every attempt's output was followed
    assert t("wait", "1", timeout=30).returncode == 0  # the run, not attempt 1 alone


def test_wait_on_a_retried_run_exits_with_the_final_attempts_code(tether: Tether) -> None:
    t = tether
    t("agent", "start")
    counted = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; exit $n"
    first = t("run", "--retry", "1", "--", "sh", "-c", counted).stdout.strip()
    assert t("wait", first, check=False, timeout=60).returncode == 2  # attempt 2's, not 1's
    assert t.json("show", "2")["status"] == "failed"  # type: ignore[index]


@pytest.fixture
def three_40g(tether: Tether, tmp_path: Path) -> Tether:
    """The ``tether`` fixture with the fake ``nvidia-smi`` reporting three 40 GB GPUs."""
    return fake_nvidia_smi(
        tether, tmp_path, NVIDIA_SMI_STANDIN_COUNT="3", NVIDIA_SMI_STANDIN_TOTAL="40960"
    )


def _refused(t: Tether, *flags: str) -> str:
    """The one error line of a run with ``flags`` that must be refused with nothing queued."""
    proc = t("run", *flags, "--", "true", check=False)
    assert proc.returncode != 0, proc.stdout
    assert _queued(t) == []
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_more_gpus_than_the_machine_has_is_refused_naming_them(three_40g: Tether) -> None:
    line = _refused(three_40g, "--gpus", "7")
    assert "--gpus 7: this machine has 3 GPUs (0,1,2); nothing queued" in line


def test_gpu_mem_larger_than_any_gpu_is_refused(three_40g: Tether) -> None:
    line = _refused(three_40g, "--gpus", "1", "--gpu-mem", "50G")
    assert "--gpu-mem 50G: the largest GPU here has 40 GB; nothing queued" in line
    assert three_40g("run", "--gpus", "1", "--gpu-mem", "30G", "--", "true").returncode == 0


def test_more_gpus_than_the_agent_may_use_is_refused(three_40g: Tether) -> None:
    t = three_40g
    t("agent", "start", "--gpus", "0")
    line = _refused(t, "--gpus", "2")
    assert "--gpus 2: the agent may use only GPU 0 (tether agent start --gpus" in line
    assert line.endswith("nothing queued")
    t("agent", "start", "--gpus", "all")
    assert t("run", "--gpus", "2", "--", "true").returncode == 0
