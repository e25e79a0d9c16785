"""The supervisor samples each job's whole process tree: ``tether top``, the peaks in ``show``
and the bounded ``sys.jsonl``.

GPU figures come from the ``nvidia-smi`` stand-in (tests/data/nvidia_smi_standin.py; there is
no GPU here): it reports every process whose command line names ``tether-gpu-user`` as holding
$NVIDIA_SMI_STANDIN_APP_MIB MiB on GPU 0, and $NVIDIA_SMI_STANDIN_UTIL % for every GPU.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from conftest import Tether
from gpu_fixtures import fake_nvidia_smi
from tether.jobs import resources
from waiting import wait_for

# A child process holding ~80 MB and spinning a core, under a shell parent.
HOG = (
    "import time\n"
    "block = bytearray(80 * 2**20)\n"
    "for i in range(0, len(block), 4096):\n"
    "    block[i] = 1\n"
    "end = time.time() + 4\n"
    "while time.time() < end:\n"
    "    pass\n"
)

# DataLoader-style workers: the parent fills 150 MB, then forks three workers that only read.
# RSS summed over the four processes is ~600 MB; what they use is ~150 MB.
FORKED = (
    "import os, time\n"
    "block = bytearray(150 * 2**20)\n"
    "for i in range(0, len(block), 4096):\n"
    "    block[i] = 1\n"
    "kids = []\n"
    "for _ in range(3):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        time.sleep(5)\n"
    "        os._exit(0)\n"
    "    kids.append(pid)\n"
    "for pid in kids:\n"
    "    os.waitpid(pid, 0)\n"
)


def _running_usage(t: Tether) -> list[dict[str, object]]:
    rows = t.json("top")
    assert isinstance(rows, list)
    return rows if rows and rows[0]["usage"] is not None else []


def test_top_shows_the_trees_cpu_and_memory_peaks(tether: Tether) -> None:
    t = tether
    (t.cwd / "hog.py").write_text(HOG)
    t("agent", "start")
    number = t("run", "--", "sh", "-c", "python3 hog.py; sleep 0.5").stdout.strip()
    rows = wait_for(lambda: _running_usage(t), "a sample of the running job")
    assert rows[0]["number"] == int(number)
    assert "cpu: now/mean/peak" in t("top").stdout
    t("wait", number, timeout=30)
    assert t.json("top") == []  # nothing running now
    usage = t.json("top", number)[0]["usage"]  # type: ignore[index]
    assert usage["peak"][resources.MEM] >= 80  # the child's memory counts
    assert usage["peak"][resources.PROCS] >= 2  # sh and python
    assert usage["peak"][resources.CPU] >= 40
    assert usage["mean"][resources.CPU] <= usage["peak"][resources.CPU]
    assert usage["samples"] >= 2
    shown = t.json("show", number)
    assert shown["usage"] == usage  # the same figures in show --json
    assert "peak use   CPU" in t("show", number).stdout


def test_memory_of_forked_workers_is_counted_once(tether: Tether) -> None:
    t = tether
    (t.cwd / "forked.py").write_text(FORKED)
    t("agent", "start")
    number = t("run", "forked.py").stdout.strip()
    t("wait", number, timeout=60)
    peak = t.json("show", number)["usage"]["peak"]  # type: ignore[index]
    assert peak[resources.PROCS] == 4
    assert 140 <= peak[resources.MEM] <= 300, peak  # an RSS sum would be ~600


def test_gpu_memory_and_utilisation_of_the_jobs_own_processes(tether: Tether) -> None:
    t = tether
    fake_nvidia_smi(t, t.cwd, NVIDIA_SMI_STANDIN_APP_MIB="3000", NVIDIA_SMI_STANDIN_UTIL="87")
    t("agent", "start")
    gpu_job = t("run", "--", "python3", "-c", "import time; time.sleep(4)", "tether-gpu-user")
    cpu_job = t("run", "--", "python3", "-c", "import time; time.sleep(4)")
    for job in (gpu_job, cpu_job):
        t("wait", job.stdout.strip(), timeout=60)
    peak = t.json("show", gpu_job.stdout.strip())["usage"]["peak"]  # type: ignore[index]
    assert peak[resources.GPU_MEM] == 3000
    assert peak[resources.GPU_UTIL] == 87
    assert "GPU memory 2.9 GB, GPU 87%" in t("show", gpu_job.stdout.strip()).stdout
    other = t.json("show", cpu_job.stdout.strip())["usage"]["peak"]  # type: ignore[index]
    assert resources.GPU_MEM not in other  # another job's GPU is not this job's
    assert "2.9/2.9 GB  87/87%" in t("top", gpu_job.stdout.strip()).stdout


def _write_samples(path: Path, count: int, start: int = 0) -> None:
    with open(path, "a") as out:
        for step in range(start, start + count):
            values = {resources.CPU: 400.0 if step == 7 else 50.0, resources.MEM: float(step)}
            out.write(json.dumps({"step": step, "time": 1e9 + step, "values": values}) + "\n")


def test_compaction_keeps_the_file_bounded_and_the_figures_exact(tmp_path: Path) -> None:
    path = tmp_path / resources.SYS_FILE
    samples = 3 * 24 * 3600 // 2  # three days at one sample every 2 s
    written = 0
    lines = 0
    while written < samples:
        batch = min(resources.MAX_LINES - lines, samples - written)
        _write_samples(path, batch, written)
        written += batch
        lines = resources.compact(path)
    assert path.stat().st_size < 2 * 2**20
    usage = resources.read_usage(tmp_path)
    assert usage is not None
    assert usage.samples == samples
    assert usage.peak[resources.CPU] == 400.0  # one sample long ago, still the peak
    assert usage.peak[resources.MEM] == samples - 1
    assert usage.latest[resources.MEM] == samples - 1  # the recent ones at full rate
    assert abs(usage.mean[resources.MEM] - (samples - 1) / 2) < 1
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["step"] for r in records[-resources.KEEP_RECENT :]] == list(
        range(samples - resources.KEEP_RECENT, samples)
    )
    assert all(a["step"] < b["step"] for a, b in itertools.pairwise(records))
