"""Session-scoped pytest fixtures for the real-server rigs.

* ``sshd_host``   -> :class:`rigs.sshd.SSHServer` on 127.0.0.1 (alias ``rig1``)
* ``sshd_host2``  -> :class:`rigs.sshd.SSHServer` in a network namespace (alias
  ``rig2``, own hostname and user; its ``ssh_config`` also holds ``rig1``); the
  namespace is ``sshd_host2.netns`` (``cut()``/``heal()``/``link_cut()``)
* ``mail_server`` -> :class:`rigs.mail.MailServer`
* ``slurm_cluster`` -> :class:`rigs.slurm.SlurmCluster` (``SLURM_CONF`` exported)

Every test that uses one of these fixtures (directly or through another
fixture, e.g. ``rig`` in ssh_fixtures or ``mail_server`` in mail_fixtures) is
given the ``rig`` marker at collection, so ``-m "not rig"`` leaves out exactly
the tests that start a server.

A rig whose binaries are missing (or that needs root) is skipped with the
reason - unless ``TETHER_REQUIRE_RIGS=1`` (CI), which turns that into a
failure. A rig that is installed but fails to start always errors, with the
tail of its daemon logs in the message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import NoReturn, TypeVar

import pytest

from rigs.common import RigUnavailable
from rigs.mail import MailServer
from rigs.slurm import SlurmCluster
from rigs.sshd import NetNamespace, SSHServer, cleanup_stale

T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    # aiosmtpd warns (from its server threads) that SMTPS requires AUTH without
    # requiring TLS: that listener IS TLS (implicit), the check cannot tell
    config.addinivalue_line(
        "filterwarnings", "ignore:Requiring AUTH while not requiring TLS:UserWarning"
    )


# the fixtures that start a real server; a test whose fixture closure holds one is a rig test
RIG_FIXTURES = frozenset({"sshd_host", "sshd_host2", "sshd_link", "mail_server", "slurm_cluster"})


def uses_rig(item: pytest.Item) -> bool:
    return bool(RIG_FIXTURES.intersection(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if uses_rig(item) and item.get_closest_marker("rig") is None:
            item.add_marker(pytest.mark.rig)


def rigs_required() -> bool:
    return os.environ.get("TETHER_REQUIRE_RIGS", "") not in ("", "0")


def _unavailable(reason: str) -> NoReturn:
    if rigs_required():
        pytest.fail(f"TETHER_REQUIRE_RIGS=1 but {reason}", pytrace=False)
    pytest.skip(reason)


_cleaned = False


def _cleanup_once() -> None:
    """Once per session: remove leftovers of earlier sessions that were killed."""
    global _cleaned
    if _cleaned:
        return
    _cleaned = True
    try:
        cleanup_stale()
    except Exception as e:  # best effort: never block the rigs
        print(f"rigs: stale cleanup failed: {e}")


def _start(factory: Callable[[], T], start: Callable[[T], None]) -> T:
    _cleanup_once()
    obj = factory()
    try:
        start(obj)
    except RigUnavailable as e:
        reason = str(e)
    else:
        return obj
    _unavailable(reason)  # outside the except: no chained traceback


@pytest.fixture(scope="session")
def sshd_host() -> Iterator[SSHServer]:
    """A private sshd on 127.0.0.1; ``ssh -F sshd_host.ssh_config rig1 CMD`` works."""
    server = _start(lambda: SSHServer("rig1"), SSHServer.start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sshd_host2(sshd_host: SSHServer) -> Iterator[SSHServer]:
    """A second "machine": sshd in its own network namespace, hostname ``rig2-host``.

    Same client key as ``sshd_host``, its own user and HOME. Its ``ssh_config``
    has stanzas for ``rig2`` and ``rig1``. Cut the link with
    ``sshd_host2.netns.cut()`` / ``heal()`` or ``with sshd_host2.netns.link_cut():``.
    """
    ns = _start(NetNamespace, NetNamespace.start)
    try:
        server = SSHServer(
            "rig2", identity_file=sshd_host.identity_file, netns=ns, hostname="rig2-host"
        )
        _start(lambda: server, SSHServer.start)
        server.include(sshd_host)
        try:
            yield server
        finally:
            ns.heal()
            server.stop()
    finally:
        ns.stop()


@pytest.fixture
def sshd_link(sshd_host2: SSHServer) -> Iterator[NetNamespace]:
    """``sshd_host2``'s namespace, with the link guaranteed healed after the test."""
    assert sshd_host2.netns is not None
    try:
        yield sshd_host2.netns
    finally:
        sshd_host2.netns.heal()


@pytest.fixture(scope="session")
def mail_server() -> Iterator[MailServer]:
    """aiosmtpd SMTP/submission/SMTPS + dovecot IMAP/IMAPS on loopback."""
    server = _start(MailServer, MailServer.start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """munged + slurmctld + slurmd (one node, partition ``debug``); SLURM_CONF exported."""
    cluster = _start(SlurmCluster, SlurmCluster.start)
    try:
        yield cluster
    finally:
        cluster.stop()
