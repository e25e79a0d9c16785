"""What a Dataset needs to know about a host before it sends anything: one ssh round trip.

The probe runs the host's tether venv Python (``~/.tether/venv/bin/python``) when it exists,
else the host's configured Python (the one ``tether hosts setup`` would make the venv from), and
prints the Python ``major.minor``, that interpreter's path, the remote home, the installed tether
version and the remote ``TETHER_HOME``. The answer is cached per host for the life of the
process, so a warm ``Dataset.run()`` pays no round trip for it.
"""

from __future__ import annotations

import json
import shlex
import sys
import threading
from dataclasses import dataclass

from tether.errors import RemoteError
from tether.targets.ssh.check import REMOTE_VENV, REMOTE_VERSION_FILE
from tether.targets.ssh.command import remote_join
from tether.targets.ssh.transport import Transport

_TAG = "tether-probe "
_CODE = (
    "import json, os, sys\n"
    "out = {'python': '%d.%d' % sys.version_info[:2], 'executable': sys.executable,\n"
    "       'home': os.path.expanduser('~'), 'tether': sys.argv[1] or None, 'tether_home': None}\n"
    "if out['tether']:\n"
    "    try:\n"
    "        from tether.paths import tether_home\n"
    "        out['tether_home'] = str(tether_home())\n"
    "    except Exception:\n"
    "        pass\n"
    f"print({_TAG!r} + json.dumps(out))\n"
)


@dataclass(frozen=True)
class HostFacts:
    """The probe's answer for one host."""

    python: str  # major.minor of the Python that runs (or would run) the worker
    executable: str  # that Python's path on the host
    home: str  # the remote $HOME (absolute)
    tether_version: str | None  # the tether installed in the venv, if any
    tether_home: str | None  # the remote TETHER_HOME (absolute), when tether is installed


_cache: dict[str, HostFacts] = {}
_lock = threading.Lock()


def probe_script(python_words: list[str]) -> str:
    """The remote ``sh`` script: the venv's Python if it is there, else the host's Python."""
    code = shlex.quote(_CODE)
    return "\n".join(
        [
            f'v=$(cat "$HOME/{REMOTE_VERSION_FILE}" 2>/dev/null)',
            f'py="$HOME/{REMOTE_VENV}/bin/python"',
            f'if [ -x "$py" ]; then exec "$py" -c {code} "$v"; fi',
            f"exec {remote_join([*python_words, '-c', _CODE, ''])}",
        ]
    )


def probe(transport: Transport) -> HostFacts:
    """Ask the host (one ssh call); raises a one-line RemoteError when the answer is missing."""
    spec = transport.spec
    result = transport.script(probe_script(spec.python_argv), timeout=60, what="the probe")
    for line in result.stdout.splitlines():
        if line.startswith(_TAG):
            try:
                data = json.loads(line[len(_TAG) :])
                return HostFacts(
                    python=str(data["python"]),
                    executable=str(data["executable"]),
                    home=str(data["home"]),
                    tether_version=data.get("tether"),
                    tether_home=data.get("tether_home"),
                )
            except (ValueError, KeyError, TypeError):
                break
    raise RemoteError(
        f"{spec.name}: {spec.python} printed no version; check that it is Python 3 "
        f"(give another with `{transport.python_hint()}`)"
    )


def host_facts(transport: Transport, *, fresh: bool = False) -> HostFacts:
    """The cached probe of this host (asked once per process unless ``fresh``)."""
    key = repr(transport.spec)
    with _lock:
        facts = None if fresh else _cache.get(key)
    if facts is None:
        facts = probe(transport)
        with _lock:
            _cache[key] = facts
    return facts


def ensure_installed(transport: Transport) -> HostFacts:
    """The host's facts with this tether version installed there (installing it if needed)."""
    from tether import __version__

    facts = host_facts(transport)
    if facts.tether_version == __version__ and facts.tether_home:
        return facts
    from tether.targets.ssh.bootstrap import bootstrap

    sys.stderr.write(f"tether: installing tether {__version__} on {transport.spec.name}...\n")
    bootstrap(transport, force=facts.tether_version == __version__)
    facts = host_facts(transport, fresh=True)
    if facts.tether_version != __version__ or not facts.tether_home:
        raise RemoteError(
            f"tether {__version__} does not start on {transport.spec.name} after installing "
            f"it; try `tether hosts setup {transport.spec.name}`"
        )
    return facts
