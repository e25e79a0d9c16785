"""How busy a machine is: CPUs, load, free memory and disk, GPUs; and picking the best.

Memory (RAM) and disk are different things and are kept apart, in bytes:
``mem_free_bytes`` is available RAM, ``disk_free_bytes`` is free space in the home folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import RemoteError

MIB = 1024 * 1024

NVIDIA_SMI_ARGS = (
    "--query-gpu=index,name,memory.used,memory.total,utilization.gpu",
    "--format=csv,noheader,nounits",
)


@dataclass(frozen=True)
class Gpu:
    """One NVIDIA GPU; a field is None when nvidia-smi reports ``[N/A]``."""

    index: int
    name: str
    mem_used_bytes: int | None
    mem_total_bytes: int | None
    utilization_pct: float | None

    @property
    def mem_free_bytes(self) -> int | None:
        if self.mem_used_bytes is None or self.mem_total_bytes is None:
            return None
        return max(self.mem_total_bytes - self.mem_used_bytes, 0)


@dataclass(frozen=True)
class HostResources:
    """A snapshot of one machine's resources; unknown values are None."""

    hostname: str
    cpu_count: int
    load_1m: float | None
    mem_total_bytes: int | None
    mem_free_bytes: int | None
    disk_free_bytes: int | None
    disk_total_bytes: int | None
    gpus: list[Gpu] = field(default_factory=list)
    python_version: str | None = None

    @property
    def load_per_cpu(self) -> float | None:
        if self.load_1m is None:
            return None
        return self.load_1m / max(self.cpu_count, 1)

    @property
    def best_gpu_free_bytes(self) -> int:
        """Free memory on the emptiest GPU (0 without GPUs)."""
        return max((g.mem_free_bytes or 0 for g in self.gpus), default=0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostResources:
        gpus = [Gpu(**g) for g in data.get("gpus", [])]
        known = {f for f in cls.__dataclass_fields__ if f != "gpus"}
        return cls(**{k: v for k, v in data.items() if k in known}, gpus=gpus)


# --- nvidia-smi ------------------------------------------------------------------------


def _na(value: str) -> str | None:
    value = value.strip()
    if not value or (value.startswith("[") and value.endswith("]")) or value in {"N/A", "-"}:
        return None
    return value


def _mib(value: str) -> int | None:
    text = _na(value)
    if text is None:
        return None
    try:
        return int(float(text.removesuffix("MiB").strip()) * MIB)
    except ValueError:
        return None


def _pct(value: str) -> float | None:
    text = _na(value)
    if text is None:
        return None
    try:
        return float(text.removesuffix("%").strip())
    except ValueError:
        return None


def parse_nvidia_smi(csv_text: str) -> list[Gpu]:
    """Parse ``nvidia-smi --query-gpu=index,name,memory.used,memory.total,utilization.gpu
    --format=csv,noheader,nounits`` output; lines that are not GPU rows are skipped."""
    gpus: list[Gpu] = []
    for row in csv.reader(io.StringIO(csv_text), skipinitialspace=True):
        if len(row) < 5:
            continue
        # A name containing a comma would split into more fields: rejoin the middle.
        index_text, *name_parts, used, total, util = row
        try:
            index = int(index_text.strip())
        except ValueError:
            continue
        name = ", ".join(part.strip() for part in name_parts)
        gpus.append(Gpu(index, name, _mib(used), _mib(total), _pct(util)))
    return gpus


def _local_gpus() -> list[Gpu]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, *NVIDIA_SMI_ARGS], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(out.stdout) if out.returncode == 0 else []


def local_probe() -> HostResources:
    """Measure this machine with psutil and ``shutil.disk_usage`` of the home folder."""
    import psutil

    try:
        load: float | None = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    memory = psutil.virtual_memory()
    disk_free: int | None = None
    disk_total: int | None = None
    try:
        disk = shutil.disk_usage(Path.home())
        disk_free, disk_total = disk.free, disk.total
    except OSError:
        pass
    return HostResources(
        hostname=socket.gethostname(),
        cpu_count=psutil.cpu_count() or os.cpu_count() or 1,
        load_1m=load,
        mem_total_bytes=int(memory.total),
        mem_free_bytes=int(memory.available),
        disk_free_bytes=disk_free,
        disk_total_bytes=disk_total,
        gpus=_local_gpus(),
        python_version=platform.python_version(),
    )


