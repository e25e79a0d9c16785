"""Turn what ``ssh``/``rsync`` printed on failure into one clear line naming the host."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from tether.errors import RemoteError, UsageError
from tether.targets.ssh.hostspec import parse_destination

#: Lines ssh prints that never explain a failure. (Patterns, compiled on first use by ``re``'s
#: cache: a call that succeeds compiles none.)
_NOISE = (
    r"^Warning: Permanently added ",
    r"^\*\* ",
    r"^@+$",
    r"^ControlSocket .* already exists, disabling multiplexing",
    r"^Warning: Identity file .* not accessible",
)

_NOT_FOUND_RES = (
    r"command not found: ([^\s:]+)",  # zsh
    r"Unknown command:? '?([^'\s]+)'?",  # fish
    r"([^\s:'\"]+)['\"]?: (?:[Cc]ommand not found|not found)",  # bash, dash, csh
    r"([^\s:'\"]+)['\"]?: No such file or directory",  # missing absolute path
)


class SshFailure(RemoteError):
    """A failed ssh/rsync call, with what went wrong as a short ``kind``.

    ``retryable`` is true for failures that may pass by themselves (network, timeouts).
    """

    def __init__(self, message: str, *, kind: str, host: str, returncode: int, stderr: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.host = host
        self.returncode = returncode
        self.stderr = stderr

    @property
    def retryable(self) -> bool:
        return self.kind in {"timeout", "unreachable", "closed", "refused", "unresolved", "mux"}


def _lines(stderr: str) -> list[str]:
    lines = [line.strip() for line in stderr.replace("\r", "\n").splitlines()]
    return [line for line in lines if line and not any(re.search(p, line) for p in _NOISE)]


def _guess_host(stderr: str) -> str | None:
    for pattern in (
        r"Could not resolve hostname ([^\s:]+)",
        r"connect to host (\S+) port",
        r"Connection (?:to|closed by|reset by) (\S+) port",
        r"(?:^|\n)(\S+): Permission denied",
        r"Host key for (\S+) has changed",
        r"host key is known for (\S+)",
    ):
        match = re.search(pattern, stderr)
        if match and match.group(1) != "UNKNOWN":
            return match.group(1)
    return None


def _missing_program(stderr: str) -> str | None:
    for pattern in _NOT_FOUND_RES:
        match = re.search(pattern, stderr)
        if match:
            return match.group(1)
    return None


def _ssh_args(dest: str, flags: Sequence[str] = ()) -> str:
    """DEST as ssh's command-line arguments: ``user@host:2222`` becomes ``-p 2222 user@host``;
    ``flags`` (such as ``-F FILE``, ``-i KEY``) come first, each word quoted for a shell."""
    try:
        parts = parse_destination(dest)
    except UsageError:
        words = [*flags, dest]
    else:
        port = ["-p", str(parts.port)] if parts.port else []
        words = [*flags, *port, parts.ssh_target]
    return " ".join([*(shlex.quote(w) for w in words[:-1]), words[-1]])


def _classify(
    returncode: int, stderr: str, h: str, dest: str, flags: Sequence[str] = ()
) -> tuple[str, str]:
    """Return (kind, message) for a failure on host ``h`` (reached as ``dest`` by ssh with
    ``flags`` before it)."""
    where = dest
    dest = _ssh_args(dest, flags)
    text = stderr
    lower = text.lower()
    # ssh exits 255 on its own errors; rsync passes that on, or says 12 (protocol stream).
    ssh_level = returncode in (255, 12)

    changed = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "has changed and you have")
    if ssh_level and any(marker in text for marker in changed):
        match = re.search(r"ssh-keygen -f (\S+) -R (\S+)", text)
        fix = f"`{match.group(0)}`" if match else f"`ssh-keygen -R {dest}`"
        return "host_key_changed", (
            f"the host key of {h} has changed (the host was reinstalled, or someone is "
            f"intercepting the connection): check with its admin, then run {fix} and connect again"
        )
    if ssh_level and "Host key verification failed" in text:
        return "host_key_unknown", (
            f"the host key of {h} is not known yet: connect once with `ssh {dest}` and accept it, "
            "or add StrictHostKeyChecking=accept-new to its ssh options"
        )
    if "No space left on device" in text:
        return (
            "disk_full",
            f"the disk on {h} is full (No space left on device): free some space there",
        )
    if "Disk quota exceeded" in text:
        return "disk_full", f"your disk quota on {h} is used up: delete files there or ask for more"

    if ssh_level and ("Permission denied (" in text or "Too many authentication failures" in text):
        match = re.search(r"Permission denied \(([^)]*)\)", text)
        methods = f" ({match.group(1)})" if match else ""
        missing = re.search(r"Identity file (.+?) not accessible", text)
        if missing:
            return "auth", (
                f"{h} refused the login and the identity file {missing.group(1)} does not exist: "
                "fix the --identity path"
            )
        return "auth", (
            f"{h} refused the login{methods}: add your public key there (ssh-copy-id {dest}) "
            "or pass --identity PATH to the right private key"
        )

    resolve_markers = (
        "could not resolve hostname",
        "name or service not known",
        "nodename nor servname",
        "temporary failure in name resolution",
        "no address associated with hostname",
    )
    if ssh_level and any(marker in lower for marker in resolve_markers):
        return "unresolved", (
            f"cannot resolve the host name {h}{'' if where == h else f' ({where})'}: check its "
            "spelling, your ~/.ssh/config "
            "and your network or VPN"
        )
    if ssh_level and "Connection refused" in text and "Control socket" not in text:
        match = re.search(r"port (\d+)", text)
        port = f" on port {match.group(1)}" if match else ""
        return "refused", (
            f"{h} refused the connection{port}: check that sshd runs there and the port is right"
        )
    if ssh_level and "timed out" in lower:
        return "timeout", (
            f"connecting to {h} timed out: check that it is up and reachable "
            "(network, VPN, firewall, ProxyJump)"
        )
    if ssh_level and any(
        s in text for s in ("No route to host", "Network is unreachable", "Host is down")
    ):
        return "unreachable", f"{h} is unreachable from here: check your network or VPN"

    program = _missing_program("\n".join(_lines(text)))
    rsync_rc = returncode in (12, 127) and "rsync" in lower
    if program and "rsync" in program.rsplit("/", 1)[-1]:
        return (
            "no_rsync",
            f"rsync is not installed on {h}: install it there (e.g. apt install rsync)",
        )
    if program and "python" in program.rsplit("/", 1)[-1] and returncode in (126, 127):
        absent = f"{program} on PATH" if "/" not in program else program
        return "no_python", (
            f"{h} has no {absent} (no Python 3 found there): install python3 there or give "
            f"one with `{python_hint(h, where, flags)}`"
        )
    if rsync_rc and ("protocol version mismatch" in lower or "is your shell clean" in lower):
        return "rsync_protocol", (
            f"rsync could not talk to {h}: a startup file there (~/.bashrc) prints text in "
            "non-interactive shells; make it quiet"
        )
    if program and returncode == 127:
        return "not_found", f"{program} is not installed on {h} (command not found)"

    if ssh_level and ("Bad configuration option" in text or "command-line line" in text):
        line = next((x for x in _lines(text) if "line" in x), "a bad option")
        return "bad_option", f"ssh rejected an option for {h} ({line}): fix the host's ssh options"
    if "Bad owner or permissions on" in text:
        match = re.search(r"Bad owner or permissions on (\S+)", text)
        path = match.group(1) if match else "~/.ssh/config"
        return "config", (
            f"ssh refuses to read {path} (bad owner or permissions), so {h} cannot be "
            f"reached: run chmod 600 {path}"
        )
    if "Control socket connect" in text or "mux_client" in text:
        return "mux", f"the shared ssh connection to {h} broke: retry; it will be reopened"
    if ssh_level and any(
        s in text
        for s in ("Connection closed by", "Connection reset by", "kex_exchange_identification")
    ):
        return "closed", (
            f"{h} closed the connection during login: check sshd there "
            "(MaxStartups, AllowUsers, fail2ban) and retry"
        )
    if rsync_rc and "connection unexpectedly closed" in lower:
        return "closed", f"the rsync connection to {h} closed unexpectedly: retry"

    lines = [line if len(line) <= 200 else line[:197] + "..." for line in _lines(text)]
    if returncode == 255:
        detail = lines[-1] if lines else "no message"
        return "ssh", f"ssh to {h} failed ({detail}): run `ssh -v {dest}` to see why"
    detail = f": {lines[-1]}" if lines else ""
    return "command", f"the command on {h} failed with exit code {returncode}{detail}"


def classify_ssh_failure(
    returncode: int,
    stderr: str,
    host: str | None = None,
    *,
    dest: str | None = None,
    flags: Sequence[str] = (),
) -> SshFailure:
    """Map a failed ssh/rsync call (exit code and stderr) to a one-line :class:`SshFailure`.

    ``host`` is the host's name as the user knows it; when missing it is read from ssh's
    message where possible. ``dest`` (default: ``host``) is what to put in suggested
    commands such as ``ssh-copy-id DEST``; ``flags`` the ssh flags the host needs there
    (``-F FILE``, ``-i KEY``: see :func:`hint_flags`).
    """
    name = host or _guess_host(stderr) or "the remote host"
    kind, message = _classify(returncode, stderr, name, dest or name, flags)
    return SshFailure(message, kind=kind, host=name, returncode=returncode, stderr=stderr)


def hint_flags(ssh_config: str | None, identity: str | None) -> list[str]:
    """The flags a suggested ``ssh``/``ssh-copy-id`` command needs to reach the host as tether
    does: ``-F FILE`` for its ssh config file, ``-i KEY`` for its identity file (both options
    of ``ssh-copy-id`` too: ``-i`` there copies ``KEY.pub``)."""
    flags: list[str] = []
    if ssh_config:
        flags += ["-F", ssh_config]
    if identity:
        flags += ["-i", identity]
    return flags


def python_hint(name: str, dest: str, flags: Sequence[str] = ()) -> str:
    """The ``tether hosts add`` command that sets host ``name``'s Python (reached as ``dest``
    with the ssh ``flags`` of :func:`hint_flags`, given again as ``hosts add`` options)."""
    long = {"-F": "--ssh-config", "-i": "--identity"}
    words = ["tether", "hosts", "add", name, dest]
    words += [long.get(w, w) for w in flags]
    return f"{shlex.join(words)} --python /path/to/python3 --replace"
