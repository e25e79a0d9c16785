"""Progress read from tqdm-style bars in a job's log: ``45%|████ | 45/100 [00:10<00:12]``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_BAR = re.compile(
    rb"(?P<pct>\d{1,3})%\|[^|\r\n]*\|\s*(?P<n>[\d.]+[kMG]?)/(?P<total>[\d.]+[kMG]?)"
    rb"(?:\s*\[(?P<elapsed>[\d:]+)<(?P<eta>[\d:?]+))?"
)


@dataclass
class Progress:
    percent: int
    done: str
    total: str
    eta: str | None

    def __str__(self) -> str:
        text = f"{self.percent}%"
        if self.eta and self.eta != "?":
            text += f" eta {self.eta}"
        return text

    def to_json(self) -> dict[str, object]:
        """Numbers for ``--json`` (tqdm's ``1.5k`` is 1500), eta as tqdm prints it."""
        return {
            "percent": self.percent,
            "done": _count(self.done),
            "total": _count(self.total),
            "eta": self.eta,
        }


_SUFFIX = {"k": 1e3, "M": 1e6, "G": 1e9}


def _count(text: str) -> int | float:
    """``45`` -> 45, ``1.5k`` -> 1500, ``2.5`` -> 2.5."""
    scale = _SUFFIX.get(text[-1:], 1.0)
    number = float(text[:-1] if scale != 1.0 else text) * scale
    return int(number) if number == int(number) else number


def parse_progress(text: bytes) -> Progress | None:
    """The last progress bar in ``text``, if any."""
    last = None
    for last in _BAR.finditer(text):  # noqa: B007
        pass
    if last is None:
        return None
    eta = last.group("eta")
    return Progress(
        percent=min(100, int(last.group("pct"))),
        done=last.group("n").decode(),
        total=last.group("total").decode(),
        eta=eta.decode() if eta else None,
    )


def read_progress(log_path: Path, tail_bytes: int = 8192) -> Progress | None:
    """Progress from the end of a log file (cheap: reads only the last few kilobytes)."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - tail_bytes))
            return parse_progress(f.read())
    except OSError:
        return None
