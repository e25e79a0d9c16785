"""``tether env`` and ``tether install``: the project's Python environment, here or on a host."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tether.cli.context import json_option, print_json
from tether.errors import UsageError

if TYPE_CHECKING:
    from tether.envs.installer import IndexOptions
    from tether.envs.lines import Requirements


def _env_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--on",
            "host",
            metavar="HOST",
            help="On this host (default: tether.toml's; local: here).",
        ),
        click.option(
            "--requirements",
            "-r",
            "req_file",
            metavar="FILE",
            help="Use FILE's requirement lines instead of working them out (- for stdin).",
        ),
        click.option("--source", hidden=True, help="Where the --requirements lines came from."),
        click.option(
            "--find-links",
            multiple=True,
            metavar="DIR|URL",
            help="Also look for packages there (repeatable; e.g. a folder of wheels).",
        ),
        click.option("--no-index", is_flag=True, help="Do not use the package index (PyPI)."),
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _requirements(root: Path, req_file: str | None, source: str | None) -> Requirements:
    from tether.envs.lines import Requirements, read_requirements_file
    from tether.envs.requirements import project_requirements

    if req_file is None:
        return project_requirements(root)
    if req_file == "-":
        text = sys.stdin.read()
        lines = [line.strip() for line in text.splitlines()]
        lines = [line for line in lines if line and not line.startswith("#")]
    else:
        lines = read_requirements_file(Path(req_file))
    return Requirements(source=source or req_file, lines=lines)


def _index(find_links: tuple[str, ...], no_index: bool, *, here: bool) -> IndexOptions:
    """The index options; ``here``: local folders made absolute (on a host, the host's tether
    does that for its own folders)."""
    import os

    from tether.envs.installer import IndexOptions, project_index

    if not find_links and not no_index:  # no flags: tether.toml's [env] settings
        configured = project_index(Path.cwd())
        find_links, no_index = configured.find_links, configured.no_index
    if here:
        find_links = tuple(os.path.abspath(p) if os.path.exists(p) else p for p in find_links)
    return IndexOptions(find_links=find_links, no_index=no_index)


def _describe_requirements(req: Requirements, where: str) -> None:
    origin = {
        "imports": f"from the project's imports, pinned to the versions installed {where}",
    }.get(req.source, f"from {req.source}")
    click.echo(f"requirements ({len(req.lines)}, {origin}):")
    for line in req.lines:
        note = "  (not installed here: unpinned)" if line in req.unpinned else ""
        click.echo(f"  {line}{note}")


def _describe_env(data: dict[str, Any], host: str | None) -> None:
    where = f" on {host}" if host else ""
    if data.get("reused"):
        how = "reused (requirements unchanged)"
        if data.get("installed"):
            how += f"; added {', '.join(data['installed'])}"
    else:
        how = f"made in {data.get('seconds', 0):.1f} s with {data.get('installer')}"
    click.echo(f"env{where}: {data['env_dir']}: {how}")
    click.echo(f"jobs of this project{where} run with {data['python']}")


def _project_root() -> Path:
    from tether.jobs.env_records import project_root

    return project_root(Path.cwd())


def _host(host: str | None) -> str | None:
    """The host to work on (None: here); an unknown one is refused before anything is done."""
    from tether.backends import pick_host

    remote = pick_host(host)
    if remote is not None:
        from tether.api.host_admin import get_host

        get_host(remote)
    return remote


@click.command()
@_env_options
@click.option("--dry-run", is_flag=True, help="Show the requirements and the env; change nothing.")
def env(
    host: str | None,
    req_file: str | None,
    source: str | None,
    find_links: tuple[str, ...],
    no_index: bool,
    as_json: bool,
    dry_run: bool,
) -> None:
    """Make (or reuse) the project's virtualenv and install what the project needs.

    The requirements are requirements.txt, else pyproject.toml's dependencies, else the
    project's imports pinned to the versions installed here. The env is reused while they
    stay the same; jobs of the project then run with its python.
    """
    from tether.paths import tether_home

    remote = _host(host)
    root = _project_root()
    req = _requirements(root, req_file, source)
    index = _index(find_links, no_index, here=remote is None)
    if not as_json:
        _describe_requirements(req, "here")
    if remote is not None:
        if dry_run:
            _finish({"host": remote, "requirements": req.lines, "dry_run": True}, as_json, remote)
            return
        from tether.envs.remote import on_host

        name, data = on_host(remote, "env", req, index=index, say=sys.stderr)
        _finish({**data, "unpinned": req.unpinned}, as_json, name)
        return
    from tether.envs.venv import ensure_env

    say = sys.stderr
    result = ensure_env(root, req, home=tether_home(), index=index, say=say, dry_run=dry_run)
    data = {**result.to_json(), "unpinned": req.unpinned, "dry_run": dry_run}
    if dry_run and not as_json:
        state = "exists, would be reused" if result.reused else "would be made"
        click.echo(f"env: {data['env_dir']}: {state}")
        return
    _finish(data, as_json, None)


def _finish(data: dict[str, Any], as_json: bool, host: str | None) -> None:
    if as_json:
        print_json({**data, "host": host})
    elif data.get("dry_run") and host:
        click.echo(f"env on {host}: made or reused for these requirements (nothing done)")
    else:
        _describe_env(data, host)


@click.command()
@_env_options
@click.argument("packages", nargs=-1, required=True)
def install(
    host: str | None,
    req_file: str | None,
    source: str | None,
    find_links: tuple[str, ...],
    no_index: bool,
    as_json: bool,
    packages: tuple[str, ...],
) -> None:
    """Install PACKAGES into the project's env (made first when needed) and keep them there.

    PACKAGES are what pip takes: names with versions, wheel files, folders. They are
    recorded, so an env made later for the project (new requirements) gets them too.
    """
    from tether.paths import tether_home

    if not packages:
        raise UsageError("give the packages to install: tether install PKG...")
    remote = _host(host)
    root = _project_root()
    req = _requirements(root, req_file, source)
    index = _index(find_links, no_index, here=remote is None)
    if remote is not None:
        from tether.envs.remote import on_host

        name, data = on_host(remote, "install", req, index=index, packages=packages, say=sys.stderr)
        _finish_install(data, as_json, name, packages)
        return
    from tether.envs.venv import install_packages

    result = install_packages(
        root, req, packages, home=tether_home(), cwd=Path.cwd(), index=index,
        say=sys.stderr,
    )  # fmt: skip
    _finish_install(result.to_json(), as_json, None, packages)


def _finish_install(
    data: dict[str, Any], as_json: bool, host: str | None, packages: tuple[str, ...]
) -> None:
    if as_json:
        print_json({**data, "host": host})
        return
    where = f" on {host}" if host else ""
    click.echo(f"installed {' '.join(packages)} into the env{where} {data['env_dir']}")
