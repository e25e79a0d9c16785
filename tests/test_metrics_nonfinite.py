"""NaN and +/-inf metrics are kept: stored, shown, given to conditions, "nan"/"inf" in --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Tether

SCRIPT = """
import math, tether
tether.add_condition("loss", math.isnan, label="loss is nan")
tether.report(step=1, loss=0.5, big=1.0)
tether.report(step=2, loss=float("nan"), big=float("inf"))
tether.report(step=3, loss=float("nan"), big=float("-inf"))
"""


def test_nan_and_inf_are_stored_shown_and_reach_conditions(tether: Tether) -> None:
    (tether.cwd / "nan.py").write_text(SCRIPT)
    number = tether("run", "--wait", "nan.py").stderr.split("#")[1].split()[0]
    scalars = tether.json("scalars", number)
    assert scalars == {
        "loss": {"last": "nan", "step": 3, "min": 0.5, "max": 0.5, "count": 3},
        "big": {"last": "-inf", "step": 3, "min": "-inf", "max": "inf", "count": 3},
    }
    table = tether("scalars", number).stdout
    assert "nan" in table and "-inf" in table
    assert "loss=nan big=-inf" in tether("ls").stdout
    shown = tether("show", number).stdout
    assert "loss             nan / 0.5 / 0.5" in shown
    assert "condition loss is nan turned true" in shown
    text = tether("show", number, "--json").stdout
    raw = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in --json"))
    assert raw["metrics"]["big"]["max"] == "inf"


def test_notify_on_nan_sends_one_notification(tether: Tether, tmp_path: Path) -> None:
    from test_notifications import Hook, notifier_passes_later

    config = tmp_path / "config"
    config.mkdir()
    (config / "config.toml").write_text('[notify]\nretry_first = "0.5s"\n')
    tether.env["TETHER_CONFIG_DIR"] = str(config)
    hook = Hook()
    hook.start()
    try:
        (tether.cwd / "nan.py").write_text(SCRIPT)
        tether("run", "--wait", "--notify", hook.url(), "--notify-on", "nan,ended", "nan.py")
        hook.wait(lambda p: "succeeded" in p["title"])
        assert hook.wait(lambda p: "loss became nan" in str(p))
        notifier_passes_later(tether, hook)  # what was coming has come
        assert len([p for _, p in hook.posts if "became" in str(p)]) == 1
    finally:
        hook.stop()
