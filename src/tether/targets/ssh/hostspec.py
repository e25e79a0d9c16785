"""What tether knows about one remote host, and the checks on what the user wrote.

A host is reached with the system's OpenSSH, so ``dest`` may be ``user@host:port``,
``host``, ``user@host``, an IPv6 address (``[::1]:2222``) or an alias from ``~/.ssh/config``.
Every value here ends up on an ``ssh`` command line, so each is checked for characters
that could be mistaken for options or break a config line (a leading ``-``, newlines).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.errors import ConfigError, UsageError

CONTROL_TIMEOUT = 10.0
"""Seconds a control call to a host may take by default (``timeout`` in ``hosts.toml``)."""

SCHEDULERS = ("none", "slurm")
RESERVED_NAMES = frozenset({"local", "auto"})
LOCAL_DEST = "local"
"""The DEST of a Slurm host whose commands run here (tether runs on the login node)."""
_ENV_NAME_RE = r"[A-Za-z_][A-Za-z0-9_]*"

_NAME_RE = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_HOST_RE = r"[A-Za-z0-9_][A-Za-z0-9._-]*"
_USER_RE = r"[A-Za-z0-9_][A-Za-z0-9._@-]*"
_OPTION_KEY_RE = r"[A-Za-z][A-Za-z0-9]{0,63}"
_SLURM_WORD_RE = r"[A-Za-z0-9_][A-Za-z0-9._,:+-]*"
"""Patterns matched with ``re.fullmatch`` (compiled on first use, cached by ``re``: the
control call does not compile those it does not use)."""
_BAD_CHARS = ("\n", "\r", "\0")

DEST_HELP = "write user@host[:port], host, [ipv6]:port or an alias from ~/.ssh/config"


@dataclass(frozen=True)
class Destination:
    """The parts of a DEST: ``host`` never has brackets; ``user``/``port`` may be unset."""

    host: str
    user: str | None = None
    port: int | None = None

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    @property
    def ssh_target(self) -> str:
        """The destination argument for ``ssh`` (``user@host``; the port goes in ``-p``)."""
        return f"{self.user}@{self.host}" if self.user else self.host

    @property
    def rsync_target(self) -> str:
        """The host part of an rsync remote path (IPv6 addresses in brackets)."""
        host = f"[{self.host}]" if self.is_ipv6 else self.host
        return f"{self.user}@{host}" if self.user else host

    def __str__(self) -> str:
        host = f"[{self.host}]" if self.is_ipv6 and self.port else self.host
        text = f"{self.user}@{host}" if self.user else host
        return f"{text}:{self.port}" if self.port else text


def _check_text(what: str, value: str) -> None:
    if any(c in value for c in _BAD_CHARS):
        raise UsageError(f"{what} {value!r} contains a line break or NUL; remove it")


def _parse_port(text: str, dest: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"bad port {text!r} in destination {dest!r}: use a number from 1 to 65535")
    return int(text)


def _check_ipv6(host: str, dest: str) -> None:
    import ipaddress

    address = host.split("%", 1)[0]
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise UsageError(f"bad IPv6 address {host!r} in destination {dest!r}; {DEST_HELP}")
    if "%" in host and not re.fullmatch(r"[A-Za-z0-9._-]+", host.split("%", 1)[1]):
        raise UsageError(f"bad IPv6 zone in destination {dest!r}; {DEST_HELP}")


def parse_destination(dest: str) -> Destination:
    """Split DEST into user, host and port; raise UsageError when it is not usable."""
    text = dest.strip()
    if not text:
        raise UsageError(f"the destination is empty; {DEST_HELP}")
    if any(c.isspace() or not c.isprintable() for c in text):
        raise UsageError(f"destination {dest!r} contains spaces or control characters; {DEST_HELP}")
    if text.startswith("ssh://"):
        text = text[len("ssh://") :].rstrip("/")
    user: str | None = None
    if "@" in text:
        user, _, text = text.rpartition("@")
        if not re.fullmatch(_USER_RE, user):
            raise UsageError(f"bad user name {user!r} in destination {dest!r}; {DEST_HELP}")
    port: int | None = None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise UsageError(f"bad bracketed address in destination {dest!r}; {DEST_HELP}")
        if rest:
            port = _parse_port(rest[1:], dest)
        _check_ipv6(host, dest)
    elif text.count(":") >= 2:
        host = text
        _check_ipv6(host, dest)
    else:
        host, colon, port_text = text.partition(":")
        if colon:
            port = _parse_port(port_text, dest)
        if not re.fullmatch(_HOST_RE, host):
            raise UsageError(f"bad host name {host!r} in destination {dest!r}; {DEST_HELP}")
    return Destination(host=host, user=user, port=port)


def validate_option(key: str, value: str) -> tuple[str, str]:
    """Check one ssh ``-o`` option; return it stripped."""
    key, value = key.strip(), value.strip()
    _check_text("ssh option", f"{key}={value}")
    if not re.fullmatch(_OPTION_KEY_RE, key):
        raise UsageError(
            f"{key!r} is not an ssh option name; use KEY=VALUE such as ServerAliveInterval=30"
        )
    if not value:
        raise UsageError(f"ssh option {key} has no value; use {key}=VALUE")
    return key, value


def parse_option(text: str) -> tuple[str, str]:
    """Parse one ``KEY=VALUE`` ssh option as given on the command line."""
    _check_text("ssh option", text)
    key, eq, value = text.partition("=")
    if not eq:
        raise UsageError(f"ssh option {text!r} has no '='; use KEY=VALUE such as ProxyJump=gateway")
    return validate_option(key, value)


def parse_options(items: Iterable[str]) -> dict[str, str]:
    """Parse several ``KEY=VALUE`` options; a key given twice keeps its last value."""
    return dict(parse_option(item) for item in items)


def _check_python(python: str) -> None:
    _check_text("python command", python)
    try:
        words = shlex.split(python)
    except ValueError as exc:
        raise UsageError(f"python command {python!r} cannot be parsed ({exc}); fix its quotes")
    if not words or words[0].startswith("-"):
        raise UsageError(f"python command {python!r} is not a program; use e.g. python3")


@dataclass(frozen=True)
class HostSpec:
    """One remote host: how to reach it and how to run Python there."""

    name: str
    dest: str
    identity: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    ssh_config: str | None = None
    scheduler: str = "none"
    partition: str | None = None
    account: str | None = None
    python: str = "python3"
    resources: dict[str, Any] = field(default_factory=dict)
    """Slurm resource defaults for this host's jobs (``cpus``, ``mem``, ``time``...)."""
    template: str | None = None
    """A sbatch script template file (see ``tether.targets.slurm.script``)."""
    env: dict[str, str] = field(default_factory=dict)
    """Variables set for the Slurm commands run for this host (e.g. ``SLURM_CONF``)."""
    timeout: float = CONTROL_TIMEOUT
    """Seconds a control call to this host (list, show, cancel ...) may take, connecting
    included, before it is given up with one line naming the host."""

    def __post_init__(self) -> None:
        if not re.fullmatch(_NAME_RE, self.name):
            raise UsageError(
                f"bad host name {self.name!r}: use letters, digits, '.', '_' or '-' "
                "(at most 64, starting with a letter or digit)"
            )
        if self.name in RESERVED_NAMES:
            raise UsageError(f"{self.name!r} is reserved for --on {self.name}; pick another name")
        object.__setattr__(self, "_destination", parse_destination(self.dest))
        for what, path in (("identity file", self.identity), ("ssh_config file", self.ssh_config)):
            if path is not None:
                _check_text(what, path)
                if not path.strip():
                    raise UsageError(f"the {what} path is empty; give a path or leave it out")
        object.__setattr__(
            self, "options", dict(validate_option(k, v) for k, v in self.options.items())
        )
        if self.scheduler not in SCHEDULERS:
            raise UsageError(f"unknown scheduler {self.scheduler!r}: use one of {SCHEDULERS}")
        for what, value in (("partition", self.partition), ("account", self.account)):
            if value is None:
                continue
            if self.scheduler != "slurm":
                raise UsageError(f"a Slurm {what} needs scheduler 'slurm'; add --scheduler slurm")
            if not re.fullmatch(_SLURM_WORD_RE, value):
                raise UsageError(f"bad Slurm {what} {value!r}: use letters, digits, '.', '_', '-'")
        _check_python(self.python)
        if (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, (int, float))
            or not (1 <= self.timeout <= 3600)
        ):
            raise UsageError(f"timeout {self.timeout!r}: give seconds from 1 to 3600")
        self._check_slurm_settings()

    def _check_slurm_settings(self) -> None:
        slurm_only: dict[str, object] = {"resources": self.resources, "env": self.env}
        slurm_only.update({"template": self.template, "DEST local": self.dest == LOCAL_DEST})
        for what, value in slurm_only.items():
            if value and self.scheduler != "slurm":
                raise UsageError(f"{what} needs scheduler 'slurm'; add --scheduler slurm")
        if self.template is not None:
            _check_text("template file", self.template)
        for key, value in self.env.items():
            if not re.fullmatch(_ENV_NAME_RE, key) or not isinstance(value, str):
                raise UsageError(f"bad env entry {key}={value!r}: use NAME=VALUE (a string)")
            _check_text("env value", value)
        if self.resources:
            from tether.targets.slurm.resources import parse_resources

            given = dict(self.resources)
            if "partition" in given or "account" in given:
                raise UsageError("give partition and account as host settings, not resources")
            object.__setattr__(self, "resources", parse_resources(**given).as_dict())

    @property
    def is_local(self) -> bool:
        """True when commands for this host run here (DEST ``local``), not over ssh."""
        return self.dest == LOCAL_DEST

    @property
    def destination(self) -> Destination:
        """The parsed ``dest``."""
        dest: Destination = self.__dict__["_destination"]
        return dest

    @property
    def python_argv(self) -> list[str]:
        """The remote Python command as words (``python`` may be ``conda run -n x python``)."""
        return shlex.split(self.python)

    def to_dict(self) -> dict[str, Any]:
        """A TOML-ready table (without the name, which is the table's key); skips defaults."""
        data: dict[str, Any] = {"dest": self.dest}
        if self.identity is not None:
            data["identity"] = self.identity
        if self.ssh_config is not None:
            data["ssh_config"] = self.ssh_config
        if self.scheduler != "none":
            data["scheduler"] = self.scheduler
        if self.partition is not None:
            data["partition"] = self.partition
        if self.account is not None:
            data["account"] = self.account
        if self.python != "python3":
            data["python"] = self.python
        if self.options:
            data["options"] = dict(self.options)
        if self.resources:
            data["resources"] = dict(self.resources)
        if self.template is not None:
            data["template"] = self.template
        if self.env:
            data["env"] = dict(self.env)
        if self.timeout != CONTROL_TIMEOUT:
            data["timeout"] = self.timeout
        return data

    @classmethod
    def from_dict(
        cls, name: str, data: Mapping[str, Any], *, source: str | None = None
    ) -> HostSpec:
        """Build from a TOML table; raise ConfigError naming the file and host when wrong."""
        where = f"{source}: host {name!r}" if source else f"host {name!r}"
        if not isinstance(data, Mapping):
            raise ConfigError(f'{where} must be a table with at least dest = "user@host"')
        known = {"dest", "identity", "ssh_config", "scheduler", "partition", "account"}
        known |= {"python", "template"}
        tables = {"options", "resources", "env"}
        every = known | tables | {"timeout"}
        unknown = sorted(set(data) - every)
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(unknown)}; known: {sorted(every)}"
            )
        if "dest" not in data:
            raise ConfigError(f'{where} has no dest; add dest = "user@host[:port]"')
        kwargs: dict[str, Any] = {}
        for key in sorted(known):
            if key in data:
                if not isinstance(data[key], str):
                    raise ConfigError(f"{where}: {key} must be a string, not {data[key]!r}")
                kwargs[key] = data[key]
        options = data.get("options", {})
        if not isinstance(options, Mapping):
            raise ConfigError(f'{where}: options must be a table of ssh options (KEY = "VALUE")')
        kwargs["options"] = {str(k): _option_value(v, where, str(k)) for k, v in options.items()}
        if "timeout" in data:
            if isinstance(data["timeout"], bool) or not isinstance(data["timeout"], (int, float)):
                raise ConfigError(f"{where}: timeout must be a number of seconds")
            kwargs["timeout"] = float(data["timeout"])
        for key in ("resources", "env"):
            table = data.get(key, {})
            if not isinstance(table, Mapping):
                raise ConfigError(f"{where}: {key} must be a table (KEY = VALUE)")
            kwargs[key] = dict(table)
        try:
            return cls(name=name, **kwargs)
        except UsageError as exc:
            raise ConfigError(f"{where}: {exc}")


def _option_value(value: object, where: str, key: str) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, str)):
        return str(value)
    raise ConfigError(f"{where}: ssh option {key} must be a string or number, not {value!r}")
