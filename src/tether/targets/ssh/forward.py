"""A local port forwarded to a port on the host, over the shared (multiplexed) connection.

``ssh -O forward -L 127.0.0.1:LOCAL:127.0.0.1:REMOTE`` asks the running master to listen
on LOCAL here; ``ssh -O cancel`` with the same words stops it. The forward lives in the
master, so when the link drops and the master dies, :meth:`Forward.keep` asks again on the
next master (a new one it opens, or one another call opened meanwhile: the master's pid
tells them apart).
"""

from __future__ import annotations

import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable

from tether.errors import RemoteError, UsageError
from tether.targets.ssh.command import master_check_argv, ssh_options
from tether.targets.ssh.transport import Transport


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:PORT here. Connections of a forward that is
    gone, waiting out TIME-WAIT, do not count (ssh's own listener binds over them): without
    SO_REUSEADDR a forward used by a browser could not open again for a minute."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Forward:
    """127.0.0.1:``local_port`` here to 127.0.0.1:``remote_port`` on the transport's host."""

    def __init__(self, transport: Transport, local_port: int, remote_port: int) -> None:
        for port in (local_port, remote_port):
            if not 0 < port < 65536:
                raise UsageError(f"bad port {port}: use a number from 1 to 65535")
        self.transport = transport
        self.local_port = local_port
        self.remote_port = remote_port
        self._master: int | None = None

    @property
    def spec(self) -> str:
        return f"127.0.0.1:{self.local_port}:127.0.0.1:{self.remote_port}"

    def _control(self, op: str) -> tuple[int, str]:
        t = self.transport
        argv = ["ssh", *ssh_options(t.spec, t.controls), "-O", op, "-L", self.spec]
        argv += ["--", t.spec.destination.ssh_target]
        with tempfile.TemporaryFile() as err:
            proc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=30
            )
            err.seek(0)
            return proc.returncode, err.read().decode("utf-8", "replace").strip()

    def master_pid(self) -> int | None:
        """The pid of the running master connection, or None when there is none."""
        t = self.transport
        try:
            proc = subprocess.run(
                master_check_argv(t.spec, t.controls), capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        found = re.search(r"pid=(\d+)", proc.stderr + proc.stdout)
        return int(found.group(1)) if proc.returncode == 0 and found else None

    def open(self) -> None:
        """Make sure the master is up, then ask it to listen on the local port."""
        if not port_is_free(self.local_port):
            raise UsageError(
                f"port {self.local_port} is in use here; pick another with --port PORT"
            )
        self.transport.run(["true"], timeout=self.transport.connect_timeout + 20)
        code, err = self._control("forward")
        if code != 0:
            lines = err.splitlines()
            raise RemoteError(
                f"could not forward port {self.local_port} to {self.transport.spec.name}: "
                f"{lines[-1] if lines else f'exit code {code}'}"
            )
        self._master = self.master_pid()

    def close(self) -> None:
        """Stop listening (a master that is gone took the forward with it)."""
        try:
            self._control("cancel")
        except (OSError, subprocess.SubprocessError):
            pass

    def keep(
        self,
        say: Callable[[str], None],
        *,
        every: float = 2.0,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        """Until ``stop()`` (or Ctrl-C): check the master every ``every`` s and, when it
        died with the link, forward again on a new one."""
        lost = False
        while not stop():
            time.sleep(every)
            pid = self.master_pid()
            if pid is not None and pid == self._master:
                if lost:  # it was a hiccup of the check, not of the link
                    say(f"forwarding again on port {self.local_port}")
                    lost = False
                continue
            if not lost:
                say(f"lost the connection to {self.transport.spec.name}; reconnecting")
            lost = True
            try:
                self.open()
            except (RemoteError, UsageError):
                continue
            say(f"forwarding again on port {self.local_port}")
            lost = False
