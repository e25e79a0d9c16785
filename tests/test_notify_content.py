"""Rendering notifications: subjects, bodies, the CONTROLS footer, the chart."""

from __future__ import annotations

import struct
import sys
import zlib

import pytest

from tether.mail import CHART_CID
from tether.notifications.chart import metrics_png
from tether.notifications.content import (
    SUBJECT_TAG_RE,
    format_value,
    headline_metric,
    humanize_duration,
    render,
    subject_tag,
)
from tether.notifications.message import NotificationContext

TRACEBACK = [
    "epoch 3 loss 0.41",
    "Traceback (most recent call last):",
    '  File "train.py", line 12, in <module>',
    "    main()",
    '  File "train.py", line 9, in main',
    "    1 / 0",
    "ZeroDivisionError: division by zero",
]


def png_size(data: bytes) -> tuple[int, int]:
    """Check the PNG signature and the IHDR chunk (with its CRC); return (width, height)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16 : 16 + length]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert zlib.crc32(kind + body) == crc
    width, height = struct.unpack(">II", body[:8])
    return width, height


def succeeded(**kw: object) -> NotificationContext:
    ctx = NotificationContext(
        event="succeeded",
        job_number=42,
        program="train.py",
        status="succeeded",
        host="gpu1",
        duration_s=3 * 3600 + 12 * 60 + 7,
        exit_code=0,
        messages=["epoch 10 done", "final accuracy 0.913"],
        log_tail=["step 999", "step 1000"],
        metrics={
            "loss": [(1, 0.9), (500, 0.4), (1000, 0.21)],
            "val_acc": [(1, 0.5), (500, 0.93), (1000, 0.913)],
        },
        last_metric="val_acc",
        params={"lr": 0.001, "model": "resnet"},
        param_changes={"lr": (0.01, 0.001)},
        parent_number=41,
    )
    for key, value in kw.items():
        setattr(ctx, key, value)
    return ctx


def failed(**kw: object) -> NotificationContext:
    ctx = NotificationContext(
        event="failed",
        job_number=42,
        program="train.py",
        status="failed",
        host="gpu1",
        duration_s=300,
        exit_code=1,
        log_tail=list(TRACEBACK),
    )
    for key, value in kw.items():
        setattr(ctx, key, value)
    return ctx


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (42.4, "42s"),
        (300, "5m"),
        (303, "5m3s"),
        (3600, "1h"),
        (3 * 3600 + 12 * 60 + 59, "3h12m"),
        (2 * 86400 + 3 * 3600 + 5, "2d3h"),
        (-5, "0s"),
    ],
)
def test_humanize_duration(seconds: float, text: str) -> None:
    assert humanize_duration(seconds) == text


def test_format_value() -> None:
    assert format_value(0.913) == "0.913"
    assert format_value(3.0) == "3"
    assert format_value(0.123456789, 4) == "0.1235"
    assert format_value(float("nan")) == "nan"


def test_subject_for_success_names_duration_and_metric() -> None:
    n = render(succeeded(), for_email=True, chart=False)
    assert n.subject == "[tether #42] train.py succeeded in 3h12m: val_acc=0.913"
    assert n.title == n.subject
    assert n.level == "success"


def test_subject_for_failure() -> None:
    n = render(failed(), for_email=True, chart=False)
    assert n.subject == "[tether #42] train.py failed (exit 1) after 5m"
    assert n.level == "failure"


def test_subject_without_last_metric_prefers_latest_validation_metric() -> None:
    ctx = succeeded(last_metric=None)
    ctx.metrics = {"train_loss": [(1000, 0.2)], "val_acc": [(1000, 0.9)], "lr": [(10, 0.1)]}
    assert headline_metric(ctx) == ("val_acc", 0.9)
    ctx.metrics = {"train_loss": [(1000, 0.2)], "lr": [(2000, 0.1)]}
    assert headline_metric(ctx) == ("lr", 0.1)
    ctx.metrics = {}
    assert headline_metric(ctx) is None
    assert render(ctx, for_email=False).subject == "[tether #42] train.py succeeded in 3h12m"


@pytest.mark.parametrize(
    ("event", "extra", "expected"),
    [
        ("started", {}, "[tether #7] train.py started on gpu1"),
        ("cancelled", {"duration_s": 61}, "[tether #7] train.py cancelled after 1m1s"),
        ("lost", {"reason": "host rebooted"}, "[tether #7] train.py lost (host rebooted)"),
        ("message", {"messages": ["a", "epoch 3\nok"]}, "[tether #7] train.py says: epoch 3 ok"),
        (
            "condition",
            {"condition": "loss < 0.1"},
            "[tether #7] train.py condition met: loss < 0.1",
        ),
        ("interval", {"duration_s": 7200}, "[tether #7] train.py running for 2h"),
        (
            "stalled",
            {"reason": "no output for 30m"},
            "[tether #7] train.py stalled (no output for 30m)",
        ),
        ("test", {"job_number": 0}, "[tether] test notification from gpu1"),
    ],
)
def test_subject_per_event(event: str, extra: dict[str, object], expected: str) -> None:
    ctx = NotificationContext(event=event, job_number=7, program="train.py", host="gpu1")  # type: ignore[arg-type]
    for key, value in extra.items():
        setattr(ctx, key, value)
    assert render(ctx, for_email=False).subject == expected


def test_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown notification event"):
        NotificationContext(event="exploded", job_number=1, program="x.py")  # type: ignore[arg-type]


def test_subject_is_one_short_line() -> None:
    ctx = NotificationContext(
        event="message", job_number=3, program="p.py", messages=["x" * 500 + "\nsecond line"]
    )
    subject = render(ctx, for_email=False).subject
    assert "\n" not in subject and len(subject) <= 160 and subject.endswith("…")


def test_token_goes_in_subject_tag_and_not_in_chat_title() -> None:
    n = render(succeeded(token="Tk3n-9_x"), for_email=True, chart=False)
    assert n.subject.startswith("[tether #42 Tk3n-9_x] train.py succeeded")
    assert "Tk3n" not in n.title
    assert "Tk3n" not in n.short
    match = SUBJECT_TAG_RE.search("Re: " + n.subject)
    assert match is not None
    assert match["number"] == "42" and match["token"] == "Tk3n-9_x"
    assert subject_tag(42) == "[tether #42]"


def test_text_body_has_status_messages_logs_metrics_params() -> None:
    text = render(succeeded(token="abc"), for_email=True, chart=False).text
    assert "Status:" in text and "succeeded (exit 0)" in text
    assert "Host:" in text and "gpu1" in text
    assert "Duration:" in text and "3h12m" in text
    assert "OUTPUT STATUS" in text and "final accuracy 0.913" in text
    assert "step 1000" in text
    metric_line = next(line for line in text.splitlines() if line.startswith("val_acc"))
    assert metric_line.split() == ["val_acc", "1000", "0.913", "0.5", "0.93"]
    assert "lr    = 0.001   # was 0.01 in #41" in text
    assert "model = 'resnet'" in text
    assert "Re-run of:  #41" in text


def test_failure_body_ends_with_the_traceback() -> None:
    n = render(failed(), for_email=True, chart=False)
    assert "ZeroDivisionError: division by zero" in n.text
    assert "Traceback (most recent call last):" in n.text
    assert n.html is not None and "ZeroDivisionError: division by zero" in n.html
    assert "ZeroDivisionError: division by zero" in n.short
    assert n.short.splitlines()[0] == "gpu1 · 5m · exit 1"


def test_controls_footer_in_email_only() -> None:
    email = render(succeeded(token="abc"), for_email=True, chart=False)
    footer = email.text.split("CONTROLS", 1)[1]
    for word in (">EOM<", "$q", "$r", "$sq", "stop", "rerun", "lr = 0.001", "save", "status"):
        assert word in footer, word
    assert "logs" in footer
    assert "[tether #42 abc]" in footer
    assert email.html is not None and "CONTROLS" in email.html
    chat = render(succeeded(token="abc"), for_email=False, chart=False)
    assert "CONTROLS" not in chat.text and chat.html is None
    assert "abc" not in chat.text


def test_without_token_email_says_replies_are_not_read() -> None:
    text = render(succeeded(), for_email=True, chart=False).text
    assert "Replies to this email are not read" in text
    assert ">EOM<" not in text


def test_html_escapes_and_refers_to_the_chart() -> None:
    ctx = succeeded(messages=["<script>alert(1)</script>"])
    n = render(ctx, for_email=True)
    assert n.html is not None
    assert "<script>" not in n.html and "&lt;script&gt;" in n.html
    assert f"cid:{CHART_CID}" in n.html
    assert n.png is not None
    assert png_size(n.png) == (800, 400)


def test_short_is_a_few_lines() -> None:
    ctx = succeeded()
    ctx.metrics = {f"m{i}": [(1, float(i))] for i in range(10)}
    short = render(ctx, for_email=False, chart=False).short
    assert 2 <= len(short.splitlines()) <= 6
    assert "m0=0 (step 1, min 0, max 0)" in short


def test_long_logs_and_messages_are_capped() -> None:
    ctx = failed(log_tail=[f"line {i}" for i in range(500)], messages=[f"m{i}" for i in range(50)])
    text = render(ctx, for_email=True, chart=False).text
    assert "line 499" in text and "line 459" not in text
    assert "(30 earlier messages not shown)" in text


def test_chart_size_and_signature() -> None:
    series = {"loss": [(i, 1 / (i + 1)) for i in range(50)], "acc": [(0, 0.1), (10, 0.5)]}
    data = metrics_png(series)
    assert data is not None
    assert png_size(data) == (800, 400)


def test_chart_caps_subplots_and_skips_empty() -> None:
    series = {f"m{i}": [(0, 1.0), (1, float(i))] for i in range(9)}
    series["empty"] = []
    series["nan"] = [(0, float("nan"))]
    data = metrics_png(series)
    assert data is not None
    assert png_size(data) == (800, 1200)


def test_no_chart_without_metrics() -> None:
    assert metrics_png({}) is None
    assert metrics_png({"loss": []}) is None
    assert render(failed(), for_email=True).png is None


def test_without_matplotlib_the_notification_goes_out_with_one_line_on_charts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tether.notifications.chart import CHARTS_HINT

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    email = render(succeeded(), for_email=True)
    assert email.png is None
    assert email.text.count(CHARTS_HINT) == 1
    assert email.html is not None and "tether[charts]" in email.html
    assert "cid:" not in email.html
    chat = render(succeeded(), for_email=False)
    assert chat.png is None and CHARTS_HINT in chat.short


def test_with_matplotlib_the_notification_has_its_chart_and_no_hint() -> None:
    from tether.notifications.chart import CHARTS_HINT

    email = render(succeeded(), for_email=True)
    assert email.png is not None and CHARTS_HINT not in email.text


def test_chat_shows_every_message_of_one_look_in_order() -> None:
    ctx = NotificationContext(
        event="message", job_number=4, program="train.py", status="running",
        messages=["epoch 1 done", "epoch 2 done", "checkpoint saved"],
    )  # fmt: skip
    short = render(ctx, for_email=False, chart=False).short
    assert short.index("epoch 1 done") < short.index("epoch 2 done") < short.index("checkpoint")
    many = NotificationContext(event="message", job_number=4, program="train.py",
                               messages=[f"m{i}" for i in range(25)])  # fmt: skip
    short = render(many, for_email=False, chart=False).short
    assert "(15 earlier messages not shown)" in short and "m15" in short and "m14" not in short
