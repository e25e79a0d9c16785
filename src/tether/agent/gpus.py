"""GPU slots on local and SSH hosts: what ``nvidia-smi`` reports, which GPUs tether jobs hold,
and the choice of GPUs for a job at launch.

A job asks ``extra["gate"]["gpus"] = {"count": N, "mem": MiB}``; the agent picks N GPUs that no
running tether job holds (``extra["gpu_held"]``), that the agent may use (``agent start --gpus``)
and that have that much memory free *now*, then sets ``CUDA_VISIBLE_DEVICES`` before the job's
process starts.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from dataclasses import dataclass

from tether.errors import UsageError
from tether.jobs.status import RUNNING
from tether.store.jobs import JobStore

QUERY = "--query-gpu=index,uuid,memory.total,memory.used,utilization.gpu"
ALLOWED_SETTING = "agent.gpus"


@dataclass(frozen=True)
class Gpu:
    """One GPU as ``nvidia-smi`` saw it (memory in MiB)."""

    index: int
    uuid: str
    total: int
    used: int
    utilization: int | None

    @property
    def free(self) -> int:
        return max(0, self.total - self.used)


def _number(text: str) -> int | None:
    """``81920 MiB`` -> 81920; ``[N/A]`` -> None."""
    word = text.strip().split(" ")[0]
    try:
        return int(float(word))
    except ValueError:
        return None


def parse(text: str) -> list[Gpu]:
    """The GPUs in ``nvidia-smi --query-gpu=... --format=csv`` output (header line included)."""
    rows = [r for r in csv.reader(io.StringIO(text), skipinitialspace=True) if r]
    if rows and not rows[0][0].strip().isdigit():
        rows = rows[1:]
    gpus = []
    for row in rows:
        if len(row) < 5:
            continue
        index = _number(row[0])
        if index is None:
            continue
        gpus.append(
            Gpu(index, row[1].strip(), _number(row[2]) or 0, _number(row[3]) or 0, _number(row[4]))
        )
    return gpus


def available() -> bool:
    """Is there an ``nvidia-smi`` on PATH?"""
    return shutil.which("nvidia-smi") is not None


def query(timeout: float = 10.0) -> list[Gpu] | None:
    """The machine's GPUs now; None when there is no ``nvidia-smi`` (or it fails)."""
    return read(timeout)[0]


def read(timeout: float = 10.0) -> tuple[list[Gpu] | None, str | None]:
    """The machine's GPUs now, or None and why not (one line)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None, "no nvidia-smi on the agent's PATH"
    try:
        proc = subprocess.run(
            [exe, QUERY, "--format=csv"], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, f"nvidia-smi did not answer within {timeout:.0f} s"
    except OSError as exc:
        return None, f"nvidia-smi could not run: {exc}"
    if proc.returncode != 0:
        said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        return None, f"nvidia-smi failed: {said[0] if said else f'exit {proc.returncode}'}"
    return parse(proc.stdout), None


APPS_QUERY = "--query-compute-apps=pid,gpu_uuid,used_memory"


def compute_apps(timeout: float = 5.0) -> dict[int, tuple[str, int]] | None:
    """pid -> (GPU uuid, MiB it holds) for each process using a GPU now; None when
    ``nvidia-smi`` is missing or fails. The pids are the host's: inside a container that
    does not share the host's pid namespace they match no process here."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        proc = subprocess.run(
            [exe, APPS_QUERY, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (subprocess.TimeoutExpired, OSError):
        return None
    if proc.returncode != 0:
        return None
    apps: dict[int, tuple[str, int]] = {}
    for row in csv.reader(io.StringIO(proc.stdout), skipinitialspace=True):
        if len(row) >= 3 and (pid := _number(row[0])) is not None:
            apps[pid] = (row[1].strip(), _number(row[2]) or 0)
    return apps


def parse_mem(text: str | None) -> int | None:
    """``20G``, ``500M``, ``16000`` (MiB) -> MiB."""
    if text is None:
        return None
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}.get(value[-1:])
    number = value[:-1] if scale is not None else value
    try:
        mib = float(number) * (scale or 1)
    except ValueError:
        raise UsageError(f"--gpu-mem {text!r}: give a size like 20G, 500M or 16000 (MiB)")
    if mib <= 0:
        raise UsageError(f"--gpu-mem {text!r}: must be more than 0")
    return int(mib)


def parse_count(text: str) -> int:
    """``--gpus N`` on a local or SSH host: a whole number of GPUs, 1 or more."""
    try:
        count = int(text)
    except ValueError:
        raise UsageError(
            f"--gpus {text!r}: here it is a number of GPUs (names like a100:2 are for Slurm hosts)"
        )
    if count < 1:
        raise UsageError(f"--gpus {text!r}: ask for 1 GPU or more")
    return count


