"""Slurm rig: munged + slurmctld + slurmd, one node (this machine), bound to 127.0.0.1.

Everything (munge key and socket, state, spool, logs, slurm.conf) lives in a
private temp dir; every client command needs ``SLURM_CONF`` pointing at
:attr:`SlurmCluster.conf_path` (the munge socket is named in slurm.conf).
While the cluster is running, ``SLURM_CONF`` is also exported in this
process's ``os.environ`` so subprocesses (sbatch, squeue...) find it.

Settings that make it test-friendly: ``batch_sched_delay=0`` (jobs start on
the controller's 1 s tick instead of up to 3 s later), ``MinJobAge=600``
(finished jobs stay visible to ``scontrol show job``), ``jobcomp/filetxt``
(one line per finished job in :attr:`SlurmCluster.jobcomp_path`), no cgroups,
``OverSubscribe=YES`` (jobs submitted with ``--oversubscribe`` share cores, so many
can run at once on a 2-core machine; other jobs get whole cores as usual).
No slurmdbd: ``sacct`` does not work.

Needs root (slurmd starts jobs as their owners).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from rigs.common import (
    LOOPBACK,
    Daemon,
    RigError,
    free_port,
    make_workdir,
    remove_tree,
    require_binaries,
    require_root,
    run,
    wait_until,
)

SLURM_BINARIES = (
    "munged", "munge", "unmunge", "slurmctld", "slurmd",
    "sbatch", "squeue", "scontrol", "sinfo", "scancel", "srun",
)  # fmt: skip

FINISHED_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
    }
)


class SlurmCluster:
    """A one-node Slurm cluster.

    After :meth:`start`: ``conf_path`` (SLURM_CONF), ``env`` (os.environ plus
    SLURM_CONF), ``partition`` ("debug"), ``node`` (short hostname),
    ``workdir``, ``jobs_dir`` (world-writable scratch for job output),
    ``log_dir``, ``jobcomp_path``, ``munge_socket``, ``ctld_port``, ``slurmd_port``.
    """

    def __init__(self, *, partition: str = "debug", sched_params: str = "batch_sched_delay=0"):
        self.partition = partition
        self.sched_params = sched_params
        self.node = ""
        self.workdir = Path()
        self.conf_path = Path()
        self.log_dir = Path()
        self.jobs_dir = Path()
        self.jobcomp_path = Path()
        self.munge_socket = Path()
        self.ctld_port = self.slurmd_port = 0
        self.startup_seconds = 0.0
        self.env: dict[str, str] = {}
        self.daemons: list[Daemon] = []
        self._saved_env: str | None = None
        self._exported = False
        self._stack = ExitStack()

    # -- lifecycle

    def __enter__(self) -> SlurmCluster:
        self.start()
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        require_root("slurm")
        require_binaries("slurm", SLURM_BINARIES)
        t0 = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0

    def stop(self) -> None:
        self._stack.close()
        self.daemons = []

    def _start(self) -> None:
        self.workdir = w = make_workdir("slurm", 0o755)  # job output is written as job users
        self._stack.callback(remove_tree, w)
        for d in ("munge", "munge-key", "state", "spool", "log", "jobs"):
            (w / d).mkdir()
        (w / "munge").chmod(0o755)  # munged: socket dir must be reachable by all
        (w / "munge-key").chmod(0o700)
        self.jobs_dir = w / "jobs"
        self.jobs_dir.chmod(0o1777)
        self.log_dir = w / "log"
        self.jobcomp_path = self.log_dir / "jobcomp.txt"
        self.munge_socket = w / "munge" / "munge.socket.2"

        self._start_munged()
        self.node = os.uname().nodename.split(".")[0]
        hw = run(["slurmd", "-C"]).stdout.splitlines()[0]
        hw = re.sub(r"^NodeName=\S+\s*", "", hw)  # CPUs=2 Boards=1 ... RealMemory=N
        self.ctld_port, self.slurmd_port = free_port(), free_port()
        self.conf_path = w / "slurm.conf"
        self.conf_path.write_text(self._slurm_conf(hw))
        self.env = {**os.environ, "SLURM_CONF": str(self.conf_path)}
        self._export_env()

        ctld = self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf_path)])
        if not wait_until(lambda: not ctld.alive or self._ok(["scontrol", "ping"]), 30, 0.05):
            raise ctld.fail("not answering 'scontrol ping' after 30 s")
        if not ctld.alive:
            raise ctld.fail("died at start")
        slurmd = self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf_path)])
        if not wait_until(lambda: not slurmd.alive or self.node_state() == "idle", 30, 0.05):
            raise slurmd.fail(f"node not idle after 30 s (state {self.node_state()!r})")
        if not slurmd.alive:
            raise slurmd.fail("died at start")
        # runs first at stop: jobs (slurmstepd) would outlive slurmd otherwise
        self._stack.callback(self._drain)

    def _spawn(self, name: str, argv: list[str]) -> Daemon:
        d = Daemon.spawn(
            name,
            argv,
            self.log_dir / f"{name}.stderr",
            env=self.env or None,
            extra_logs=[self.log_dir / f"{name}.log"],
        )
        self.daemons.append(d)
        self._stack.callback(d.stop)
        return d

    def _start_munged(self) -> None:
        w = self.workdir
        key = w / "munge-key" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        argv = [
            "munged", "-F", f"--key-file={key}", f"--socket={self.munge_socket}",
            f"--pid-file={w / 'munge' / 'munged.pid'}", f"--log-file={self.log_dir / 'munged.log'}",
            f"--seed-file={w / 'munge' / 'munged.seed'}",
        ]  # fmt: skip
        munged = self._spawn("munged", argv)
        if not wait_until(lambda: not munged.alive or self.munge_socket.exists(), 10, 0.01):
            raise munged.fail("no socket after 10 s")
        if not munged.alive:
            raise munged.fail("died at start")
        cred = run(["munge", "-n", f"--socket={self.munge_socket}"], check=False)
        check = run(["unmunge", f"--socket={self.munge_socket}"], input=cred.stdout, check=False)
        if cred.returncode or check.returncode:
            raise munged.fail(f"credential round trip failed: {cred.stderr}{check.stderr}")

    def _slurm_conf(self, hw: str) -> str:
        w = self.workdir
        sched = f"SchedulerParameters={self.sched_params}\n" if self.sched_params else ""
        return f"""\
