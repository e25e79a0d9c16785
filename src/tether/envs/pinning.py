"""From imported module names to distributions, pinned to the versions installed here."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tether.envs.imports import local_module_names, scan_imports
from tether.envs.lines import Requirements, canonical_name

if TYPE_CHECKING:
    import importlib.metadata as md

#: Import names whose distribution is named differently, for modules not installed here.
KNOWN_DISTRIBUTIONS: dict[str, str] = {
    "sklearn": "scikit-learn",
    "cv2": "opencv-python",
    "PIL": "pillow",
    "yaml": "PyYAML",
    "bs4": "beautifulsoup4",
    "skimage": "scikit-image",
    "dateutil": "python-dateutil",
    "dotenv": "python-dotenv",
    "attr": "attrs",
    "Crypto": "pycryptodome",
    "serial": "pyserial",
    "jwt": "PyJWT",
    "git": "GitPython",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "OpenSSL": "pyOpenSSL",
    "zmq": "pyzmq",
    "fitz": "PyMuPDF",
    "MySQLdb": "mysqlclient",
    "google.protobuf": "protobuf",
}

#: Modules that are never a requirement: tether ships itself to the remote side.
DEFAULT_IGNORED = frozenset({"tether", "__main__", "__future__"})


def _dist_top_names(dist: md.Distribution) -> set[str]:
    top = dist.read_text("top_level.txt")
    if top:
        return {line.strip() for line in top.splitlines() if line.strip()}
    names: set[str] = set()
    for file in dist.files or ():
        parts = file.parts
        if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".egg-info")):
            continue
        if len(parts) == 1:
            if file.suffix in (".py", ".so", ".pyd") or ".cpython-" in parts[0]:
                names.add(parts[0].split(".", 1)[0])
        elif not parts[0].endswith(".data") and parts[0] != "__pycache__":
            names.add(parts[0])
    return names


@dataclass
class _Installed:
    """Installed distributions, indexed by the top-level modules they provide."""

    by_module: dict[str, list[md.Distribution]]

    @classmethod
    def scan(cls, path: Sequence[str] | None) -> _Installed:
        import importlib.metadata as md  # slow to import: only when a scan is needed

        by_module: dict[str, list[md.Distribution]] = {}
        seen: set[str] = set()
        dists = md.distributions(path=list(path)) if path is not None else md.distributions()
        for dist in dists:
            name = dist.metadata["Name"]
            if not name or canonical_name(name) in seen:
                continue
            seen.add(canonical_name(name))
            for module in _dist_top_names(dist):
                by_module.setdefault(module, []).append(dist)
        return cls(by_module)

    def find(self, dotted: str) -> list[md.Distribution]:
        """The distributions providing ``dotted``; namespace packages are narrowed down."""
        top = dotted.split(".", 1)[0]
        dists = self.by_module.get(top, [])
        if len(dists) <= 1 or "." not in dotted:
            return dists
        prefix = dotted.replace(".", "/")
        narrowed = [
            d
            for d in dists
            if any(str(f).startswith((prefix + "/", prefix + ".")) for f in d.files or ())
        ]
        return narrowed or dists


def _stdlib_names() -> frozenset[str]:
    names = set(sys.builtin_module_names)
    names |= set(getattr(sys, "stdlib_module_names", ()))
    return frozenset(names)


def _known_distribution(dotted: str) -> str | None:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        hit = KNOWN_DISTRIBUTIONS.get(".".join(parts[:i]))
        if hit:
            return hit
    return None


def requirements_from_imports(
    root: Path,
    *,
    ignore: Iterable[str] = DEFAULT_IGNORED,
    site_paths: Sequence[str] | None = None,
) -> Requirements:
    """Requirements from the project's imports, pinned to what is installed here.

    ``site_paths`` is the list of folders to look for installed packages in (default: this
    interpreter's ``sys.path``), e.g. the site-packages of the project's own virtualenv.
    """
    required, optional = scan_imports(root)
    skip = _stdlib_names() | local_module_names(root) | set(ignore)
    installed = _Installed.scan(site_paths)
    pins: dict[str, str] = {}
    unpinned: set[str] = set()
    for dotted in sorted(required | optional):
        top = dotted.split(".", 1)[0]
        if top in skip:
            continue
        dists = installed.find(dotted)
        is_submodule_of_import = dotted != top and dotted.rsplit(".", 1)[0] in required | optional
        if dists:
            for dist in dists:
                pins[canonical_name(dist.metadata["Name"])] = (
                    f"{dist.metadata['Name']}=={dist.version}"
                )
        elif is_submodule_of_import or dotted in optional:
            continue  # "from pkg import name" names an attribute; optional imports may be absent
        else:
            known = _known_distribution(dotted)
            name = known or top
            if canonical_name(name) not in pins:
                pins[canonical_name(name)] = name
                unpinned.add(top)
    lines = [pins[key] for key in sorted(pins)]
    return Requirements(source="imports", lines=lines, unpinned=sorted(unpinned))
