"""Turn a `NotificationContext` into a `Notification`: subject, text and HTML bodies, chat text."""

from __future__ import annotations

import html
import math
import re

from tether.mail import CHART_CID
from tether.notifications.message import Level, Notification, NotificationContext

MAX_SUBJECT = 160
MAX_LOG_LINES = 40
MAX_MESSAGES = 20
MAX_CHAT_MESSAGES = 10
MAX_METRICS = 30
MAX_LINE = 300

SUBJECT_TAG_RE = re.compile(r"\[tether #(?P<number>\d+)(?: (?P<token>[A-Za-z0-9_-]+))?\]")
"""Reads back what `subject_tag` writes (anywhere in a subject, e.g. after 'Re: ')."""

_LEVELS: dict[str, Level] = {
    "succeeded": "success",
    "failed": "failure",
    "lost": "failure",
    "cancelled": "warning",
    "stalled": "warning",
}
_SUBJECT_METRIC_EVENTS = {"succeeded", "cancelled", "lost", "interval", "condition", "stalled"}


def subject_tag(number: int, token: str | None = None) -> str:
    """`[tether #42]`, or `[tether #42 TOKEN]` when replies must carry a steering token
    (the form :mod:`tether.mail.tokens` reads back from a reply's subject)."""
    return f"[tether #{number} {token}]" if token else f"[tether #{number}]"


def humanize_duration(seconds: float) -> str:
    """`42s`, `5m`, `5m3s`, `3h12m`, `2d3h`: the two largest units, a zero second unit dropped."""
    rest = round(max(seconds, 0.0)) if math.isfinite(seconds) else 0
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size or parts:
            count, rest = divmod(rest, size)
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    if len(parts) == 2 and parts[1][0] == "0":
        parts.pop()
    return "".join(parts) or "0s"


