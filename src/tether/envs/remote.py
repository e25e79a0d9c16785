"""``tether env --on HOST`` and ``tether install --on HOST``: the project's env on a host.

The requirements are worked out here (pinned to what is installed here), the project is
synced, tether is installed on the host when needed, then the host's own ``tether env`` (or
``install``) runs in the project's copy with the requirement lines on stdin, its progress
shown here as it happens. The host records the env for its copy of the project, so
``tether run --on HOST`` of that project runs with the env's python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from tether.envs.installer import IndexOptions
from tether.envs.lines import Requirements

if TYPE_CHECKING:
    from tether.targets.ssh.project import Project
    from tether.targets.ssh.transport import Transport


def requirement_args(requirements: Requirements, index: IndexOptions) -> list[str]:
    """Words telling the host's tether to use the lines on stdin and this index setup."""
    return ["--on", "local", "--requirements", "-", "--source", requirements.source, *index.args()]


def on_host(
    host: str,
    verb: str,
    requirements: Requirements,
    *,
    index: IndexOptions,
    packages: Sequence[str] = (),
    say: IO[str] | None = None,
    prepared: tuple[Project, Transport] | None = None,
) -> tuple[str, Any]:
    """Run ``tether VERB`` (``env`` or ``install``) for this project on ``host``; return the
    host's name and its JSON answer. ``prepared``: the project already synced there (and
    tether installed), as :func:`~tether.targets.ssh.remote_jobs.prepare_host` returns."""
    from tether.targets.ssh.remote_jobs import prepare_host, project_folder
    from tether.targets.ssh.remote_stream import stream_json

    project, transport = prepared or prepare_host(host, say)
    args = [verb, *requirement_args(requirements, index), *(["--", *packages] if packages else [])]
    stdin = "".join(f"{line}\n" for line in requirements.lines).encode()
    data = stream_json(transport, args, folder=project_folder(project), input=stdin, say=say)
    return transport.spec.name, data
