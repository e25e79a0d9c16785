"""The dashboard's JSON API and security rules against a real `tether web` and real jobs."""

from __future__ import annotations

import json
import textwrap
import time

import httpx

from conftest import Tether
from web_fixtures import Web, web_server  # noqa: F401

TRAIN = textwrap.dedent(
    """\
    import tether

    lr = 0.01
    steps = 3

    for i in range(steps):
        tether.report(step=i, loss=lr * (i + 1))
    print(f"lr={lr} done")
    """
)


def _wait_status(client: httpx.Client, uuid: str, wanted: set[str], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{uuid}").json()
        if job["status"] in wanted:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_first_line_is_the_url_and_every_route_needs_the_token(web: Web) -> None:
    assert web.url.startswith("http://127.0.0.1:") and "/?token=" in web.url
    anon = web.client(auth=False)
    for path in (
        "/",
        "/jobs/x",
        "/api/jobs",
        "/api/jobs/x",
        "/api/jobs/x/metrics",
        "/api/events/jobs",
        "/static/jobs.js",
        "/nothing",
    ):
        assert anon.get(path).status_code == 401, path
    for path in ("/api/jobs/x/cancel", "/api/jobs/x/rerun"):
        assert anon.post(path).status_code == 401, path
    bad = httpx.Client(base_url=web.base, headers={"Authorization": "Bearer nope"})
    assert bad.get("/api/jobs").status_code == 401
    assert anon.get("/?token=wrong").status_code == 401


def test_token_is_exchanged_once_for_a_strict_httponly_cookie(web: Web) -> None:
    anon = web.client(auth=False)
    first = anon.get(web.url, follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/"
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = anon.get("/")  # the client keeps the cookie: no token in the URL any more
    assert page.status_code == 200 and "<table id=jobs>" in page.text
    assert "access-control-allow-origin" not in page.headers


def test_wrong_host_header_is_refused(web: Web) -> None:
    client = web.client()
    assert client.get("/api/jobs").status_code == 200
    rebound = client.get("/api/jobs", headers={"Host": f"evil.example:{web.base[-5:]}"})
    assert rebound.status_code == 421
    assert client.get("/api/jobs", headers={"Host": "attacker.test"}).status_code == 421


def test_cross_origin_post_is_refused_and_cookie_post_needs_origin(web: Web) -> None:
    client = web.client()
    evil = client.post("/api/jobs/1/cancel", headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    cookie_only = web.client(auth=False)
    cookie_only.get(web.url)
    assert cookie_only.post("/api/jobs/1/cancel").status_code == 403  # no Origin
    same = cookie_only.post("/api/jobs/1/cancel", headers={"Origin": web.base})
    assert same.status_code == 404  # passed the gate; no job #1
    pre = client.options("/api/jobs", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in pre.headers


def test_jobs_listing_has_ls_fields_filters_and_paging(tether: Tether, web: Web) -> None:
    for i in range(5):
        tether("run", "-n", f"echo{i}", "--", "echo", str(i))
    tether("run", "-n", "other", "--", "false")
    tether("wait", "--all", check=False)
    client = web.client()
    page = client.get("/api/jobs", params={"limit": 2}).json()
    listed = tether.json("ls")
    assert page["total"] == 6
    assert [j["number"] for j in page["jobs"]] == [6, 5]
    by_number = {j["number"]: j for j in listed}
    for job in page["jobs"]:
        assert set(by_number[job["number"]]) <= set(job)
        assert job["uuid"] == by_number[job["number"]]["uuid"]
    second = client.get("/api/jobs", params={"limit": 2, "offset": 2}).json()
    assert [j["number"] for j in second["jobs"]] == [4, 3]
    failed = client.get("/api/jobs", params={"status": "failed"}).json()
    assert [j["name"] for j in failed["jobs"]] == ["other"]
    named = client.get("/api/jobs", params={"name": "echo"}).json()
    assert named["total"] == 5
    assert client.get("/api/jobs", params={"status": "bogus"}).status_code == 400
    assert client.get("/api/jobs", params={"limit": "x"}).status_code == 400


def test_metrics_are_downsampled_with_spikes_and_exact_last(tether: Tether, web: Web) -> None:
    (tether.cwd / "m.py").write_text(
        "import tether\n"
        "for i in range(20000):\n"
        "    tether.report(step=i, loss=1000.0 if i == 12345 else i % 7)\n"
        "tether.report(step=20000, loss=-3.25)\n"
    )
    tether("run", "-w", "m.py", timeout=120)
    job = tether.json("show")
    data = web.client().get(f"/api/jobs/{job['uuid']}/metrics", params={"buckets": 500}).json()
    loss = data["metrics"]["loss"]
    assert loss["points"] == 20001
    assert loss["sent"] <= 500
    assert max(loss["max"]) == 1000.0  # the spike survives
    assert loss["last"][-1] == -3.25 and loss["step"][-1] == 20000
    assert min(loss["min"]) == -3.25
    zoom = (
        web.client()
        .get(f"/api/jobs/{job['uuid']}/metrics", params={"start": 100, "end": 199})
        .json()["metrics"]["loss"]
    )
    assert zoom["step"] == list(range(100, 200))


def test_log_range_by_byte_offset_and_tail(tether: Tether, web: Web) -> None:
    (tether.cwd / "l.py").write_text("for i in range(3000):\n    print(f'line {i}')\n")
    tether("run", "-w", "l.py")
    job = tether.json("show")
    client = web.client()
    tail = client.get(f"/api/jobs/{job['uuid']}/log").json()
    lines = tail["text"].splitlines()
    assert len(lines) == 1000 and lines[-1] == "line 2999" and lines[0] == "line 2000"
    assert tail["end"] == tail["size"]
    part = client.get(f"/api/jobs/{job['uuid']}/log", params={"start": 7}).json()
    assert part["start"] == 7 and part["text"].startswith("line 1\nline 2\n")  # "line 0\n"
    with client.stream(
        "GET",
        f"/api/jobs/{job['uuid']}/log/stream",
        headers={"Last-Event-ID": str(tail["end"] - 10)},
    ) as stream:
        events = "".join(stream.iter_text())
    assert f"id: {tail['end']}" in events and "event: end" in events
    data = json.loads(events.split("event: log\ndata: ")[1].split("\n")[0])
    assert data["text"] == "line 2999\n"[-10:]


def test_cancel_stops_a_running_job_and_is_audited(tether: Tether, web: Web) -> None:
    tether("run", "-n", "sleeper", "--", "sleep", "300")
    uuid = tether.json("show")["uuid"]
    client = web.client()
    _wait_status(client, uuid, {"running"})
    done = client.post(f"/api/jobs/{uuid}/cancel")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "cancelled"
    assert tether.json("show")["status"] == "cancelled"
    again = client.post(f"/api/jobs/{uuid}/cancel")
    assert again.status_code == 400 and "already cancelled" in again.json()["error"]
    log = client.get("/api/audit", params={"job": uuid}).json()
    assert [e["action"] for e in log] == ["cancel", "cancel"]
    assert log[0]["status"] == 200 and "127.0.0.1" in log[0]["from"]


def test_rerun_with_a_param_and_a_refused_edit(tether: Tether, web: Web) -> None:
    (tether.cwd / "train.py").write_text(TRAIN)
    tether("run", "-w", "train.py")
    uuid = tether.json("show")["uuid"]
    client = web.client()
    program = client.get(f"/api/jobs/{uuid}/program").json()
    assert {t["name"] for t in program["tunables"]} >= {"lr", "steps"}
    assert program["source"] == TRAIN
    queued = client.post(f"/api/jobs/{uuid}/rerun", json={"params": {"lr": 0.5}})
    assert queued.status_code == 200, queued.text
    new = queued.json()["jobs"][0]
    done = _wait_status(client, new["uuid"], {"succeeded", "failed"})
    assert done["status"] == "succeeded"
    assert done["extra"]["params"] == {"lr": 0.5}
    assert "+lr = 0.5" in done["extra"]["param_diff"]
    assert done["parent"] == 1
    broken = client.post(f"/api/jobs/{uuid}/rerun", json={"source": TRAIN + "def (:\n"})
    assert broken.status_code == 400
    assert "line" in broken.json()["error"]
    assert len(tether.json("ls")) == 2  # nothing queued
    assert client.post(f"/api/jobs/{uuid}/rerun", json={"params": [1]}).status_code == 400


def test_log_tail_of_a_log_without_newlines_stops_at_one_mib(tether: Tether, web: Web) -> None:
    (tether.cwd / "n.py").write_text("import sys\nsys.stdout.write('x' * 3_000_000)\n")
    tether("run", "-w", "n.py")
    job = tether.json("show")
    tail = web.client().get(f"/api/jobs/{job['uuid']}/log").json()
    assert tail["size"] == 3_000_000 and tail["end"] == 3_000_000
    assert tail["start"] == 3_000_000 - (1 << 20) and set(tail["text"]) == {"x"}
