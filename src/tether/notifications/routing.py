"""Which notifications go where: channels and events from the user config, the project's
``tether.toml`` and the job's own options (``tether run --notify URL --notify-on ...``).

Channels add up (user, project, job); for ``on``, ``every`` and ``stall_after`` the most
specific setting wins (job over project over user). A channel may carry its own ``on``::

    [notify]
    channels = ["email", { url = "slack://T/B/C", on = ["failed", "stalled"] }]
    on = ["started", "ended", "message", "condition"]
    every = "30m"
    stall_after = "20m"

Giving ``every`` (or ``stall_after``) also sends interval (or stalled) notifications to every
channel that has no ``on`` of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.config import (
    find_project_config,
    line_of,
    load_toml,
    load_user_config,
    parse_duration,
    table,
    user_config_path,
)
from tether.errors import ConfigError
from tether.notifications.channels import redact_url, validate_channel_url

END_EVENTS = ("succeeded", "failed", "cancelled", "lost")
ALL_EVENTS = ("started", *END_EVENTS, "message", "condition", "interval", "stalled", "nan")
DEFAULT_ON = ("started", "ended", "message", "condition")
_ALIASES: dict[str, tuple[str, ...]] = {
    "ended": END_EVENTS,
    "end": END_EVENTS,
    "finished": END_EVENTS,
    "messages": ("message",),
    "conditions": ("condition",),
    "all": ALL_EVENTS,
}


@dataclass(frozen=True)
class Route:
    """One channel and the events it gets."""

    url: str
    events: frozenset[str]

    @property
    def display(self) -> str:
        return channel_display(self.url)


@dataclass
class NotifySettings:
    """Everything the notifier needs to know about one job's notifications."""

    routes: list[Route] = field(default_factory=list)
    every: float | None = None
    stall_after: float | None = None

    def channels_for(self, event: str) -> list[Route]:
        return [r for r in self.routes if event in r.events]


def channel_display(url: str) -> str:
    """How a channel is shown: ``email`` as is, an Apprise URL with only its scheme."""
    return "email" if url.strip().lower() == "email" else redact_url(url)


def parse_events(value: object, where: str) -> frozenset[str]:
    """``started,ended`` or a list of names (aliases: ended, messages, conditions, all)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"{where}: 'on' must be a list of event names")
    events: set[str] = set()
    for item in items:
        name = str(item).strip().lower()
        if not name:
            continue
        if name in _ALIASES:
            events.update(_ALIASES[name])
        elif name in ALL_EVENTS:
            events.add(name)
        else:
            raise ConfigError(
                f"{where}: unknown event {name!r}; use any of: "
                + ", ".join((*ALL_EVENTS, *_ALIASES))
            )
    return frozenset(events)


@dataclass
class _Layer:
    """One source of settings (a file or the job's options), parsed and checked."""

    channels: list[tuple[str, frozenset[str] | None]] = field(default_factory=list)
    on: frozenset[str] | None = None
    every: float | None = None
    stall_after: float | None = None


def _file_layer(data: dict[str, Any], path: Path | None, check_urls: bool = False) -> _Layer:
    """The ``[notify]`` table of one file; with `check_urls`, each channel URL is checked too
    (Apprise understands it), naming the file and line when it is not."""
    notify = table(data, "notify", path)
    layer = _Layer()
    channels = notify.get("channels", [])
    if isinstance(channels, (str, dict)):
        channels = [channels]
    if not isinstance(channels, list):
        raise ConfigError(f"{line_of(path, 'channels')}: 'channels' must be a list")
    for item in channels:
        where = line_of(path, "channels")
        if isinstance(item, str):
            layer.channels.append((item.strip(), None))
        elif isinstance(item, dict) and isinstance(item.get("url"), str):
            on = parse_events(item["on"], where) if "on" in item else None
            layer.channels.append((item["url"].strip(), on))
        else:
            raise ConfigError(f"{where}: a channel is a URL or {{ url = ..., on = [...] }}")
        if check_urls:
            try:
                validate_channel_url(layer.channels[-1][0])
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
    if "on" in notify:
        layer.on = parse_events(notify["on"], line_of(path, "on"))
    for key in ("every", "stall_after"):
        if key in notify:
            setattr(layer, key, parse_duration(notify[key], line_of(path, key)))
    return layer


def job_layer(options: dict[str, Any]) -> _Layer:
    """The layer stored in a job's ``extra["notify"]`` by ``tether run``."""
    return _Layer(
        channels=[(str(url), None) for url in options.get("channels") or []],
        on=frozenset(options["on"]) if options.get("on") is not None else None,
        every=options.get("every"),
        stall_after=options.get("stall_after"),
    )


def _merge(layers: list[_Layer]) -> NotifySettings:
    settings = NotifySettings()
    on = parse_events(list(DEFAULT_ON), "default")
    for layer in layers:
        on = layer.on if layer.on is not None else on
        settings.every = layer.every if layer.every is not None else settings.every
        if layer.stall_after is not None:
            settings.stall_after = layer.stall_after
    implicit = {"interval"} if settings.every else set()
    if settings.stall_after:
        implicit.add("stalled")
    seen: set[str] = set()
    for layer in layers:
        for url, own in layer.channels:
            if url in seen:
                continue
            seen.add(url)
            settings.routes.append(Route(url, own if own is not None else on | implicit))
    return settings


def settings_for(cwd: str | Path, job_options: dict[str, Any] | None = None) -> NotifySettings:
    """Notification settings for a job run in ``cwd`` with its own ``job_options``."""
    user_path = user_config_path()
    layers = [_file_layer(load_user_config(), user_path)]
    project = find_project_config(Path(cwd))
    if project is not None:
        layers.append(_file_layer(load_toml(project), project))
    if job_options:
        layers.append(job_layer(job_options))
    return _merge(layers)


def check_config_settings(cwd: str | Path) -> None:
    """Check the ``[notify]`` settings of the user config and of the project's ``tether.toml``
    for a job submitted from ``cwd``: ConfigError naming the file, line and what is allowed."""
    _file_layer(load_user_config(), user_config_path(), check_urls=True)
    project = find_project_config(Path(cwd))
    if project is not None:
        _file_layer(load_toml(project), project, check_urls=True)


def job_options(
    urls: tuple[str, ...] | list[str],
    every: str | None,
    stall_after: str | None,
    notify_on: str | None,
) -> dict[str, Any]:
    """Check ``tether run``'s notification options and return them for ``extra["notify"]``."""
    options: dict[str, Any] = {}
    for url in urls:
        validate_channel_url(url)
    if urls:
        options["channels"] = [u.strip() for u in urls]
    if every:
        options["every"] = parse_duration(every, "--every")
    if stall_after:
        options["stall_after"] = parse_duration(stall_after, "--stall-after")
    if notify_on:
        options["on"] = sorted(parse_events(notify_on, "--notify-on"))
    return options
