"""The worker job: ``python -m tether.functions.worker DIR``.

This is the command of a Dataset's (or Executor's) tether job. The process is a small launcher:

1. it reads ``DIR/meta.json``, checks the Python version, and loads the batches already staged
   (function and arguments are unpickled once, here);
2. it forks ``workers`` worker processes, which inherit what was loaded;
3. it hands out chunks of runs over a pipe (fixed-size messages, each read whole by one worker:
   a shared work queue without threads or locks), and keeps watching ``DIR/in/`` for batches
   staged later (an Executor's) until ``DIR/closed`` appears;
4. each worker runs its chunk, then writes ``DIR/results/BATCH-CHUNK.pkl`` atomically, so results
   arrive as they finish, in a few files;
5. when every batch is handed out and the workers are gone, a chunk whose worker died gets an
   error for each of its runs, and the launcher writes ``DIR/done.json``: the completion marker.

A worker that dies (a segfault, ``os._exit`` in user code) is replaced, up to a limit. Cancelling
the job (``tether cancel``) signals the whole process group: launcher and workers stop at once.
Imports are kept to the standard library on purpose: the job's start-up is part of every run.
"""

from __future__ import annotations

import os
import struct
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from tether.functions import layout, serialization
from tether.functions.errors import RunFailed

_MSG = struct.Struct("qqqq")  # batch, chunk, first index, end index; 32 bytes < PIPE_BUF
_STOP = (-1, 0, 0, 0)
CHUNKS_PER_WORKER = 4
MAX_POLL = 0.01  # longest pause between looks at DIR/in/ while an executor is idle
OWNER_CHECK_EVERY = 2.0
PRINTED_FAILURES = 3  # tracebacks each worker copies to the job's log


class Batch:
    """One staged batch: its functions and calls ``(function index, args, kwargs)``."""

    __slots__ = ("calls", "functions")

    def __init__(self, payload: dict[str, Any]) -> None:
        self.functions: list[Any] = payload["functions"]
        self.calls: list[tuple[int, tuple[Any, ...], dict[str, Any]]] = payload["calls"]


def load_batch(ddir: layout.DatasetDir, name: str) -> Batch:
    with open(ddir.in_dir / name, "rb") as f:
        return Batch(serialization.loads(f.read()))


