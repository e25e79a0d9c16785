"""The dashboard's Starlette app: a JSON API under /api/, SSE streams and two pages.
Every handler is a thin client of :mod:`tether.api`."""

from __future__ import annotations

import asyncio
import html
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tether import api
from tether.api.jobs import find_job
from tether.api.types import JobStore
from tether.errors import JobNotFound, TetherError
from tether.web import audit
from tether.web.security import Gate

STATIC = Path(__file__).parent / "static"


def _store(request: Request) -> JobStore:
    return JobStore(request.app.state.home)


def _call(request: Request, fn: Any, *args: Any, **kwargs: Any) -> Any:
    store = _store(request)
    try:
        return fn(store, *args, **kwargs)
    finally:
        store.close()


async def _json_call(request: Request, fn: Any, *args: Any, **kwargs: Any) -> Response:
    try:
        data = await run_in_threadpool(_call, request, fn, *args, **kwargs)
    except JobNotFound as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    except TetherError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(json.loads(json.dumps(data, default=str)))


def _page_args(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {
        "statuses": q.getlist("status") or None,
        "host": q.get("host") or None,
        "name": q.get("name") or None,
        "offset": int(q.get("offset", "0") or 0),
        "limit": int(q.get("limit", "50") or 50),
    }


def _page_json(store: JobStore, **kwargs: Any) -> dict[str, Any]:
    page = api.list_jobs(store, **kwargs)
    return {"jobs": page.jobs, "total": page.total, "offset": page.offset, "limit": page.limit}


async def jobs_json(request: Request) -> Response:
    try:
        args = _page_args(request)
    except ValueError:
        return JSONResponse({"error": "offset and limit must be numbers"}, status_code=400)
    return await _json_call(request, _page_json, **args)


async def job_json(request: Request) -> Response:
    return await _json_call(request, api.get_job, request.path_params["uuid"])


async def metrics_json(request: Request) -> Response:
    q = request.query_params
    try:
        start = int(q["start"]) if q.get("start") else None
        end = int(q["end"]) if q.get("end") else None
        buckets = int(q.get("buckets", "1000"))
    except ValueError:
        return JSONResponse({"error": "start, end and buckets must be integers"}, status_code=400)
    return await _json_call(
        request,
        api.job_metrics,
        request.path_params["uuid"],
        names=q.getlist("name") or None,
        buckets=buckets,
        start=start,
        end=end,
    )


async def program_json(request: Request) -> Response:
    from tether.api.jobs import job_program

    return await _json_call(request, job_program, request.path_params["uuid"])


async def log_json(request: Request) -> Response:
    q = request.query_params
    try:
        start = int(q["start"]) if q.get("start") else None
    except ValueError:
        return JSONResponse({"error": "start must be an integer"}, status_code=400)
    return await _json_call(request, api.log_range, request.path_params["uuid"], start=start)


def _client(request: Request) -> str:
    peer = request.client.host if request.client else "?"
    return f"{peer} ({request.headers.get('user-agent', '')[:80]})"


async def cancel_json(request: Request) -> Response:
    uuid = request.path_params["uuid"]
    response = await _json_call(request, api.cancel_job, uuid)
    audit.record(
        request.app.state.home, "cancel", uuid, _client(request), status=response.status_code
    )
    return response


async def rerun_json(request: Request) -> Response:
    uuid = request.path_params["uuid"]
    try:
        body = await request.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
    params = body.get("params") or {}
    source = body.get("source")
    if not isinstance(params, dict) or not (source is None or isinstance(source, str)):
        return JSONResponse({"error": "params must be an object, source a string"}, 400)

    def run(store: JobStore) -> dict[str, Any]:
        jobs = api.rerun_job(store, uuid, overrides=params, edited_source=source)
        return {"jobs": [j.to_json() for j in jobs]}

    response = await _json_call(request, run)
    audit.record(
        request.app.state.home,
        "rerun",
        uuid,
        _client(request),
        params=params,
        edited=source is not None,
        status=response.status_code,
    )
    return response


async def audit_json(request: Request) -> Response:
    return JSONResponse(audit.read(request.app.state.home, request.query_params.get("job")))


async def jobs_stream(request: Request) -> Response:
    """SSE: the current page of the jobs table, sent again whenever it changes."""
    args = _page_args(request)

    async def events() -> AsyncIterator[str]:
        last = None
        while not await request.is_disconnected():
            data = await run_in_threadpool(_call, request, _page_json, **args)
            text = json.dumps(data, default=str)
            if text != last:
                last = text
                yield f"event: jobs\ndata: {text}\n\n"
            await asyncio.sleep(request.app.state.poll)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-store"}
    )