ClusterName=tt{os.getpid()}
# name(address): the name must be this host's short hostname, the address pins
# where clients/slurmd reach it; NoInAddrAny makes the daemons bind it only
SlurmctldHost={self.node}({LOOPBACK})
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={w}/state
SlurmdSpoolDir={w}/spool
SlurmctldPidFile={w}/slurmctld.pid
SlurmdPidFile={w}/slurmd.pid
SlurmctldLogFile={self.log_dir}/slurmctld.log
SlurmdLogFile={self.log_dir}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups (none are delegated in a container)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp_path}
SchedulerType=sched/backfill
{sched}SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
MailProg=/usr/bin/true
SwitchType=switch/none
ReturnToService=2
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName={self.node} NodeAddr={LOOPBACK} {hw} State=UNKNOWN
PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""

    def _export_env(self) -> None:
        self._saved_env = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = str(self.conf_path)
        self._exported = True
        self._stack.callback(self._restore_env)

    def _restore_env(self) -> None:
        if not self._exported:
            return
        if self._saved_env is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = self._saved_env
        self._exported = False

    # -- client helpers

    def _ok(self, argv: Sequence[str]) -> bool:
        return run(argv, env=self.env, check=False, timeout=10).returncode == 0

    def run(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command with this cluster's SLURM_CONF."""
        return run(argv, env=self.env, check=check, timeout=timeout)

    def node_state(self) -> str:
        cp = run(["sinfo", "-h", "-N", "-o", "%T"], env=self.env, check=False, timeout=10)
        return cp.stdout.strip().splitlines()[0] if cp.stdout.strip() else ""

    def sbatch(self, *args: str, wrap: str | None = None) -> str:
        """``sbatch --parsable [args] [--wrap CMD]``; returns the job id.

        Without ``-D``/``--chdir`` in ``args`` the job runs in :attr:`jobs_dir`
        (so default ``slurm-%j.out`` files land there, not in the cwd).
        """
        argv = ["sbatch", "--parsable", *args]
        if not any(a in ("-D", "--chdir") or a.startswith("--chdir=") for a in args):
            argv.append(f"--chdir={self.jobs_dir}")
        if wrap is not None:
            argv += ["--wrap", wrap]
        out = self.run(argv).stdout.strip()
        return out.split(";")[0]

    def job_info(self, job_id: str) -> dict[str, str]:
        """``scontrol show job -o ID`` as a dict ({} if unknown)."""
        cp = run(["scontrol", "show", "job", "-o", job_id], env=self.env, check=False)
        if cp.returncode != 0:
            return {}
        info: dict[str, str] = {}
        for tok in cp.stdout.split():
            k, sep, v = tok.partition("=")
            if sep and k not in info:
                info[k] = v
        return info

    def job_state(self, job_id: str) -> str:
        return self.job_info(job_id).get("JobState", "")

    def wait_job(
        self, job_id: str, states: Iterable[str] = FINISHED_STATES, timeout: float = 60.0
    ) -> str:
        """Wait until the job is in one of ``states`` (default: any finished state)."""
        wanted = set(states)
        state = ""

        def reached() -> bool:
            nonlocal state
            state = self.job_state(job_id)
            return state in wanted

        if not wait_until(reached, timeout, 0.1):
            raise RigError(
                f"job {job_id} not in {sorted(wanted)} after {timeout} s (state {state!r})\n"
                f"{self.logs()}"
            )
        return state

    def cancel_all(self) -> None:
        """``scancel`` every job of every user (this cluster is ours)."""
        cp = run(["squeue", "-h", "-o", "%i"], env=self.env, check=False)
        ids = cp.stdout.split()
        if ids:
            run(["scancel", *ids], env=self.env, check=False)

    def _drain(self, timeout: float = 15.0) -> None:
        self.cancel_all()
        wait_until(lambda: not self.run(["squeue", "-h"], check=False).stdout.strip(), timeout, 0.1)

    def logs(self, lines: int = 30) -> str:
        return "\n".join(d.logs(lines) for d in self.daemons)
