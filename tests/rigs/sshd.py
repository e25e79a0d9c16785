"""OpenSSH server rig: a private sshd on loopback (or in a network namespace).

Each :class:`SSHServer` runs ``/usr/sbin/sshd -D`` as root with its own host
key, accepts one throwaway system user (created for the session, HOME in a
fresh temp dir, so everything a test does remotely lands in an isolated home)
and writes a client config with a ``Host`` alias, so ``ssh -F CFG rig1 cmd``
just works with a pinned host key.

:class:`NetNamespace` makes a second "machine": a network namespace reached
over a veth pair at 198.18.X.2 (RFC 2544 benchmarking range), with its own
hostname (UTS namespace). Its link can be cut (silent packet drop, like a
pulled cable) and healed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import shlex
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Literal

from rigs.common import (
    LOOPBACK,
    Daemon,
    RigError,
    RigUnavailable,
    cleanup_stale_workdirs,
    free_port,
    make_workdir,
    pid_alive,
    remove_tree,
    require_binaries,
    require_root,
    run,
    wait_until,
)

SSHD = "/usr/sbin/sshd"  # absolute: sshd re-execs itself
SSH_BINARIES = (SSHD, "ssh", "ssh-keygen", "rsync", "useradd", "userdel", "pkill", "pgrep")
NETNS_BINARIES = ("ip", "nft", "unshare")

USER_PREFIX = "tetherssh"
USER_COMMENT = "tether test rig"
NETNS_PREFIX = "tether"
_user_counter = itertools.count(1)
_netns_counter = itertools.count(1)


def _unique_suffix(counter: itertools.count[int]) -> str:
    """``<pid>`` the first time, then ``<pid>-2``, ``<pid>-3``... (stale-cleanup reads the pid)."""
    n = next(counter)
    return f"{os.getpid()}" if n == 1 else f"{os.getpid()}-{n}"


# ---------------------------------------------------------------- throwaway user


class TestUser:
    """A system user made for one session: ``useradd --system -p '*'`` with a given HOME.

    ``-p '*'`` matters: a fresh account gets ``!`` (locked), which sshd with
    ``UsePAM no`` refuses.
    """

    def __init__(self, name: str, home: Path, shell: str = "/bin/bash") -> None:
        self.name = name
        self.home = home
        self.shell = shell
        self.uid = -1
        self.gid = -1
        self.created = False

    def create(self) -> None:
        try:
            old = pwd.getpwnam(self.name)
        except KeyError:
            pass
        else:
            # names are unique per process (pid + counter): an existing one is
            # a leftover of a dead session whose pid was reused, unless not ours
            if not old.pw_gecos.startswith(USER_COMMENT):
                raise RigError(f"user {self.name} exists and is not a rig user")
            _kill_user(self.name)
            _userdel(self.name)
        self.home.mkdir(mode=0o700, exist_ok=True)
        cmd = [
            "useradd", "--system", "--user-group", "--no-create-home",
            "--home-dir", str(self.home), "--shell", self.shell,
            "--comment", f"{USER_COMMENT} (pid {os.getpid()})", "-p", "*", self.name,
        ]  # fmt: skip
        for attempt in range(20):  # /etc/passwd lock may be held by a concurrent useradd
            cp = run(cmd, check=False)
            if cp.returncode == 0:
                break
            if "lock" not in cp.stderr or attempt == 19:
                raise RigError(f"useradd {self.name} failed: {cp.stderr.strip()}")
            time.sleep(0.1)
        self.created = True
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        os.chown(self.home, self.uid, self.gid)

    def chown(self, path: Path) -> None:
        os.chown(path, self.uid, self.gid)

    def kill_processes(self, timeout: float = 5.0) -> None:
        """SIGKILL everything the user runs, until nothing is left."""
        if not self.created:
            return
        _kill_user(self.name, timeout)

    def remove(self) -> None:
        if not self.created:
            return
        self.kill_processes()
        _userdel(self.name)
        self.created = False


def _live_pids_of(uid: int) -> list[int]:
    """PIDs running as ``uid``, zombies excluded (they only wait for their parent)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
            pids.append(int(entry))
    return pids


