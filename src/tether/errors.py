"""The exceptions tether raises. The CLI turns each into one clear line on stderr."""

from __future__ import annotations


class TetherError(Exception):
    """Base of every error tether raises on purpose; its message is meant for the user."""

    exit_code = 1


class UsageError(TetherError):
    """The user asked for something that cannot be done as asked (bad argument, bad value)."""

    exit_code = 2


class JobNotFound(TetherError):
    """No job matches the given number, uuid prefix or name."""


class ConfigError(TetherError):
    """A configuration file or setting is wrong; the message names the file and the line."""


class AgentError(TetherError):
    """The agent could not be started, reached or stopped."""


class ProgramError(TetherError):
    """A user's program cannot be run as given (missing file, syntax error, unknown parameter)."""


class RemoteError(TetherError):
    """A remote host could not be reached or refused what was asked of it."""


class NotInstalled(RemoteError):
    """A host has no tether yet (``tether hosts setup HOST`` installs it)."""


class ProjectMissing(RemoteError):
    """A host has no copy of the project (``tether sync --on HOST`` sends it)."""


class EnvNeeded(TetherError):
    """A host has no env yet for the project's requirements (``run --on`` then makes it and
    asks again)."""


class NotifyError(TetherError):
    """A notification channel is misconfigured or refused a message."""


class WaitTimeout(TetherError):
    """A wait gave up before the jobs finished (they keep running)."""

    exit_code = 124


class InvalidTransition(TetherError):
    """A job's status may not move that way (e.g. out of a finished status)."""
