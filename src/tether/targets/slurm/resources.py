"""What a Slurm job asks for, checked and normalized to the forms sbatch accepts.

``parse_resources(mem="1.5G", time="90m", gpus="a100:2")`` gives
``Resources(mem="1536M", time="01:30:00", gpus="a100:2")``. Every value is checked when a
``Resources`` is built, so a bad value fails before anything is submitted, with a
:class:`~tether.errors.UsageError` naming the accepted formats.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeGuard

from tether.errors import UsageError

GPU_STYLES = ("gres", "gpus")
"""How a GPU request is written: ``--gres=gpu:N`` (default) or ``--gpus=N``."""

UNLIMITED = "UNLIMITED"

MEM_FORMATS = "a number of megabytes (16000) or a number with a unit K, M, G or T (500M, 4G, 1.5G)"
TIME_FORMATS = (
    "seconds (3600), a duration with units d, h, m, s (90m, 2h, 1d12h), "
    "HH:MM:SS, D-HH:MM:SS, D-HH, D-HH:MM or UNLIMITED"
)
GPUS_FORMATS = "a count (2), a type (a100) or type:count (a100:2)"
ARRAY_FORMATS = "indexes and ranges like 0-15, 1,3,5, 0-20:4, optionally with a limit like 0-99%10"

_MEM_RE = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)
_MEM_UNITS = "KMGT"  # powers of 1024 kilobytes, as Slurm counts them
_UNIT_TIME_RE = re.compile(r"(?:\d+(?:\.\d+)?[dhms])+")
_UNIT_PART_RE = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_CLOCK_RE = re.compile(r"(?:(\d+)-)?(\d+):(\d\d?):(\d\d?)")
_DAY_HOURS_RE = re.compile(r"(\d+)-(\d+)(?::(\d\d?))?")
_GPU_TYPE_RE = re.compile(r"([A-Za-z][\w.\-]*)(?::(\d+))?")
_ARRAY_RANGE = r"\d+(?:-\d+(?::\d+)?)?"
_ARRAY_RE = re.compile(rf"{_ARRAY_RANGE}(?:,{_ARRAY_RANGE})*(?:%\d+)?")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _invalid(name: str, value: object, accepted: str) -> UsageError:
    return UsageError(f"Invalid {name} {value!r}: use {accepted}.")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def normalize_cpus(value: object) -> int:
    """A positive CPU count from ``4`` or ``"4"``."""
    number = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    if not _is_int(number) or number <= 0:
        raise _invalid("cpus", value, "a whole number of CPUs greater than 0 (4)")
    return number


def normalize_mem(value: object) -> str:
    """Memory in its largest whole Slurm unit: ``"1.5G"`` -> ``"1536M"``, ``16000`` -> ``"16000M"``.

    Plain numbers are megabytes, as in sbatch; units count in 1024s, as Slurm does.
    """
    if _is_int(value):
        number, unit = Decimal(value), "M"
    elif isinstance(value, str) and (match := _MEM_RE.fullmatch(value.strip())):
        number, unit = Decimal(match.group(1)), (match.group(2) or "M").upper()
    else:
        raise _invalid("mem", value, MEM_FORMATS)
    kib = number * 1024 ** _MEM_UNITS.index(unit)
    if kib <= 0 or kib != kib.to_integral_value():
        raise UsageError(f"Invalid mem {value!r}: memory must be a whole number of kilobytes > 0.")
    whole = int(kib)
    for index in range(len(_MEM_UNITS) - 1, -1, -1):
        size = 1024**index
        if whole % size == 0:
            return f"{whole // size}{_MEM_UNITS[index]}"
    raise AssertionError("unreachable: every count of kilobytes is whole in K")


def normalize_gpus(value: object) -> str:
    """A GPU request: ``2`` -> ``"2"``, ``"a100"`` -> ``"a100:1"``, ``"a100:2"`` unchanged."""
    text = str(value).strip() if _is_int(value) or isinstance(value, str) else None
    if text is not None and text.lower().startswith("gpu:"):
        text = text[4:]  # accept the gres spelling gpu:a100:2
    if text is not None and text.lower() == "gpu":
        text = "1"
    if text is not None and text.isdigit() and int(text) > 0:
        return str(int(text))
    if text is not None and (match := _GPU_TYPE_RE.fullmatch(text)):
        count = int(match.group(2) or 1)
        if count > 0:
            return f"{match.group(1)}:{count}"
    raise _invalid("gpus", value, GPUS_FORMATS + " with a count greater than 0")


def _clock_seconds(days: int, hours: int, minutes: int, seconds: int) -> int | None:
    if minutes >= 60 or seconds >= 60 or (days and hours >= 24):
        return None
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_duration(value: object) -> int:
    """Seconds from any accepted time format (see ``TIME_FORMATS``); UNLIMITED is refused."""
    seconds: int | None = None
    if isinstance(value, timedelta):
        total = value.total_seconds()
        seconds = int(total) if total == int(total) else None
    elif _is_int(value):
        seconds = value
    elif isinstance(value, float) and value.is_integer():
        seconds = int(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value.strip())
    if seconds is None:
        raise _invalid("time", value, TIME_FORMATS)
    if seconds <= 0:
        raise UsageError(f"Invalid time {value!r}: a time limit must be longer than 0 seconds.")
    return seconds


def _parse_duration_text(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if _UNIT_TIME_RE.fullmatch(text):
        parts = _UNIT_PART_RE.findall(text)
        if len({unit for _, unit in parts}) != len(parts):
            return None
        total = sum((Decimal(n) * _UNIT_SECONDS[unit] for n, unit in parts), Decimal(0))
        return int(total) if total == total.to_integral_value() else None
    if match := _CLOCK_RE.fullmatch(text):
        days, hours, minutes, secs = (int(group or 0) for group in match.groups())
        return _clock_seconds(days, hours, minutes, secs)
    if match := _DAY_HOURS_RE.fullmatch(text):
        days, hours, minutes = (int(group or 0) for group in match.groups())
        return _clock_seconds(days, hours, minutes, 0)
    return None


def format_duration(seconds: int) -> str:
    """Slurm's time form: ``HH:MM:SS`` under a day, ``D-HH:MM:SS`` from a day on."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def normalize_time(value: object) -> str:
    """A time limit in Slurm's form: ``3600`` -> ``"01:00:00"``, ``"1d12h"`` -> ``"1-12:00:00"``."""
    if isinstance(value, str) and value.strip().upper() in (UNLIMITED, "INFINITE"):
        return UNLIMITED
    return format_duration(parse_duration(value))


