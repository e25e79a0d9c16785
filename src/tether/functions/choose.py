"""Which target runs a dataset's worker job: the one place that picks a kind of target.

:func:`resolve_target` turns ``on=`` (``"local"``, a configured host, or a Target) into a
:class:`~tether.functions.targets.Target`; for a host, :func:`remote_target` picks the kind from
the host's configuration, unless :func:`register_remote` installed another maker (for tests or
plug-ins). The base and the local target live in :mod:`tether.functions.targets`, which imports
none of the remote targets: they import it, and this module imports them all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tether.errors import UsageError
from tether.functions.targets import LOCAL, LocalTarget, Target

_remote_factory: Callable[[str, Path], Target] | None = None


def register_remote(factory: Callable[[str, Path], Target] | None) -> None:
    """Install a maker of remote targets, ``factory(host, home) -> Target``, used instead of
    :func:`remote_target` (None goes back to it)."""
    global _remote_factory
    _remote_factory = factory


def remote_target(host: str, home: Path) -> Target:
    """The target for a configured host: the one place that picks the kind of target.

    Hosts come from ``hosts.toml`` (``tether hosts add``); a host's ``scheduler`` says which
    kind runs the worker job: ``"none"`` is plain SSH (:mod:`tether.functions.ssh_target`),
    ``"slurm"`` a job array per batch (:mod:`tether.functions.slurm_target`).
    """
    from tether.targets.ssh.hosts_config import get_host

    spec = get_host(host)
    if spec.scheduler == "none":
        from tether.functions.ssh_target import make_target

        return make_target(spec, home)
    if spec.scheduler == "slurm":
        from tether.functions.slurm_target import make_target as make_slurm_target

        return make_slurm_target(spec, home)
    raise UsageError(
        f"on={host!r}: host {host} uses the {spec.scheduler} scheduler, which Dataset and "
        "Executor do not support yet; use a plain SSH host or on='local'"
    )


def resolve_target(on: str | Target, home: Path) -> Target:
    """The target ``on=`` names: ``"local"``, a configured host, or a Target."""
    if isinstance(on, Target):
        return on
    if not isinstance(on, str) or not on:
        raise UsageError(f"on={on!r}: give 'local' or a host name")
    if on == LOCAL:
        return LocalTarget(home)
    if _remote_factory is not None:
        return _remote_factory(on, home)
    return remote_target(on, home)
