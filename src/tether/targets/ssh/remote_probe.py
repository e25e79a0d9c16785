"""Probing hosts in parallel: one :class:`ProbeRow` per host, each with its own timeout."""

from __future__ import annotations

import concurrent.futures as cf
from dataclasses import dataclass
from typing import Any

from tether import __version__
from tether.errors import TetherError
from tether.targets.probe import PROBE_SCRIPT, HostResources, local_probe, parse_probe_output
from tether.targets.ssh.check import REMOTE_VERSION_FILE
from tether.targets.ssh.command import remote_join
from tether.targets.ssh.hostspec import HostSpec
from tether.targets.ssh.transport import Transport

_VERSION_TAG = "tether-version="


@dataclass(frozen=True)
class ProbeRow:
    """One host's probe: its resources when reachable, else the one-line reason."""

    name: str
    resources: HostResources | None
    tether_version: str | None
    error: str | None = None

    @property
    def reachable(self) -> bool:
        return self.resources is not None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "host": self.name,
            "reachable": self.reachable,
            "tether_version": self.tether_version,
            "error": self.error,
        }
        if self.resources is not None:
            res = self.resources.to_dict()
            for gpu, obj in zip(res["gpus"], self.resources.gpus, strict=True):
                gpu["mem_free_bytes"] = obj.mem_free_bytes
            data.update(res)
        return data


def probe_script(spec: HostSpec) -> str:
    """The remote ``sh`` script: tether's version stamp, then the Python probe."""
    return (
        f'v=$(cat "$HOME/{REMOTE_VERSION_FILE}" 2>/dev/null) && echo "{_VERSION_TAG}$v"\n'
        f"exec {remote_join([*spec.python_argv, '-c', PROBE_SCRIPT])}\n"
    )


def probe_host(transport: Transport, timeout: float) -> ProbeRow:
    """Probe one host; failures become a row with ``error`` set (never raises)."""
    name = transport.spec.name
    try:
        result = transport.script(probe_script(transport.spec), timeout=timeout, what="the probe")
        resources = parse_probe_output(result.stdout)
    except TetherError as exc:
        return ProbeRow(name, None, None, str(exc))
    version = None
    for line in result.stdout.splitlines():
        if line.startswith(_VERSION_TAG):
            version = line[len(_VERSION_TAG) :].strip() or None
    return ProbeRow(name, resources, version)


def probe_all(
    hosts: dict[str, HostSpec], *, timeout: float = 15.0, include_local: bool = True
) -> list[ProbeRow]:
    """Probe ``hosts`` (and this machine) in parallel; rows in the order given, local first."""
    rows: list[ProbeRow] = []
    if include_local:
        rows.append(ProbeRow("local", local_probe(), __version__))
    if not hosts:
        return rows
    connect = max(1, min(10, int(timeout)))
    with cf.ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
        futures = [
            pool.submit(probe_host, Transport(spec, connect_timeout=connect), timeout)
            for spec in hosts.values()
        ]
        rows.extend(f.result() for f in futures)
    return rows
