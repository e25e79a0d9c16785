"""The user's remote hosts, kept in ``hosts.toml`` in tether's user config folder.

The folder is ``$TETHER_CONFIG_DIR`` when set, else the platform's user config folder
(``~/.config/tether`` on Linux). The file holds one table per host::

    [hosts.gpu1]
    dest = "me@gpu1.example.org:2222"
    identity = "~/.ssh/id_ed25519"
    options = { ProxyJump = "gateway" }

No password is ever stored: keys, the agent and ``ssh_config`` come from OpenSSH.
A project may pin its default host in ``tether.toml`` at its root::

    [tether]
    host = "gpu1"
"""

from __future__ import annotations

import os
from pathlib import Path

from tether.config import config_dir, load_toml
from tether.errors import ConfigError, UsageError
from tether.targets.ssh.hostspec import HostSpec

HOSTS_FILE = "hosts.toml"
PROJECT_FILE = "tether.toml"


def hosts_path() -> Path:
    """The ``hosts.toml`` file (it may not exist yet)."""
    return config_dir() / HOSTS_FILE


def load_hosts() -> dict[str, HostSpec]:
    """Every configured host by name, in the file's order."""
    path = hosts_path()
    data = load_toml(path)
    table = data.get("hosts", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [hosts] must be a table of hosts")
    return {
        name: HostSpec.from_dict(name, value, source=str(path)) for name, value in table.items()
    }


def save_hosts(hosts: dict[str, HostSpec]) -> Path:
    """Write ``hosts`` to ``hosts.toml`` atomically (mode 0600); return the file's path."""
    import tempfile  # only to write: reading the hosts loads neither

    import tomli_w

    path = hosts_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = load_toml(path)
    data["hosts"] = {name: spec.to_dict() for name, spec in hosts.items()}
    text = tomli_w.dumps(data)
    fd, tmp = tempfile.mkstemp(prefix=".hosts-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def add_host(spec: HostSpec, *, replace: bool = False) -> Path:
    """Store ``spec``; an existing host of that name is an error unless ``replace``."""
    hosts = load_hosts()
    if spec.name in hosts and not replace:
        raise UsageError(
            f"host {spec.name!r} exists already; remove it with `tether hosts rm {spec.name}` "
            "or pass --replace"
        )
    hosts[spec.name] = spec
    return save_hosts(hosts)


def remove_host(name: str) -> None:
    """Forget host ``name``."""
    hosts = load_hosts()
    if name not in hosts:
        raise UsageError(f"no host named {name!r}; see `tether hosts ls`")
    del hosts[name]
    save_hosts(hosts)


def get_host(name: str) -> HostSpec:
    """The host called ``name``, or a UsageError listing the known ones."""
    hosts = load_hosts()
    if name in hosts:
        return hosts[name]
    known = ", ".join(hosts) or "none yet"
    raise UsageError(
        f"no host named {name!r} (configured: {known}); add it with `tether hosts add {name} DEST`"
    )


def project_default_host(project_root: Path | None) -> str | None:
    """The host pinned by ``[tether] host = "NAME"`` in the project's ``tether.toml``."""
    if project_root is None:
        return None
    path = project_root / PROJECT_FILE
    data = load_toml(path)
    section = data.get("tether", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tether] must be a table")
    host = section.get("host")
    if host is None:
        return None
    if not isinstance(host, str) or not host:
        raise ConfigError(f'{path}: [tether] host must be a host name such as "gpu1"')
    return host


def resolve_host(name: str | None, project_root: Path | None) -> HostSpec:
    """The host for ``--on NAME``, or the project's pinned one when ``name`` is None."""
    if name is None:
        name = project_default_host(project_root)
        if name is None:
            hosts = ", ".join(load_hosts()) or "none configured"
            raise UsageError(
                f"which host? pass --on HOST (hosts: {hosts}) or pin one in tether.toml "
                '([tether] host = "NAME")'
            )
    return get_host(name)