def normalize_text(name: str, value: object) -> str:
    """A one-line, non-empty text value (partition, account, paths...)."""
    if _is_int(value):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or _CONTROL_RE.search(value):
        raise _invalid(name, value, "one line of non-empty text")
    return value.strip()


def normalize_array(value: object) -> str:
    """A job array spec such as ``0-15``, ``1,3,5``, ``0-20:4`` or ``0-99%10``."""
    text = str(value).strip() if _is_int(value) or isinstance(value, str) else ""
    text = text.replace(" ", "")
    if not _ARRAY_RE.fullmatch(text):
        raise _invalid("array", value, ARRAY_FORMATS)
    return text


def normalize_sbatch_line(value: object) -> str:
    """One extra sbatch option such as ``--exclusive`` or ``--mail-type=END``."""
    if not isinstance(value, str) or _CONTROL_RE.search(value.strip()):
        raise _invalid("sbatch line", value, "one line holding an sbatch option (--exclusive)")
    text = value.strip()
    if text.upper().startswith("#SBATCH"):
        text = text[len("#SBATCH") :].strip()
    if not text.startswith("-") or text.strip("-") == "":
        raise _invalid("sbatch line", value, "an sbatch option starting with - (--exclusive)")
    return text


def normalize_sbatch_lines(value: object) -> tuple[str, ...]:
    """Extra sbatch options: one string or a list of strings."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable):
        raise _invalid("sbatch_lines", value, "a list of sbatch options (--exclusive)")
    return tuple(normalize_sbatch_line(line) for line in value)


def normalize_gpu_style(value: object) -> str:
    """``gres`` (``--gres=gpu:N``) or ``gpus`` (``--gpus=N``)."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if text not in GPU_STYLES:
        raise _invalid("gpu_style", value, " or ".join(GPU_STYLES))
    return text


