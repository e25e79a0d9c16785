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

STANDIN = Path(__file__).parent / "data" / "nvidia_smi_standin.py"
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
