"""The ``tether`` command. Subcommands load lazily so that ``tether run`` starts fast.

This module is the console entry point and imports nothing heavy: the command table is plain
data, ``tether --version`` is answered before click is imported, and the click group (with
the lazy subcommands) lives in tether.cli.group.
"""

from __future__ import annotations

import sys

from tether import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# command name -> "module:function" (the module is imported only when the command runs)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("tether.cli.run_cmd:run", "Run a program or command as a detached job."),
    "rerun": ("tether.cli.run_cmd:rerun", "Run a job again (same program, same arguments)."),
    "ls": ("tether.cli.jobs_cmd:ls", "List jobs."),
    "show": ("tether.cli.jobs_cmd:show", "Everything about one job."),
    "wait": ("tether.cli.jobs_cmd:wait", "Wait for a job (or all) and exit with its exit code."),
    "cancel": ("tether.cli.jobs_cmd:cancel", "Cancel a job: its whole process tree stops."),
    "clean": ("tether.cli.jobs_cmd:clean", "Remove finished jobs and their files."),
    "logs": ("tether.cli.logs_cmd:logs", "Show a job's output (tail, grep, follow)."),
    "scalars": ("tether.cli.logs_cmd:scalars", "A job's metrics: latest, min, max, sparkline."),
    "top": ("tether.cli.top_cmd:top", "CPU and memory of running jobs: now, peak, mean."),
    "agent": ("tether.cli.agent_cmd:agent", "Start, stop or inspect the background agent."),
    "notify": ("tether.cli.notify_cmd:notify", "Notification channels: send a test message."),
    "notifications": ("tether.cli.notify_cmd:notifications", "A job's notifications and status."),
    "mail": ("tether.cli.mail_cmd:mail", "Set up email (SMTP) for notifications."),
    "hosts": ("tether.cli.hosts_cmd:hosts", "Add, list, remove or check remote hosts (SSH)."),
    "ssh": ("tether.cli.hosts_cmd:ssh", "Open a shell on a host in the project's folder."),
    "sync": ("tether.cli.sync_cmd:sync", "Copy the project to a host (changed files only)."),
    "push": ("tether.cli.sync_cmd:push", "Copy a file or folder of the project to a host."),
    "pull": ("tether.cli.sync_cmd:pull", "Copy a file or folder of the project from a host."),
    "env": ("tether.cli.env_cmd:env", "Make or reuse the project's virtualenv (here or a host)."),
    "install": ("tether.cli.env_cmd:install", "Install packages into the project's virtualenv."),
    "data": ("tether.cli.data_cmd:data", "Download URLs into the project's data/ (with resume)."),
    "probe": ("tether.cli.probe_cmd:probe", "CPUs, load, memory, disk and GPUs of every host."),
    "notebook": ("tether.cli.notebook_cmd:notebook", "Start Jupyter as a job (here or a host)."),
    "params": ("tether.cli.tuning_cmd:params", "List a script's tunables."),
    "diff": ("tether.cli.tuning_cmd:diff", "Program and parameter changes between two jobs."),
    "save": ("tether.cli.tuning_cmd:save", "Write a job's program back over the original."),
    "history": ("tether.cli.tuning_cmd:history", "Every attempt of a program, with results."),
    "sweep": ("tether.cli.tuning_cmd:sweep", "Queue a grid or random search of parameters."),
    "web": ("tether.cli.web_cmd:web", "Serve the web dashboard (jobs, logs, charts, controls)."),
}


HIDDEN: dict[str, str] = {"_answer": "tether.cli.answer_cmd:answer"}
"""Commands for another machine's tether, not for people (not listed in the help)."""

ALIASES = {"submit": "run", "list": "ls", "report": "show"}
"""Meeshkan's spellings, accepted (not listed in the help)."""


def __getattr__(name: str) -> Any:
    if name in ("cli", "LazyGroup"):  # the click group, loaded on first use
        from tether.cli import group

        return getattr(group, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI, turning tether's errors into one line on stderr.

    A command the resident front runs (:mod:`tether.cli.front`) is handed to it when it is
    there; otherwise, and for ``argv`` given by a caller, it runs in this process."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        # what click's version option prints, without importing click (issue 28)
        sys.stdout.write(f"tether, version {__version__}\n")
        return 0
    if argv is None:
        from tether.cli import front

        if front.wanted(args):
            code = front.run(args)
            if code is not None:
                sys.exit(code)
    return run_here(argv)


def run_here(argv: list[str] | None = None) -> Any:
    """Run the CLI in this process (what the front's child runs, too)."""
    import click

    from tether.cli.group import cli
    from tether.errors import TetherError

    try:
        return cli.main(args=argv, prog_name="tether", standalone_mode=False)
    except TetherError as exc:
        click.echo(f"tether: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("tether: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
