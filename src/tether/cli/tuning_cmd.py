"""The tuning loop: ``params``, ``diff``, ``save``, ``history``, ``sweep``."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import click

from tether.api.types import Job
from tether.cli import render
from tether.cli.context import json_option, open_store, print_json, resolve_job
from tether.cli.resource_options import resource_options, take_resource_values
from tether.cli.schedule_options import schedule_options, take_schedule_values
from tether.errors import ProgramError, UsageError
from tether.paths import tether_home


@click.command()
@json_option
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
def params(as_json: bool, script: str) -> None:
    """List SCRIPT's tunables: module-level constants and tether.param(...) calls."""
    from tether.tuning.tunables import decode_source, list_tunables

    source = decode_source(Path(script).read_bytes(), filename=script)
    found = list_tunables(source, filename=script)
    if as_json:
        print_json(
            [{"name": t.name, "kind": t.kind, "default": t.default, "line": t.line} for t in found]
        )
        return
    if not found:
        click.echo(f"{script} has no tunables (module-level constants or tether.param calls)")
    for t in found:
        click.echo(f"{t.name:<20} {t.default_text:<20} line {t.line:<5} {t.kind}")


def _require_version(job: Job) -> None:
    if "version" not in job.extra:
        raise UsageError(f"job #{job.number} ran a command, not a stored .py program")


@click.command()
@click.argument("job", required=False)
@click.argument("other", required=False)
def diff(job: str | None, other: str | None) -> None:
    """Program and parameter differences between JOB and OTHER (default: JOB's parent)."""
    from tether.tuning.program import version_diff

    store = open_store()
    new = resolve_job(store, job)
    if other is None:
        if new.parent is None:
            _require_version(new)
            _diff_with_file(new)
            return
        old = store.get(new.parent)
    else:
        old = resolve_job(store, other)
    _require_version(new)
    _require_version(old)
    click.echo(f"--- job #{old.number}\n+++ job #{new.number}")
    a, b = old.extra.get("params") or {}, new.extra.get("params") or {}
    for name in sorted(set(a) | set(b)):
        if a.get(name, "<unset>") != b.get(name, "<unset>"):
            click.echo(f"param {name}: {a.get(name, '<unset>')!r} -> {b.get(name, '<unset>')!r}")
    text = version_diff(tether_home(), old.extra, new.extra)
    click.echo(text if text else "(same program)", nl=not text.endswith("\n"))


def _diff_with_file(new: Job) -> None:
    """A job without a parent against the file it was submitted from (or, for a job recorded
    before snapshots were kept, the file as it is now)."""
    from tether.tuning.program import file_values, program_source, version_diff
    from tether.tuning.tunables import decode_source, list_tunables, unified_diff

    home = tether_home()
    original = new.extra.get("original") or new.script or "the file"
    base = file_values(home, new.extra)
    if base is not None:
        label = f"{original} (as submitted)"
        text = version_diff(home, {"version": new.extra["base_version"]}, new.extra)
    else:
        path = Path(original)
        if not path.is_file():
            raise UsageError(
                f"job #{new.number} has no parent and {original} is gone; "
                "name the job to compare with"
            )
        label = f"{original} (as it is now)"
        source = decode_source(path.read_bytes(), filename=str(path))
        base = {t.name: t.default for t in list_tunables(source, filename=str(path))}
        text = unified_diff(source, program_source(home, new.extra), path.name)
    click.echo(f"--- {label}\n+++ job #{new.number}")
    params = new.extra.get("params") or {}
    for name in sorted(params):
        before = base.get(name, "<unset>")
        if type(before) is not type(params[name]) or before != params[name]:
            click.echo(f"param {name}: {before!r} -> {params[name]!r}")
    click.echo(text if text else "(same program)", nl=not text.endswith("\n"))


@click.command()
@click.option("--to", "to", type=click.Path(dir_okay=False), help="Write here instead.")
@click.option("--force", is_flag=True, help="Overwrite even if the file changed since.")
@click.argument("job", required=False)
def save(to: str | None, force: bool, job: str | None) -> None:
    """Write JOB's version of the program back over the original (keeping a .bak)."""
    from tether.tuning.program import file_sha, version_store

    store = open_store()
    record = resolve_job(store, job)
    _require_version(record)
    target = Path(to or record.extra["original"])
    unchanged = file_sha(target) == record.extra.get("original_sha")
    if to is None and target.exists() and not force and not unchanged:
        raise ProgramError(
            f"{target} changed since job #{record.number} started; "
            "use --force to overwrite it (a .bak is kept) or --to PATH"
        )
    data = version_store(tether_home()).read_file(record.extra["version"], record.extra["entry"])
    if target.exists():
        backup = _free_backup_name(target)
        shutil.copy2(target, backup)
        click.echo(f"kept the previous file as {backup}")
    _replace_file(target, data)
    click.echo(f"saved job #{record.number}'s program to {target}")


def _free_backup_name(target: Path) -> Path:
    """``NAME.bak``, or ``NAME.bak.1``, ``NAME.bak.2``, ... when that exists: no backup
    is ever overwritten, so the first one keeps the original."""
    backup = target.with_name(target.name + ".bak")
    n = 0
    while backup.exists() or backup.is_symlink():
        n += 1
        backup = target.with_name(f"{target.name}.bak.{n}")
    return backup


