"""What every command needs: the store, JOB resolution and JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from tether.api.types import Job, JobStore
from tether.paths import tether_home

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (stable fields).")
on_option = click.option(
    "--on", "host", metavar="HOST", help="Jobs on this host (JOB is its number here, or its uuid)."
)


def runs_elsewhere(host: str | None) -> bool:
    """True when ``--on HOST`` names an SSH host whose own tether keeps its jobs, so the verb
    is asked of it; False for none, ``local``, a cluster (its jobs are recorded here) and a
    host whose commands run here. An unknown host is the one-line error naming the hosts."""
    if host is None:
        return False
    from tether.api.host_admin import host_keeps_jobs

    return host_keeps_jobs(host)


def open_store() -> JobStore:
    return JobStore(tether_home())


def resolve_job(store: JobStore, ref: str | None) -> Job:
    """Resolve JOB and bring it up to date with its supervisor's result."""
    from tether.backends import refresh

    return refresh(store, store.resolve(ref))


def max_size_value(text: str | None) -> int | None:
    """``--max-size`` (of ``sync`` and ``run``) in bytes; None when not given; a value that is
    not a size is a UsageError."""
    if text is None:
        return None
    from tether.config import parse_size
    from tether.errors import ConfigError, UsageError

    try:
        return parse_size(text, "--max-size")
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def print_json(data: Any) -> None:
    """``data`` as JSON on stdout; non-finite floats as "nan", "inf", "-inf".

    An object is indented; a list of objects (``ls --json``) is one compact object per line,
    which reads as well, greps better and is written by json's C encoder (indenting is done
    in Python: 0.3 s more at 10,000 jobs)."""
    try:  # one write, and ``json_safe``'s copy only when a value needs it (fast at 10,000 jobs)
        text = _json_text(data)
    except ValueError:
        from tether.api.answer import json_safe

        text = _json_text(json_safe(data))
    sys.stdout.write(text + "\n")


def _json_text(data: Any) -> str:
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        return "[\n  " + ",\n  ".join(map(_compact_encoder(), data)) + "\n]"
    return json.dumps(data, indent=2, default=str, allow_nan=False)


def _compact_encoder() -> Callable[[Any], str]:
    """One object as compact JSON, by json's C encoder made once (``JSONEncoder.encode``
    makes one per call: a fifth of the encoding time of 10,000 rows)."""
    import json.encoder

    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # a Python without json's C speed-ups
        return json.JSONEncoder(default=str, allow_nan=False, ensure_ascii=True).encode
    # markers None: no cycle check (rows are plain data); allow_nan False raises ValueError
    ascii_text = json.encoder.encode_basestring_ascii
    chunks = c_make_encoder(None, str, ascii_text, None, ": ", ", ", False, False, False)
    return lambda item: "".join(chunks(item, 0))


@contextmanager
def ctrl_c_detaches(numbers: list[int], host: str | None = None) -> Iterator[None]:
    """Ctrl-C while following jobs stops following them; they keep running (on ``host``)."""
    try:
        yield
    except (KeyboardInterrupt, click.exceptions.Abort):
        where = f" on {host}" if host else ""
        listed = ", #".join(map(str, numbers))
        click.echo(
            f"\ntether: stopped following; job #{listed} keeps running{where}. "
            f"Follow it again with `tether logs -f {numbers[-1]}`, "
            f"stop it with `tether cancel {' '.join(map(str, numbers))}`.",
            err=True,
        )
        sys.exit(130)
