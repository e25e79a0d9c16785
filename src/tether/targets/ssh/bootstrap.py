"""Installing this tether version on a host, into ``~/.tether/venv``, without internet there.

Here: a wheel of tether is built from its source checkout (``pip wheel --no-deps``) and the
wheels of its dependencies, pinned to the versions installed here, are fetched for the
host's Python version (``pip download --only-binary=:all:``); all are kept under
``TETHER_HOME/wheels/<version>-py<X.Y>/`` and reused. There: the folder is copied with
rsync, a venv is made with ``python3 -m venv`` and everything is installed with
``pip install --no-index``, so the host never needs to reach PyPI. The installed version
is stamped in ``~/.tether/venv/tether-version`` (read by ``hosts check`` and ``probe``).
"""

from __future__ import annotations

import importlib.metadata as md
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlparse

from tether import __version__
from tether.errors import RemoteError
from tether.paths import tether_home
from tether.targets.ssh.check import REMOTE_VENV, REMOTE_VERSION_FILE, check_host
from tether.targets.ssh.command import Remote, rsync_argv
from tether.targets.ssh.transport import Transport

REMOTE_WHEELS = ".tether/wheels"


def source_root() -> Path:
    """The source checkout of the tether running here (its code is what the host gets, also
    when it is put on the import path of a Python where another checkout is installed), else
    the one tether is installed from (an editable or local-folder install)."""
    here = Path(__file__).resolve().parents[4]
    if (here / "pyproject.toml").is_file() and (here / "src" / "tether").is_dir():
        return here
    try:
        text = md.distribution("tether").read_text("direct_url.json")
    except md.PackageNotFoundError:
        text = None
    if text:
        url = json.loads(text).get("url", "")
        if url.startswith("file://"):
            root = Path(unquote(urlparse(url).path))
            if (root / "pyproject.toml").is_file():
                return root
    raise RemoteError(
        "cannot find tether's source folder to build a wheel for the host; install tether "
        "from a checkout (pip install -e PATH)"
    )


def _pip(args: list[str], what: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise RemoteError(f"{what} failed here ({last})")


def wheel_requirements(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a built wheel (what the host will need)."""
    import zipfile
    from email.parser import Parser

    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(name).decode("utf-8"))
    return meta.get_all("Requires-Dist") or []


def pinned_dependencies(requirements: list[str], python_version: str) -> list[str]:
    """``requirements`` and what they need in turn, pinned to the versions installed here
    (left unpinned when not installed here); markers are read for the host's Python
    (``X.Y``), extras' requirements are left out."""
    from packaging.requirements import Requirement

    seen: dict[str, str] = {}
    todo = list(requirements)
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate(
            {"extra": "", "python_version": python_version}
        ):
            continue
        key = req.name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            seen[key] = str(req)
            continue
        seen[key] = f"{req.name}=={dist.version}"
        todo.extend(dist.requires or [])
    return [seen[key] for key in sorted(seen)]


def wheel_cache(python_version: str, say: IO[str] | None = None) -> Path:
    """Build (once) the folder of wheels for a host running ``python_version`` (saying so
    on ``say``)."""
    short = ".".join(python_version.split(".")[:2])
    folder = tether_home() / "wheels" / f"{__version__}-py{short}"
    done = folder / ".complete"
    if done.exists():
        return folder
    _say(say, f"building the wheels of tether {__version__} here, for Python {short}")
    folder.mkdir(parents=True, exist_ok=True)
    _pip(["wheel", "--no-deps", "-q", "-w", str(folder), str(source_root())], "building tether")
    wheel = next(folder.glob(f"tether-{__version__}-*.whl"))
    deps = pinned_dependencies(wheel_requirements(wheel), short)
    if deps:
        _pip(
            ["download", "-q", "--only-binary=:all:", "--python-version", short,
             "-d", str(folder), *deps],
            "fetching tether's dependencies",
        )  # fmt: skip
    done.write_text("\n".join(deps))
    return folder


def installed_version(transport: Transport) -> str | None:
    """The tether version installed on the host, or None."""
    return check_host(transport).tether_version


def _say(say: IO[str] | None, text: str) -> None:
    if say is not None:
        say.write(f"tether: {text}...\n")
        say.flush()


def bootstrap(transport: Transport, *, force: bool = False, say: IO[str] | None = None) -> str:
    """Make sure this tether version runs on the host; return what was done, in words.

    Each step (building wheels here, copying them, making the venv, installing) is said on
    ``say`` as one line when given."""
    info = check_host(transport)
    if not info.python_ok:
        raise RemoteError(
            f"{info.name} has Python {info.python_version}; tether needs 3.10 or newer there "
            f"(give another with `{transport.python_hint()}`)"
        )
    if info.tether_version == __version__ and not force:
        return f"tether {__version__} is already installed on {info.name}"
    folder = wheel_cache(info.python_version, say)
    name = info.name
    _say(say, f"copying the wheels to {name} (~/{REMOTE_WHEELS})")
    argv = rsync_argv(
        transport.spec, transport.controls, f"{folder}/", Remote(REMOTE_WHEELS + "/"),
        excludes=(".complete",), connect_timeout=transport.connect_timeout,
    )  # fmt: skip
    transport.call(argv, timeout=None, what="copying the wheels")
    python = " ".join(shlex.quote(w) for w in transport.spec.python_argv)
    venv = f'"$HOME"/{REMOTE_VENV}'
    _say(say, f"making the venv on {name} (~/{REMOTE_VENV}) if missing")
    transport.script(
        f"[ -x {venv}/bin/python ] || {python} -m venv {venv}",
        timeout=None,
        what="making the venv",
    )
    _say(say, f"installing tether {__version__} and its dependencies there (pip, offline)")
    script = "\n".join(
        [
            "set -e",
            f'{venv}/bin/python -m pip install -q --no-index --find-links "$HOME"/{REMOTE_WHEELS}'
            f" --upgrade --force-reinstall tether=={__version__}",
            f'echo {__version__} > "$HOME"/{REMOTE_VERSION_FILE}',
        ]
    )
    transport.script(script, timeout=None, what="pip install")
    return f"installed tether {__version__} on {info.name} in ~/{REMOTE_VENV}"