# --- remote probe ----------------------------------------------------------------------

#: Sent to a remote Python 3 (``python3 -c PROBE_SCRIPT``, or on stdin to ``python3 -``).
#: Stdlib only and old-Python friendly (no f-strings). Prints one JSON line with the
#: fields of HostResources, except that GPUs come as nvidia-smi's raw CSV (``gpus_csv``)
#: so that one parser, :func:`parse_nvidia_smi`, reads them everywhere.
PROBE_SCRIPT = r"""
import json, os, platform, shutil, socket, subprocess, sys
out = {"tether_probe": 1, "hostname": socket.gethostname(),
       "cpu_count": os.cpu_count() or 1, "python_version": platform.python_version()}
try:
    out["load_1m"] = os.getloadavg()[0]
except (AttributeError, OSError):
    out["load_1m"] = None
mem = {}
try:
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            mem[key.strip()] = int(rest.split()[0]) * 1024
except (OSError, ValueError, IndexError):
    pass
out["mem_total_bytes"] = mem.get("MemTotal")
out["mem_free_bytes"] = mem.get("MemAvailable", mem.get("MemFree"))
try:
    du = shutil.disk_usage(os.path.expanduser("~"))
    out["disk_free_bytes"], out["disk_total_bytes"] = du.free, du.total
except OSError:
    out["disk_free_bytes"] = out["disk_total_bytes"] = None
out["gpus_csv"] = ""
smi = shutil.which("nvidia-smi")
if smi:
    try:
        query = "--query-gpu=index,name,memory.used,memory.total,utilization.gpu"
        p = subprocess.Popen([smi, query, "--format=csv,noheader,nounits"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             universal_newlines=True)
        try:
            text, _ = p.communicate(timeout=20)
        except Exception:
            p.kill()
            p.wait()
            text = ""
        if p.returncode == 0:
            out["gpus_csv"] = text
    except Exception:
        pass
sys.stdout.write(json.dumps(out) + "\n")
"""


def probe_command(python: str = "python3") -> list[str]:
    """The remote command (words) that runs :data:`PROBE_SCRIPT` with ``python``."""
    return [python, "-c", PROBE_SCRIPT]


def parse_probe_output(text: str) -> HostResources:
    """Read the JSON line printed by :data:`PROBE_SCRIPT`, ignoring any login chatter."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("tether_probe") == 1:
            return _from_probe(data)
    raise RemoteError("the host probe printed no result; check that python3 runs there")


def _from_probe(data: dict[str, Any]) -> HostResources:
    def num(key: str) -> int | None:
        value = data.get(key)
        return int(value) if isinstance(value, (int, float)) else None

    load = data.get("load_1m")
    return HostResources(
        hostname=str(data.get("hostname", "")),
        cpu_count=num("cpu_count") or 1,
        load_1m=float(load) if isinstance(load, (int, float)) else None,
        mem_total_bytes=num("mem_total_bytes"),
        mem_free_bytes=num("mem_free_bytes"),
        disk_free_bytes=num("disk_free_bytes"),
        disk_total_bytes=num("disk_total_bytes"),
        gpus=parse_nvidia_smi(str(data.get("gpus_csv") or "")),
        python_version=data.get("python_version"),
    )


# --- choosing --------------------------------------------------------------------------


def pick_best(hosts: Mapping[str, HostResources | None]) -> str:
    """The host for ``--on auto``: most free memory on one GPU, else lowest load per CPU.

    Unreachable hosts are given as None. Ties go to the host listed first.
    """
    reachable = {name: res for name, res in hosts.items() if res is not None}
    if not reachable:
        names = ", ".join(hosts) or "none configured"
        raise RemoteError(f"no host could be reached for --on auto ({names}); check them with ssh")
    order = list(reachable)
    with_gpu = [name for name in order if reachable[name].best_gpu_free_bytes > 0]
    if with_gpu:
        return max(with_gpu, key=lambda n: (reachable[n].best_gpu_free_bytes, -order.index(n)))

    def load_key(name: str) -> tuple[float, int, int]:
        res = reachable[name]
        load = res.load_per_cpu
        return (
            load if load is not None else float("inf"),
            -(res.mem_free_bytes or 0),
            order.index(name),
        )

    return min(order, key=load_key)
