"""The click group behind ``tether``: subcommands are imported on first use (from the table
in tether.cli.main), so ``tether ls`` loads the ``ls`` command's module and no other."""

from __future__ import annotations

import importlib

import click

from tether import __version__
from tether.cli.main import ALIASES, COMMANDS, HIDDEN


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(ALIASES.get(cmd_name, cmd_name))
        path = target[0] if target is not None else HIDDEN.get(cmd_name)
        if path is None:
            return None
        module_name, attr = path.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tether")
def cli() -> None:
    """tether: run long Python programs detached, here or elsewhere, and stay tethered to them.

    JOB arguments are a job number, a uuid prefix or a name pattern; omitted means the last job.
    """