def format_value(value: float, digits: int = 6) -> str:
    """A metric value in at most `digits` significant digits (`0.913`, `1.2e-05`, `nan`)."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def headline_metric(ctx: NotificationContext) -> tuple[str, float] | None:
    """The metric to quote in a subject: the one reported last, else a sensible pick.

    Without `ctx.last_metric`, take the metrics whose last step is the highest and prefer a
    validation/test one among them (`val_acc` over `train_loss`), else the first.
    """
    series = {name: points for name, points in ctx.metrics.items() if points}
    if not series:
        return None
    if ctx.last_metric in series:
        name = ctx.last_metric
    else:
        top = max(points[-1][0] for points in series.values())
        latest = [n for n, points in series.items() if points[-1][0] == top]
        preferred = [n for n in latest if re.match(r"(val|valid|eval|test)", n, re.IGNORECASE)]
        name = (preferred or latest)[0]
    return name, series[name][-1][1]


def render(
    ctx: NotificationContext, *, for_email: bool, chart: bool = True, controls: bool = True
) -> Notification:
    """Render `ctx` for email (text + HTML + chart + CONTROLS footer) or for chat channels.

    `chart=False` skips the PNG (it costs matplotlib's import, about a second).
    """
    headline = _headline(ctx)
    tag = subject_tag(ctx.job_number) if ctx.job_number > 0 else "[tether]"
    title = _clip(f"{tag} {headline}", MAX_SUBJECT)
    subject = title
    if ctx.token and ctx.job_number > 0:
        subject = _clip(f"{subject_tag(ctx.job_number, ctx.token)} {headline}", MAX_SUBJECT)
    png = note = None
    if chart and ctx.metrics:
        from tether.notifications.chart import safe_metrics_png

        png, note = safe_metrics_png(ctx.metrics)
    footer = _controls(ctx) if controls and for_email and ctx.event != "test" else []
    return Notification(
        subject=subject,
        title=title,
        text=_text_body(ctx, headline, footer, note),
        short=_short(ctx) + (f"\n{note}" if note else ""),
        html=_html_body(ctx, headline, footer, png is not None, note) if for_email else None,
        png=png,
        level=_LEVELS.get(ctx.event, "info"),
    )


def _name(ctx: NotificationContext) -> str:
    return ctx.job_name or ctx.program


def _headline(ctx: NotificationContext) -> str:
    """`train.py succeeded in 3h12m: val_acc=0.913` (no tag)."""
    dur = humanize_duration(ctx.duration_s) if ctx.duration_s is not None else None
    after = f" after {dur}" if dur else ""
    event = ctx.event
    if event == "started":
        what = "started" + (f" on {ctx.host}" if ctx.host else "")
    elif event == "succeeded":
        what = "succeeded" + (f" in {dur}" if dur else "")
    elif event == "failed":
        code = f" (exit {ctx.exit_code})" if ctx.exit_code is not None else ""
        what = f"failed{code}{after}"
        if ctx.exit_code is None and ctx.reason:
            what += f": {_one_line(ctx.reason)}"
    elif event in ("cancelled", "lost", "stalled"):
        what = f"{event}{after}"
        if ctx.reason:
            what += f" ({_one_line(ctx.reason)})"
    elif event == "message":
        last = next((m for m in reversed(ctx.messages) if m.strip()), "")
        what = f"says: {_one_line(last)}" if last else "sent a message"
    elif event == "condition":
        what = f"condition met: {ctx.condition or '?'}"
    elif event == "interval":
        what = "running" + (f" for {dur}" if dur else "")
    else:
        return "test notification" + (f" from {ctx.host}" if ctx.host else "")
    text = f"{_name(ctx)} {what}"
    if ctx.attempt:
        text += f" ({ctx.attempt})"
    if event == "condition" and ctx.condition_values:
        return f"{text}: {_met(ctx, 4)}"  # the values that met it, not the latest ones
    metric = headline_metric(ctx) if event in _SUBJECT_METRIC_EVENTS else None
    if metric:
        text += f": {metric[0]}={format_value(metric[1], 4)}"
    return text


def _met(ctx: NotificationContext, digits: int = 6) -> str:
    """`acc=0.6, loss=0.2`: the values that met the condition."""
    return ", ".join(f"{n}={format_value(v, digits)}" for n, v in ctx.condition_values.items())


def _facts(ctx: NotificationContext) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if ctx.job_number > 0:
        job = f"#{ctx.job_number}"
        if ctx.job_name and ctx.job_name != ctx.program:
            job += f" {ctx.job_name}"
        rows.append(("Job", f"{job} ({ctx.program})"))
    status = ctx.status or ctx.event
    if ctx.exit_code is not None:
        status += f" (exit {ctx.exit_code})"
    rows.append(("Status", status))
    if ctx.host:
        rows.append(("Host", ctx.host))
    if ctx.duration_s is not None:
        rows.append(("Duration", humanize_duration(ctx.duration_s)))
    if ctx.reason:
        rows.append(("Reason", _one_line(ctx.reason)))
    if ctx.peak_use:
        rows.append(("Peak use", ctx.peak_use))
    if ctx.condition:
        met = f" (met at {_met(ctx)})" if ctx.condition_values else ""
        rows.append(("Condition", ctx.condition + met))
    if ctx.parent_number is not None:
        rows.append(("Re-run of", f"#{ctx.parent_number}"))
    if ctx.attempt:
        rows.append(("Attempt", ctx.attempt.removeprefix("attempt ")))
    return rows


def _messages(ctx: NotificationContext) -> list[str]:
    shown = ctx.messages[-MAX_MESSAGES:]
    lines = (
        [f"({len(ctx.messages) - len(shown)} earlier messages not shown)"]
        if (len(shown) < len(ctx.messages))
        else []
    )
    for message in shown:
        lines.extend(_clip(line, MAX_LINE) for line in message.rstrip("\n").splitlines() or [""])
    return lines


def _log_lines(ctx: NotificationContext) -> list[str]:
    return [_clip(line.rstrip("\n"), MAX_LINE) for line in ctx.log_tail[-MAX_LOG_LINES:]]


def _metric_rows(ctx: NotificationContext) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for name, points in list(ctx.metrics.items())[:MAX_METRICS]:
        if not points:
            continue
        values = [v for _, v in points if not math.isnan(v)] or [math.nan]
        step, last = points[-1]
        rows.append(
            (
                name,
                str(step),
                format_value(last),
                format_value(min(values)),
                format_value(max(values)),
            )
        )
    return rows


def _param_rows(ctx: NotificationContext) -> list[tuple[str, str, str]]:
    """(name, `repr(value)`, note) with the change against the parent job as the note."""
    parent = f" in #{ctx.parent_number}" if ctx.parent_number is not None else ""
    rows = []
    for name, value in ctx.params.items():
        note = ""
        if name in ctx.param_changes:
            note = f"was {ctx.param_changes[name][0]!r}{parent}"
        rows.append((name, repr(value), note))
    for name, (old, new) in ctx.param_changes.items():
        if name not in ctx.params:
            rows.append((name, repr(new), f"was {old!r}{parent}"))
    return rows


def _controls(ctx: NotificationContext) -> list[str]:
    if not ctx.token:
        return ["Replies to this email are not read: steering by email is off for this job."]
    tag = subject_tag(ctx.job_number, ctx.token)
    return [
        f"Reply to this email to steer job #{ctx.job_number}; keep {tag} in the subject.",
        "Write one command at the top of your reply:",
        "  stop      stop the job",
        "  rerun     run the program again; lines below it such as",
        "              lr = 0.001",
        "            change its parameters for the new run",
        "  save      save the program as modified by your replies, and stop",
        "  status    reply with the current status",
        "  logs      reply with the latest log lines",
        "",
        "The RemotePyTuner format works too; keep the control between two '>EOM<' lines:",
        "  '$q'  to quit program",
        "  '$r'  to re-execute program (a modified program above the first '>EOM<' runs instead)",
        "  '$sq' to save current program and quit",
        "For example:",
        "  >EOM<",
        "  $q",
        "  >EOM<",
    ]


def _section(title: str) -> str:
    return f">>>>> {title} <<<<<"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _text_body(
    ctx: NotificationContext, headline: str, controls: list[str], note: str | None = None
) -> str:
    out = [headline, ""]
    out += _table([(f"{k}:", v) for k, v in _facts(ctx)])
    if ctx.messages:
        out += ["", _section("OUTPUT STATUS"), *_messages(ctx)]
    if ctx.log_tail:
        out += ["", _section("LAST LOG LINES"), *_log_lines(ctx)]
    metric_rows = _metric_rows(ctx)
    if metric_rows:
        header = ("metric", "step", "latest", "min", "max")
        out += ["", _section("METRICS"), *_table([header, *metric_rows])]
        if note:
            out.append(note)
    param_rows = _param_rows(ctx)
    if param_rows:
        width = max(len(name) for name, _, _ in param_rows)
        out += ["", _section("PARAMETERS")]
        for name, value, note in param_rows:
            line = f"{name.ljust(width)} = {value}"
            out.append(f"{line}   # {note}" if note else line)
    if controls:
        out += ["", _section("CONTROLS"), *controls]
    return "\n".join(out) + "\n"


_CSS = (
    "body{font-family:sans-serif;font-size:14px;color:#222}"
    "table{border-collapse:collapse}td,th{padding:2px 10px 2px 0;text-align:left}"
    "th{border-bottom:1px solid #ccc}pre{background:#f6f6f6;padding:8px;font-size:12px;"
    "white-space:pre-wrap}h3{margin:18px 0 6px 0;font-size:14px}"
)


def _html_body(
    ctx: NotificationContext,
    headline: str,
    controls: list[str],
    has_chart: bool,
    note: str | None = None,
) -> str:
    e = html.escape
    out = [
        f"<html><head><meta charset='utf-8'><style>{_CSS}</style></head><body>",
        f"<h2>{e(headline)}</h2>",
        "<table>",
        *(f"<tr><td><b>{e(k)}</b></td><td>{e(v)}</td></tr>" for k, v in _facts(ctx)),
        "</table>",
    ]
    if ctx.messages:
        out += ["<h3>OUTPUT STATUS</h3>", f"<pre>{e(chr(10).join(_messages(ctx)))}</pre>"]
    if ctx.log_tail:
        out += ["<h3>LAST LOG LINES</h3>", f"<pre>{e(chr(10).join(_log_lines(ctx)))}</pre>"]
    metric_rows = _metric_rows(ctx)
    if metric_rows:
        out += ["<h3>METRICS</h3>", "<table>"]
        out.append("<tr><th>metric</th><th>step</th><th>latest</th><th>min</th><th>max</th></tr>")
        out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in metric_rows]
        out.append("</table>")
    if has_chart:
        out.append(f"<p><img src='cid:{CHART_CID}' alt='metrics chart' width='800'></p>")
    elif note:
        out.append(f"<p><i>{e(note)}</i></p>")
    param_rows = _param_rows(ctx)
    if param_rows:
        out += ["<h3>PARAMETERS</h3>", "<table>"]
        out += [
            f"<tr><td><code>{e(n)} = {e(v)}</code></td><td>{e(note)}</td></tr>"
            for n, v, note in param_rows
        ]
        out.append("</table>")
    if controls:
        out += ["<h3>CONTROLS</h3>", f"<pre>{e(chr(10).join(controls))}</pre>"]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _short(ctx: NotificationContext) -> str:
    """A few lines for chat: facts, the error line of a failure, up to 3 metrics, last message."""
    facts = [ctx.host, humanize_duration(ctx.duration_s) if ctx.duration_s is not None else ""]
    if ctx.exit_code:
        facts.append(f"exit {ctx.exit_code}")
    lines = [" · ".join(f for f in facts if f)]
    if ctx.reason:
        lines.append(_clip(_one_line(ctx.reason), 200))
    if ctx.peak_use:
        lines.append(f"peak use: {ctx.peak_use}")
    if ctx.event == "condition" and ctx.condition_values:
        lines.append(_clip(f"condition met at {_met(ctx)}", 200))
    if ctx.event == "failed":
        error = next((line.strip() for line in reversed(ctx.log_tail) if line.strip()), "")
        if error:
            lines.append(_clip(error, 200))
    for name, step, last, low, high in _metric_rows(ctx)[:3]:
        lines.append(f"{name}={last} (step {step}, min {low}, max {high})")
    if ctx.messages and ctx.event != "message":
        lines.append(_clip(_one_line(ctx.messages[-1]), 200))
    elif ctx.event == "message" and ctx.messages:  # every message of this look, in order
        shown = ctx.messages[-MAX_CHAT_MESSAGES:]
        if len(shown) < len(ctx.messages):
            lines.append(f"({len(ctx.messages) - len(shown)} earlier messages not shown)")
        lines.extend(_clip(message.strip(), 500) for message in shown)
    return "\n".join(line for line in lines if line) or _name(ctx)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= limit else text[: limit - 1] + "…"
