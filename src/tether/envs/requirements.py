"""Working out which packages a project needs, to install them on another machine.

In order of preference: ``requirements.txt``; else ``[project].dependencies`` of
``pyproject.toml``; else the third-party imports found in the project's ``*.py`` files,
pinned to the versions installed here (unpinned when not installed here).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata as md
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tether.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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

#: Folders never scanned for imports.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "env",
        "__pycache__",
        "build",
        "dist",
        "node_modules",
        "site-packages",
        ".tox",
        ".nox",
        ".eggs",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
    }
)

#: Modules that are never a requirement: tether ships itself to the remote side.
DEFAULT_IGNORED = frozenset({"tether", "__main__", "__future__"})

_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


@dataclass(frozen=True)
class Requirements:
    """A project's requirement lines and where they came from.

    ``source`` is ``"requirements.txt"``, ``"pyproject.toml"`` or ``"imports"``;
    ``unpinned`` lists modules that were imported but not installed here.
    """

    source: str
    lines: list[str]
    unpinned: list[str] = field(default_factory=list)

    @property
    def hash(self) -> str:
        return requirements_hash(self.lines)


# --- normalising and hashing -----------------------------------------------------------


def canonical_name(name: str) -> str:
    """PEP 503 normalised distribution name (``Foo_Bar`` -> ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _strip_comment(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    return re.split(r"\s+#", line, maxsplit=1)[0].strip()


def normalize_line(line: str) -> str:
    """One requirement line without comments and extra spaces, its name canonical."""
    text = " ".join(_strip_comment(line).split())
    if not text or text.startswith("-"):
        return text
    match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(.*)", text)
    if not match:
        return text
    rest = re.sub(r"\s*(==|>=|<=|~=|!=|===|<|>)\s*", r"\1", match.group(2))
    rest = re.sub(r"\s*,\s*", ",", rest).strip()
    return canonical_name(match.group(1)) + rest


def requirements_hash(lines: Iterable[str], *, salt: str = "") -> str:
    """sha256 of the sorted, normalised, de-duplicated lines (plus ``salt``, e.g. a Python
    version), to key a reusable virtualenv."""
    normalized = sorted({n for n in (normalize_line(line) for line in lines) if n})
    digest = hashlib.sha256()
    digest.update(salt.encode())
    for line in normalized:
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()


# --- requirements.txt and pyproject.toml -----------------------------------------------


def read_requirements_file(path: Path, _seen: frozenset[Path] = frozenset()) -> list[str]:
    """The lines of a requirements file without comments; ``-r other.txt`` is inlined."""
    path = path.resolve()
    if path in _seen:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix or remove the file")
    lines: list[str] = []
    text = text.replace("\\\n", "")  # line continuations
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if not line:
            continue
        match = re.match(r"(?:-r|--requirement)(?:\s+|=)(.+)", line)
        if match:
            lines += read_requirements_file(path.parent / match.group(1).strip(), _seen | {path})
        else:
            lines.append(line)
    return lines


def read_pyproject_dependencies(path: Path) -> list[str] | None:
    """``[project].dependencies`` of a pyproject.toml, or None when it does not list them."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix the file")
    project = data.get("project")
    if not isinstance(project, dict) or "dependencies" not in project:
        return None
    deps = project["dependencies"]
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise ConfigError(f"{path}: [project].dependencies must be a list of strings")
    return [d.strip() for d in deps if d.strip()]


# --- scanning imports ------------------------------------------------------------------


def iter_python_files(root: Path) -> Iterator[Path]:
    """The project's ``*.py`` files, skipping virtualenvs, caches and hidden folders."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in SKIP_DIRS
            and not d.startswith(".")
            and not (here / d / "pyvenv.cfg").exists()
        )
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield here / name


def local_module_names(root: Path) -> set[str]:
    """Names the project's own code can be imported by: every ``.py`` file's stem and
    every folder holding Python files (scripts import their neighbours)."""
    names: set[str] = set()
    for path in iter_python_files(root):
        names.add(path.stem)
        for parent in path.relative_to(root).parents:
            if parent.name:
                names.add(parent.name)
    return names


class _ImportCollector(ast.NodeVisitor):
    """Collects absolute imports, marking those that are allowed to fail."""

    def __init__(self) -> None:
        self.required: set[str] = set()
        self.optional: set[str] = set()
        self._optional_depth = 0

    def _add(self, name: str) -> None:
        (self.optional if self._optional_depth else self.required).add(name)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._add(node.module)
            for alias in node.names:  # "from google import protobuf" may name a module
                if alias.name != "*":
                    self._add(f"{node.module}.{alias.name}")

    def visit_Try(self, node: ast.Try) -> None:
        catches = any(_catches_import_error(h.type) for h in node.handlers)
        self._optional_depth += catches
        for stmt in node.body:
            self.visit(stmt)
        self._optional_depth -= catches
        rest: list[ast.AST] = [*node.handlers, *node.orelse, *node.finalbody]
        for child in rest:
            self.visit(child)

    visit_TryStar = visit_Try

    def visit_If(self, node: ast.If) -> None:
        conditional = _is_conditional_test(node.test)
        self._optional_depth += conditional
        for stmt in [*node.body, *node.orelse]:
            self.visit(stmt)
        self._optional_depth -= conditional


def _is_conditional_test(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or a test on ``sys.version_info`` / ``sys.platform``."""
    for node in ast.walk(test):
        if isinstance(node, ast.Name) and node.id == "TYPE_CHECKING":
            return True
        if isinstance(node, ast.Attribute) and node.attr in {
            "TYPE_CHECKING",
            "version_info",
            "platform",
        }:
            return True
    return False


def _catches_import_error(expr: ast.expr | None) -> bool:
    if expr is None:
        return True
    if isinstance(expr, ast.Tuple):
        return any(_catches_import_error(e) for e in expr.elts)
    name = expr.id if isinstance(expr, ast.Name) else getattr(expr, "attr", "")
    return name in _IMPORT_ERRORS


def scan_imports(root: Path) -> tuple[set[str], set[str]]:
    """Dotted names imported by the project's files: (required, optional).

    Optional ones sit in ``try: ... except ImportError``, ``if TYPE_CHECKING:`` or
    under a test of ``sys.version_info`` / ``sys.platform``; they are kept only when
    installed here.
    Relative imports are left out; files that do not parse are skipped.
    """
    collector = _ImportCollector()
    for path in iter_python_files(root):
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, OSError):
            continue
        collector.visit(tree)
    return collector.required, collector.optional - collector.required


# --- modules to distributions ----------------------------------------------------------


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


def project_requirements(
    root: str | os.PathLike[str],
    *,
    ignore: Iterable[str] = DEFAULT_IGNORED,
    site_paths: Sequence[str] | None = None,
) -> Requirements:
    """The requirements of the project in ``root`` (see the module docstring for the order)."""
    base = Path(root)
    req_txt = base / "requirements.txt"
    if req_txt.is_file():
        return Requirements(source="requirements.txt", lines=read_requirements_file(req_txt))
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        deps = read_pyproject_dependencies(pyproject)
        if deps is not None:
            return Requirements(source="pyproject.toml", lines=deps)
    return requirements_from_imports(base, ignore=ignore, site_paths=site_paths)
