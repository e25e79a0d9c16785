"""The runner a notebook job starts with: it executes the stored version of the notebook.

This file is copied (stdlib, and nbformat/nbclient imported when it runs: the job's python
may not have tether) next to a version's files and started as ``python RUNNER``. Its
``CONFIG`` line is filled in at submit:

- ``code``, ``root``, ``entry``, ``main``: as for the script loader (``launcher.py``): the
  stored files, the project they came from, the notebook's path in the version and its
  original path;
- ``launcher``: the script loader copied beside, whose import hook the kernel installs, so
  the notebook's own modules are imported from the stored copy under their original names;
- ``params``: the values of ``tether run nb.ipynb -p NAME=VALUE``.

The kernel (``python3``: the runner's own python, with ipykernel) runs in the notebook's
original folder, so its data files are found as in Jupyter. The parameters are injected as
papermill does: a cell tagged ``injected-parameters`` after the cell tagged ``parameters``,
or first when there is none. Each cell's output goes to the job's log as it comes; the
executed notebook, outputs included, is kept as ``JOB_DIR/executed.ipynb`` (also when a cell
fails). A failing cell ends the job with exit code 1, its source and traceback in the log.
"""

from __future__ import annotations

import os
import re
import sys

CONFIG: dict = {}  # filled in at submit

EXECUTED = "executed.ipynb"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _setup_source() -> str:
    """The kernel's first cell: the stored copy's import hook (and nothing else)."""
    return (
        "import importlib.util as _tether_u, sys as _tether_s\n"
        f"_tether_spec = _tether_u.spec_from_file_location('_tether_launcher', "
        f"{CONFIG['launcher']!r})\n"
        "_tether_l = _tether_u.module_from_spec(_tether_spec)\n"
        "_tether_spec.loader.exec_module(_tether_l)\n"
        "_tether_s.meta_path.insert(0, _tether_l._StoredFinder(_tether_l._Stored("
        f"{CONFIG['code']!r}, {CONFIG['root']!r})))\n"
        "_tether_s.path_importer_cache.clear()\n"
        "del _tether_u, _tether_s, _tether_spec, _tether_l\n"
    )


def _params_source(params: dict) -> str:
    lines = ["# Parameters (tether run -p)"]
    lines += [f"{name} = {value!r}" for name, value in params.items()]
    return "\n".join(lines) + "\n"


def prepare(nb: object, nbformat: object) -> None:
    """Add the setup cell first and the parameters' cell (see the module's docstring)."""
    cells = nb.cells  # type: ignore[attr-defined]
    new_cell = nbformat.v4.new_code_cell  # type: ignore[attr-defined]
    params = CONFIG.get("params") or {}
    if params:
        cell = new_cell(_params_source(params), metadata={"tags": ["injected-parameters"]})
        tagged = [
            i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])
        ]
        cells.insert(tagged[0] + 1 if tagged else 0, cell)
    cells.insert(0, new_cell(_setup_source(), metadata={"tags": ["tether-setup"]}))


def main() -> None:
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as exc:
        sys.stderr.write(
            f"[tether] running a notebook needs nbclient, nbformat and ipykernel in "
            f"{sys.executable} ({exc}); install them there (pip install nbclient ipykernel, "
            "or tether[notebook]) and run it again\n"
        )
        sys.exit(1)

    class Echo(NotebookClient):
        """Writes each output to the log as it comes (the notebook keeps them too)."""

        def output(self, outs, msg, display_id, cell_index):  # type: ignore[no-untyped-def,unused-ignore]
            kind, content = msg.get("msg_type"), msg.get("content", {})
            if kind == "stream":
                out = sys.stdout if content.get("name") == "stdout" else sys.stderr
                out.write(content.get("text", ""))
                out.flush()
            elif kind in ("execute_result", "display_data"):
                text = content.get("data", {}).get("text/plain")
                if text:
                    print(text, flush=True)
            return super().output(outs, msg, display_id, cell_index)

        def create_kernel_manager(self):  # type: ignore[no-untyped-def,unused-ignore]
            """The kernel talks over unix sockets in a private folder (not TCP on 127.0.0.1,
            which any local user could reach, and which the kernel warns about)."""
            km = super().create_kernel_manager()
            km.transport = "ipc"
            km.ip = os.path.join(private, "kernel")
            return km

    import tempfile

    private = tempfile.mkdtemp(prefix="tether-kernel-")  # mode 0700
    nb = nbformat.read(os.path.join(CONFIG["code"], *CONFIG["entry"].split("/")), as_version=4)
    prepare(nb, nbformat)
    folder = os.path.dirname(CONFIG["main"])
    client = Echo(
        nb,
        kernel_name="python3",
        timeout=None,
        resources={"metadata": {"path": folder}},
        record_timing=True,
    )
    out = os.path.join(os.environ.get("TETHER_JOB_DIR") or folder, EXECUTED)
    code = 0
    try:
        client.execute()
    except CellExecutionError as exc:
        sys.stderr.write(f"\n[tether] a cell of {CONFIG['main']} failed:\n")
        sys.stderr.write(_ANSI.sub("", str(exc)).rstrip() + "\n")
        code = 1
    finally:
        tmp = f"{out}.{os.getpid()}.part"
        nbformat.write(nb, tmp)
        os.replace(tmp, out)
        import shutil

        shutil.rmtree(private, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
