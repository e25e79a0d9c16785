"""Where a Slurm host's commands run: here (DEST ``local``) or on its login node over ssh.

Both runners take a list of words and give back what the command printed, so the code
that drives Slurm is the same in both modes. The host's ``env`` settings (``SLURM_CONF``,
``PATH``...) are set for every command: here in the child's environment, over ssh with
``env NAME=VALUE ...`` in front of the (quoted) words.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tether.errors import RemoteError
from tether.targets.ssh.hostspec import HostSpec

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Output:
    """What a command printed (stdout as bytes, stderr as text) and how it exited."""

    returncode: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


class Runner(Protocol):
    """Runs commands for one Slurm host."""

    where: str
    """For messages: ``here`` or the host's name."""

    def run(
        self, argv: Sequence[str], *, input: bytes | None = None, timeout: float | None = ...
    ) -> Output: ...


class LocalRunner:
    """Commands run here, as child processes."""

    where = "here"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = {**os.environ, **(env or {})}

    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> Output:
        try:
            proc = subprocess.run(
                list(argv),
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                capture_output=True,
                env=self.env,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            raise RemoteError(
                f"{argv[0]} is not installed here: run tether on a Slurm login node "
                "(or put Slurm's commands on PATH)"
            )
        except subprocess.TimeoutExpired:
            raise RemoteError(f"{argv[0]} took longer than {timeout:g} s here; is Slurm up?")
        return Output(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))


class SshRunner:
    """Commands run on the host's login node over its shared ssh connection."""

    def __init__(self, spec: HostSpec) -> None:
        from tether.targets.ssh.transport import Transport

        self.transport = Transport(spec)
        self.where = spec.name
        self.env = dict(spec.env)

    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> Output:
        words = list(argv)
        if self.env:
            words = ["env", *(f"{k}={v}" for k, v in self.env.items()), *words]
        ssh = self.transport.argv(words)
        import tempfile

        # stderr through a file, never a pipe: see tether.targets.ssh.transport
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.run(
                    ssh,
                    input=input,
                    stdin=None if input is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise self.transport._timeout(argv[0], timeout or 0)
            err.seek(0)
            stderr = err.read().decode("utf-8", "replace")
        if proc.returncode == 255:
            raise self.transport.failure(proc.returncode, stderr)
        return Output(proc.returncode, proc.stdout, stderr)


def runner_for(spec: HostSpec) -> Runner:
    """The runner for ``spec``: here when its DEST is ``local``, else over ssh."""
    return LocalRunner(spec.env) if spec.is_local else SshRunner(spec)
