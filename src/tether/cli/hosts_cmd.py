"""``tether hosts add|ls|rm|check`` and ``tether ssh HOST``."""

from __future__ import annotations

import sys

import click

from tether.api import host_admin as api
from tether.api.host_admin import SCHEDULERS, HostSpec, parse_options
from tether.cli.context import json_option, print_json
from tether.cli.resource_options import resource_options, take_resource_values


@click.group()
def hosts() -> None:
    """Remote machines reached over SSH (stored in hosts.toml in tether's config folder)."""


@hosts.command("add")
@click.argument("name")
@click.argument("dest")
@click.option("--identity", "-i", metavar="FILE", help="Private key file (ssh -i).")
@click.option(
    "--option", "-o", "options", multiple=True, metavar="KEY=VALUE", help="ssh -o option (repeat)."
)
@click.option("--ssh-config", metavar="FILE", help="An OpenSSH client config file (ssh -F).")
@click.option("--python", default="python3", show_default=True, help="Python 3 on the host.")
@click.option("--replace", is_flag=True, help="Replace a host of the same name.")
@click.option(
    "--scheduler", type=click.Choice(SCHEDULERS), default="none", help="slurm: a Slurm cluster."
)
@click.option("--template", metavar="FILE", help="Slurm: the sbatch script template file.")
@click.option(
    "--env", "env", multiple=True, metavar="NAME=VALUE", help="Slurm: set for its commands."
)
@click.option(
    "--timeout",
    type=float,
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="How long a control call to the host may take, connecting included.",
)
@resource_options
def add(
    name: str,
    dest: str,
    identity: str | None,
    options: tuple[str, ...],
    ssh_config: str | None,
    python: str,
    replace: bool,
    scheduler: str,
    template: str | None,
    env: tuple[str, ...],
    timeout: float,
    **slurm: object,
) -> None:
    """Add host NAME reached as DEST (user@host[:port], or an alias from ~/.ssh/config).

    A Slurm cluster: --scheduler slurm, DEST its login node (or `local` when tether runs on
    the login node); the resource flags set defaults for its jobs.
    """
    spec = HostSpec(
        name=name,
        dest=dest,
        identity=identity,
        options=parse_options(options),
        ssh_config=ssh_config,
        python=python,
        scheduler=scheduler,
        template=template,
        timeout=timeout,
        **api.slurm_settings(take_resource_values(slurm), env),
    )
    path = api.add_host(spec, replace=replace)
    click.echo(f"added host {name} ({dest}) to {path}; test it with `tether hosts check {name}`")


@hosts.command("ls")
@json_option
def ls(as_json: bool) -> None:
    """List the configured hosts."""
    configured = api.list_hosts()
    if as_json:
        print_json([{"name": n, **s.to_dict()} for n, s in configured.items()])
        return
    if not configured:
        click.echo("no hosts yet: add one with `tether hosts add NAME user@host`", err=True)
        return
    from rich.table import Table

    from tether.cli import render

    table = Table(box=None, header_style="bold")
    for col in ("name", "dest", "scheduler", "identity", "options"):
        table.add_column(col)
    for name, spec in configured.items():
        opts = " ".join(f"{k}={v}" for k, v in spec.options.items())
        if spec.ssh_config:
            opts = f"-F {spec.ssh_config} {opts}".strip()
        table.add_row(name, spec.dest, spec.scheduler, spec.identity or "", opts)
    render.console().print(table)


@hosts.command("rm")
@click.argument("name")
def rm(name: str) -> None:
    """Forget host NAME (nothing on the host is touched)."""
    api.remove_host(name)
    click.echo(f"removed host {name}")


@hosts.command("check")
@click.argument("name")
@json_option
def check(name: str, as_json: bool) -> None:
    """Connect to NAME: Python version, rsync, tether; one clear line when it fails."""
    spec = api.get_host(name)
    if spec.scheduler == "slurm":
        from tether.cli.slurm_hosts import print_cluster_check

        sys.exit(print_cluster_check(api.check_cluster(spec), as_json))
    result = api.check_host(spec)
    if as_json:
        print_json(result.to_dict())
    else:
        click.echo(result.summary())
    if not result.python_ok:
        sys.exit(1)


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("host", required=False)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh(host: str | None, command: tuple[str, ...]) -> None:
    """Open a shell on HOST in the project's folder there (or run COMMAND in it).

    Without HOST (and COMMAND), the project's pinned host (tether.toml). The folder is
    created if the project was never synced. One COMMAND word is a shell command line, as
    with ssh (`tether ssh gpu1 'pwd; ls'`); several words are a program and its arguments,
    each passed as is.
    """
    tty = not command and sys.stdin.isatty()
    sys.exit(api.shell_on_host(host, command, tty=tty))


@hosts.command("setup")
@click.argument("name")
@click.option("--force", is_flag=True, help="Reinstall even when the same version is there.")
def setup(name: str, force: bool) -> None:
    """Install this tether version on NAME (~/.tether/venv), from wheels built here."""
    click.echo(
        "tether: building wheels here and installing on the host (the first time takes a while)",
        err=True,
    )
    click.echo(api.bootstrap_host(name, force=force, say=sys.stderr))


@hosts.command("show-script", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@resource_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def show_script(name: str, command: tuple[str, ...], **slurm: object) -> None:
    """Print the sbatch script `run --on NAME [flags] -- COMMAND` would submit."""
    click.echo(api.slurm_script(name, take_resource_values(slurm), command), nl=False)