def _kill_user(name: str, timeout: float = 5.0) -> None:
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return

    def gone() -> bool:
        subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
        return not _live_pids_of(uid)

    wait_until(gone, timeout, 0.02)


def _userdel(name: str) -> None:
    for _ in range(20):
        cp = run(["userdel", "-f", name], check=False)
        if cp.returncode == 0 or "does not exist" in cp.stderr:
            return
        time.sleep(0.1)


def cleanup_stale_users() -> None:
    """Remove rig users left behind by test sessions that died without teardown."""
    pattern = re.compile(rf"^{USER_PREFIX}-(\d+)(?:-\d+)?$")
    for pw in pwd.getpwall():
        m = pattern.match(pw.pw_name)
        if not m or not pw.pw_gecos.startswith(USER_COMMENT) or pid_alive(int(m.group(1))):
            continue
        _kill_user(pw.pw_name)
        _userdel(pw.pw_name)
        if pw.pw_dir.startswith("/tmp/tt-"):
            remove_tree(Path(pw.pw_dir).parent)


# ---------------------------------------------------------------- network namespace


class NetNamespace:
    """A network namespace joined to this host by a veth pair.

    Host side ``198.18.X.1/30``, namespace side ``198.18.X.2/30`` (:attr:`address`).
    An ``unreachable`` route for ``198.18.X.0/24`` is added first, so when the
    link is down packets for the test address are refused locally instead of
    following the default route off the machine.
    """

    def __init__(self) -> None:
        self.name = ""
        self.octet = -1
        self.host_if = ""
        self.ns_if = ""
        self.cut_mode: str | None = None
        self._route = ""
        self._stack = ExitStack()

    @property
    def address(self) -> str:
        return f"198.18.{self.octet}.2"

    @property
    def host_address(self) -> str:
        return f"198.18.{self.octet}.1"

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped to run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def __enter__(self) -> NetNamespace:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        require_root("netns")
        require_binaries("netns", NETNS_BINARIES)
        self._claim_subnet()
        suffix = _unique_suffix(_netns_counter)
        self.name = f"{NETNS_PREFIX}-{suffix}-x{self.octet}"
        tag = f"tt{self.octet}{os.getpid() % 100000}"  # interface names <= 15 chars
        self.host_if, self.ns_if = f"{tag}h", f"{tag}n"
        try:
            run(["ip", "netns", "add", self.name])
        except RigError as e:
            raise RigUnavailable(f"netns: cannot create a network namespace: {e}") from e
        self._stack.callback(self._delete_netns)
        run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if])
        self._stack.callback(run, ["ip", "link", "del", self.host_if], check=False)
        run(["ip", "link", "set", self.ns_if, "netns", self.name])
        run(["ip", "addr", "add", f"{self.host_address}/30", "dev", self.host_if])
        run(["ip", "link", "set", self.host_if, "up"])
        run(self.exec_argv(["ip", "link", "set", "lo", "up"]))
        run(self.exec_argv(["ip", "addr", "add", f"{self.address}/30", "dev", self.ns_if]))
        run(self.exec_argv(["ip", "link", "set", self.ns_if, "up"]))

    def _claim_subnet(self) -> None:
        # 'ip route add' fails if the route exists: that makes the claim atomic
        # between concurrent test sessions.
        used = run(["ip", "-4", "route", "show"]).stdout
        start = 20 + os.getpid() % 200
        for i in range(230):
            x = 20 + (start - 20 + i) % 230
            if f"198.18.{x}." in used:
                continue
            route = f"198.18.{x}.0/24"
            cp = run(["ip", "route", "add", "unreachable", route, "metric", "4000"], check=False)
            if cp.returncode == 0:
                self.octet, self._route = x, route
                self._stack.callback(
                    run, ["ip", "route", "del", "unreachable", route, "metric", "4000"], check=False
                )
                return
            if "Operation not permitted" in cp.stderr:
                raise RigUnavailable(f"netns: cannot add routes: {cp.stderr.strip()}")
        raise RigError("netns: no free 198.18.X.0/24 subnet")

    def _delete_netns(self) -> None:
        pids = run(["ip", "netns", "pids", self.name], check=False).stdout.split()
        for p in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(p), 9)
        run(["ip", "netns", "del", self.name], check=False)

    def stop(self) -> None:
        self.cut_mode = None
        self._stack.close()

    # -- link control

    def cut(self, mode: Literal["drop", "down"] = "drop") -> None:
        """Cut the link.

        ``drop``: every packet in and out of the namespace is silently dropped
        (nftables inside the namespace): open sessions hang until keep-alive
        timeouts, new connections time out - the realistic "network dropped".
        ``down``: the namespace's interface goes down (new connections may also
        fail fast with "No route to host").
        """
        if self.cut_mode is not None:
            raise RigError(f"link already cut ({self.cut_mode})")
        if mode == "drop":
            rules = (
                "table inet ttcut {\n"
                "  chain in { type filter hook input priority 0; policy drop;"
                ' iifname "lo" accept; }\n'
                "  chain out { type filter hook output priority 0; policy drop;"
                ' oifname "lo" accept; }\n'
                "}\n"
            )
            run(self.exec_argv(["nft", "-f", "-"]), input=rules)
        elif mode == "down":
            run(self.exec_argv(["ip", "link", "set", self.ns_if, "down"]))
        else:
            raise ValueError(f"unknown cut mode {mode!r}")
        self.cut_mode = mode

    def heal(self) -> None:
        """Undo :meth:`cut` (no-op if the link is up)."""
        if self.cut_mode == "drop":
            run(self.exec_argv(["nft", "delete", "table", "inet", "ttcut"]))
        elif self.cut_mode == "down":
            run(self.exec_argv(["ip", "link", "set", self.ns_if, "up"]))
        self.cut_mode = None

    @contextlib.contextmanager
    def link_cut(self, mode: Literal["drop", "down"] = "drop") -> Iterator[None]:
        """``with ns.link_cut(): ...`` - the link is down inside the block."""
        self.cut(mode)
        try:
            yield
        finally:
            self.heal()