@dataclass(frozen=True)
class Resources:
    """A Slurm job's resources; ``None`` means "not asked for" (Slurm's or the host's default)."""

    cpus: int | None = None
    mem: str | None = None
    gpus: str | None = None
    time: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    array: str | None = None
    job_name: str | None = None
    output: str | None = None
    error: str | None = None
    gpu_style: str | None = None
    sbatch_lines: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, normalize in _NORMALIZERS.items():
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, normalize(value))
        object.__setattr__(self, "sbatch_lines", normalize_sbatch_lines(self.sbatch_lines))

    @property
    def time_seconds(self) -> int | None:
        """The time limit in seconds, or ``None`` when unset or unlimited."""
        if self.time is None or self.time == UNLIMITED:
            return None
        return parse_duration(self.time)

    @property
    def gpu_option(self) -> str | None:
        """The sbatch option asking for the GPUs: ``--gres=gpu:a100:2`` or ``--gpus=a100:2``."""
        if self.gpus is None:
            return None
        if self.gpu_style == "gpus":
            return f"--gpus={self.gpus}"
        return f"--gres=gpu:{self.gpus}"

    def as_dict(self) -> dict[str, Any]:
        """The values that are set, ready for ``parse_resources(**...)`` or a TOML file."""
        values: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None and value != ():
                values[item.name] = list(value) if isinstance(value, tuple) else value
        return values


_NORMALIZERS: dict[str, Any] = {
    "cpus": normalize_cpus,
    "mem": normalize_mem,
    "gpus": normalize_gpus,
    "time": normalize_time,
    "partition": lambda value: normalize_text("partition", value),
    "account": lambda value: normalize_text("account", value),
    "qos": lambda value: normalize_text("qos", value),
    "constraint": lambda value: normalize_text("constraint", value),
    "array": normalize_array,
    "job_name": lambda value: normalize_text("job_name", value),
    "output": lambda value: normalize_text("output", value),
    "error": lambda value: normalize_text("error", value),
    "gpu_style": normalize_gpu_style,
}

PARAMETERS: tuple[str, ...] = tuple(item.name for item in fields(Resources))
"""Every option ``parse_resources`` accepts."""


def parse_resources(**kwargs: Any) -> Resources:
    """Build ``Resources`` from options; dashes in names count as underscores (``job-name``)."""
    values = {key.replace("-", "_"): value for key, value in kwargs.items()}
    unknown = sorted(key for key in values if key not in PARAMETERS)
    if unknown:
        import difflib

        hints = [
            f"{key!r} -> {close[0]!r}"
            for key in unknown
            if (close := difflib.get_close_matches(key, PARAMETERS, n=1))
        ]
        hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise UsageError(
            f"Unavailable parameter(s): {', '.join(unknown)}{hint}. "
            f"Valid parameters are: {', '.join(PARAMETERS)}."
        )
    if values.get("sbatch_lines") is None:
        values.pop("sbatch_lines", None)
    return Resources(**values)


def _as_resources(value: Resources | Mapping[str, Any] | None) -> Resources:
    if value is None:
        return Resources()
    if isinstance(value, Resources):
        return value
    return parse_resources(**value)


def merge(
    host_defaults: Resources | Mapping[str, Any] | None,
    job_values: Resources | Mapping[str, Any] | None,
) -> Resources:
    """The host's defaults overridden by each job value that is set.

    Extra sbatch lines add up, host lines first; sbatch lets a later line override an
    earlier one, so a job's ``--mail-type=FAIL`` wins over the host's ``--mail-type=END``.
    """
    host, job = _as_resources(host_defaults), _as_resources(job_values)
    values: dict[str, Any] = {}
    for item in fields(Resources):
        if item.name == "sbatch_lines":
            continue
        job_value = getattr(job, item.name)
        values[item.name] = job_value if job_value is not None else getattr(host, item.name)
    lines = host.sbatch_lines + tuple(
        line for line in job.sbatch_lines if line not in host.sbatch_lines
    )
    return Resources(**values, sbatch_lines=lines)
