"""The loader a script job starts with: it runs the stored version as if it were the original.

This file is copied (stdlib only: the job's python may not have tether) next to a version's
files and started as ``python LAUNCHER ARGS``. Its ``CONFIG`` line is filled in at submit:

- ``code``: the folder holding the version's stored files; ``root``: the project folder they
  came from; ``main``: the original script (or None with ``module``, for ``-m``);
  ``entry``: the script's path inside the version; ``argv0``: ``sys.argv[0]`` as typed.

The job runs in the user's folder, with ``sys.path[0]`` the script's own folder (or the current
folder for ``-m``), as ``python`` sets it. Every module found under ``root`` (through any
``sys.path`` entry, including ones the program adds itself) is loaded from the stored copy but
named by its original path: ``__file__``, tracebacks and ``linecache`` show the user's file and
the lines that ran. Files that are not stored (data, configs, extension modules) are read from
their original place.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import linecache
import os
import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:  # no typing or collections import when a job starts
    from collections.abc import Sequence
    from typing import Any

CONFIG: dict = {}  # filled in at submit


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class _Stored:
    """Maps paths under the original project folder to the stored copy."""

    def __init__(self, code: str, root: str) -> None:
        self.code, self.root = code, root

    def stored(self, original: str) -> str | None:
        original = os.path.abspath(original)
        if not _inside(original, self.root):
            return None
        return os.path.join(self.code, os.path.relpath(original, self.root))

    def original(self, stored: str) -> str:
        return os.path.join(self.root, os.path.relpath(stored, self.code))


def _remember(filename: str, source: str) -> None:
    """Tracebacks show the lines that ran, not the file as it is now."""
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)


class _StoredLoader(importlib.machinery.SourceFileLoader):
    """Loads a module's stored source, compiled under its original file name."""

    stored_map: _Stored

    def get_data(self, path: str) -> bytes:
        stored = self.stored_map.stored(path)
        if stored is not None and os.path.isfile(stored):
            path = stored
        return super().get_data(path)

    def get_code(self, fullname: str) -> types.CodeType:
        data = self.get_data(self.path)
        source = importlib.util.decode_source(data)
        _remember(self.path, source)
        return compile(source, self.path, "exec", dont_inherit=True)


class _StoredFinder:
    """Finds modules in the stored copy first, for every path entry under the project."""

    def __init__(self, stored_map: _Stored) -> None:
        self.map = stored_map
        self.path_finder = importlib.machinery.PathFinder

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name == "multiprocessing.spawn":  # patched once loaded, see _spawn_through_us
            spec = self.path_finder.find_spec(name, path)
            if spec is not None and spec.loader is not None:
                spec.loader = _ThenPatch(spec.loader)  # type: ignore[assignment]
            return spec
        entries = list(path) if path is not None else list(sys.path)
        for entry in entries:
            if not isinstance(entry, str):
                continue
            stored = self.map.stored(entry or os.getcwd())
            if stored is None:
                spec = self.path_finder.find_spec(name, [entry])
                if spec is not None and spec.loader is not None:
                    return spec
                continue
            spec = self.path_finder.find_spec(name, [stored])
            if spec is not None and spec.loader is not None and str(spec.origin).endswith(".py"):
                return self._rewrite(name, spec)
            spec = self.path_finder.find_spec(name, [entry])
            if spec is not None and spec.loader is not None:
                return spec
        return None

    def _rewrite(
        self, name: str, spec: importlib.machinery.ModuleSpec
    ) -> importlib.machinery.ModuleSpec | None:
        original = self.map.original(str(spec.origin))
        loader = _StoredLoader(name, original)
        loader.stored_map = self.map
        locations = None
        if spec.submodule_search_locations is not None:
            locations = [self.map.original(p) for p in spec.submodule_search_locations]
        return importlib.util.spec_from_file_location(
            name, original, loader=loader, submodule_search_locations=locations
        )


class _ThenPatch:
    """The loader of ``multiprocessing.spawn``, which patches the module once it has run (a
    program that never uses multiprocessing does not pay for importing it)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self.loader.exec_module(module)
        _spawn_through_us(module)


def _spawn_through_us(spawn: Any) -> None:
    """``multiprocessing`` spawn children start through this loader too, so they import the
    stored version (their main module included) under the original paths."""
    plain = spawn.get_command_line

    def get_command_line(**kwds: object) -> list[str]:
        argv = plain(**kwds)
        if "-c" not in argv:
            return argv
        at = argv.index("-c")
        return [*argv[:at], os.path.abspath(__file__), "--tether-spawn", *argv[at + 1 :]]

    spawn.get_command_line = get_command_line
    main_path = CONFIG.get("main")
    if main_path:
        import runpy

        run_path = runpy.run_path

        def run_stored(path: str, *args: object, **kwargs: object) -> dict:
            if os.path.abspath(path) == main_path:
                with open(os.path.join(CONFIG["code"], *CONFIG["entry"].split("/")), "rb") as f:
                    source = importlib.util.decode_source(f.read())
                _remember(main_path, source)
                name = str(kwargs.get("run_name") or "<run_path>")
                module = types.ModuleType(name)
                module.__file__ = main_path
                exec(compile(source, main_path, "exec", dont_inherit=True), module.__dict__)
                return module.__dict__
            return run_path(path, *args, **kwargs)  # type: ignore[arg-type]

        runpy.run_path = run_stored  # type: ignore[assignment]


def main() -> None:
    code, root = CONFIG["code"], CONFIG["root"]
    stored_map = _Stored(code, root)
    finder = _StoredFinder(stored_map)
    sys.meta_path.insert(0, finder)
    sys.path_importer_cache.clear()
    if sys.argv[1:2] == ["--tether-spawn"]:
        child_code = sys.argv[2]
        sys.argv = ["-c", *sys.argv[3:]]
        exec(child_code, {"__name__": "__main__"})
        return
    module = CONFIG.get("module")
    if module:
        import runpy

        sys.path[0] = os.getcwd()
        sys.argv[0] = "-m"
        _run(lambda: runpy.run_module(module, run_name="__main__", alter_sys=True))
        return
    main_path = CONFIG["main"]
    sys.path[0] = os.path.dirname(main_path)
    sys.argv[0] = CONFIG.get("argv0") or main_path
    with open(os.path.join(code, *CONFIG["entry"].split("/")), "rb") as handle:
        source = importlib.util.decode_source(handle.read())
    _remember(main_path, source)
    compiled = compile(source, main_path, "exec", dont_inherit=True)
    namespace = types.ModuleType("__main__")
    namespace.__file__ = main_path
    namespace.__cached__ = None  # type: ignore[attr-defined]
    namespace.__spec__ = None
    namespace.__builtins__ = __builtins__  # type: ignore[attr-defined]
    launcher = sys.modules["__main__"]
    sys.modules["__main__"] = namespace
    try:
        _run(lambda: exec(compiled, namespace.__dict__))
    finally:
        sys.modules.setdefault("_tether_launcher", launcher)


def _name(filename: str) -> str:
    return filename if filename.startswith("<") else os.path.abspath(filename)


def _run(body: object) -> None:
    """Run the program; an uncaught error is printed as python prints it, without our frames."""
    try:
        body()  # type: ignore[operator]
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        tb = exc.__traceback__
        launcher_file = os.path.abspath(__file__)
        import runpy

        skip = {launcher_file, os.path.abspath(runpy.__file__), "<frozen runpy>"}
        while tb is not None and _name(tb.tb_frame.f_code.co_filename) in skip:
            tb = tb.tb_next
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        sys.exit(1)


if __name__ == "__main__":
    main()