def _replace_file(target: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``target`` and rename it over ``target``,
    keeping ``target``'s mode (a new file gets the usual mode for this umask)."""
    try:
        mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@click.command()
@click.option("--sweep", "sweep_id", help="Only the jobs of this sweep.")
@click.option("--sort", "sort_by", metavar="METRIC", help="Sort by this metric's final value.")
@click.option("--best", "best_of", metavar="METRIC", help="Show only the best job by METRIC.")
@click.option("--minimize", is_flag=True, help="For --best/--sort: lower is better.")
@json_option
@click.argument("script", required=False, type=click.Path(dir_okay=False))
def history(
    sweep_id: str | None,
    sort_by: str | None,
    best_of: str | None,
    minimize: bool,
    as_json: bool,
    script: str | None,
) -> None:
    """Every attempt of SCRIPT (default: the last job's program), or of a --sweep."""
    from tether.backends import refresh_many
    from tether.jobs.history import attempts, best

    store = open_store()
    path = None
    if script is not None:
        path = str(Path(script).resolve())
    elif sweep_id is None:
        last = store.resolve(None)
        path = last.extra.get("original") or last.script
        if path is None:
            raise UsageError(f"job #{last.number} is not a .py program; name a SCRIPT")
    rows = attempts(store, script=path, sweep=sweep_id, refresh=refresh_many)
    if not rows:
        raise UsageError(f"no jobs of {path or 'sweep ' + str(sweep_id)}")
    if sort_by:
        rows.sort(key=lambda r: r.final.get(sort_by, float("nan")), reverse=not minimize)
        rows = [r for r in rows if sort_by in r.final] + [r for r in rows if sort_by not in r.final]
    if best_of:
        pick = best(rows, best_of, minimize=minimize)
        if pick is None:
            raise UsageError(f"no job reported {best_of!r}")
        rows = [pick]
    if as_json:
        print_json([r.to_json() for r in rows])
        return
    from rich.table import Table

    names = sorted({m for r in rows for m in r.final})
    table = Table(box=None, header_style="bold")
    for col in ("#", "when", "status", "runtime", "changed", *names):
        table.add_column(col)
    for r in rows:
        style = render.STATUS_STYLE.get(r.job.status, "")
        table.add_row(
            str(r.job.number),
            (r.job.to_json()["created"] or "")[:16].replace("T", " "),
            f"[{style}]{r.job.status}[/]",
            render.duration(r.job.runtime),
            " ".join(f"{k}={v!r}" for k, v in r.changed.items()),
            *(render.number(r.final.get(n)) for n in names),
        )
    render.console().print(table)


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--param",
    "-p",
    "param",
    multiple=True,
    metavar="NAME=V1,V2,...",
    help="Values to try (repeatable); with --random also log:A..B, int:A..B, float:A..B.",
)
@click.option(
    "--random",
    "random_n",
    type=click.IntRange(1, 100000),
    help="Sample N random points instead of the full grid.",
)
@click.option("--seed", default=None, help="Seed for --random (default: random).")
@click.option("--name", "-n", help="A name for the jobs (default: the script's file name).")
@click.option("--on", "host", metavar="HOST", help="Submit to this Slurm host (default: here).")
@resource_options
@schedule_options
@json_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def sweep(
    param: tuple[str, ...],
    random_n: int | None,
    seed: str | None,
    name: str | None,
    as_json: bool,
    command: tuple[str, ...],
    host: str | None = None,
    **slurm: object,
) -> None:
    """Queue one job per point of a parameter grid (or N random points) for SCRIPT.py."""
    from tether.api.running import run as run_jobs
    from tether.backends import RunRequest
    from tether.cli.argv_checks import refuse_unknown_option, warn_options_after_script
    from tether.tuning.sweep import grid, parse_sweep_assignments, random_points

    refuse_unknown_option(sweep, command)
    if not param and any(a.split("=")[0] in ("-p", "--param") for a in command[1:]):
        raise UsageError(
            f"give -p before the script: tether sweep -p NAME=V1,V2 {command[0]} ... "
            "(after it, -p goes to the program)"
        )
    warn_options_after_script(command)
    values = take_resource_values(slurm)
    sched = take_schedule_values(slurm)
    if not param:
        raise UsageError("give at least one -p NAME=V1,V2,... to sweep over")
    if random_n:
        specs_text: dict[str, str] = {}
        for text in param:
            key, sep, value = text.partition("=")
            if not sep:
                raise UsageError(f"-p {text!r}: expected NAME=VALUES")
            specs_text[key.strip()] = value.strip()
        points = random_points(
            specs_text, random_n, seed if seed is not None else secrets.token_hex(4)
        )
    else:
        points = grid(parse_sweep_assignments(param))
    sweep_id = secrets.token_hex(4)
    request = RunRequest(
        command=command,
        name=name,
        points=tuple(points),
        schedule=sched,
        resources=values,
        extra={"sweep": sweep_id},
        say=sys.stderr if sys.stderr.isatty() else None,
    )
    jobs = [s.job for s in run_jobs(request, on=host or "local")]
    if as_json:
        print_json({"sweep": sweep_id, "jobs": [j.number for j in jobs], "points": points})
        return
    click.echo(f"sweep {sweep_id}: {len(jobs)} jobs (#{jobs[0].number}-#{jobs[-1].number})")
    click.echo(f"compare them with: tether history --sweep {sweep_id} --sort METRIC")
