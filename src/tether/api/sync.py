"""The project and its files on a host through the API: ``sync``, ``push`` and ``pull``.

Everything calls :mod:`tether.targets.ssh.sync`; nothing is re-implemented.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tether.targets.ssh.project import Project
    from tether.targets.ssh.transport import Transport


@dataclass(frozen=True)
class Synced:
    """What ``sync`` did on ``host``: the fields of ``tether sync --json`` and one line."""

    host: str
    project: Path
    remote_dir: str
    changed: int
    method: str
    seconds: float
    summary: str
    sent: int = 0
    sent_bytes: int = 0
    deleted: int = 0
    unchanged: int | None = None
    data_files: int = 0

    def to_dict(self) -> dict[str, object]:
        """The fields of ``tether sync --json``."""
        return {
            "host": self.host,
            "project": str(self.project),
            "remote_dir": self.remote_dir,
            "changed": self.changed,
            "method": self.method,
            "seconds": round(self.seconds, 3),
            "sent": self.sent,
            "sent_bytes": self.sent_bytes,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "data_files": self.data_files,
        }


@dataclass(frozen=True)
class Copied:
    """What ``push`` or ``pull`` did: how many files, between ``host`` and ``where``."""

    count: int
    host: str
    where: str


def _transport_and_project(host: str | None) -> tuple[Transport, Project]:
    from tether.targets.ssh import hosts_config
    from tether.targets.ssh.project import find_project
    from tether.targets.ssh.transport import Transport

    project = find_project()
    return Transport(hosts_config.resolve_host(host, project.root)), project


def sync_project(host: str | None, *, method: str = "auto", max_size: int | None = None) -> Synced:
    """Copy the project here to ~/tether/projects/NAME/ on ``host`` (None: the project's).

    ``max_size``: the cap in bytes on what is sent (0: none; None: ``[sync] max_size`` of the
    project's ``tether.toml``, else 100 MB); over it, a UsageError and nothing is sent."""
    from tether.targets.ssh.sync import describe, sync_project

    transport, project = _transport_and_project(host)
    result = sync_project(transport, project, method=method, max_size=max_size)
    name = transport.spec.name
    return Synced(
        host=name, project=project.root, remote_dir=result.remote_dir, changed=result.changed,
        method=result.method, seconds=result.seconds, summary=describe(result, name),
        sent=result.sent, sent_bytes=result.sent_bytes, deleted=result.deleted,
        unchanged=result.unchanged, data_files=result.data_files,
    )  # fmt: skip


def push(host: str | None, local: str, remote: str | None = None) -> Copied:
    """Copy ``local`` (in the project here) to ``remote`` (in the copy there; default: the
    same); ``where``: the remote path."""
    from tether.targets.ssh import sync as ops
    from tether.targets.ssh.project import local_relpath, remote_relpath

    transport, project = _transport_and_project(host)
    local_rel = local_relpath(project, local)
    remote_rel = remote_relpath(remote if remote is not None else local_rel)
    count = ops.push(transport, project, local_rel, remote_rel)
    return Copied(count, transport.spec.name, project.remote_path(remote_rel))


def pull(host: str | None, remote: str, local: str | None = None) -> Copied:
    """Copy ``remote`` (in the copy there) to ``local`` (in the project here; default: the
    same; an existing folder or one written ``dir/``: into it); ``where``: the local path."""
    from tether.targets.ssh import sync as ops
    from tether.targets.ssh.project import local_relpath, remote_relpath

    remote_rel = remote_relpath(remote)
    transport, project = _transport_and_project(host)
    local_rel = local_relpath(project, local) if local is not None else remote_rel
    into = local is not None and (local.endswith("/") or (project.root / local_rel).is_dir())
    count = ops.pull(transport, project, remote_rel, local_rel, into_folder=into)
    return Copied(count, transport.spec.name, str(project.root / local_rel))
