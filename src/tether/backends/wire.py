"""The JSON protocol tether speaks to another machine's tether: one request in, one answer out.

The request goes to the stdin of ``tether _answer`` on the host::

    {"protocol": 1, "verb": "show", "args": {"job": "12"}}

and the host writes one answer on its stdout::

    {"protocol": 1, "tether": "0.4.0", "ok": true, "result": {...}}
    {"protocol": 1, "tether": "0.4.0", "ok": false,
     "error": {"kind": "JobNotFound", "message": "no job matches '12'"}}

``result`` is what ``tether VERB --json`` prints there. An error comes back as the same
:mod:`tether.errors` class, with the host's message; nothing printed for people is read.
A host whose tether predates the protocol, or speaks another version, is told apart by the
answer alone and named with the command that upgrades it.
"""

from __future__ import annotations

import json
from typing import Any

from tether import errors
from tether.errors import RemoteError, TetherError

PROTOCOL = 1
"""The version of the requests and answers; a host speaking another one is upgraded first."""

COMMAND = "_answer"
"""The hidden ``tether`` command on the host that answers one request."""

MODULE = "tether.api.answer_main"
"""The module the host's Python runs (``python -I -m MODULE``) to answer one request, as
:data:`COMMAND` does without the CLI's start-up; a host whose tether has no such module is
older (see :func:`tether.targets.ssh.remote_jobs.answer_call`)."""


def request(verb: str, args: dict[str, Any], folder: str = "") -> bytes:
    """The request asking for ``verb`` with keyword ``args``, as sent; ``folder`` (relative
    to the host's home) is where it is answered, for the host's resident answerer (the long
    way moves there before starting Python)."""
    asked: dict[str, Any] = {"protocol": PROTOCOL, "verb": verb, "args": args}
    if folder:
        asked["folder"] = folder
    return json.dumps(asked).encode()


def _upgrade(host: str, why: str) -> RemoteError:
    return RemoteError(
        f"{host}: {why}; install this version there with `tether hosts setup {host} --force`"
    )


def read_answer(host: str, stdout: str, returncode: int) -> Any:
    """The result in ``host``'s answer, or its error raised as the same class."""
    try:
        answer = json.loads(stdout)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or "ok" not in answer:
        if returncode == 2:  # click: no such command
            raise _upgrade(host, "its tether does not answer requests (it is older)")
        raise RemoteError(f"{host}: no answer from tether (exit code {returncode})")
    if answer.get("protocol") != PROTOCOL:
        there = answer.get("tether", "?")
        raise _upgrade(host, f"its tether {there} speaks protocol {answer.get('protocol')}")
    if answer["ok"]:
        return answer.get("result")
    error = answer.get("error") or {}
    raise error_from(str(error.get("kind")), f"on {host}: {error.get('message')}")


def server_of(stdout: str) -> str | None:
    """The socket of the host's resident answerer its answer names, if any."""
    try:
        server = json.loads(stdout).get("server")
    except (ValueError, AttributeError):
        return None
    return server if isinstance(server, str) and server.startswith("/") else None


def error_from(kind: str, message: str) -> TetherError:
    """The :mod:`tether.errors` exception named ``kind`` (a TetherError for any other name)."""
    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, TetherError):
        return cls(message)
    return TetherError(message)
