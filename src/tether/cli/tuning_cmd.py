"""The tuning loop: ``params``, ``diff``, ``save``, ``history``, ``sweep``."""

from __future__ import annotations

import sys

import click

from tether.cli import render
from tether.cli.context import json_option, on_option, print_json
from tether.cli.resource_options import resource_options, take_resource_values
from tether.cli.schedule_options import schedule_options, take_schedule_values
from tether.errors import UsageError


@click.command()
@json_option
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
def params(as_json: bool, script: str) -> None:
    """List SCRIPT's tunables: module-level constants and tether.param(...) calls."""
    from tether.api.tuning import tunables

    found = tunables(script)
    if as_json:
        print_json([{k: t[k] for k in ("name", "kind", "default", "line")} for t in found])
        return
    if not found:
        click.echo(f"{script} has no tunables (module-level constants or tether.param calls)")
    for t in found:
        click.echo(f"{t['name']:<20} {t['default_text']:<20} line {t['line']:<5} {t['kind']}")


@click.command()
@on_option
@json_option
@click.argument("job", required=False)
@click.argument("other", required=False)
def diff(host: str | None, as_json: bool, job: str | None, other: str | None) -> None:
    """Program and parameter differences between JOB and OTHER (default: JOB's parent)."""
    from tether.api.commands import diff as diff_jobs

    found = diff_jobs(job, other, on=host)
    if as_json:
        print_json(found)
        return
    click.echo(f"--- {found['old']}\n+++ {found['new']}")
    for name, change in found["params"].items():
        click.echo(f"param {name}: {change['before']!r} -> {change['after']!r}")
    text = found["program_diff"]
    click.echo(text if text else "(same program)", nl=not text.endswith("\n"))


@click.command()
@click.option("--to", "to", type=click.Path(dir_okay=False), help="Write here instead.")
@click.option("--force", is_flag=True, help="Overwrite even if the file changed since.")
@on_option
@json_option
@click.argument("job", required=False)
def save(to: str | None, force: bool, host: str | None, as_json: bool, job: str | None) -> None:
    """Write JOB's version of the program back over the original (keeping a .bak); with
    --on, over the file in the project's copy there."""
    from tether.api.commands import save as save_program

    saved = save_program(job, to=to, force=force, on=host)
    if as_json:
        print_json(saved)
        return
    if saved["backup"] is not None:
        click.echo(f"kept the previous file as {saved['backup']}")
    where = f" on {host}" if host is not None and host != "local" else ""
    click.echo(f"saved job #{saved['number']}'s program to {saved['path']}{where}")


@click.command()
@click.option("--sweep", "sweep_id", help="Only the jobs of this sweep.")
@click.option("--sort", "sort_by", metavar="METRIC", help="Sort by this metric's final value.")
@click.option("--best", "best_of", metavar="METRIC", help="Show only the best job by METRIC.")
@click.option("--minimize", is_flag=True, help="For --best/--sort: lower is better.")
@on_option
@json_option
@click.argument("script", required=False, type=click.Path(dir_okay=False))
def history(
    sweep_id: str | None,
    sort_by: str | None,
    best_of: str | None,
    minimize: bool,
    host: str | None,
    as_json: bool,
    script: str | None,
) -> None:
    """Every attempt of SCRIPT (default: the last job's program), or of a --sweep."""
    from tether.api.commands import history as attempts

    rows = attempts(
        script, sweep=sweep_id, sort_by=sort_by, best_of=best_of, minimize=minimize, on=host
    )
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    names = sorted({m for r in rows for m in r["metrics"]})
    table = Table(box=None, header_style="bold")
    for col in ("#", "when", "status", "runtime", "changed", *names):
        table.add_column(col)
    for r in rows:
        style = render.STATUS_STYLE.get(r["status"], "")
        runtime = r["runtime"]
        table.add_row(
            str(r["number"]),
            (r["created"] or "")[:16].replace("T", " "),
            f"[{style}]{r['status']}[/]",
            render.duration(runtime if isinstance(runtime, (int, float)) else None),
            " ".join(f"{k}={v!r}" for k, v in r["changed"].items()),
            *(render.number(r["metrics"].get(n)) for n in names),
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
    from tether.api.tuning import sweep as queue_sweep
    from tether.cli.argv_checks import refuse_unknown_option, warn_options_after_script

    refuse_unknown_option(sweep, command)
    if not param and any(a.split("=")[0] in ("-p", "--param") for a in command[1:]):
        raise UsageError(
            f"give -p before the script: tether sweep -p NAME=V1,V2 {command[0]} ... "
            "(after it, -p goes to the program)"
        )
    warn_options_after_script(command)
    made = queue_sweep(
        command,
        param,
        random_n=random_n,
        seed=seed,
        name=name,
        schedule=take_schedule_values(slurm),
        resources=take_resource_values(slurm),
        say=sys.stderr if sys.stderr.isatty() else None,
        on=host,
    )
    jobs = made.jobs
    if as_json:
        print_json(made.to_json())
        return
    click.echo(f"sweep {made.sweep}: {len(jobs)} jobs (#{jobs[0]}-#{jobs[-1]})")
    click.echo(f"compare them with: tether history --sweep {made.sweep} --sort METRIC")