def chunk_bounds(calls: int, workers: int, chunk_size: int | None) -> list[tuple[int, int]]:
    """Split ``range(calls)`` into chunks: a few per worker unless ``chunk_size`` is given."""
    size = chunk_size or max(1, -(-calls // (workers * CHUNKS_PER_WORKER)))
    return [(lo, min(lo + size, calls)) for lo in range(0, calls, size)]


# -- the worker processes -------------------------------------------------------------------
def work(read_fd: int, ddir: layout.DatasetDir, cache: dict[int, Batch]) -> None:
    """A forked worker: take chunks until told to stop; never returns."""
    printed = 0
    code = 0
    try:
        while True:
            msg = os.read(read_fd, _MSG.size)
            if len(msg) < _MSG.size:
                break
            batch_no, chunk_no, lo, hi = _MSG.unpack(msg)
            if batch_no < 0:
                break
            batch = cache.get(batch_no)
            if batch is None:
                try:
                    batch = _load_numbered(ddir, batch_no)
                except Exception as exc:  # e.g. the function's module is not importable here
                    results = [(i, False, exc, _format(exc)) for i in range(lo, hi)]
                    _write_chunk(ddir, batch_no, chunk_no, results)
                    continue
                cache.clear()  # keep one later batch at a time
                cache[batch_no] = batch
            results = run_chunk(batch, lo, hi)
            for _, ok, _, tb in results:
                if not ok and printed < PRINTED_FAILURES:
                    printed += 1
                    sys.stderr.write(f"[tether] a run failed:\n{tb}")
            _write_chunk(ddir, batch_no, chunk_no, results)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _write_chunk(
    ddir: layout.DatasetDir, batch_no: int, chunk_no: int, results: list[serialization.RunResult]
) -> None:
    serialization.write_atomic(
        ddir.results_dir / layout.chunk_file(batch_no, chunk_no),
        serialization.dump_chunk(results),
    )


def _load_numbered(ddir: layout.DatasetDir, batch_no: int) -> Batch:
    for number, _, name in ddir.batches():
        if number == batch_no:
            return load_batch(ddir, name)
    raise FileNotFoundError(f"batch {batch_no} is not in {ddir.in_dir}")


def run_chunk(batch: Batch, lo: int, hi: int) -> list[serialization.RunResult]:
    """Run calls ``lo..hi-1``; an exception is a result too (with its traceback text)."""
    out: list[serialization.RunResult] = []
    functions, calls = batch.functions, batch.calls
    for index in range(lo, hi):
        fn_index, args, kwargs = calls[index]
        try:
            out.append((index, True, functions[fn_index](*args, **kwargs), ""))
        except (Exception, SystemExit) as exc:
            out.append((index, False, exc, _format(exc)))
    return out


def _format(exc: BaseException) -> str:
    """The exception's traceback text, without this module's own frame."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    return "".join(traceback.format_exception(type(exc), exc, tb))


# -- the launcher -----------------------------------------------------------------------------
class Launcher:
    """Forks the workers, hands out chunks, replaces dead workers, writes ``done.json``."""

    def __init__(self, ddir: layout.DatasetDir, meta: dict[str, Any]) -> None:
        self.ddir = ddir
        self.meta = meta
        self.workers = max(1, int(meta.get("workers") or os.cpu_count() or 1))
        self.chunk_size = meta.get("chunk_size")
        self.cache: dict[int, Batch] = {}
        self.read_fd, self.write_fd = os.pipe()
        self.children: set[int] = set()
        self.spare_forks = max(10, 2 * self.workers)
        self.deaths: list[str] = []
        self.expected: dict[str, tuple[int, int, int]] = {}  # chunk file -> batch, lo, hi
        self.runs = 0

    def run(self) -> int:
        start = time.monotonic()
        staged = self.ddir.batches()
        for number, _, name in staged:
            try:
                self.cache[number] = load_batch(self.ddir, name)  # once, before forking
            except Exception:
                traceback.print_exc()  # the workers try again and report it per run
        for _ in range(self.workers):
            self.fork_worker()
        self.cache.clear()  # the workers have their copies
        handed: set[int] = set()
        pause = 0.001
        last_owner_check = time.monotonic()
        while True:
            closed = self.ddir.is_closed()  # before listing: a batch staged before closing shows
            new = [b for b in (staged or self.ddir.batches()) if b[0] not in handed]
            staged = []
            for number, calls, _ in new:
                self.hand_out(number, calls)
                handed.add(number)
            self.reap(block=False)
            if closed and not new:
                break
            if new:
                pause = 0.001
                continue
            time.sleep(pause)
            pause = min(pause * 2, MAX_POLL)
            if time.monotonic() - last_owner_check > OWNER_CHECK_EVERY:
                last_owner_check = time.monotonic()
                if not self.owner_alive():
                    print("[tether] the submitting process is gone; finishing", flush=True)
                    break
        for _ in range(len(self.children)):
            self.send(_STOP)
        while self.children:
            self.reap(block=True)
        failed_chunks = self.fill_missing()
        self.ddir.write_done(
            {
                "ended": time.time(),
                "runs": self.runs,
                "batches": len(handed),
                "lost_chunks": failed_chunks,
                "seconds": round(time.monotonic() - start, 4),
            }
        )
        print(
            f"[tether] done: {self.runs} runs in {len(handed)} batch(es) with {self.workers} "
            f"workers, {time.monotonic() - start:.3f} s",
            flush=True,
        )
        return 0

    def fork_worker(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(self.write_fd)
            work(self.read_fd, self.ddir, self.cache)
        self.children.add(pid)

    def hand_out(self, number: int, calls: int) -> None:
        bounds = chunk_bounds(calls, self.workers, self.chunk_size)
        self.runs += calls
        for chunk_no, (lo, hi) in enumerate(bounds):
            self.expected[layout.chunk_file(number, chunk_no)] = (number, lo, hi)
            self.send((number, chunk_no, lo, hi))

    def send(self, msg: tuple[int, int, int, int]) -> None:
        os.write(self.write_fd, _MSG.pack(*msg))

    def reap(self, *, block: bool) -> None:
        """Collect exited workers; one that died abnormally is replaced (within a limit)."""
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)
            if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0:
                how = (
                    f"killed by signal {os.WTERMSIG(status)}"
                    if os.WIFSIGNALED(status)
                    else f"exit code {os.WEXITSTATUS(status)}"
                )
                self.deaths.append(how)
                print(f"[tether] a worker process died ({how})", flush=True)
                if self.spare_forks > 0:
                    self.spare_forks -= 1
                    self.fork_worker()
                    if block:
                        self.send(_STOP)  # the stops already sent are one short now
            if block:
                return

    def fill_missing(self) -> int:
        """Give every run of a chunk nobody finished an error saying why."""
        present = set(self.ddir.chunk_names())
        missing = [name for name in self.expected if name not in present]
        why = "; ".join(sorted(set(self.deaths))) or "unknown cause"
        for name in missing:
            _, lo, hi = self.expected[name]
            exc = RunFailed(f"the worker process running this run died ({why})")
            results = [(i, False, exc, "") for i in range(lo, hi)]
            serialization.write_atomic(
                self.ddir.results_dir / name, serialization.dump_chunk(results)
            )
        return len(missing)

    def owner_alive(self) -> bool:
        """False when the process that staged the batches (an Executor) is gone unclosed."""
        pid = self.meta.get("owner_pid")
        if not pid:
            return True
        from tether.agent import processes

        return processes.is_alive(int(pid), self.meta.get("owner_started"))


def setup_path(meta: dict[str, Any]) -> None:
    """Make the submitter's modules importable (functions pickled by reference need them)."""
    extra = [p for p in meta.get("sys_path") or [] if isinstance(p, str) and p not in sys.path]
    sys.path[1:1] = extra


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tether.functions.worker DATASET_DIR", file=sys.stderr)
        return 2
    ddir = layout.DatasetDir(Path(argv[1]))
    meta = ddir.read_meta()
    if not same_python(meta, "worker"):
        return 3
    setup_path(meta)
    return Launcher(ddir, meta).run()


def same_python(meta: dict[str, Any], who: str) -> bool:
    """True when this Python pickles like the one that wrote the inputs; else say why on stderr."""
    wanted = str(meta.get("python") or serialization.python_tag())
    if wanted == serialization.python_tag():
        return True
    print(
        f"[tether] this {who} runs Python {serialization.python_tag()} but the inputs were "
        f"pickled by Python {wanted}; nothing was run",
        file=sys.stderr,
    )
    return False


if __name__ == "__main__":
    sys.exit(main(sys.argv))
