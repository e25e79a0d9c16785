"""The host's side of the JSON protocol (:mod:`tether.backends.wire`): answer one request
by calling the verb of :mod:`tether.api.commands` it names, here; and the JSON form of any
answer (:func:`json_safe`, which every ``--json`` prints through, so this module loads
nothing else until a request comes)."""

from __future__ import annotations

import json
import math
from typing import Any

from tether.errors import TetherError, UsageError

VERBS = frozenset({
    "ls", "show", "logs", "wait", "cancel", "rerun", "save", "history", "diff", "scalars",
    "clean", "notifications", "top",
})  # fmt: skip
"""The verbs of :mod:`tether.api.commands` another machine may ask of this one; and
``submit`` (``run --on``, from the project's copy: :func:`tether.api.running.submit_here`)."""


def json_safe(data: Any) -> Any:
    """``data`` with NaN and +/-inf floats as the strings "nan", "inf", "-inf" (valid JSON)."""
    if isinstance(data, float) and not math.isfinite(data):
        return "nan" if data != data else ("inf" if data > 0 else "-inf")
    if isinstance(data, dict):
        return {k: json_safe(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(v) for v in data]
    return data


def answer(text: str, **extra: str) -> str:
    """The JSON answer to the JSON request ``text`` (``extra``: more fields of its head)."""
    from tether import __version__
    from tether.backends.wire import PROTOCOL

    head = {"protocol": PROTOCOL, "tether": __version__, **extra}
    try:
        result = _call(text)
    except TetherError as exc:
        return error_answer(exc)
    return json.dumps({**head, "ok": True, "result": json_safe(result)}, default=str)


def error_answer(exc: TetherError) -> str:
    """The JSON answer saying that a request failed with ``exc`` (raised on the other side
    as the same class)."""
    from tether import __version__
    from tether.backends.wire import PROTOCOL

    error = {"kind": type(exc).__name__, "message": str(exc)}
    return json.dumps({"protocol": PROTOCOL, "tether": __version__, "ok": False, "error": error})


def _call(text: str) -> Any:
    import inspect

    from tether.api import commands
    from tether.backends.wire import PROTOCOL

    try:
        request = json.loads(text)
    except ValueError:
        raise UsageError("the request is not JSON") from None
    if not isinstance(request, dict) or request.get("protocol") != PROTOCOL:
        raise UsageError(f"this tether speaks protocol {PROTOCOL}; the request is not one")
    verb, args = request.get("verb"), request.get("args") or {}
    if verb == "submit" and isinstance(args, dict):
        from tether.api.running import submit_here

        return submit_here(args)
    if verb not in VERBS or not isinstance(args, dict):
        raise UsageError(f"no verb {verb!r} to answer; one of {', '.join(sorted(VERBS))}, submit")
    if "on" in args or "store" in args:
        raise UsageError("a request is answered here: it takes no on= or store=")
    func = getattr(commands, verb)
    positional = [
        p.name for p in inspect.signature(func).parameters.values() if p.kind is p.VAR_POSITIONAL
    ]
    values = list(args.pop(positional[0], None) or []) if positional else []
    try:
        inspect.signature(func).bind(*values, **args)
    except TypeError as exc:
        raise UsageError(f"{verb}: {exc}") from None
    return func(*values, **args)
