"""Running commands on a remote host with the system ``ssh`` and ``rsync``.

Every call goes through :func:`~tether.targets.ssh.command.ssh_argv`, so connections are
multiplexed over one master per host (control sockets under ``TETHER_HOME/ssh``, or a
short ``/tmp`` fallback when that path is too long for a socket). The remote command is a
list of words, quoted for the remote shell; nothing the user typed is ever parsed as
shell code there. Failures become :class:`~tether.targets.ssh.failures.SshFailure`, one
clear line naming the host.

stderr always goes to a temporary file, never a pipe: the ``ssh`` call that becomes the
master forks into the background, and older OpenSSH releases keep the stderr it was given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tether.paths import tether_home
from tether.targets.ssh.command import (
    master_check_argv,
    master_exit_argv,
    remote_shell,
    ssh_argv,
)
from tether.targets.ssh.failures import (
    SshFailure,
    classify_ssh_failure,
    hint_flags,
    python_hint,
)
from tether.targets.ssh.hostspec import HostSpec

DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Result:
    """What a remote command printed, and how it exited."""

    returncode: int
    stdout: str
    stderr: str


def control_dir() -> Path:
    """Where control sockets live: ``TETHER_HOME/ssh`` (see ``command.control_socket_dir``)."""
    return tether_home() / "ssh"


def _stderr_file() -> IO[bytes]:
    """An anonymous file for a call's stderr: in memory where the system has ``memfd_create``
    (Linux; no ``tempfile`` import, no file on disk), else a temporary file."""
    if hasattr(os, "memfd_create"):
        try:
            return os.fdopen(os.memfd_create("tether-ssh-stderr", os.MFD_CLOEXEC), "w+b")
        except OSError:  # an old kernel, or a sandbox that forbids it
            pass
    import tempfile

    return tempfile.TemporaryFile()


def _read(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode("utf-8", "replace")


class Transport:
    """One host, reached over a shared (multiplexed) ssh connection."""

    def __init__(
        self, spec: HostSpec, *, controls: Path | None = None, connect_timeout: int | None = None
    ) -> None:
        self.spec = spec
        self.controls = controls if controls is not None else control_dir()
        self.connect_timeout = connect_timeout or max(1, int(spec.timeout))
        """Seconds ssh may take to connect (default: the host's ``timeout``)."""

    # -- building blocks

    def argv(
        self, remote_cmd: Sequence[str], *, tty: bool = False, batch: bool = True
    ) -> list[str]:
        """The ``ssh`` argv that runs ``remote_cmd`` (words) on this host."""
        return ssh_argv(
            self.spec,
            self.controls,
            remote_cmd=remote_cmd,
            tty=tty,
            batch=batch,
            connect_timeout=self.connect_timeout,
        )

    def failure(self, returncode: int, stderr: str) -> SshFailure:
        """A one-line error for a failed call to this host."""
        spec = self.spec
        return classify_ssh_failure(
            returncode,
            stderr,
            spec.name,
            dest=spec.dest,
            flags=hint_flags(spec.ssh_config, spec.identity),
        )

    def python_hint(self) -> str:
        """The ``tether hosts add ... --python PATH --replace`` command for this host."""
        spec = self.spec
        return python_hint(spec.name, spec.dest, hint_flags(spec.ssh_config, spec.identity))

    def timeout_error(self, what: str, timeout: float) -> SshFailure:
        """The one-line error for ``what`` that got no answer within ``timeout`` seconds."""
        return self._timeout(what, timeout)

    def _timeout(self, what: str, timeout: float) -> SshFailure:
        name = self.spec.name
        return SshFailure(
            f"{name}: no answer to {what} within {timeout:g} s (check the host is up and not "
            f"overloaded: `tether hosts check {name}`)",
            kind="timeout",
            host=self.spec.name,
            returncode=-1,
            stderr="",
        )

    def call(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        stdin: IO[bytes] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        check: bool = True,
        what: str = "the command",
    ) -> Result:
        """Run a local ``ssh``/``rsync`` argv; stderr through a temp file (see module doc).

        ``input`` (bytes) or ``stdin`` (an open file) feed the command; else it reads nothing.
        """
        import subprocess  # where used: a call answered by the forwarded socket starts none

        with _stderr_file() as err:
            try:
                proc = subprocess.run(
                    list(argv),
                    input=input,
                    stdin=stdin if stdin is not None or input is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                self.close()  # a master on a dead link would hold the next call as long
                raise self._timeout(what, timeout or 0)
            except FileNotFoundError as exc:
                raise SshFailure(
                    f"{exc.filename} is not installed here: install OpenSSH client and rsync",
                    kind="local",
                    host=self.spec.name,
                    returncode=127,
                    stderr=str(exc),
                )
            result = Result(proc.returncode, proc.stdout.decode("utf-8", "replace"), _read(err))
        if check and result.returncode != 0:
            raise self.failure(result.returncode, result.stderr)
        return result

    # -- what callers use

    def run(
        self,
        remote_cmd: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        check: bool = True,
        what: str = "the command",
    ) -> Result:
        """Run ``remote_cmd`` (a list of words) remotely and capture its output; ``what`` it
        is, for messages (words for people: never the program's internal name).

        With ``check`` any non-zero exit raises; without it only ssh's own failures (255) do.
        """
        result = self.call(
            self.argv(remote_cmd),
            input=input,
            timeout=timeout,
            check=False,
            what=what,
        )
        if result.returncode == 255 or (check and result.returncode != 0):
            raise self.failure(result.returncode, result.stderr)
        return result

    def script(
        self,
        script: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        check: bool = True,
        what: str = "the command",
    ) -> Result:
        """Run a multi-line ``sh`` script remotely (whatever the login shell is); ``what``
        it is, for messages."""
        return self.run(remote_shell(script), timeout=timeout, check=check, what=what)

    def interactive(self, remote_cmd: Sequence[str], *, tty: bool = True) -> int:
        """Run ``remote_cmd`` attached to this terminal; return its exit code.

        A quick ``true`` first opens (or reuses) the master, so a failure to connect is
        reported as one clear line; the session itself then rides on that connection.
        """
        import subprocess

        self.run(["true"], timeout=self.connect_timeout + 20)
        argv = self.argv(remote_cmd, tty=tty)
        return subprocess.run(argv, check=False).returncode

    def is_connected(self) -> bool:
        """True when a master connection to this host is up (a cheap local check)."""
        import subprocess

        argv = master_check_argv(self.spec, self.controls)
        proc = subprocess.run(argv, capture_output=True, check=False, timeout=10)
        return proc.returncode == 0

    def close(self) -> None:
        """Close the master connection, if any."""
        import subprocess

        argv = master_exit_argv(self.spec, self.controls)
        subprocess.run(argv, capture_output=True, check=False, timeout=10)
