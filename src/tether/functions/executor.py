"""``tether.Executor``: the ``concurrent.futures`` interface on top of one worker job.

::

    with tether.Executor() as ex:
        futures = [ex.submit(pow, 2, n) for n in range(100)]
        squares = list(ex.map(lambda x: x * x, range(1000)))

The first ``submit`` starts ONE tether job (in ``tether ls`` as ``executor-...``) running the
same launcher as a Dataset, in streaming mode: it keeps watching its ``in/`` folder. Submissions
are batched: a background thread stages whatever was submitted in the last couple of
milliseconds as one batch file (``map`` stages all its calls at once), and resolves futures as
result chunks arrive. ``shutdown()`` tells the launcher no more batches will come; the job then
finishes and shows as succeeded. A run's exception is re-raised by ``Future.result()`` with the
worker's traceback text as its ``__cause__``.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor as _BaseExecutor
from concurrent.futures import Future
from typing import Any

from tether.errors import UsageError
from tether.functions import layout, serialization
from tether.functions.choose import resolve_target
from tether.functions.errors import DatasetStopped
from tether.functions.targets import Target
from tether.paths import tether_home

LINGER = 0.002  # how long a submit waits for company before its batch is staged
MAX_BATCH = 10_000
FIRST_POLL = 0.002
MAX_POLL = 0.02
STATUS_EVERY = 0.5
DONE_WAIT = 15.0  # shutdown(wait=True) waits at most this long for the job to record its end

_Pending = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class Executor(_BaseExecutor):
    """A ``concurrent.futures.Executor`` whose calls run in one tether job's worker processes.

    ``on`` is ``"local"`` or a host added with ``tether hosts add``; ``max_workers`` is the number
    of worker processes (default: the CPU count); ``name`` names the job and its folder.
    On a Slurm host each batch (a ``map``, or the calls submitted together) goes as one job
    array, ``max_workers`` tasks at a time, with the resources given as keywords (``cpus``,
    ``mem``, ``gpus``, ``time``, ``partition``, ``account``, ``qos``, ``constraint``,
    ``sbatch``), as for :class:`tether.Dataset`.
    """

    def __init__(
        self,
        on: str | Target = "local",
        max_workers: int | None = None,
        *,
        name: str | None = None,
        chunk_size: int | None = None,
        **resources: Any,
    ) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise UsageError(f"max_workers must be a positive whole number, got {max_workers!r}")
        self._home = tether_home()
        self._target = resolve_target(on, self._home)
        self._target.use_resources(resources, max_workers)
        self._target.check_python()
        name = layout.check_name(name) if name else layout.default_name("executor")
        self._dir = layout.DatasetDir.for_name(self._home, name)
        if self._dir.exists():
            raise UsageError(f"{name!r} is taken (TETHER_HOME/datasets/{name}); pick another name")
        self._workers = max_workers or os.cpu_count() or 1
        self._chunk_size = chunk_size
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._pending_since = 0.0
        self._hold = 0
        self._flush_now = False
        self._outstanding: dict[tuple[int, int], Future[Any]] = {}
        self._seen: set[str] = set()
        self._batch_no = 0
        self._job: int | None = None
        self._closed_staged = False
        self._shutdown = False
        self._broken: str | None = None
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self._dir.name

    @property
    def job(self) -> int | None:
        """The tether job number, once the first call was staged."""
        return self._job

    # -- the concurrent.futures interface -----------------------------------------------------
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Schedule ``fn(*args, **kwargs)``; returns a :class:`concurrent.futures.Future`."""
        with self._cond:
            if self._broken:
                raise DatasetStopped(self._broken)
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future: Future[Any] = Future()
            if not self._pending:
                self._pending_since = time.monotonic()
            self._pending.append((future, fn, args, kwargs))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"tether-executor-{self.name}", daemon=True
                )
                self._thread.start()
                _live.add(self)
            self._cond.notify()
        return future

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
    ) -> Iterator[Any]:
        """Like ``Executor.map``; every call is staged in one batch (``chunksize`` is unused:
        the launcher chunks batches itself)."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._hold += 1
        try:
            futures = [self.submit(fn, *args) for args in zip(*iterables, strict=False)]
        finally:
            with self._cond:
                self._hold -= 1
                self._flush_now = True
                self._cond.notify()
        return _results_in_order(futures, end)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more submissions; with ``wait``, return once every future is resolved and the
        job has ended. ``cancel_futures`` cancels calls not yet staged."""
        with self._cond:
            self._shutdown = True
            if cancel_futures:
                for future, *_ in self._pending:
                    future.cancel()
                self._pending = [p for p in self._pending if not p[0].cancelled()]
            self._cond.notify()
            thread = self._thread
        if wait and thread is not None:
            thread.join()

    # -- the background thread ----------------------------------------------------------------
    def _run(self) -> None:
        pause = FIRST_POLL
        next_status = time.monotonic() + STATUS_EVERY
        while True:
            with self._cond:
                batch = self._take_batch()
                if batch is None and not self._outstanding:
                    if self._shutdown and not self._pending:
                        break
                    if not self._pending:
                        self._cond.wait()
                        continue
                shutting = self._shutdown and not self._pending
            if batch:
                self._stage(batch)
                pause = FIRST_POLL
            if shutting and self._job is not None and not self._closed_staged:
                self._dir.close()
                self._target.stage_inputs(self._dir, [layout.CLOSED])
                self._closed_staged = True
            if self._collect():
                pause = FIRST_POLL
            if self._outstanding and time.monotonic() >= next_status:
                next_status = time.monotonic() + STATUS_EVERY
                self._check_job()
            with self._cond:
                if not self._pending or self._hold:
                    self._cond.wait(pause)
                else:
                    self._cond.wait(max(0.0, self._pending_since + LINGER - time.monotonic()))
            pause = min(pause * 1.5, MAX_POLL)
        self._finish()

    def _take_batch(self) -> list[_Pending] | None:
        """The pending calls, when it is time to stage them (called with the lock held)."""
        if not self._pending or self._hold:
            return None
        due = (
            self._flush_now
            or self._shutdown
            or len(self._pending) >= MAX_BATCH
            or time.monotonic() - self._pending_since >= LINGER
        )
        if not due:
            return None
        batch, self._pending, self._flush_now = self._pending, [], False
        return [p for p in batch if p[0].set_running_or_notify_cancel()]

    def _stage(self, batch: list[_Pending]) -> None:
        """Pickle and stage one batch (starting the job with the first)."""
        if self._broken:
            for future, *_ in batch:
                future.set_exception(DatasetStopped(self._broken))
            return
        data, batch = _pickle_batch(batch)
        if not batch:
            return
        number = self._batch_no
        self._batch_no += 1
        names: list[str] = []
        if self._job is None:
            self._dir.create()
            meta = self._meta()
            self._dir.write_meta(meta)
            names.append(layout.META)
        names.append(layout.write_batch(self._dir, number, len(batch), data))
        with self._cond:
            for index, (future, *_) in enumerate(batch):
                self._outstanding[(number, index)] = future
        try:
            self._target.stage_inputs(self._dir, names)
            if self._job is None:
                self._job = self._target.start_worker_job(self._dir, job_name=self.name, runs=0)
                meta["job"] = self._job
                meta.update(self._target.job_meta(self._dir))
                self._dir.write_meta(meta)
        except BaseException as exc:
            self._fail_all(f"could not start the executor's job: {exc}")
            raise

    def _meta(self) -> dict[str, Any]:
        from tether.agent import processes

        more: dict[str, Any] = {
            "owner_pid": os.getpid(),
            "owner_started": processes.start_time(os.getpid()),
        }
        more.update(self._target.worker_meta())  # a remote target drops the owner check
        return layout.new_meta(
            self.name,
            "executor",
            self._target.name,
            serialization.python_tag(),
            self._workers,
            self._chunk_size,
            **more,
        )

    def _collect(self) -> bool:
        """Resolve the futures whose results arrived; True if any did."""
        if self._job is None:
            return False
        chunks = self._target.fetch_results(self._dir, self._seen)
        for name, results in chunks:
            parsed = layout.parse_chunk_file(name)
            if parsed is None:
                continue
            for index, ok, value, tb in results:
                with self._cond:
                    future = self._outstanding.pop((parsed[0], index), None)
                if future is None:
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(serialization.with_remote_traceback(value, tb))
        return bool(chunks)

    def _check_job(self) -> None:
        assert self._job is not None
        ended = self._target.job_ended(self._dir, self._job)
        if ended is not None:
            status, reason = ended
            self._collect()  # what it finished before it ended
            why = f" ({reason})" if reason and reason != status else ""
            self._fail_all(
                f"the executor's job #{self._job} ended {status}{why}; "
                f"`{self._target.logs_hint(self._job)}` shows its output"
            )

    def _fail_all(self, message: str) -> None:
        with self._cond:
            self._broken = message
            outstanding, self._outstanding = self._outstanding, {}
            pending, self._pending = self._pending, []
        for future in outstanding.values():
            future.set_exception(DatasetStopped(message))
        for future, *_ in pending:
            if future.set_running_or_notify_cancel():
                future.set_exception(DatasetStopped(message))

    def _finish(self) -> None:
        """After shutdown: give the job a moment to record its end (so ``tether ls`` agrees)."""
        _live.discard(self)
        if self._job is None or self._broken:
            return
        self._close_at_exit()
        deadline = time.monotonic() + DONE_WAIT
        while self._target.read_done(self._dir) is None and time.monotonic() < deadline:
            time.sleep(0.005)
        # the worker is done; its process then exits and the job's end is recorded
        while time.monotonic() < deadline:
            if self._target.job_ended(self._dir, self._job) is not None:
                return
            time.sleep(0.02)

    def _close_at_exit(self) -> None:
        """Tell the job no more batches come (at shutdown, or when the interpreter exits)."""
        if self._job is not None and not self._closed_staged:
            self._dir.close()
            self._target.stage_inputs(self._dir, [layout.CLOSED])
            self._closed_staged = True

    def __repr__(self) -> str:
        state = "not started" if self._job is None else f"job #{self._job}"
        return f"<tether.Executor {self.name!r} {state}>"


