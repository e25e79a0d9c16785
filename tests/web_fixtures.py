"""A real `tether web` server (uvicorn on loopback) for the dashboard tests."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from conftest import Tether


@dataclass
class Web:
    url: str  # the printed URL, with ?token=
    base: str
    token: str
    host_header: str

    def client(self, *, auth: bool = True) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


@pytest.fixture(name="web")
def web_server(tether: Tether) -> Iterator[Web]:
    """`tether web` started as a subprocess; its first printed line is the URL."""
    yield from start_web(tether)


def start_web(tether: Tether) -> Iterator[Web]:
    """Start `tether web` for TETHER's home, yield it, stop it."""
    proc = tether.popen("web", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    url = proc.stdout.readline().decode().strip()
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    token = parts.query.removeprefix("token=")
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(base + "/api/jobs", timeout=2)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"tether web did not start: {url!r}") from None
            time.sleep(0.1)
    try:
        yield Web(url, base, token, parts.netloc)
    finally:
        proc.terminate()
        proc.wait(10)