async def log_stream(request: Request) -> Response:
    """SSE of a job's log: each event's id is the byte offset after it, so a reconnect
    (Last-Event-ID) resumes exactly; a fresh stream starts with the last 1,000 lines."""
    uuid = request.path_params["uuid"]
    last_id = request.headers.get("last-event-id") or request.query_params.get("start")
    start = int(last_id) if last_id and last_id.isdigit() else None

    async def events() -> AsyncIterator[str]:
        offset = start
        idle = 0.0
        until = time.monotonic() + request.app.state.stream_seconds
        yield "retry: 500\n\n"  # the browser reconnects (with Last-Event-ID) after 0.5 s
        while not await request.is_disconnected() and time.monotonic() < until:
            try:
                part = await run_in_threadpool(_call, request, api.log_range, uuid, start=offset)
            except TetherError as exc:
                yield f"event: error\ndata: {json.dumps(str(exc))}\n\n"
                return
            if part["end"] > part["start"] or offset is None:
                payload = {"start": part["start"], "text": part["text"], "size": part["size"]}
                yield f"id: {part['end']}\nevent: log\ndata: {json.dumps(payload)}\n\n"
                idle = 0.0
            offset = part["end"]
            if part["finished"] and part["end"] >= part["size"]:
                yield "event: end\ndata: {}\n\n"
                return
            idle += request.app.state.poll
            if idle > 15:
                yield ": keep-alive\n\n"
                idle = 0.0
            await asyncio.sleep(request.app.state.poll)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-store"}
    )


def _page(title: str, body: str, script: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        status_code=status_code,
        content=(
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title>"
            '<link rel=stylesheet href="/static/vendor/uplot-1.6.31/uPlot.min.css">'
            '<link rel=stylesheet href="/static/tether.css"></head>'
            f"<body><header><a href='/'>tether</a> {html.escape(title)}</header>{body}"
            + (f'<script type=module src="/static/{script}"></script>' if script else "")
            + "</body></html>"
        ),
    )


async def jobs_page(request: Request) -> Response:
    body = (
        "<form id=filters><input name=name placeholder=name>"
        "<select name=status><option value=''>any status</option>"
        + "".join(
            f"<option>{s}</option>"
            for s in ("queued", "running", "succeeded", "failed", "cancelled", "lost")
        )
        + "</select><input name=host placeholder=host></form>"
        "<div class=scroll><table id=jobs><thead><tr><th>#</th><th>name</th><th>host</th>"
        "<th>status</th><th>progress</th><th>metrics</th><th>runtime</th></tr></thead>"
        "<tbody></tbody></table></div>"
        "<nav><button id=prev>newer</button> <span id=pageinfo></span> "
        "<button id=next>older</button></nav>"
    )
    return _page("jobs", body, "jobs.js")


async def job_page(request: Request) -> Response:
    ref = request.path_params["uuid"]
    try:
        await run_in_threadpool(_call, request, find_job, ref)
    except JobNotFound:
        body = (
            f"<main id=missing><h1>no such job</h1><p>there is no job {html.escape(ref)} "
            "here; <a href='/'>the jobs table</a> lists the jobs there are.</p></main>"
        )
        return _page("no such job", body, "", status_code=404)
    uuid = html.escape(ref)
    body = (
        f"<main id=job data-uuid='{uuid}'><h1 id=title></h1><p id=status></p>"
        "<div class=controls><button id=cancel>cancel</button></div>"
        "<h2>log</h2><label><input type=checkbox id=follow checked> follow</label>"
        "<pre id=log></pre>"
        "<h2>metrics</h2><div id=charts></div>"
        "<h2>parameters</h2><table id=params></table>"
        "<details id=diffbox hidden><summary>change against the script</summary>"
        "<pre id=paramdiff></pre></details>"
        "<h2>re-run</h2><form id=rerun><div id=tunables></div>"
        "<details><summary>edit the program</summary>"
        "<textarea id=source rows=16 spellcheck=false></textarea></details>"
        "<button type=submit>re-run</button></form><p id=rerun-result role=status></p>"
        "<h2>controls used</h2><ul id=audit></ul></main>"
    )
    return _page("job", body, "job.js")


def create_app(home: Path, token: str, allowed_hosts: set[str], *, poll: float = 0.5) -> Any:
    """The dashboard ASGI app for TETHER_HOME ``home``, behind the token gate."""
    routes = [
        Route("/", jobs_page),
        Route("/jobs/{uuid}", job_page),
        Route("/api/jobs", jobs_json),
        Route("/api/events/jobs", jobs_stream),
        Route("/api/audit", audit_json),
        Route("/api/jobs/{uuid}", job_json),
        Route("/api/jobs/{uuid}/metrics", metrics_json),
        Route("/api/jobs/{uuid}/program", program_json),
        Route("/api/jobs/{uuid}/log", log_json),
        Route("/api/jobs/{uuid}/log/stream", log_stream),
        Route("/api/jobs/{uuid}/cancel", cancel_json, methods=["POST"]),
        Route("/api/jobs/{uuid}/rerun", rerun_json, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.home = home
    app.state.poll = poll
    # streams are recycled (the browser resumes them) so none lives for ever
    app.state.stream_seconds = float(os.environ.get("TETHER_WEB_STREAM_SECONDS", "300"))
    return Gate(app, token, allowed_hosts)
