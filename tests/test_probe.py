"""Probing machines: nvidia-smi parsing, the remote probe script, and --on auto's choice."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tether.errors import RemoteError
from tether.targets.probe import (
    MIB,
    NVIDIA_SMI_ARGS,
    PROBE_SCRIPT,
    Gpu,
    HostResources,
    local_probe,
    parse_nvidia_smi,
    parse_probe_output,
    pick_best,
    probe_command,
)
from tether.targets.ssh.command import remote_join

SYSTEM_PYTHON = "/usr/bin/python3"

# Recorded with: nvidia-smi --query-gpu=index,name,memory.used,memory.total,utilization.gpu
#                --format=csv,noheader,nounits
SMI_1 = "0, NVIDIA GeForce RTX 3090, 1234, 24576, 17\n"
SMI_2 = "0, Tesla V100-SXM2-32GB, 31000, 32510, 98\n1, Tesla V100-SXM2-32GB, 3, 32510, 0\n"
SMI_8 = """\
0, NVIDIA A100-SXM4-80GB, 70123, 81920, 100
1, NVIDIA A100-SXM4-80GB, 4, 81920, 0
2, NVIDIA A100-SXM4-80GB, 40960, 81920, 55
3, NVIDIA A100-SXM4-80GB, [N/A], [N/A], [N/A]
4, NVIDIA H100 80GB HBM3, 512, 81559, [N/A]
5, NVIDIA H100 80GB HBM3, 81000, 81559, [Not Supported]
6, Quadro RTX 8000, 0, 48601, 0
7, Quadro RTX 8000, 48000, 48601, 12
"""


def test_parse_one_gpu() -> None:
    assert parse_nvidia_smi(SMI_1) == [
        Gpu(0, "NVIDIA GeForce RTX 3090", 1234 * MIB, 24576 * MIB, 17.0)
    ]
    assert parse_nvidia_smi(SMI_1)[0].mem_free_bytes == (24576 - 1234) * MIB


def test_parse_two_gpus() -> None:
    gpus = parse_nvidia_smi(SMI_2)
    assert [g.index for g in gpus] == [0, 1]
    assert gpus[1].mem_used_bytes == 3 * MIB
    assert gpus[0].utilization_pct == 98.0
    assert gpus[1].mem_free_bytes == (32510 - 3) * MIB


def test_parse_eight_gpus_with_missing_fields() -> None:
    gpus = parse_nvidia_smi(SMI_8)
    assert len(gpus) == 8
    assert gpus[3] == Gpu(3, "NVIDIA A100-SXM4-80GB", None, None, None)
    assert gpus[3].mem_free_bytes is None
    assert gpus[4].name == "NVIDIA H100 80GB HBM3"
    assert gpus[4].utilization_pct is None
    assert gpus[5].utilization_pct is None
    assert gpus[6].name == "Quadro RTX 8000"
    assert gpus[6].mem_free_bytes == 48601 * MIB


def test_parse_skips_noise_and_keeps_commas_in_names() -> None:
    text = (
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n"
        "\n"
        "0, Odd, Name GPU, 10, 100, 5\n"
        "garbage, line, here, 1, 2\n"
        "1, With Units, 10 MiB, 100 MiB, 7 %\n"
    )
    gpus = parse_nvidia_smi(text)
    assert [g.name for g in gpus] == ["Odd, Name GPU", "With Units"]
    assert gpus[1].mem_total_bytes == 100 * MIB
    assert gpus[1].utilization_pct == 7.0
    assert parse_nvidia_smi("") == []


def test_local_probe() -> None:
    res = local_probe()
    assert res.cpu_count >= 1
    assert res.mem_total_bytes and res.mem_free_bytes is not None
    assert 0 < res.mem_free_bytes <= res.mem_total_bytes
    assert res.disk_total_bytes and res.disk_free_bytes is not None
    assert 0 <= res.disk_free_bytes <= res.disk_total_bytes
    assert res.mem_total_bytes != res.disk_total_bytes  # RAM is not disk
    assert res.load_1m is None or res.load_1m >= 0
    assert isinstance(res.gpus, list)
    assert HostResources.from_dict(json.loads(json.dumps(res.to_dict()))) == res


# --- the remote probe script -----------------------------------------------------------


def _system_python() -> str:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"{SYSTEM_PYTHON} not available")
    return SYSTEM_PYTHON


def _fake_smi(tmp_path: Path, text: str, exit_code: int = 0) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "smi.txt").write_text(text)
    smi = bin_dir / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = "{NVIDIA_SMI_ARGS[0]}" ] && [ "$2" = "{NVIDIA_SMI_ARGS[1]}" ] || exit 9\n'
        f"cat '{tmp_path / 'smi.txt'}'\nexit {exit_code}\n"
    )
    smi.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_probe_script_runs_with_system_python(tmp_path: Path) -> None:
    python = _system_python()
    env = {**os.environ, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [python, "-c", PROBE_SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    for key in ("cpu_count", "load_1m", "mem_free_bytes", "disk_free_bytes", "hostname"):
        assert key in data
    res = parse_probe_output(out.stdout)
    assert res.cpu_count == os.cpu_count()
    assert res.mem_total_bytes and res.mem_free_bytes
    assert 0 < res.mem_free_bytes <= res.mem_total_bytes
    assert res.disk_free_bytes == pytest.approx(shutil.disk_usage(tmp_path).free, rel=0.05)
    assert res.gpus == []
    assert res.python_version and res.python_version.startswith("3.")


def test_probe_script_reads_nvidia_smi(tmp_path: Path) -> None:
    python = _system_python()
    env = _fake_smi(tmp_path, SMI_8)
    out = subprocess.run(
        [python, "-c", PROBE_SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )
    res = parse_probe_output(out.stdout)
    assert res.gpus == parse_nvidia_smi(SMI_8)


def test_probe_script_survives_failing_nvidia_smi(tmp_path: Path) -> None:
    python = _system_python()
    env = _fake_smi(tmp_path, "NVIDIA-SMI has failed\n", exit_code=9)
    out = subprocess.run(
        [python, "-c", PROBE_SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )
    assert parse_probe_output(out.stdout).gpus == []


def test_probe_script_as_a_remote_command_and_on_stdin(tmp_path: Path) -> None:
    """As ssh would run it (one quoted string through sh), and piped to ``python3 -``."""
    python = _system_python()
    env = _fake_smi(tmp_path, SMI_2)
    command = remote_join(probe_command(python))
    out = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert len(parse_probe_output(out.stdout).gpus) == 2
    piped = subprocess.run(
        [python, "-"], input=PROBE_SCRIPT, capture_output=True, text=True, env=env, timeout=60
    )
    assert len(parse_probe_output(piped.stdout).gpus) == 2


def test_probe_script_runs_on_this_python_too() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert parse_probe_output(out.stdout).cpu_count >= 1


def test_parse_probe_output_ignores_login_chatter() -> None:
    payload = {
        "tether_probe": 1,
        "hostname": "gpu1",
        "cpu_count": 64,
        "load_1m": 12.5,
        "mem_total_bytes": 512 * 1024**3,
        "mem_free_bytes": 300 * 1024**3,
        "disk_free_bytes": 2 * 1024**4,
        "disk_total_bytes": 4 * 1024**4,
        "gpus_csv": SMI_1,
        "python_version": "3.6.8",
    }
    text = "Welcome to gpu1!\n{not json}\n" + json.dumps(payload) + "\nbye\n"
    res = parse_probe_output(text)
    assert res.hostname == "gpu1"
    assert res.cpu_count == 64
    assert res.load_per_cpu == pytest.approx(12.5 / 64)
    assert res.mem_free_bytes == 300 * 1024**3
    assert res.disk_free_bytes == 2 * 1024**4
    assert res.gpus == parse_nvidia_smi(SMI_1)
    assert res.python_version == "3.6.8"


def test_parse_probe_output_without_result() -> None:
    with pytest.raises(RemoteError, match="probe"):
        parse_probe_output("bash: python3: command not found\n")
    with pytest.raises(RemoteError):
        parse_probe_output('{"some": "other json"}\n')


def test_parse_probe_output_with_unknowns() -> None:
    res = parse_probe_output(json.dumps({"tether_probe": 1, "cpu_count": 4, "load_1m": None}))
    assert res.cpu_count == 4
    assert res.load_1m is None
    assert res.load_per_cpu is None
    assert res.mem_free_bytes is None


# --- pick_best -------------------------------------------------------------------------


def _res(cpus: int = 8, load: float | None = 1.0, smi: str = "", mem: int = 10) -> HostResources:
    return HostResources(
        hostname="x",
        cpu_count=cpus,
        load_1m=load,
        mem_total_bytes=64 * 1024**3,
        mem_free_bytes=mem * 1024**3,
        disk_free_bytes=100 * 1024**3,
        disk_total_bytes=500 * 1024**3,
        gpus=parse_nvidia_smi(smi),
    )


def test_pick_best_prefers_free_gpu_memory() -> None:
    hosts = {
        "a": _res(smi=SMI_1),  # ~23 GB free on its GPU
        "b": _res(smi=SMI_2),  # ~32 GB free on GPU 1
        "c": _res(load=0.0),  # idle, but no GPU
        "d": None,  # unreachable
    }
    assert pick_best(hosts) == "b"
    assert pick_best({"a": _res(smi=SMI_1), "h": _res(smi=SMI_8)}) == "h"


def test_pick_best_without_gpus_uses_load_per_cpu() -> None:
    hosts = {
        "busy": _res(cpus=4, load=4.0),
        "big": _res(cpus=64, load=16.0),  # 0.25 per CPU
        "small": _res(cpus=2, load=1.0),  # 0.5 per CPU
        "down": None,
    }
    assert pick_best(hosts) == "big"


def test_pick_best_ties_and_unknowns() -> None:
    assert pick_best({"first": _res(), "second": _res()}) == "first"
    assert pick_best({"lowmem": _res(mem=1), "highmem": _res(mem=50)}) == "highmem"
    assert pick_best({"unknown": _res(load=None), "known": _res(load=7.0)}) == "known"
    full = "0, T4, 15000, 15000, 100\n"  # a GPU with no free memory counts as none
    assert pick_best({"full": _res(smi=full, load=8.0), "idle": _res(load=0.1)}) == "idle"


def test_pick_best_none_reachable() -> None:
    with pytest.raises(RemoteError, match="a, b"):
        pick_best({"a": None, "b": None})
    with pytest.raises(RemoteError):
        pick_best({})
