"""``run`` and ``sweep --on CLUSTER``: the checks of the Slurm flags, the cluster made ready,
the jobs submitted (the backend then starts the agent to watch them)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tether.errors import UsageError
from tether.store.jobs import Job
from tether.targets.slurm.resources import Resources, parse_resources
from tether.targets.ssh.hostspec import HostSpec

if TYPE_CHECKING:
    from tether.envs.lines import Requirements
    from tether.targets.slurm.submit import Placement


def refuse_resources(values: dict[str, Any], host: str | None) -> None:
    """Resource flags without a Slurm host are an error, not silently ignored."""
    if values:
        where = f"host {host!r} is not a Slurm cluster" if host else "the job runs here"
        given = ", ".join("--" + k.replace("_lines", "") for k in values)
        raise UsageError(
            f"{given}: Slurm options, but {where}; use --on CLUSTER with a host added by "
            "`tether hosts add NAME DEST --scheduler slurm`"
        )


def dependency_line(after: Sequence[str], after_any: Sequence[str]) -> str | None:
    """Slurm's ``--dependency=afterok:ID:ID,afterany:ID`` for Slurm job ids (None for none)."""
    kinds = (("afterok", after), ("afterany", after_any))
    parts = [f"{kind}:{':'.join(ids)}" for kind, ids in kinds if ids]
    return f"--dependency={','.join(parts)}" if parts else None


def schedule_values(values: dict[str, Any]) -> dict[str, Any]:
    """``--after``/``--after-any`` on a Slurm host: the jobs' Slurm ids as a ``--dependency``
    sbatch line. Retries and --gpu-mem are not offered there (Slurm has its own)."""
    from tether.jobs.depends import parse_refs
    from tether.paths import tether_home
    from tether.store.jobs import JobStore

    refused = [n for n in ("gpu_mem", "retry", "retry_delay", "retry_on") if n in values]
    if refused:
        given = ", ".join("--" + n.replace("_", "-") for n in refused)
        raise UsageError(f"{given}: not offered on Slurm hosts yet (use Slurm's own --requeue)")
    store = JobStore(tether_home())
    ids: dict[str, list[str]] = {}
    for flag, key in (("--after", "after"), ("--after-any", "after_any")):
        for ref in parse_refs(values.get(key, ())):
            job = store.resolve(ref)
            slurm_id = job.slurm_id
            if not slurm_id:
                raise UsageError(f"{flag} {ref}: job #{job.number} is not a Slurm job")
            ids.setdefault(key, []).append(str(slurm_id))
    line = dependency_line(ids.get("after", []), ids.get("after_any", []))
    return {"sbatch_lines": (line,)} if line else {}


def with_schedule(values: dict[str, Any], schedule: dict[str, Any]) -> dict[str, Any]:
    """The resource values with the dependency line of ``schedule`` added."""
    more = schedule_values(schedule) if schedule else {}
    lines = (*values.get("sbatch_lines", ()), *more.get("sbatch_lines", ()))
    return {**values, **({"sbatch_lines": lines} if lines else {})}


def resources_of(values: dict[str, Any]) -> Resources:
    """Checked resources from the flags' values (nothing submitted when one is wrong)."""
    return parse_resources(**values)


def placement(*, home: str | None = None, workdir: str | None = None) -> Placement:
    """Where a submission's jobs run: on this machine's cluster (no ``home``), else on a
    cluster reached over SSH whose user's home is ``home``, in ``workdir`` there (the
    project's copy)."""
    from tether.targets.slurm.submit import Placement

    return Placement(local=home is None, home=home, workdir=workdir)


def _said(say: IO[str] | None) -> IO[str] | None:
    return say if say is not None else (sys.stderr if sys.stderr.isatty() else None)


def with_env(
    host: HostSpec, placement: Placement, requirements: Requirements | None, say: IO[str] | None
) -> Placement:
    """Over ssh, the jobs' python is the project's env on the cluster, made on the login node
    when it has none for ``requirements`` yet, else reused (the home, where the env lives, is
    shared with the compute nodes: once per cluster). Unchanged on the login node itself (its
    jobs run with the project's env here when ``tether env`` made one) and without
    requirements (``--no-env``, or nothing to install: tether's own python)."""
    if placement.local or requirements is None:
        return placement
    from dataclasses import replace

    from tether.backends.ssh import make_env
    from tether.targets.ssh.project import find_project
    from tether.targets.ssh.transport import Transport

    prepared = (find_project(), Transport(host))
    data = make_env(host.name, requirements, prepared, say, missing=False)
    python = data.get("python")
    return replace(placement, python=str(python)) if python else placement


def submit(
    host: HostSpec,
    argvs: Sequence[Sequence[str]],
    values: dict[str, Any],
    *,
    name: str | None = None,
    params: dict[str, object] | None = None,
    extra: dict[str, Any] | None = None,
    requirements: Requirements | None = None,
    say: IO[str] | None = None,
    max_size: int | None = None,
) -> list[Job]:
    """Check, get the cluster ready (the project's env too, for ``requirements``), record and
    submit (the backend starts the agent)."""
    from tether.targets.slurm import submit as slurm_submit

    resources = resources_of(values)
    slurm_submit.merge(slurm_submit.host_resources(host), resources)
    slurm_submit.host_template(host)  # a broken template fails before anything happens
    say = _said(say)
    ready = slurm_submit.prepare(host, say, max_size=max_size)
    placement = with_env(host, ready, requirements, say)
    specs = slurm_submit.job_specs(host, placement, argvs, name=name, params=params, extra=extra)
    return slurm_submit.submit_jobs(host, specs, resources, placement)


def submit_sweep(
    host: HostSpec,
    command: Sequence[str],
    points: Sequence[dict[str, object]],
    values: dict[str, Any],
    *,
    name: str | None,
    extra: dict[str, Any],
    requirements: Requirements | None = None,
    say: IO[str] | None = None,
    max_size: int | None = None,
) -> list[Job]:
    """``tether sweep --on CLUSTER``: one Slurm job per point of the sweep."""
    from tether.targets.slurm import submit as slurm_submit

    resources = resources_of(values)
    slurm_submit.host_template(host)
    say = _said(say)
    ready = slurm_submit.prepare(host, say, max_size=max_size)
    placement = with_env(host, ready, requirements, say)
    specs = [
        spec
        for point in points
        for spec in slurm_submit.job_specs(
            host, placement, [command], name=name, params=point, extra=extra
        )
    ]
    return slurm_submit.submit_jobs(host, specs, resources, placement)


def submit_array(
    host: HostSpec,
    argv: Sequence[str],
    resources: Resources,
    placement: Placement,
    *,
    name: str,
    extra: dict[str, Any],
    home: Path,
) -> tuple[int, str]:
    """One job (an array when ``resources.array`` is set: a Dataset's batch) recorded in the
    store at ``home`` and submitted with sbatch: its job number, and the Slurm job id that
    squeue and sacct know it by (the caller polls its tasks with it)."""
    from tether.targets.slurm import submit as slurm_submit

    specs = slurm_submit.job_specs(host, placement, [argv], name=name, extra=extra)
    (job,) = slurm_submit.submit_jobs(host, specs, resources, placement, home=home)
    return job.number, str(job.slurm_id)
