"""``tether.Dataset``: one function, many argument sets, one tether job.

::

    ds = tether.Dataset(multiply, name="products")
    ds.append_run({"a": 10, "b": 7})
    ds.run(); ds.wait(1, 10); ds.fetch_results()
    ds.results  # [70]

``run()`` writes the function and every run's arguments (cloudpickled) to
``TETHER_HOME/datasets/NAME/`` and queues ONE job (shown by ``tether ls``, logged in
``tether logs``, stopped by ``tether cancel``) whose launcher forks a few worker processes that
take chunks of runs. ``tether.Dataset.open(NAME)`` finds it again from any process.
"""

from __future__ import annotations

import atexit
import inspect
import os
import shutil
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tether.errors import UsageError
from tether.functions import backup, layout, memo, serialization
from tether.functions.choose import resolve_target
from tether.functions.errors import DatasetStopped, DatasetTimeout, RunFailed
from tether.functions.files import checked_paths, missing_here
from tether.functions.targets import FINISHED, Target
from tether.paths import tether_home

FIRST_POLL = 0.005
STATUS_EVERY = 0.5  # how often wait() looks at the job's record (a DB read) besides the marker


class Dataset:
    """A function and the argument sets (runs) to call it with, run as one tether job.

    ``function`` is any callable cloudpickle can carry (lambdas, closures, functions of
    ``__main__`` or a notebook). ``on`` is ``"local"`` or a host added with ``tether hosts add``
    (the project is synced there, and the job runs with the host's tether).
    ``name`` names the job and the folder (default: the function's name and the time);
    ``max_parallel`` is the number of worker processes (default: the CPU count);
    ``chunk_size`` the runs a worker takes at a time (default: a few chunks per worker).
    ``Dataset(None, name=NAME)`` is ``Dataset.open(NAME)``. The same ``name`` with the same
    function (a script run again) continues that dataset: runs that finished are skipped by
    ``run()`` and only the missing ones are run. A different function under a taken name is
    refused; ``replace=True`` lets it take the name (the old dataset's files are removed).

    Memoisation (``skip=True``, the default): a run whose function source and arguments match a
    run that succeeded before (in any process, see :mod:`tether.functions.memo`) is not run
    again; its stored result is returned. ``run(force=True)`` runs everything again.

    On a Slurm host the runs go as one job array (``max_parallel`` tasks at a time, each task
    ``chunk_size`` runs) and these keywords set each task's resources: ``cpus``, ``mem``,
    ``gpus``, ``time``, ``partition``, ``account``, ``qos``, ``constraint`` and ``sbatch``
    (extra sbatch lines); they are checked at once, and refused on other targets.
    """

    def __init__(
        self,
        function: Callable[..., Any] | None = None,
        on: str | Target = "local",
        name: str | None = None,
        max_parallel: int | None = None,
        chunk_size: int | None = None,
        *,
        replace: bool = False,
        skip: bool = True,
        extra_files_send: Iterable[str | os.PathLike[str]] | str | None = None,
        extra_files_recv: Iterable[str | os.PathLike[str]] | str | None = None,
        **resources: Any,
    ) -> None:
        self._home = tether_home()
        self._skip = skip
        self._sent: list[int] | None = None  # dataset index of each staged call (None: all)
        self._keys: list[str] = []
        self._fn_key = ""
        self._started = False
        self._memo_saved = False
        self.would_run: list[int] = []
        self._seen: set[str] = set()
        self._results: list[Any] = []
        self._outcomes: list[tuple[bool, Any, str] | None] = []
        self._done: dict[str, Any] | None = None
        self._upstream: tuple[Dataset, str] | None = None  # then(): the stage feeding this one
        self._feeder: threading.Thread | None = None
        self._feed_error: BaseException | None = None
        self._feeding = False  # then(): the upstream is done, this stage is being queued
        self._handed_off = False  # then(): the caller exited first; a job feeds it (feed.py)
        self._hand_off_lock = threading.Lock()
        self._then_options: dict[str, Any] = {}
        self._force = False
        self._feeder_job: int | None = None  # an opened stage still fed by that job
        self._send = checked_paths(extra_files_send, "extra_files_send")
        self._recv = checked_paths(extra_files_recv, "extra_files_recv")
        self._received = False
        self._names: list[str | None] = []  # per-run name= (None: unnamed)
        self._clear_on_submit = False  # an earlier run of this same dataset holds the folder
        self._restored_from: str | None = None  # the backup file it was restored from
        self._warned = False
        if function is None:
            if name is None:
                raise UsageError("give a function to run, or the name of a dataset to open")
            if resources:
                raise UsageError(f"{', '.join(resources)}: resources go with a new dataset")
            self._load(layout.DatasetDir.for_name(self._home, name))
            return
        if not callable(function):
            raise UsageError(f"Dataset needs a callable, got {type(function).__name__}")
        for what, value in (("max_parallel", max_parallel), ("chunk_size", chunk_size)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UsageError(f"{what} must be a positive whole number, got {value!r}")
        name = layout.check_name(name) if name else layout.default_name(_name_of(function))
        self._dir = layout.DatasetDir.for_name(self._home, name)
        self._target = resolve_target(on, self._home)
        self._target.use_resources(resources, max_parallel)
        if self._dir.exists():
            if replace:
                self._make_room(replace)
            else:
                self._reuse(function)
        self.function: Callable[..., Any] | None = function
        self._runs: list[dict[str, Any]] | None = []
        self._n = 0
        self._job: int | None = None
        self._max_parallel = max_parallel
        self._chunk_size = chunk_size

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, name: str) -> Dataset:
        """The dataset called ``name`` (from this or any earlier process), with its results."""
        return cls(None, name=name)

    def _load(self, ddir: layout.DatasetDir) -> None:
        meta = ddir.read_meta()
        if meta.get("kind") != "dataset":
            raise UsageError(f"{ddir.name!r} is an executor's folder, not a dataset")
        while meta.get("retry"):  # retry_failed() staged the failed runs under a new name
            ddir = layout.DatasetDir.for_name(self._home, str(meta["retry"]))
            meta = ddir.read_meta()
        self._dir = ddir
        self.function = None
        self._target = resolve_target(str(meta.get("target") or "local"), self._home)
        self._runs = None  # loaded from the staged batch when asked for
        self._n = int(meta.get("runs") or 0)
        self._job = meta.get("job")
        self._max_parallel = meta.get("workers")
        self._chunk_size = meta.get("chunk_size")
        self._results = [None] * self._n
        self._outcomes = [None] * self._n
        self._sent = meta.get("sent")
        self._keys = list(meta.get("keys") or [])
        self._fn_key = str(meta.get("fn_key") or "")
        self._names = list(meta.get("run_names") or [None] * self._n)
        self._started = True
        self._recv = [str(p) for p in meta.get("files_recv") or []]
        for index, text in (meta.get("upstream_failed") or {}).items():
            if str(index).isdigit() and int(index) < self._n:
                self._outcomes[int(index)] = (False, RunFailed(str(text)), "")
        self._feeder_job = meta.get("feeder") if meta.get("job") is None else None
        self._restored_from = meta.get("restored_from")
        self._memo_saved = not self._restored_from  # a restored one's, once its results are read
        self._prefill_from_memo()

    def _prefill_from_memo(self) -> list[int]:
        """Fill the outcomes of runs with a stored result; returns the indices filled."""
        if not self._fn_key or not self._keys:
            return []
        stored = memo.MemoStore(self._home, self._fn_key).load()
        filled = []
        for index, key in enumerate(self._keys):
            if key in stored and self._outcomes[index] is None:
                self._outcomes[index] = (True, stored[key], "")
                self._results[index] = stored[key]
                filled.append(index)
        return filled

    def _reuse(self, function: Callable[..., Any]) -> None:
        """The name is taken by an earlier run of this dataset (the script run again): keep
        its finished results (they are skipped by ``run()``); a different function is refused."""
        meta = self._dir.read_meta()
        name = self._dir.name
        if meta.get("kind") != "dataset":
            raise UsageError(
                f"the name {name!r} is taken by an executor's folder; choose another name, "
                "or pass replace=True to remove it"
            )
        try:
            key = memo.function_key(function, self._target.name)
        except Exception as exc:
            raise UsageError(f"the function cannot be pickled: {exc}")
        if meta.get("fn_key") != key:
            raise UsageError(
                f"a dataset named {name!r} exists with a different function "
                f"({meta.get('function')}, job #{meta.get('job')}); pass replace=True to "
                "replace it, or choose another name"
            )
        earlier = Dataset.open(name)
        if earlier._job is not None and not earlier._check_done():
            status, _ = earlier._target.job_status(earlier._job)
            if status not in FINISHED:
                raise UsageError(
                    f"dataset {name!r} is still {status} (job #{earlier._job}); wait for it "
                    f"(tether wait {earlier._job}) or cancel it, then run this again"
                )
        earlier.fetch_results()
        earlier._save_memo()  # what finished is skipped by run(), even if no one fetched it
        self._clear_on_submit = True

    def _make_room(self, replace: bool) -> None:
        meta = self._dir.read_meta()
        if not replace:
            raise UsageError(
                f"a dataset named {self._dir.name!r} exists (job #{meta.get('job')}); open it "
                f"with tether.Dataset.open({self._dir.name!r}), or pass replace=True"
            )
        if meta.get("job") is not None and self._dir.read_done() is None:
            status, _ = resolve_target(str(meta.get("target")), self._home).job_status(
                int(meta["job"])
            )
            if status not in FINISHED:
                raise UsageError(
                    f"dataset {self._dir.name!r} is still {status} (job #{meta['job']}); "
                    "cancel it before replacing it"
                )
        shutil.rmtree(self._dir.path)

    # -- building -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._dir.name

    @property
    def job(self) -> int | None:
        """The tether job number once ``run()`` was called."""
        return self._job

    @property
    def path(self) -> os.PathLike[str]:
        """The dataset's folder (inputs, result chunks, ``done.json``)."""
        return self._dir.path

    @property
    def runs(self) -> list[dict[str, Any]]:
        """The argument sets, in the order they were appended."""
        if self._runs is None:
            batches = self._dir.batches()
            if not batches:
                return []
            self._warn_restored()
            with open(self._dir.in_dir / batches[0][2], "rb") as f:
                staged = serialization.loads(f.read())  # our own file (or a restored one)
            if self.function is None:
                self.function = staged["functions"][0]
            calls = staged["calls"]
            self._runs = staged.get("all_runs") or [kwargs for _, _, kwargs in calls]
        return list(self._runs)

    def append_run(
        self,
        arguments: Mapping[str, Any],
        name: str | None = None,
        *,
        extra_files_send: Iterable[str | os.PathLike[str]] | str | None = None,
        extra_files_recv: Iterable[str | os.PathLike[str]] | str | None = None,
    ) -> None:
        """Add one run: the function will be called with these keyword arguments.

        ``name`` names the run: :meth:`result` takes it, :attr:`run_names` lists them.
        ``extra_files_send`` / ``extra_files_recv``: files this run needs and makes (see
        :mod:`tether.functions.files`), as the Dataset's own.
        """
        send = checked_paths(extra_files_send, "extra_files_send")
        recv = checked_paths(extra_files_recv, "extra_files_recv")
        self._check_not_started()
        if not isinstance(arguments, Mapping):
            raise UsageError(
                f"append_run takes a dict of keyword arguments, got {type(arguments).__name__}"
            )
        if name is not None:
            if not isinstance(name, str) or not name:
                raise UsageError(f"a run's name must be a non-empty string, got {name!r}")
            if name in self._names:
                raise UsageError(f"dataset {self.name!r} already has a run named {name!r}")
        assert self._runs is not None
        self._runs.append(dict(arguments))
        self._names.append(name)
        self._send += [p for p in send if p not in self._send]
        self._recv += [p for p in recv if p not in self._recv]

    @property
    def run_names(self) -> list[str | None]:
        """Each run's ``name=`` (None when it has none), in the order runs were appended."""
        return list(self._names) + [None] * (len(self) - len(self._names))

    def result(self, run: int | str) -> Any:
        """The result of one run, by index or by name; re-raises that run's exception."""
        names = self.run_names
        if isinstance(run, str):
            if run not in names:
                raise UsageError(f"dataset {self.name!r} has no run named {run!r}")
            index = names.index(run)
        elif isinstance(run, int) and not isinstance(run, bool) and 0 <= run < len(self):
            index = run
        else:
            raise UsageError(f"no run {run!r} in dataset {self.name!r} ({len(self)} runs)")
        if self._outcomes[index : index + 1] in ([], [None]):
            self.fetch_results()
        outcome = self._outcomes[index] if index < len(self._outcomes) else None
        if outcome is None:
            raise UsageError(f"run {run!r} of dataset {self.name!r} has no result yet")
        error = self.errors[index]
        if error is not None:
            raise error
        return outcome[1]

    def append_runs(self, runs: Iterable[Mapping[str, Any]]) -> None:
        """Add many runs (each a dict of keyword arguments)."""
        for arguments in runs:
            self.append_run(arguments)

    def _check_not_started(self) -> None:
        if self._started or self._runs is None:
            raise UsageError(f"dataset {self.name!r} was already run; make a new Dataset")

    # -- running ------------------------------------------------------------------------------
    def run(
        self,
        *,
        force: bool = False,
        only: Iterable[int] | None = None,
        dry_run: bool = False,
    ) -> Dataset:
        """Stage the function and the runs still to do and queue the job; returns at once.

        Runs with a stored result (see the class docstring) are skipped unless ``force=True``;
        ``only=[i, ...]`` runs just those runs (by their order of appending); ``dry_run=True``
        stages nothing and sets :attr:`would_run` to the indices a real call would run.
        When every run has a stored result, no job is started at all.
        """
        self._check_not_started()
        assert self._runs is not None
        if self._upstream is not None and not self._feeding:
            if dry_run:
                raise UsageError("dry_run= is not available on a chained stage")
            self._started = True
            self._force = force
            self._feeder = threading.Thread(target=self._feed, args=(force,), daemon=True)
            _chained.add(self)
            self._feeder.start()
            return self
        if not self._runs:
            raise UsageError(f"dataset {self.name!r} has no runs; add some with append_run()")
        missing = missing_here(self._send)
        if missing:
            raise UsageError(
                f"dataset {self.name!r}: extra_files_send names {', '.join(missing)}, not in "
                f"{Path.cwd()}; nothing was run"
            )
        self._n = len(self._runs)
        wanted = list(range(self._n)) if only is None else _check_only(only, self._n)
        try:
            function = self.function
            assert function is not None
            self._fn_key = memo.function_key(function, self._target.name)
            self._keys = [memo.run_key(kwargs) for kwargs in self._runs]
        except Exception as exc:
            raise UsageError(f"the function or a run's arguments cannot be pickled: {exc}")
        self._results = [None] * self._n
        self._outcomes = [None] * self._n
        hits = set() if force or not self._skip else set(self._prefill_from_memo())
        todo = [i for i in wanted if i not in hits]
        self.would_run = todo
        if dry_run:
            self._results = [None] * self._n
            self._outcomes = [None] * self._n
            return self
        self._started = True
        if not todo:
            self._memo_saved = True
            self._done = {"memoised": self._n}
            return self
        self._submit(todo)
        return self

    # -- chaining -----------------------------------------------------------------------------
    def then(
        self,
        function: Callable[..., Any],
        *,
        arg: str | None = None,
        on: str | Target | None = None,
        **options: Any,
    ) -> Dataset:
        """A second Dataset fed by this one, run by run: ``function(ARG=result_i)``.

        ``arg`` names the parameter that gets the result (default: the function's first);
        ``on`` its target (default: this one's); ``options`` as for :class:`Dataset`. Its
        ``run()`` returns at once: a thread of this process waits for this stage and then
        submits the next. If this process exits first, the stage is handed to a job of the
        agent that does the same (see :mod:`tether.functions.feed`); ``Dataset.open(NAME)``
        follows it. A run whose upstream run raised is not run; its error says so.
        """
        if not callable(function):
            raise UsageError(f"then() needs a callable, got {type(function).__name__}")
        if arg is None:
            params = list(inspect.signature(function).parameters)
            if not params:
                raise UsageError("then() needs a function that takes the previous result")
            arg = params[0]
        target = self._target if on is None else on
        nxt = Dataset(function, on=target, **options)
        nxt._upstream = (self, arg)
        nxt._then_options = dict(options)
        return nxt

    def _feed(self, force: bool) -> None:
        """then(): wait for the upstream stage, then stage this one's runs from its results."""
        assert self._upstream is not None
        up, arg = self._upstream
        try:
            up.wait()
            with self._hand_off_lock:
                if self._handed_off:  # the caller is exiting: a job of the agent feeds it
                    return
                self._feeding = True
            results, errors = up.results, up.errors
            self._runs = [{arg: value} for value in results]
            ok = [i for i, e in enumerate(errors) if e is None]
            self._started = False
            self.run(force=force, only=ok)
            failed = {i: f"upstream run {i} failed: {e!r}" for i, e in enumerate(errors) if e}
            self._record_upstream_failures(failed)
        except BaseException as exc:  # reported by wait()
            self._feed_error = exc

    def _record_upstream_failures(self, failed: dict[int, str]) -> None:
        """The runs not run because their upstream run raised: their outcome here, and in the
        folder's ``meta.json`` for any process that opens this stage later."""
        for i, text in failed.items():
            self._outcomes[i] = (False, RunFailed(text), "")
        if self._job is None and not self._dir.exists():  # nothing queued: no folder yet
            self._dir.create()
            meta = layout.new_meta(self.name, "dataset", self._target.name, "", 1, None,
                                   runs=self._n, keys=self._keys, fn_key=self._fn_key)  # fmt: skip
            self._dir.write_meta(meta)
            self._dir.write_done({"upstream_failed": len(failed)})
        if failed:
            meta = self._dir.read_meta()
            meta["upstream_failed"] = {str(i): text for i, text in failed.items()}
            self._dir.write_meta(meta)

    def _submit(self, todo: list[int]) -> None:
        """Stage the runs ``todo`` (dataset indices) in this dataset's folder and start the job."""
        assert self._runs is not None
        self._target.check_python()
        calls = [(0, (), self._runs[i]) for i in todo]
        try:
            content: dict[str, Any] = {"functions": [self.function], "calls": calls}
            if len(todo) != len(self._runs):  # a subset: keep every run's arguments too
                content["all_runs"] = self._runs
            payload = serialization.dumps(content)
        except Exception as exc:
            raise UsageError(f"the function or a run's arguments cannot be pickled: {exc}")
        self._sent = None if len(todo) == self._n else todo
        workers = min(self._max_parallel or os.cpu_count() or 1, len(calls))
        meta = layout.new_meta(
            self.name,
            "dataset",
            self._target.name,
            serialization.python_tag(),
            workers,
            self._chunk_size,
            runs=self._n,
            function=_name_of(self.function),
            fn_key=self._fn_key,
            keys=self._keys,
            sent=self._sent,
            run_names=self.run_names,
            files_recv=self._recv,
            **self._target.worker_meta(),
        )
        if self._clear_on_submit:  # the earlier run's results are in the memo store now
            self._clear_on_submit = False
            self._make_room(replace=True)
        self._dir.create()
        self._dir.write_meta(meta)
        staged = [layout.META, layout.write_batch(self._dir, 0, len(calls), payload)]
        self._dir.close()
        self._target.stage_inputs(self._dir, [*staged, layout.CLOSED])
        self._done = None
        self._memo_saved = False
        self._received = False
        self._target.send_files(self._send)
        self._job = self._target.start_worker_job(self._dir, job_name=self.name, runs=len(calls))
        meta["job"] = self._job
        meta.update(self._target.job_meta(self._dir))
        self._dir.write_meta(meta)

    def retry_failed(self) -> Dataset:
        """Run again only the runs that raised (as a new job); returns at once.

        The failed runs are staged under ``NAME.retryN``; ``Dataset.open(NAME)`` follows there.
        Works on a Dataset reopened by name too (its function is in the staged batch).
        """
        if not self._started:
            raise UsageError(f"dataset {self.name!r} was not run yet; call run() first")
        if self.function is None:
            _ = self.runs  # loads the function and the runs from the staged batch
        if not self.is_finished:
            raise UsageError(f"dataset {self.name!r} is still running; wait() for it first")
        self.fetch_results()
        failed = self.failed
        if not failed:
            return self
        old = self._dir
        k = 1
        base = old.name.split(".retry")[0]
        while layout.DatasetDir.for_name(self._home, f"{base}.retry{k}").exists():
            k += 1
        self._dir = layout.DatasetDir.for_name(self._home, f"{base}.retry{k}")
        for i in failed:
            self._outcomes[i] = None
        self._seen = set()
        self._submit(failed)
        meta = old.read_meta()
        meta["retry"] = self._dir.name
        old.write_meta(meta)
        return self

    # -- backup -------------------------------------------------------------------------------
    def backup(self, path: str | os.PathLike[str]) -> Path:
        """Write the dataset (runs, function, every outcome so far) to one file at ``path``.

        :meth:`Dataset.restore` opens it in another TETHER_HOME, on this or another machine.
        The file's description is JSON; the function, arguments and results in it are
        pickles, read only when asked for (see :mod:`tether.functions.backup`).
        """
        if self._started and self._job is not None:
            self.fetch_results()
        runs = self.runs
        outcomes = [(i, o[0], o[1], o[2]) for i, o in enumerate(self._outcomes) if o is not None]
        try:
            batch = serialization.dumps(
                {"functions": [self.function], "calls": [(0, (), kwargs) for kwargs in runs]}
            )
            results = serialization.dumps(outcomes)
        except Exception as exc:
            raise UsageError(f"dataset {self.name!r} cannot be backed up: {exc}")
        info = {
            "name": self.name,
            "function": _name_of(self.function),
            "runs": len(runs),
            "fn_key": self._fn_key,
            "keys": list(self._keys),
            "names": self.run_names,
            "finished": [None if o is None else "ok" if o[0] else "failed" for o in self._outcomes],
        }
        return backup.write(Path(path), info, batch, results)

    @classmethod
    def restore(cls, path: str | os.PathLike[str], *, name: str | None = None) -> Dataset:
        """Open a :meth:`backup` file as a finished dataset in this TETHER_HOME.

        Nothing in the file is unpickled here: its results, runs and function are read when
        first asked for, after a :class:`~tether.functions.backup.RestoredCodeWarning`
        (reading a pickle runs code from it: restore only backups you trust). Once read, its
        successful results also go into this home's memo, so a script building the same runs
        here skips them. ``name=`` restores it under another name.
        """
        return cls.open(backup.restore(tether_home(), Path(path), name))

    def _warn_restored(self) -> None:
        """Warn once before the first pickle of a restored backup is read."""
        if self._restored_from and not self._warned:
            self._warned = True
            warnings.warn(
                f"dataset {self.name!r} was restored from {self._restored_from}: reading its "
                "results, runs or function unpickles them, which runs code from that file "
                "(use only backups you trust)",
                backup.RestoredCodeWarning,
                stacklevel=_callers_level(),
            )

    def wait(self, interval: float = 0.5, timeout: float | None = None) -> Dataset:
        """Block until every run has a result.

        Checks a marker file, first every 5 ms then backing off to ``interval`` seconds at most.
        Raises :class:`DatasetTimeout` (a ``TimeoutError``) after ``timeout`` seconds, and
        :class:`DatasetStopped` when the job ended without finishing (cancelled, killed).
        """
        if not self._started:
            raise UsageError(f"dataset {self.name!r} was not run yet; call run() first")
        if self._feeder is not None:
            self._feeder.join(timeout)
            if self._feeder.is_alive():
                raise DatasetTimeout(f"dataset {self.name!r}: its upstream stage is still running")
            if self._feed_error is not None:
                raise self._feed_error
        if self._feeder_job is not None and self._job is None:
            self._follow_feeder(timeout)
        if self._job is None:  # every run had a stored result
            return self
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        pause = FIRST_POLL
        next_status = start + STATUS_EVERY
        while not self._check_done():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                status, _ = self._target.job_status(self._job)
                self.fetch_results()
                raise DatasetTimeout(
                    f"dataset {self.name!r} (job #{self._job}) is not finished after "
                    f"{timeout:g} s: {self.finished_runs} of {self._n} runs done, job {status}"
                )
            if now >= next_status:
                next_status = now + STATUS_EVERY
                self._raise_if_stopped()
            wake = now + pause if deadline is None else min(now + pause, deadline)
            time.sleep(max(0.0, wake - now))
            pause = min(pause * 1.25, max(interval, FIRST_POLL))
        return self

    def _follow_feeder(self, timeout: float | None) -> None:
        """An opened ``then()`` stage still fed by a job of the agent (its caller exited):
        wait for that job, then read the stage as it queued it."""
        from tether.functions.targets import LocalTarget

        number = self._feeder_job
        assert number is not None
        local = LocalTarget(self._home)
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = FIRST_POLL
        while (status := local.job_status(number))[0] not in FINISHED:
            if deadline is not None and time.monotonic() >= deadline:
                raise DatasetTimeout(
                    f"dataset {self.name!r}: job #{number}, which queues it once its upstream "
                    f"stage is done, is still {status[0]}"
                )
            time.sleep(pause)
            pause = min(pause * 1.25, STATUS_EVERY)
        if status[0] != "succeeded":
            raise DatasetStopped(
                f"dataset {self.name!r} was not queued: job #{number}, which was to queue it, "
                f"ended {status[0]}; `tether logs {number}` shows why"
            )
        self._load(layout.DatasetDir.for_name(self._home, self.name))

    def _check_done(self) -> bool:
        if self._done is None:
            self._done = self._target.read_done(self._dir)
        return self._done is not None

    def _raise_if_stopped(self) -> None:
        assert self._job is not None
        ended = self._target.job_ended(self._dir, self._job)
        if ended is None:
            return
        status, reason = ended
        if status in FINISHED and not self._check_done():
            self.fetch_results()
            raise DatasetStopped(
                f"dataset {self.name!r} (job #{self._job}) ended {status}"
                f"{f' ({reason})' if reason and reason != status else ''} with "
                f"{self.finished_runs} of {self._n} runs done; "
                f"`{self._target.logs_hint(self._job)}` shows its output"
            )

    def cancel(self, grace: float = 10.0) -> None:
        """Stop the job (``tether cancel`` does the same); results so far stay readable."""
        if self._job is not None:
            self._target.cancel(self._job, grace)

    # -- results ------------------------------------------------------------------------------
    def fetch_results(self) -> list[Any]:
        """Read the result chunks written so far; returns :attr:`results`."""
        if self._job is None and not self._restored_from:
            return list(self._results)
        self._warn_restored()
        sent = self._sent
        for _, chunk in self._target.fetch_results(self._dir, self._seen):
            for index, ok, value, tb in chunk:
                if sent is not None:
                    index = sent[index] if 0 <= index < len(sent) else -1
                if 0 <= index < self._n:
                    self._outcomes[index] = (ok, value, tb)
                    self._results[index] = value if ok else None
        if not self._memo_saved and self._check_done():
            self._memo_saved = True
            self._save_memo()
        if self._recv and not self._received and self._check_done():
            self._received = True
            missing = self._target.receive_files(self._recv)
            if missing:
                warnings.warn(
                    f"dataset {self.name!r}: its runs made no {', '.join(missing)} "
                    "(extra_files_recv)",
                    stacklevel=_callers_level(),
                )
        return list(self._results)

    def _save_memo(self) -> None:
        if not self._fn_key or len(self._keys) != self._n:
            return
        indices = range(self._n) if self._sent is None else self._sent
        good = {}
        for i in indices:
            outcome = self._outcomes[i]
            if outcome is not None and outcome[0]:
                good[self._keys[i]] = outcome[1]
        memo.MemoStore(self._home, self._fn_key).save(good)

    @property
    def results(self) -> list[Any]:
        """Each run's return value, in the order runs were appended (None: failed or not yet)."""
        if self.finished_runs < self._n:
            self.fetch_results()
        return list(self._results)

    @property
    def errors(self) -> list[BaseException | None]:
        """Per run: None, or the exception it raised (its cause carries the remote traceback)."""
        if self.finished_runs < self._n:
            self.fetch_results()
        out: list[BaseException | None] = []
        for outcome in self._outcomes:
            if outcome is None or outcome[0]:
                out.append(None)
            else:
                out.append(serialization.with_remote_traceback(outcome[1], outcome[2]))
        return out

    @property
    def finished_runs(self) -> int:
        """How many runs have a result (or an error) among those fetched."""
        return sum(o is not None for o in self._outcomes)

    @property
    def is_finished(self) -> bool:
        """True once every run has a result (or an error)."""
        return self._started and self._check_done()

    @property
    def all_finished(self) -> bool:
        """True once every run has a result or an error (as remotemanager's)."""
        if self.finished_runs < self._n:
            self.fetch_results()
        return self._n > 0 and self.finished_runs == self._n

    @property
    def all_success(self) -> bool:
        """True once every run finished without raising."""
        return self.all_finished and all(o is not None and o[0] for o in self._outcomes)

    @property
    def failed(self) -> list[int]:
        """Indices (order of appending) of the runs that raised."""
        if self.finished_runs < self._n:
            self.fetch_results()
        return [i for i, o in enumerate(self._outcomes) if o is not None and not o[0]]

    @property
    def status(self) -> str:
        """The job's status: ``new`` before ``run()``, then ``queued``, ``running``, ..."""
        if not self._started:
            return "new"
        if self._job is None:
            return "memoised"
        return self._target.job_status(self._job)[0]

    def __len__(self) -> int:
        return self._n if self._runs is None else max(self._n, len(self._runs))

    def __repr__(self) -> str:
        state = "new" if not self._started else f"job #{self._job}"
        return f"<tether.Dataset {self.name!r} {len(self)} runs, {state}>"


