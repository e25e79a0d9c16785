"""The dashboard in Debian's chromium (headless, via Playwright, no browser download) against
a real `tether web`, a real agent and real jobs."""

from __future__ import annotations

import io
import re
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from conftest import Tether
from web_fixtures import Web, start_web, web_server  # noqa: F401

pw = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

TRAIN = textwrap.dedent(
    """\
    import time

    import tether

    lr = 0.01
    steps = 40

    for i in range(steps):
        tether.report(step=i, loss=lr * (steps - i))
        print(f"step {i} lr={lr}", flush=True)
        time.sleep(0.05)
    """
)


@pytest.fixture
def web_recycling(tether: Tether) -> Iterator[Web]:
    """`tether web` whose streams the server ends after 1 s (a dropped connection)."""
    tether.env["TETHER_WEB_STREAM_SECONDS"] = "1"
    yield from start_web(tether)


@pytest.fixture
def chrome() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed")
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def _page(chrome: object, web: Web, *, phone: bool = False) -> object:
    size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 800}
    context = chrome.new_context(viewport=size, has_touch=phone, is_mobile=phone)  # type: ignore[attr-defined]
    context.set_default_timeout(60000)  # a deadline for a loaded machine, not a time bound
    page = context.new_page()
    page.goto(web.url)  # exchanges the token for the cookie, lands on /
    return page


def _no_horizontal_scroll(page: object) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= 390, width


def _status_cell(page: object) -> object:
    return page.locator("#jobs tbody td.status")  # type: ignore[attr-defined]


def _chart_is_drawn(page: object, name: str) -> None:
    """The metric's chart is on screen, with a real size and its line drawn in its colour."""
    chart = page.locator("#charts .chart", has_text=f"{name}:")  # type: ignore[attr-defined]
    canvas = chart.locator("canvas").first
    pw.expect(canvas).to_be_visible(timeout=20000)
    box = canvas.bounding_box()
    assert box is not None and box["width"] >= 100 and box["height"] >= 100, box
    image = Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")
    # the series stroke is #07a = (0, 119, 170); anti-aliasing blends its edges
    pixels = getattr(image, "get_flattened_data", image.getdata)()  # getdata: Pillow < 12.1
    line = sum(1 for r, g, b in pixels if r < 80 and 80 < g < 160 and b > 130 and b - r > 90)
    assert line >= 50, f"{name}: only {line} pixels of the line drawn"


