"""The SSH target: a Dataset's (or Executor's) worker job on a host, run by the host's tether.

Per dataset, over one shared ssh connection (ControlMaster) to the host:

1. :meth:`SshTarget.python_version` probes the host once per process (see
   :mod:`tether.functions.remote_host`): its Python ``major.minor`` is checked before any input
   is pickled or sent;
2. :meth:`SshTarget.worker_meta` installs tether there if missing or outdated and names the
   remote folders: the dataset's (``TETHER_HOME/datasets/NAME`` on the host) and the project's
   copy (``~/tether/projects/NAME``), which goes on the worker's ``sys.path`` so the local
   modules a function imports are importable there;
3. the first :meth:`SshTarget.stage_inputs` syncs the project (``tether sync``), then every
   stage is one rsync of the named files (:mod:`tether.functions.remote_files`);
4. :meth:`SshTarget.start_worker_job` asks the host's tether, over the JSON protocol of
   :mod:`tether.backends.wire` (:func:`tether.backends.ssh.ask_host`), to queue ``PYTHON -m
   tether.functions.worker DIR`` (a ``submit`` request, answered in the project's copy), so
   the job is in the host's ``tether ls``; it is recorded in the local ``tether ls`` too
   (host = HOST);
5. polls (``read_done``, ``fetch_results``, ``job_ended``) are one rsync each, with backoff,
   bringing back new result chunks, ``done.json`` and the job's end record together;
   ``job_status`` and ``cancel`` are ``show`` and ``cancel`` requests of the same protocol.

Trust: result chunks are pickles, and unpickling runs code. They are unpickled here because of
where they come from: files that the worker job (our own function, run by our own tether, as our
own user) wrote on a host we reached over the user's own authenticated ssh account (OpenSSH
checks the host key), copied by rsync into this user's private ``TETHER_HOME`` (mode 0700).
Whoever could forge them could already run code as that account on the host, which the user
trusts to run their functions in the first place. What can be checked is checked: only files
named like chunks are copied and read, only regular files inside the dataset's ``results/``
folder, never through a symlink; ``done.json`` and ``result.json`` are read as JSON only.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tether.backends.base import RunRequest
from tether.backends.ssh import SUBMIT_SECONDS, ask_host
from tether.errors import RemoteError, UsageError
from tether.functions import layout, remote_files, remote_host, serialization
from tether.functions.targets import FINISHED, Chunk, Target
from tether.targets.ssh import remote_jobs
from tether.targets.ssh.failures import SshFailure
from tether.targets.ssh.hostspec import HostSpec
from tether.targets.ssh.project import Project, find_project
from tether.targets.ssh.transport import Transport

FIRST_GAP = 0.02  # seconds between polls right after something new arrived
MAX_GAP = 0.5  # the longest pause between polls while waiting
STATUS_EVERY = 10.0  # job_ended() asks the host's tether this often (a lost job has no record)
LINK_PATIENCE = 120.0  # polls ride out a dropped link this long before giving up


class SshTarget(Target):
    """A host reached over SSH, running tether's worker jobs with its own tether agent."""

    def __init__(self, spec: HostSpec, home: Path) -> None:
        self.name = spec.name
        self.home = home
        self.spec = spec
        self.transport = Transport(spec, controls=home / "ssh")
        self._lock = threading.Lock()
        self._project: Project | None = None
        self._installed: remote_host.HostFacts | None = None
        self._remote: dict[str, dict[str, Any]] = {}  # local dataset folder -> remote facts
        self._fresh_done: set[str] = set()
        self._next_pull = 0.0
        self._gap = FIRST_GAP
        self._link_lost: float | None = None
        self._next_status = time.monotonic() + STATUS_EVERY
        self._seen_status: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"SshTarget({self.name!r})"

    # -- before anything is sent --------------------------------------------------------------
    def python_version(self) -> str:
        return remote_host.host_facts(self.transport).python

    def installed(self) -> remote_host.HostFacts:
        """The host's facts, once tether is installed there (checked once per target)."""
        if self._installed is None:
            self._installed = remote_host.ensure_installed(self.transport)
        return self._installed

    def _project_here(self) -> Project:
        if self._project is None:
            self._project = find_project()
        return self._project

    def worker_meta(self) -> dict[str, Any]:
        facts = self.installed()
        project = self._project_here()
        here = remote_jobs.project_folder(project)
        paths = [f"{facts.home}/{here}", f"{facts.home}/{project.remote_dir}"]
        for entry in sys.path:  # local folders of the project on sys.path: their copies there
            full = Path(os.path.abspath(entry or os.getcwd()))
            if full.is_relative_to(project.root) and full != project.root:
                rel = full.relative_to(project.root).as_posix()
                paths.append(f"{facts.home}/{project.remote_path(rel)}")
        return {
            "sys_path": list(dict.fromkeys(paths)),
            "owner_pid": None,  # the submitting process is on another machine
            "host": self.name,
            "remote_project": here,
            "remote_tether_home": facts.tether_home,
        }

    # -- the remote folders -------------------------------------------------------------------
    def _info(self, ddir: layout.DatasetDir) -> dict[str, Any]:
        """Where this dataset lives on the host (from this process, or the local meta.json)."""
        key = str(ddir.path)
        info = self._remote.get(key)
        if info is None:
            meta = ddir.read_meta()
            info = dict(meta.get("remote") or {})
            home = meta.get("remote_tether_home") or self.installed().tether_home
            info.setdefault("dir", f"{home}/datasets/{ddir.name}")
            remote_files.check_remote_path(str(info["dir"]), "the dataset folder")
            self._remote[key] = info
        return info

    def dataset_folder(self, ddir: layout.DatasetDir) -> str:
        """The dataset's folder on the host (``TETHER_HOME/datasets/NAME`` there)."""
        return str(self._info(ddir)["dir"])

    def remote_workdir(self) -> str:
        """The project's copy on the host, where jobs started for it run."""
        return f"{self.installed().home}/{remote_jobs.project_folder(self._project_here())}"

    def job_meta(self, ddir: layout.DatasetDir) -> dict[str, Any]:
        return {"remote": dict(self._info(ddir))}

    def logs_hint(self, job_number: int) -> str:
        return f"tether logs --on {self.name} {job_number}"

    # -- staging and starting -----------------------------------------------------------------
    def stage_inputs(self, ddir: layout.DatasetDir, names: Sequence[str]) -> None:
        for name in names:
            if name.startswith("/") or ".." in name.split("/") or "\n" in name:
                raise UsageError(f"{name!r} is not a file of the dataset folder")
        info = self._info(ddir)
        key = str(ddir.path)
        fresh = key not in self._fresh_done
        if fresh:
            from tether.targets.ssh.sync import sync_project

            sync_project(self.transport, self._project_here())
        argv = remote_files.stage_argv(self.transport, ddir.path, str(info["dir"]), fresh=fresh)
        self.transport.call(argv, input="\n".join(names).encode(), timeout=None, what="rsync")
        self._fresh_done.add(key)
        with self._lock:  # new work: look for results soon
            self._gap = FIRST_GAP
            self._next_pull = 0.0

    def send_files(self, paths: Sequence[str]) -> None:
        """Copy each file into the project's copy on the host, at the same place."""
        from tether.targets.ssh import sync as ops
        from tether.targets.ssh.project import local_relpath

        project = self._project_here()
        for path in paths:
            rel = local_relpath(project, path)
            ops.push(self.transport, project, rel, rel)

    def receive_files(self, paths: Sequence[str]) -> list[str]:
        """Copy each file back from the project's copy on the host; those not there."""
        from tether.targets.ssh import sync as ops
        from tether.targets.ssh.project import local_relpath

        project = self._project_here()
        missing = []
        for path in paths:
            rel = local_relpath(project, path)
            if ops.remote_kind(self.transport, project.remote_path(rel)) == "missing":
                missing.append(path)
                continue
            ops.pull(self.transport, project, rel, rel)
        return missing

    def start_worker_job(self, ddir: layout.DatasetDir, *, job_name: str, runs: int) -> int:
        """Queue the worker job with the host's tether (a ``submit`` request, answered in the
        project's copy there, in the folder matching the current one) and keep a record of it
        here; the job's number here (one number: the host's is ``remote_number``)."""
        facts = self.installed()
        info = self._info(ddir)
        command = (facts.executable, "-m", "tether.functions.worker", str(info["dir"]))
        request = RunRequest(command=command, name=job_name)
        rows = ask_host(
            self.name,
            "submit",
            request.wire_fields(),
            longer=SUBMIT_SECONDS,
            project=self._project_here(),
        )
        job = _one_job(self.name, rows)
        extra = {"kind": "functions", "dataset": ddir.name, "dataset_dir": str(ddir.path)}
        (local,) = remote_jobs.record_local(self.name, [job], cwd=Path.cwd(), extra=extra)
        info.update(number=job["number"], uuid=job["uuid"], job_dir=job.get("job_dir"))
        info["local_job"] = local
        return int(local)

    # -- polling --------------------------------------------------------------------------------
    def _pull(self, ddir: layout.DatasetDir, *, want_end: bool = False) -> None:
        """One rsync bringing back what is new, unless polled too recently or nothing can be new.

        ``done.json`` here means every chunk is here (see :mod:`tether.functions.remote_files`);
        ``want_end`` keeps pulling until the job's own end record arrives too.
        """
        end_here = (ddir.path / remote_files.JOB_RESULT).exists()
        if end_here or (ddir.done_path.exists() and not want_end):
            return
        with self._lock:
            if time.monotonic() < self._next_pull:
                return
            info = self._info(ddir)
            before = len(ddir.chunk_names())
            argv = remote_files.pull_argv(
                self.transport, str(info["dir"]), info.get("job_dir"), ddir.path
            )
            try:
                self.transport.call(argv, timeout=60, what="rsync")
                self._link_lost = None
            except SshFailure as exc:
                if not exc.retryable:
                    raise
                self._link_lost = self._link_lost or time.monotonic()
                if time.monotonic() - self._link_lost > LINK_PATIENCE:
                    raise
            arrived = len(ddir.chunk_names()) > before or ddir.done_path.exists()
            self._gap = FIRST_GAP if arrived else min(self._gap * 1.5, MAX_GAP)
            self._next_pull = time.monotonic() + self._gap
        if arrived:
            self._note_status(info, "running")
        end = remote_files.job_end(ddir)
        if end is not None:
            self._note_status(info, end[0], reason=end[1], exit_code=end[2])

    def pull_now(self, ddir: layout.DatasetDir) -> None:
        """One rsync bringing back the dataset's new result chunks and ``done.json`` at once,
        however recent the last poll (for a caller that knows something ended)."""
        argv = remote_files.pull_argv(self.transport, self.dataset_folder(ddir), None, ddir.path)
        self.transport.call(argv, timeout=120, what="rsync")

    def fetch_results(self, ddir: layout.DatasetDir, seen: set[str]) -> list[Chunk]:
        self._pull(ddir)
        chunks: list[Chunk] = []
        for name in sorted(ddir.chunk_names()):
            if name in seen:
                continue
            # trusted: see the module's docstring (our worker's files, over our own ssh account)
            chunks.append((name, serialization.loads(remote_files.read_chunk(ddir, name))))
            seen.add(name)
        return chunks

    def read_done(self, ddir: layout.DatasetDir) -> dict[str, Any] | None:
        self._pull(ddir)
        return ddir.read_done()

    def job_ended(self, ddir: layout.DatasetDir, job_number: int) -> tuple[str, str | None] | None:
        self._pull(ddir, want_end=True)
        end = remote_files.job_end(ddir)
        if end is not None:
            return end[0], end[1]
        if time.monotonic() >= self._next_status:  # a job lost with its agent leaves no record
            self._next_status = time.monotonic() + STATUS_EVERY
            try:
                status, reason = self.job_status(job_number)
            except SshFailure as exc:
                if not exc.retryable:
                    raise
                return None  # the link is down: the polls decide when to give up
            if status in FINISHED:
                return status, reason
        return None

    # -- following and stopping ---------------------------------------------------------------
    def job_status(self, job_number: int) -> tuple[str, str | None]:
        """The status of the worker job numbered ``job_number`` here (a ``show``
        request, which also brings its record here up to date), and why it ended."""
        row = ask_host(self.name, "show", {"job": self._job_ref(job_number)})
        if not isinstance(row, dict) or "status" not in row:
            raise RemoteError(f"{self.name}: the host sent no record of job {job_number}")
        self._note_status(row, str(row["status"]), reason=row.get("reason"))
        return str(row["status"]), row.get("reason")

    def cancel(self, job_number: int, grace: float = 10.0) -> None:
        """Stop the worker job (a ``cancel`` request: SIGTERM, SIGKILL after ``grace``
        seconds); its record here follows the host's answer."""
        args = {"jobs": [self._job_ref(job_number)], "grace": grace}
        rows = ask_host(self.name, "cancel", args, longer=grace)
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and "status" in row:
                self._note_status(row, str(row["status"]), reason=row.get("reason"))

    def _job_ref(self, job_number: int) -> str:
        """How the host is asked about the job numbered ``job_number`` here: its uuid (one
        identity on both sides), known to this process or read from its record here."""
        for info in self._remote.values():
            if info.get("local_job") == job_number and info.get("uuid"):
                return str(info["uuid"])
        from tether.backends.ssh import remote_job
        from tether.paths import tether_home
        from tether.store.jobs import JobStore

        store = JobStore(tether_home())
        try:
            where = remote_job(store.get(job_number), required=False)
        finally:
            store.close()
        if where is None:
            raise RemoteError(f"job #{job_number} is not a job on {self.name}")
        return where.uuid

    def _note_status(
        self,
        info: dict[str, Any],
        status: str,
        *,
        reason: str | None = None,
        exit_code: int | None = None,
    ) -> None:
        """Bring the local record of the job (``tether ls`` here) up to ``status``, once."""
        uuid = info.get("uuid")
        if not uuid or self._seen_status.get(uuid) == status:
            return
        if status == "running" and self._seen_status.get(uuid) in FINISHED:
            return
        self._seen_status[uuid] = status
        row = {"uuid": uuid, "status": status, "reason": reason, "exit_code": exit_code}
        try:
            remote_jobs.update_local(self.name, [row])
        except Exception:  # the local record is a convenience; never fail a poll over it
            pass


def _one_job(host: str, rows: Any) -> dict[str, Any]:
    """The one job in the host's answer to a ``submit`` request."""
    jobs = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
    if len(jobs) != 1 or "number" not in jobs[0] or "uuid" not in jobs[0]:
        raise RemoteError(f"{host}: the host queued no worker job ({str(rows)[:80]!r})")
    return jobs[0]


def make_target(spec: HostSpec, home: Path) -> SshTarget:
    """The target for a plain SSH host (``scheduler = "none"``)."""
    return SshTarget(spec, home)