def _check_only(only: Iterable[int], n: int) -> list[int]:
    out = []
    for i in only:
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n:
            raise UsageError(f"only= takes run indices from 0 to {n - 1}, got {i!r}")
        out.append(i)
    return sorted(set(out))


_chained: weakref.WeakSet[Dataset] = weakref.WeakSet()
"""``then()`` stages whose caller thread may still be waiting for their upstream."""


@atexit.register
def _hand_off_pending() -> None:
    """At exit, give each ``then()`` stage not queued yet to a job of the agent."""
    for stage in list(_chained):
        if stage._feeder is None or not stage._feeder.is_alive() or stage._upstream is None:
            continue
        with stage._hand_off_lock:
            if stage._feeding:
                continue  # being queued right now: let the thread finish that
            stage._handed_off = True
        upstream, arg = stage._upstream
        try:
            number = _hand_off(stage, upstream, arg, stage._force)
        except Exception as exc:  # exiting anyway: say what is lost
            print(f"tether: the then() stage {stage.name!r} is lost: {exc}", file=sys.stderr)
            continue
        print(
            f"tether: dataset {stage.name!r} waits for {upstream.name!r}: job #{number} of the "
            f"agent queues it then (`tether logs {number}`; Dataset.open({stage.name!r}) "
            "follows it)",
            file=sys.stderr,
        )


