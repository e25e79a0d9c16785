"""One task of a Slurm job array: ``python -m tether.functions.array_task DIR BATCH SIZE``.

Slurm starts this once per array task with ``SLURM_ARRAY_TASK_ID`` set to ``i``: it runs
calls ``i*SIZE`` to ``(i+1)*SIZE - 1`` of batch ``BATCH`` of the dataset folder ``DIR`` and
writes their results as chunk ``i`` of that batch (``DIR/results/BATCH-i.pkl``, atomically),
exactly as a worker of the local launcher does. The runs go one after another in this
process, or, when the task has several CPUs (``SLURM_CPUS_PER_TASK``, from ``cpus=``), split
among as many forked processes; a run in a process that dies gets an error saying so.
A run's exception is a result like any other; the task exits 0 unless it could not run at
all. Completion (``done.json``) is decided by the submitting side, which polls the array.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from tether.functions import layout, serialization
from tether.functions.errors import RunFailed
from tether.functions.worker import (
    PRINTED_FAILURES,
    Batch,
    _format,
    load_batch,
    run_chunk,
    same_python,
    setup_path,
)

USAGE = "usage: SLURM_ARRAY_TASK_ID=I python -m tether.functions.array_task DIR BATCH SIZE"


def task_bounds(calls: int, size: int, task: int) -> tuple[int, int]:
    """The calls task ``task`` runs: ``[lo, hi)``, empty past the end."""
    lo = min(task * size, calls)
    return lo, min(lo + size, calls)


def _cpus() -> int:
    text = os.environ.get("SLURM_CPUS_PER_TASK", "")
    return int(text) if text.isdigit() and int(text) > 0 else 1


def run_range(
    batch: Batch, lo: int, hi: int, workers: int, scratch: Path
) -> list[serialization.RunResult]:
    """Calls ``lo..hi-1``, here or split among ``workers`` forked processes (in order)."""
    workers = min(workers, hi - lo)
    if workers <= 1:
        return run_chunk(batch, lo, hi)
    step = -(-(hi - lo) // workers)
    parts: dict[int, tuple[int, int, Path]] = {}
    for a in range(lo, hi, step):
        b = min(a + step, hi)
        path = scratch / f".part-{os.getpid()}-{a}.pkl"
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover (a child: reported through its file)
            code = 0
            try:
                serialization.write_atomic(path, serialization.dump_chunk(run_chunk(batch, a, b)))
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        parts[pid] = (a, b, path)
    ends: dict[int, str] = {}
    while len(ends) < len(parts):
        pid, status = os.wait()
        if os.WIFSIGNALED(status):
            ends[pid] = f"killed by signal {os.WTERMSIG(status)}"
        else:
            ends[pid] = f"exit code {os.WEXITSTATUS(status)}"
    results: list[serialization.RunResult] = []
    for pid, (a, b, path) in sorted(parts.items(), key=lambda item: item[1][0]):
        try:
            results.extend(serialization.loads(path.read_bytes()))  # our own child's file
            path.unlink()
        except FileNotFoundError:
            exc = RunFailed(f"the worker process running this run died ({ends[pid]})")
            results.extend((i, False, exc, "") for i in range(a, b))
    return results


def main(argv: list[str]) -> int:
    task_text = os.environ.get("SLURM_ARRAY_TASK_ID", "")
    if len(argv) != 4 or not argv[2].isdigit() or not argv[3].isdigit() or not task_text.isdigit():
        print(USAGE, file=sys.stderr)
        return 2
    ddir = layout.DatasetDir(Path(argv[1]))
    batch_no, size, task = int(argv[2]), max(1, int(argv[3])), int(task_text)
    meta = ddir.read_meta()
    if not same_python(meta, "task"):
        return 3
    setup_path(meta)
    names = {number: (calls, name) for number, calls, name in ddir.batches()}
    if batch_no not in names:
        print(f"[tether] batch {batch_no} is not in {ddir.in_dir}", file=sys.stderr)
        return 4
    calls, name = names[batch_no]
    lo, hi = task_bounds(calls, size, task)
    try:
        batch = load_batch(ddir, name)
    except Exception as exc:  # e.g. the function's module is not importable here
        results: list[serialization.RunResult] = [
            (i, False, exc, _format(exc)) for i in range(lo, hi)
        ]
    else:
        results = run_range(batch, lo, hi, _cpus(), ddir.results_dir)
    failed = [tb for _, ok, _, tb in results if not ok]
    for tb in failed[:PRINTED_FAILURES]:
        sys.stderr.write(f"[tether] task {task}: a run failed:\n{tb}")
    serialization.write_atomic(
        ddir.results_dir / layout.chunk_file(batch_no, task), serialization.dump_chunk(results)
    )
    print(
        f"[tether] task {task}: runs {lo}..{hi - 1} of batch {batch_no} done, {len(failed)} failed",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