def parse_allowed(text: str) -> list[int]:
    """``agent start --gpus 0,1`` -> [0, 1]."""
    try:
        indices = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise UsageError(f"--gpus {text!r}: give GPU indices like 0,1")
    if not indices or min(indices) < 0:
        raise UsageError(f"--gpus {text!r}: give GPU indices like 0,1")
    return indices


def _list(gpus: list[Gpu]) -> str:
    """``0,1,2``: the indices of ``gpus``."""
    return ",".join(str(g.index) for g in sorted(gpus, key=lambda g: g.index))


def _size(mib: int) -> str:
    """40960 (MiB) -> ``40 GB``."""
    return f"{round(mib / 1024, 1):g} GB"


def request(
    count_text: str | None, mem_text: str | None, allowed_set: set[int] | None = None
) -> dict[str, int] | None:
    """A checked GPU request for a job run here, or None. Refused (nothing queued) when it can
    never be met: no ``nvidia-smi``, fewer GPUs than asked, fewer than the agent may use
    (``allowed_set``, from ``agent start --gpus``), or GPUs smaller than ``--gpu-mem``."""
    if count_text is None:
        if mem_text is not None:
            raise UsageError("--gpu-mem needs --gpus N")
        return None
    count = parse_count(count_text)
    mem = parse_mem(mem_text)
    gpus = query()
    if gpus is None:
        raise UsageError(
            "--gpus: this machine has no nvidia-smi, so tether cannot give out GPUs; nothing queued"
        )
    if count > len(gpus):
        have = f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''}"
        raise UsageError(f"--gpus {count}: this machine has {have} ({_list(gpus)}); nothing queued")
    usable = [g for g in gpus if allowed_set is None or g.index in allowed_set]
    if count > len(usable):
        may = ",".join(map(str, sorted(allowed_set or ())))
        only = f"only GPU {_list(usable)}" if usable else f"only GPU {may}, not on this machine,"
        raise UsageError(
            f"--gpus {count}: the agent may use {only} (tether agent start --gpus INDICES|all);"
            " nothing queued"
        )
    if mem is not None:
        big = [g for g in usable if g.total >= mem]
        where = "here" if allowed_set is None else "the agent may use"
        if not big:
            largest = max(g.total for g in usable)
            raise UsageError(
                f"--gpu-mem {mem_text}: the largest GPU {where} has {_size(largest)};"
                " nothing queued"
            )
        if count > len(big):
            raise UsageError(
                f"--gpus {count} --gpu-mem {mem_text}: only GPU {_list(big)} {where} has that much"
                " memory; nothing queued"
            )
    return {"count": count, **({"mem": mem} if mem is not None else {})}


def allowed(store: JobStore) -> set[int] | None:
    """The GPU indices the agent may give out (``agent start --gpus``); None means all."""
    text = store.get_setting(ALLOWED_SETTING, "") or ""
    return set(parse_allowed(text)) if text.strip() else None


def held(store: JobStore) -> dict[int, int]:
    """GPU index -> number of the running local tether job that holds it."""
    holders: dict[int, int] = {}
    # a text match, not json_extract: Python's JSON of a job's extra may hold NaN
    for job in store.iter_where(
        "status = ? AND target = 'local' AND extra LIKE ?", (RUNNING, '%"gpu_held"%')
    ):
        for index in job.extra.get("gpu_held") or []:
            holders[int(index)] = job.number
    return holders


def choose(
    gpus: list[Gpu],
    holders: dict[int, int],
    allowed_set: set[int] | None,
    count: int,
    mem: int | None,
) -> list[Gpu] | None:
    """``count`` free GPUs (lowest index first) with ``mem`` MiB free each, or None."""
    free = [
        g
        for g in sorted(gpus, key=lambda g: g.index)
        if g.index not in holders
        and (allowed_set is None or g.index in allowed_set)
        and (mem is None or g.free >= mem)
    ]
    return free[:count] if len(free) >= count else None


def env_for(chosen: list[Gpu]) -> dict[str, str]:
    """The environment that shows the job exactly its GPUs. CUDA numbers devices fastest
    first unless told otherwise; PCI_BUS_ID order makes its indices nvidia-smi's."""
    return {
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "CUDA_VISIBLE_DEVICES": ",".join(str(g.index) for g in chosen),
        "NVIDIA_VISIBLE_DEVICES": ",".join(g.uuid for g in chosen),
        "TETHER_GPUS": ",".join(str(g.index) for g in chosen),
    }