def _hand_off(stage: Dataset, upstream: Dataset, arg: str, force: bool) -> int:
    """Queue the job that will feed ``stage`` once ``upstream`` is done; its number."""
    from tether.backends.local import queue
    from tether.jobs.submit import captured_env
    from tether.store.jobs import JobSpec

    ddir = stage._dir
    state = {
        "function": stage.function,
        "arg": arg,
        "upstream": upstream.name,
        "target": stage._target.name,
        "options": stage._then_options,
        "force": force,
        "sys_path": [p or os.getcwd() for p in sys.path],
    }
    ddir.create()
    pending = ddir.path / layout.PENDING
    tmp = pending.with_name(f".{layout.PENDING}.{os.getpid()}.tmp")
    tmp.write_bytes(serialization.dumps(state))
    os.replace(tmp, pending)
    meta = layout.new_meta(ddir.name, "dataset", stage._target.name, "", 1, None, runs=0)
    spec = JobSpec(
        command=[sys.executable, "-m", "tether.functions.feed", str(ddir.path)],
        cwd=os.getcwd(),
        name=f"then: {ddir.name}",
        env=captured_env(),
        extra={"kind": "functions", "dataset": ddir.name, "feeds": ddir.name},
    )
    number = queue([spec], stage._home)[0].number
    ddir.write_meta({**meta, "feeder": number, "upstream": upstream.name})
    return number


def _callers_level() -> int:
    """The ``stacklevel`` of a warning that names the first caller outside tether."""
    package = os.path.dirname(os.path.dirname(__file__))
    frame, level = inspect.currentframe(), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level - 1


def _name_of(function: Any) -> str:
    return str(getattr(function, "__name__", None) or type(function).__name__).replace(
        "<lambda>", "lambda"
    )