def cleanup_stale_netns() -> None:
    """Delete namespaces (and their safety routes) of test sessions that died."""
    cp = run(["ip", "netns", "list"], check=False)
    pattern = re.compile(rf"^{NETNS_PREFIX}-(\d+)(?:-\d+)?-x(\d+)$")
    for line in cp.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = pattern.match(name)
        if not m or pid_alive(int(m.group(1))):
            continue
        for p in run(["ip", "netns", "pids", name], check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(p), 9)
        run(["ip", "netns", "del", name], check=False)
        route = f"198.18.{m.group(2)}.0/24"
        run(["ip", "route", "del", "unreachable", route, "metric", "4000"], check=False)


# ---------------------------------------------------------------- sshd


class SSHServer:
    """A private sshd and everything a client needs to reach it.

    After :meth:`start` (or ``with SSHServer() as s:``):

    * ``host``, ``port``, ``user``, ``alias`` - where and who
    * ``identity_file`` - client private key (ed25519, no passphrase)
    * ``known_hosts`` - pinned host key for ``[host]:port``
    * ``ssh_config`` - client config with a ``Host <alias>`` stanza
      (``ssh -F ssh_config alias cmd``)
    * ``home`` - the remote user's HOME (a fresh temp dir, removed at stop)
    * ``hostname`` - what ``hostname`` prints on the remote side
    """

    def __init__(
        self,
        alias: str = "rig1",
        *,
        user: str | None = None,
        identity_file: Path | None = None,
        netns: NetNamespace | None = None,
        hostname: str | None = None,
        shell: str = "/bin/bash",
        fast_kex: bool = True,
    ) -> None:
        self.alias = alias
        self.netns = netns
        self.user = user or f"{USER_PREFIX}-{_unique_suffix(_user_counter)}"
        self.shell = shell
        self.fast_kex = fast_kex
        self._given_identity = identity_file
        self._hostname = hostname
        self.workdir = Path()
        self.host = LOOPBACK
        self.port = 0
        self.identity_file = Path()
        self.known_hosts = Path()
        self.ssh_config = Path()
        self.home = Path()
        self.hostname = ""
        self.log_path = Path()
        self.startup_seconds = 0.0
        self.daemon: Daemon | None = None
        self._user: TestUser | None = None
        self._stanzas: list[str] = []
        self._stack = ExitStack()

    # -- lifecycle

    def __enter__(self) -> SSHServer:
        self.start()
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        require_root("sshd")
        require_binaries("sshd", SSH_BINARIES)
        t0 = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0

    def _start(self) -> None:
        self.workdir = make_workdir("ssh")
        self._stack.callback(remove_tree, self.workdir)
        w = self.workdir
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd insists on it as root

        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tt-host",
             "-f", str(w / "host_ed25519")])  # fmt: skip
        if self._given_identity is None:
            self.identity_file = w / "id_ed25519"
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tt-client",
                 "-f", str(self.identity_file)])  # fmt: skip
        else:
            self.identity_file = self._given_identity
        pub = Path(f"{self.identity_file}.pub").read_text()
        (w / "authorized_keys").write_text(pub)

        self.home = w / "home"
        self._user = TestUser(self.user, self.home, self.shell)
        self._stack.callback(self._user.remove)
        self._user.create()
        (self.home / ".ssh").mkdir(mode=0o700)
        self._user.chown(self.home / ".ssh")

        if self.netns is None:
            self.host, self.port = LOOPBACK, free_port()
            self.hostname = os.uname().nodename
        else:
            self.host, self.port = self.netns.address, 22  # own namespace: 22 is free
            self.hostname = self._hostname or f"{self.alias}-host"
        self._write_sshd_config(w / "sshd_config")
        self.log_path = w / "sshd.log"
        sshd = [SSHD, "-D", "-f", str(w / "sshd_config"), "-p", str(self.port),
                "-E", str(self.log_path)]  # fmt: skip
        if self.netns is None:
            argv = sshd
        else:
            script = f"hostname {shlex.quote(self.hostname)} && exec {shlex.join(sshd)}"
            argv = self.netns.exec_argv(["unshare", "--uts", "--", "sh", "-c", script])
        self.daemon = Daemon.spawn("sshd", argv, w / "sshd.stderr", extra_logs=[self.log_path])
        self._stack.callback(self._stop_daemon)
        self.daemon.wait_port(self.host, self.port, 20)

        host_pub = " ".join((w / "host_ed25519.pub").read_text().split()[:2])
        hostspec = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        self.known_hosts = w / "known_hosts"
        self.known_hosts.write_text(f"{hostspec} {host_pub}\n")
        self.ssh_config = w / "ssh_config"
        self._write_client_config()

    def _write_sshd_config(self, path: Path) -> None:
        w = self.workdir
        path.write_text(
            f"""\
ListenAddress {self.host}
HostKey {w}/host_ed25519
PidFile {w}/sshd.pid
AuthorizedKeysFile {w}/authorized_keys
AllowUsers {self.user}
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
# no PAM: /etc/pam.d is not consulted (hence useradd -p '*', see TestUser)
UsePAM no
# keys and configs live under /tmp, which StrictModes would reject
StrictModes no
# ~/.ssh/environment (SSHServer.set_env), e.g. SLURM_CONF for the slurm rig
PermitUserEnvironment yes
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
AcceptEnv LANG LC_* TETHER_*
Subsystem sftp internal-sftp
MaxStartups 100:30:200
MaxSessions 64
LogLevel VERBOSE
"""
        )

    def config_stanza(self) -> str:
        """The ``Host <alias>`` block of the client config (self-contained)."""
        lines = [
            f"Host {self.alias}",
            f"  HostName {self.host}",
            f"  Port {self.port}",
            f"  User {self.user}",
            f"  IdentityFile {self.identity_file}",
            "  IdentitiesOnly yes",
            "  IdentityAgent none",
            f"  UserKnownHostsFile {self.known_hosts}",
            "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes",
            "  BatchMode yes",
            "  LogLevel ERROR",
            "  ConnectTimeout 10",
        ]
        if self.fast_kex:
            # OpenSSH 9.x's default sntrup761x25519 kex costs ~2x a plain curve25519 one
            lines.append("  KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org")
        return "\n".join(lines) + "\n"

    def include(self, other: SSHServer) -> None:
        """Add ``other``'s Host stanza to this server's client config file."""
        self._stanzas.append(other.config_stanza())
        self._write_client_config()

    def _write_client_config(self) -> None:
        self.ssh_config.write_text("\n".join([self.config_stanza(), *self._stanzas]))

    def _stop_daemon(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()

    def stop(self) -> None:
        """Stop sshd, kill everything the user left running, delete the user and files."""
        self._stack.close()
        self.daemon = None

    # -- helpers for tests

    @property
    def pid(self) -> int:
        return self.daemon.pid if self.daemon else -1

    @property
    def rsync_rsh(self) -> str:
        """Value for ``rsync -e`` / ``RSYNC_RSH``: ``ssh -F <ssh_config>``."""
        return f"ssh -F {self.ssh_config}"

    def ssh_argv(self, *options: str) -> list[str]:
        """``["ssh", "-F", cfg, *options, alias]`` - append the remote command."""
        return ["ssh", "-F", str(self.ssh_config), *options, self.alias]

    def run(
        self,
        cmd: str,
        *,
        check: bool = True,
        timeout: float = 60.0,
        input: str | None = None,
        options: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` (a shell string) remotely via ``ssh -F cfg alias``; text output."""
        return run([*self.ssh_argv(*options), cmd], check=check, timeout=timeout, input=input)

    def remote_path(self, *parts: str) -> Path:
        """A path inside the remote user's HOME."""
        return self.home.joinpath(*parts)

    def set_env(self, name: str, value: str) -> None:
        """Set an env var for every later ssh session (via ``~/.ssh/environment``)."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or "\n" in value:
            raise ValueError(f"bad environment entry {name}={value!r}")
        path = self.home / ".ssh" / "environment"
        env: dict[str, str] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                k, _, v = line.partition("=")
                env[k] = v
        env[name] = value
        path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        path.chmod(0o600)
        if self._user is not None:
            self._user.chown(path)

    def chown_to_user(self, path: Path) -> None:
        """Give a file or dir (recursively) created by the test process to the remote user."""
        assert self._user is not None
        for p in [path, *(path.rglob("*") if path.is_dir() else [])]:
            os.chown(p, self._user.uid, self._user.gid, follow_symlinks=False)

    def kill_user_processes(self) -> None:
        """SIGKILL every process of the remote user (sshd itself keeps running)."""
        if self._user is not None:
            self._user.kill_processes()

    def user_processes(self) -> list[str]:
        """``ps`` lines (pid, args) of what the remote user is running."""
        cp = run(["ps", "-o", "pid=,args=", "-u", self.user], check=False)
        return [ln.strip() for ln in cp.stdout.splitlines() if ln.strip()]


def cleanup_stale() -> None:
    """Remove leftovers (processes, dirs, users, namespaces) of earlier sessions that died."""
    cleanup_stale_workdirs()
    cleanup_stale_users()
    if os.path.exists("/run/netns"):
        cleanup_stale_netns()
