"""Downloading URLs into a project's ``data/`` folder, resuming partial files.

A download goes to ``NAME.part`` and is renamed to ``NAME`` when complete. When ``NAME.part``
(or an earlier ``NAME``) exists, only the rest is asked for (``Range: bytes=N-``): a ``206``
answer is appended, a ``200`` (the server ignores ranges) starts over, a ``416`` whose total
matches means the file was already complete. The file name is the URL's last path segment,
sanitised; names that would leave ``data/`` are refused. Runs the same here and, through the
host's own ``tether data``, on a host.
"""

from __future__ import annotations

import http.client
import os
import posixpath
import re
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from tether.errors import TetherError, UsageError

DATA_DIR = "data"
CHUNK = 1 << 16
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=@,-]+")
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


class DownloadError(TetherError):
    """A URL could not be fetched (unreachable, HTTP error, cut short)."""


@dataclass(frozen=True)
class Downloaded:
    """One URL's outcome: ``status`` is ``downloaded``, ``resumed`` or ``complete`` (it was
    there already); ``received`` counts the bytes fetched this time."""

    url: str
    path: str
    size: int
    received: int
    resumed_from: int
    status: str
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def file_name(url: str) -> str:
    """The file name a URL downloads to: its last path segment, sanitised.

    Refused: no name (a URL ending in ``/``), ``.``/``..``, and segments hiding a path
    separator (``%2F``) or a NUL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"{url}: only http:// and https:// URLs can be downloaded")
    segment = unquote(parts.path.rsplit("/", 1)[-1])
    if not segment:
        raise UsageError(f"{url}: the URL names no file (it ends with /)")
    if "/" in segment or "\\" in segment or "\0" in segment or segment in (".", ".."):
        raise UsageError(f"{url}: the file name {segment!r} would leave data/; refused")
    name = _UNSAFE.sub("_", segment).lstrip(".") or "download"
    return name[:200]


def data_folder(root: Path, to: str | None) -> Path:
    """``data/`` of the project, or ``data/TO`` (checked to stay inside ``data/``)."""
    base = root / DATA_DIR
    if not to:
        return base
    if "\0" in to or to.startswith(("/", "~", "\\")) or os.path.isabs(to):
        raise UsageError(f"--to {to!r}: give a folder relative to data/")
    rel = posixpath.normpath(to.replace("\\", "/"))
    if rel == ".." or rel.startswith("../"):
        raise UsageError(f"--to {to!r} leads out of data/; refused")
    return base if rel == "." else base / rel


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


class _Progress:
    """A line every second or so (and at the end): size, percent, speed."""

    def __init__(self, name: str, start: int, total: int | None, say: IO[str] | None) -> None:
        self.name, self.start, self.total, self.say = name, start, total, say
        self.t0 = self.last = time.monotonic()

    def update(self, done: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if self.say is None or (not final and now - self.last < 1.0):
            return
        self.last = now
        rate = (done - self.start) / max(now - self.t0, 1e-6)
        of = f" / {_human(self.total)} ({100 * done / self.total:.0f}%)" if self.total else ""
        self.say.write(f"  {self.name}: {_human(done)}{of}, {_human(rate)}/s\n")
        self.say.flush()


def _open(url: str, offset: int, timeout: float) -> Any:
    headers = {"User-Agent": "tether-data", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    return urllib.request.urlopen(request, timeout=timeout)


def _range_total(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total) of a ``Content-Range`` header; None where unknown."""
    match = _CONTENT_RANGE.fullmatch((value or "").strip())
    if not match:
        return None, None
    first = int(match.group(1)) if match.group(1) else None
    total = int(match.group(3)) if match.group(3) != "*" else None
    return first, total


def download(
    url: str, folder: Path, *, say: IO[str] | None = None, timeout: float = 60.0
) -> Downloaded:
    """Fetch ``url`` into ``folder`` (resuming a partial file); see the module doc."""
    name = file_name(url)
    folder.mkdir(parents=True, exist_ok=True)
    final, part = folder / name, folder / f"{name}.part"
    moved = final.exists() and not part.exists()
    if moved:
        os.replace(final, part)  # maybe partial: the server's answer to a range tells
    try:
        return _fetch(url, final, part, say=say, timeout=timeout)
    finally:
        if moved and part.exists() and not final.exists():
            os.replace(part, final)  # failed: leave the file as it was found


def _fetch(url: str, final: Path, part: Path, *, say: IO[str] | None, timeout: float) -> Downloaded:
    t0 = time.monotonic()
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as exc:
        _, total = _range_total(exc.headers.get("Content-Range"))
        if exc.code == 416 and offset and total == offset:
            os.replace(part, final)
            return Downloaded(url, str(final), offset, 0, offset, "complete", time.monotonic() - t0)
        if exc.code == 416 and offset:
            part.unlink()  # bigger than what the server has: start over
            return _fetch(url, final, part, say=say, timeout=timeout)
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"{url}: cannot fetch it ({reason})")
    with response:
        start, total = offset, None
        if response.status == 206:
            first, total = _range_total(response.headers.get("Content-Range"))
            if first != offset:
                raise DownloadError(f"{url}: the server sent a range starting at {first}")
        else:
            start = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        progress = _Progress(final.name, start, total, say)
        done = start
        try:
            with open(part, "ab" if start else "wb") as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    progress.update(done)
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(
                f"{url}: cut short after {_human(done)} ({exc}); run again to resume"
            )
        progress.update(done, final=True)
    if total is not None and done != total:
        raise DownloadError(
            f"{url}: got {done} of {total} bytes; run the same command again to resume"
        )
    os.replace(part, final)
    status = "resumed" if start else "downloaded"
    return Downloaded(url, str(final), done, done - start, start, status, time.monotonic() - t0)
