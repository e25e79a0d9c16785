"""Downloads into the project's ``data/`` through the API, here or on a host (``tether data``).

Everything calls :mod:`tether.files.download` (here) or the host's own tether (there).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any


def check_urls(urls: Sequence[str]) -> None:
    """Refuse bad URLs (and the file names they give) before anything is downloaded."""
    from tether.files.download import file_name

    for url in urls:
        file_name(url)


def download_here(
    urls: Sequence[str], to: str | None = None, say: IO[str] | None = None
) -> list[dict[str, Any]]:
    """Download ``urls`` into the project's ``data/`` (``to``: a folder in it); a row for
    each (path relative to the project, size, status), a partial file resumed."""
    from tether.files.download import data_folder, download
    from tether.jobs.env_records import project_root

    root = project_root(Path.cwd())
    folder = data_folder(root, to)
    rows = []
    for url in urls:
        row = download(url, folder, say=say).to_json()
        row["path"] = str(Path(row["path"]).relative_to(root))
        rows.append(row)
    return rows


def download_on_host(
    host: str, urls: Sequence[str], to: str | None = None, say: IO[str] | None = None
) -> tuple[list[Any], str]:
    """Download ``urls`` into the project's ``data/`` on ``host`` (its copy of the project),
    installing tether there first when needed; the rows and the host's name."""
    from tether.files.download import data_folder
    from tether.targets.ssh.project import find_project
    from tether.targets.ssh.remote_jobs import ensure_tether, transport_for
    from tether.targets.ssh.remote_stream import stream_json

    data_folder(Path("."), to)  # refuse a bad --to before connecting
    project = find_project()
    transport = transport_for(host, project.root)
    transport.run(["mkdir", "-p", project.remote_dir])
    ensure_tether(transport, say)
    args = ["data", "--on", "local", *(["--to", to] if to else []), "--", *urls]
    rows = stream_json(transport, args, folder=project.remote_dir, say=say)
    return list(rows), transport.spec.name