def test_table_updates_live_as_a_job_runs_and_finishes(
    tether: Tether, web: Web, chrome: object
) -> None:
    page = _page(chrome, web)
    pw.expect(page.locator("#pageinfo")).to_have_text("no jobs", timeout=20000)
    pw.expect(page.locator("#jobs tbody tr")).to_have_count(0)
    # the job holds at step 20 until the page has shown it running (a go file)
    held = TRAIN.replace(
        "    time.sleep(0.05)\n",
        "    time.sleep(0.05)\n"
        "    while i == 19 and not __import__('os').path.exists('go'):\n"
        "        time.sleep(0.05)\n",
    )
    assert held != TRAIN
    (tether.cwd / "train.py").write_text(held)
    tether("run", "train.py")
    pw.expect(_status_cell(page)).to_have_text("running", timeout=60000)
    (tether.cwd / "go").touch()
    pw.expect(_status_cell(page)).to_have_text("succeeded", timeout=60000)
    rows = page.locator("#jobs tbody tr")
    pw.expect(rows).to_have_count(1)
    pw.expect(rows).to_contain_text("train.py")
    pw.expect(page.locator("#pageinfo")).to_have_text("1-1 of 1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "jobs-desktop.png"), full_page=True)
    rows.locator("a").click()  # the job's name links to its page
    pw.expect(page.locator("#title")).to_have_text("#1 train.py", timeout=30000)
    pw.expect(page.locator("#status")).to_have_text("succeeded on local (exit 0)")
    log = page.locator("#log")
    pw.expect(log).to_contain_text("step 39 lr=0.01", timeout=30000)
    pw.expect(log).to_contain_text("step 0 lr=0.01")
    pw.expect(page.locator("#charts .chart p")).to_have_text(
        "loss: 40 of 40 points, last 0.01", timeout=30000
    )
    _chart_is_drawn(page, "loss")
    page.screenshot(path=str(SHOTS / "job-desktop.png"), full_page=True)


def test_cancel_from_the_page_stops_the_job(tether: Tether, web: Web, chrome: object) -> None:
    tether("run", "-n", "sleeper", "--", "sleep", "300")
    uuid = tether.json("show")["uuid"]
    page = _page(chrome, web)
    page.goto(f"{web.base}/jobs/{uuid}")
    status = page.locator("#status")
    pw.expect(status).to_have_text("running on local", timeout=60000)
    pw.expect(page.locator("#cancel")).to_be_enabled()
    page.click("#cancel")
    pw.expect(status).to_have_text(re.compile(r"^cancelled on local"), timeout=60000)
    pw.expect(page.locator("#cancel")).to_be_disabled()
    assert tether.json("show")["status"] == "cancelled"
    pw.expect(page.locator("#audit")).to_contain_text("cancel (200)", timeout=20000)


def test_rerun_with_a_changed_param_and_a_refused_edit(
    tether: Tether, web: Web, chrome: object
) -> None:
    (tether.cwd / "train.py").write_text(TRAIN.replace("steps = 40", "steps = 2"))
    tether("run", "-w", "train.py")
    uuid = tether.json("show")["uuid"]
    page = _page(chrome, web, phone=True)
    page.goto(f"{web.base}/jobs/{uuid}")
    page.wait_for_selector("#tunables input[name=lr]")
    page.locator("#rerun summary").click()
    source = page.locator("#source")
    source.fill(source.input_value() + "\ndef broken(:\n")
    page.click("#rerun button[type=submit]")
    page.wait_for_selector("#rerun-result.error")
    assert "line" in page.locator("#rerun-result").inner_text()
    assert len(tether.json("ls")) == 1  # nothing queued
    page.screenshot(path=str(SHOTS / "job-phone-refused.png"), full_page=True)
    _no_horizontal_scroll(page)
    page.goto(f"{web.base}/jobs/{uuid}")
    page.wait_for_selector("#tunables input[name=lr]")
    page.fill("#tunables input[name=lr]", "0.5")
    page.click("#rerun button[type=submit]")
    page.wait_for_selector("#rerun-result a")
    tether("wait", "--all")
    jobs = tether.json("ls")
    assert len(jobs) == 2
    new = tether.json("show", str(jobs[-1]["number"]))
    assert new["parent"] == 1 and new["extra"]["params"] == {"lr": 0.5}
    assert "+lr = 0.5" in new["extra"]["param_diff"]
    pw.expect(page.locator("#rerun-result a")).to_have_text(f"#{new['number']}")
    page.locator("#rerun-result a").click()  # the link to the new job
    pw.expect(page.locator("#title")).to_have_text(f"#{new['number']} train.py", timeout=20000)
    pw.expect(page.locator("#params")).to_contain_text("lr")
    pw.expect(page.locator("#params")).to_contain_text("0.5")
    page.locator("#diffbox summary").click()
    pw.expect(page.locator("#paramdiff")).to_contain_text("+lr = 0.5")


def test_phone_viewport_has_no_horizontal_scroll(tether: Tether, web: Web, chrome: object) -> None:
    name = "a-rather-long-job-name-that-could-overflow"
    (tether.cwd / "train.py").write_text(TRAIN.replace("steps = 40", "steps = 3"))
    tether("run", "-w", "-n", name, "train.py")
    uuid = tether.json("show")["uuid"]
    page = _page(chrome, web, phone=True)
    rows = page.locator("#jobs tbody tr")
    pw.expect(rows).to_have_count(1, timeout=20000)
    pw.expect(rows).to_contain_text(name)
    _no_horizontal_scroll(page)
    page.screenshot(path=str(SHOTS / "jobs-phone.png"), full_page=True)
    page.goto(f"{web.base}/jobs/{uuid}")
    pw.expect(page.locator("#charts .chart p")).to_have_text(
        "loss: 3 of 3 points, last 0.01", timeout=20000
    )
    _chart_is_drawn(page, "loss")
    _no_horizontal_scroll(page)
    page.screenshot(path=str(SHOTS / "job-phone.png"), full_page=True)


def test_log_streams_and_resumes_after_a_dropped_connection(
    tether: Tether, web_recycling: Web, chrome: object
) -> None:
    """The server drops each log stream after 1 s; the page resumes from the byte offset
    (Last-Event-ID), so the log shown has every line once, in order. The job holds half way
    until the page has reconnected twice (a go file), so no timing is assumed."""
    (tether.cwd / "p.py").write_text(
        "import os, time\n"
        "for i in range(40):\n"
        "    print(f'n{i}', flush=True)\n"
        "    while i == 19 and not os.path.exists('go'):\n"
        "        time.sleep(0.05)\n"
    )
    tether("run", "p.py")
    uuid = tether.json("show")["uuid"]
    page = _page(chrome, web_recycling)
    page.goto(f"{web_recycling.base}/jobs/{uuid}")
    page.wait_for_function("window.__tether.log.includes('n19')", timeout=60000)
    page.wait_for_function("window.__tether.reconnects >= 2", timeout=60000)
    (tether.cwd / "go").touch()
    page.wait_for_function("window.__tether.logEnded === true", timeout=60000)
    assert page.evaluate("window.__tether.log").split("\n") == [f"n{i}" for i in range(40)]
