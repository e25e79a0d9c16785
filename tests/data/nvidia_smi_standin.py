#!/usr/bin/env python3
"""A stand-in for ``nvidia-smi`` (there is no GPU on the test machine): it prints recorded
output of a real two-GPU ``nvidia-smi`` for the two queries tether makes. The memory used
per GPU comes from $NVIDIA_SMI_STANDIN_USED (MiB, comma-separated) so a test can fill a GPU;
$NVIDIA_SMI_STANDIN_COUNT (default 2) and $NVIDIA_SMI_STANDIN_TOTAL (MiB per GPU, default
81920) make it report another number or size of GPUs. $NVIDIA_SMI_STANDIN_HOLD and
$NVIDIA_SMI_STANDIN_BROKEN name files that make it hang or fail while they exist.

Compute apps: every process whose command line contains ``tether-gpu-user`` is reported as
using GPU 0 with $NVIDIA_SMI_STANDIN_APP_MIB MiB (default 2048); $NVIDIA_SMI_STANDIN_UTIL is
the utilisation (%) every GPU reports (default 0).
"""

import os
import sys
import time

# Fault hooks: while the file $NVIDIA_SMI_STANDIN_HOLD names exists, hang (a slow driver);
# while $NVIDIA_SMI_STANDIN_BROKEN names an existing file, fail as a lost driver does.
HOLD = os.environ.get("NVIDIA_SMI_STANDIN_HOLD")
while HOLD and os.path.exists(HOLD):
    time.sleep(0.05)
BROKEN = os.environ.get("NVIDIA_SMI_STANDIN_BROKEN")
if BROKEN and os.path.exists(BROKEN):
    print(
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running."
    )
    sys.exit(9)

GPUS = [
    ("0", "NVIDIA A100-SXM4-80GB", "GPU-4a2f6e1c-0b7d-2c3e-9f10-5d6a7b8c9d01"),
    ("1", "NVIDIA A100-SXM4-80GB", "GPU-8e1d3c5b-7a9f-4e2d-b6c8-0a1b2c3d4e02"),
]
COUNT = int(os.environ.get("NVIDIA_SMI_STANDIN_COUNT", "2"))
MORE = [(str(i), GPUS[0][1], f"GPU-00000000-0000-0000-0000-{i:012d}") for i in range(2, COUNT)]
GPUS = [*GPUS, *MORE][:COUNT]
TOTAL = int(os.environ.get("NVIDIA_SMI_STANDIN_TOTAL", "81920"))
USED = os.environ.get("NVIDIA_SMI_STANDIN_USED", ",".join(["4"] * COUNT))
used = [int(x) for x in USED.split(",")]
UTIL = int(os.environ.get("NVIDIA_SMI_STANDIN_UTIL", "0"))
args = " ".join(sys.argv[1:])


def gpu_users() -> list[int]:
    """The pids of processes whose command line names ``tether-gpu-user``."""
    pids = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if b"tether-gpu-user" in f.read() and int(name) != os.getpid():
                    pids.append(int(name))
        except (OSError, ValueError):
            continue
    return pids


if "--query-gpu=index,uuid,memory.total,memory.used,utilization.gpu" in args:
    print("index, uuid, memory.total [MiB], memory.used [MiB], utilization.gpu [%]")
    for (index, _, uuid), mem in zip(GPUS, used, strict=False):
        print(f"{index}, {uuid}, {TOTAL} MiB, {mem} MiB, {UTIL} %")
elif "--query-gpu=index,name,memory.used,memory.total,utilization.gpu" in args:
    for (index, name, _), mem in zip(GPUS, used, strict=False):
        print(f"{index}, {name}, {mem}, {TOTAL}, 0")
elif "--query-compute-apps=pid,gpu_uuid,used_memory" in args:
    if "noheader" not in args:
        print("pid, gpu_uuid, used_gpu_memory [MiB]")
    mib = os.environ.get("NVIDIA_SMI_STANDIN_APP_MIB", "2048")
    for pid in gpu_users():
        print(f"{pid}, {GPUS[0][2]}, {mib}{'' if 'nounits' in args else ' MiB'}")
elif "--query-compute-apps" in args:
    print("pid, used_gpu_memory [MiB]" if "noheader" not in args else "", end="")
else:
    sys.exit(f"nvidia-smi stand-in: no recording for {args!r}")