def _pickle_batch(batch: list[_Pending]) -> tuple[bytes, list[_Pending]]:
    """The batch's bytes; a call that cannot be pickled fails its own future only."""
    while True:
        functions: list[Any] = []
        index_of: dict[int, int] = {}
        calls = []
        for _, fn, args, kwargs in batch:
            if id(fn) not in index_of:
                index_of[id(fn)] = len(functions)
                functions.append(fn)
            calls.append((index_of[id(fn)], args, kwargs))
        try:
            return serialization.dumps({"functions": functions, "calls": calls}), batch
        except Exception:
            pass
        good = []
        for item in batch:
            future, fn, args, kwargs = item
            try:
                serialization.dumps((fn, args, kwargs))
                good.append(item)
            except Exception as exc:
                future.set_exception(UsageError(f"the call cannot be pickled: {exc}"))
        if len(good) == len(batch):  # failed together but not alone: give up on the batch
            for future, *_ in batch:
                future.set_exception(UsageError("the batch of calls cannot be pickled"))
            return b"", []
        batch = good


def _results_in_order(futures: list[Future[Any]], end: float | None) -> Iterator[Any]:
    try:
        futures.reverse()
        while futures:
            future = futures.pop()
            if end is None:
                yield future.result()
            else:
                yield future.result(end - time.monotonic())
    finally:
        for future in futures:
            future.cancel()


_live: weakref.WeakSet[Executor] = weakref.WeakSet()


@atexit.register
def _close_live_executors() -> None:
    for executor in list(_live):
        try:
            executor._close_at_exit()
        except Exception:
            pass
