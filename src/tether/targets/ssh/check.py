"""``tether hosts check``: can we log in, which Python runs there, is rsync there."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tether.errors import RemoteError
from tether.targets.ssh.command import REMOTE_VENV, remote_join
from tether.targets.ssh.transport import Transport

#: The remote tether's version stamp (where it lives: ``command.REMOTE_VENV``).
REMOTE_VERSION_FILE = f"{REMOTE_VENV}/tether-version"
MIN_PYTHON = (3, 10)
_TAG = "tether-check "


@dataclass(frozen=True)
class HostCheck:
    """What ``hosts check`` found on one host."""

    name: str
    dest: str
    python_version: str
    rsync: bool
    tether_version: str | None

    @property
    def python_ok(self) -> bool:
        try:
            parts = tuple(int(p) for p in self.python_version.split(".")[:2])
        except ValueError:
            return False
        return parts >= MIN_PYTHON

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "python_ok": self.python_ok}

    def summary(self) -> str:
        """One line for people."""
        python = f"python {self.python_version}"
        if not self.python_ok:
            python += " (tether needs 3.10+ there to run jobs)"
        rsync = "rsync yes" if self.rsync else "rsync missing (sync falls back to tar)"
        tether = (
            f"tether {self.tether_version}"
            if self.tether_version
            else "tether not installed yet (installed on first use)"
        )
        return f"{self.name} ({self.dest}): reachable, {python}, {rsync}, {tether}"


def check_script(python_words: list[str]) -> str:
    """The remote ``sh`` script: rsync presence, tether's version stamp, then Python."""
    return "\n".join(
        [
            "if command -v rsync >/dev/null 2>&1; then r=yes; else r=no; fi",
            f'echo "{_TAG}rsync=$r"',
            f'v=$(cat "$HOME/{REMOTE_VERSION_FILE}" 2>/dev/null) && echo "{_TAG}tether=$v"',
            "exec "
            + remote_join(
                [
                    *python_words,
                    "-c",
                    f"import platform; print({_TAG!r} + 'python=' + platform.python_version())",
                ]
            ),
        ]
    )


def check_host(transport: Transport, *, timeout: float = 60) -> HostCheck:
    """Log in to the host and look around; raise a one-line RemoteError when that fails."""
    spec = transport.spec
    result = transport.script(check_script(spec.python_argv), timeout=timeout, what="the check")
    found: dict[str, str] = {}
    for line in result.stdout.splitlines():
        if line.startswith(_TAG):
            key, _, value = line[len(_TAG) :].strip().partition("=")
            found[key] = value
    if "python" not in found:
        raise RemoteError(
            f"{spec.name}: {spec.python} printed no version; check that it is Python 3 "
            f"(give another with `{transport.python_hint()}`)"
        )
    return HostCheck(
        name=spec.name,
        dest=spec.dest,
        python_version=found["python"],
        rsync=found.get("rsync") == "yes",
        tether_version=found.get("tether") or None,
    )
