"""``tether data URL...``: downloads into the project's data/, resumed with HTTP Range, here and
on a host (which fetches from the test's HTTP server on 127.0.0.1 itself)."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import Tether
from rigs.sshd import SSHServer
from ssh_fixtures import Remote, host_cli

pytestmark = pytest.mark.timeout(300)

HOST = "rig1"
PAYLOAD = os.urandom(300_000)


@dataclass
class Served:
    """Files served at ``/NAME`` and what each request asked for and got."""

    files: dict[str, bytes]
    log: list[tuple[str, str | None, int]] = field(default_factory=list)
    ranges: bool = True
    cut_after: int | None = None  # send only this many bytes of a body, then hang up
    port: int = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            from urllib.parse import unquote

            name = unquote(self.path.lstrip("/"))
            body = served.files.get(name)
            wanted = self.headers.get("Range") if served.ranges else None
            if body is None:
                self.send_error(404)
                served.log.append((name, wanted, 0))
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
            if match and int(match.group(1)) >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                served.log.append((name, wanted, 0))
                return
            if match:
                start = int(match.group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            chunk = body[start:]
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            if served.cut_after is not None:
                chunk = chunk[: served.cut_after]
                self.close_connection = True
            self.wfile.write(chunk)
            self.wfile.flush()
            served.log.append((name, wanted, len(chunk)))

    return Handler


@pytest.fixture(scope="module")
def http() -> Iterator[Served]:
    served = Served({"big.bin": PAYLOAD, "small file.txt": b"hello\n"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()


@pytest.fixture
def project(tether: Tether, tmp_path: Path, http: Served) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "tether.toml").write_text("")
    (root / "sub").mkdir()
    tether.cwd = root / "sub"  # data/ is the project's, wherever the command runs
    http.log.clear()
    http.ranges = True
    http.cut_after = None
    return root


def test_download_then_resume(tether: Tether, project: Path, http: Served) -> None:
    rows = tether.json("data", http.url("big.bin"), http.url("small%20file.txt"))
    assert isinstance(rows, list)
    assert [(r["path"], r["status"], r["size"]) for r in rows] == [
        ("data/big.bin", "downloaded", len(PAYLOAD)),
        ("data/small_file.txt", "downloaded", 6),
    ]
    assert (project / "data" / "big.bin").read_bytes() == PAYLOAD
    # an interrupted download: only the rest is asked for, and only the rest is sent
    (project / "data" / "big.bin").unlink()
    (project / "data" / "big.bin.part").write_bytes(PAYLOAD[:123_456])
    http.log.clear()
    out = tether("data", "--to", "raw/..", http.url("big.bin")).stdout
    assert out.strip() == f"data/big.bin: {len(PAYLOAD)} bytes, resumed at 123456 bytes"
    assert http.log == [("big.bin", "bytes=123456-", len(PAYLOAD) - 123_456)]
    assert (project / "data" / "big.bin").read_bytes() == PAYLOAD
    assert not (project / "data" / "big.bin.part").exists()
    # complete already: the server says so (416) and nothing is sent
    http.log.clear()
    rows = tether.json("data", http.url("big.bin"))
    assert isinstance(rows, list) and rows[0]["status"] == "complete"
    assert http.log == [("big.bin", f"bytes={len(PAYLOAD)}-", 0)]


def test_cut_short_then_resumed(tether: Tether, project: Path, http: Served) -> None:
    http.cut_after = 200_000
    proc = tether("data", http.url("big.bin"), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"tether: error: {http.url('big.bin')}: got 200000 of {len(PAYLOAD)} bytes; "
        "run the same command again to resume"
    )
    part = project / "data" / "big.bin.part"
    assert part.stat().st_size == 200_000 and not (project / "data" / "big.bin").exists()
    http.cut_after = None
    http.log.clear()
    proc = tether("data", http.url("big.bin"))
    assert "resumed at 200000 bytes" in proc.stdout
    assert "big.bin: 300.0 kB / 300.0 kB (100%)" in proc.stderr  # the progress line
    assert http.log == [("big.bin", "bytes=200000-", len(PAYLOAD) - 200_000)]
    assert (project / "data" / "big.bin").read_bytes() == PAYLOAD


def test_server_without_ranges_starts_over(tether: Tether, project: Path, http: Served) -> None:
    http.ranges = False
    folder = project / "data" / "sets"
    folder.mkdir(parents=True)
    (folder / "big.bin.part").write_bytes(b"garbage that is not the file")
    rows = tether.json("data", "--to", "sets", http.url("big.bin"))
    assert isinstance(rows, list) and rows[0]["status"] == "downloaded"
    assert rows[0]["path"] == "data/sets/big.bin"
    assert (folder / "big.bin").read_bytes() == PAYLOAD


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:9/a/..%2F..%2Fetc%2Fpasswd", "would leave data/; refused"),
        ("http://127.0.0.1:9/a/%2e%2e", "would leave data/; refused"),
        ("http://127.0.0.1:9/dir/", "names no file"),
        ("file:///etc/passwd", "only http:// and https://"),
    ],
)
def test_bad_names_are_refused(tether: Tether, project: Path, url: str, message: str) -> None:
    proc = tether("data", url, check=False)
    assert proc.returncode == 2 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (project / "data").exists()


def test_bad_to_and_http_errors(tether: Tether, project: Path, http: Served) -> None:
    proc = tether("data", "--to", "../escape", http.url("big.bin"), check=False)
    assert proc.returncode == 2 and "leads out of data/" in proc.stderr
    proc = tether("data", "--to", "/abs", http.url("big.bin"), check=False)
    assert proc.returncode == 2 and "relative to data/" in proc.stderr
    proc = tether("data", http.url("missing.bin"), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"tether: error: {http.url('missing.bin')}: HTTP 404 Not Found"
    proc = tether("data", "--on", "nohost", http.url("big.bin"), check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "tether: error: no host named 'nohost' (configured: none yet); "
        "add it with `tether hosts add nohost DEST`"
    ]


# --- on a host ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rig(sshd_host: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    with host_cli(tmp_path_factory.mktemp("datarig"), sshd_host, HOST) as remote:
        yield remote


@pytest.mark.rig
def test_download_on_host_with_resume(rig: Remote, http: Served) -> None:
    http.log.clear()
    http.ranges = True
    proc = rig.tt("data", "--on", HOST, "--to", "in", http.url("big.bin"), timeout=120)
    assert proc.stdout.strip() == f"{HOST}:data/in/big.bin: {len(PAYLOAD)} bytes, downloaded"
    on_host = rig.remote_project("data", "in", "big.bin")
    assert on_host.read_bytes() == PAYLOAD
    assert not (rig.project / "data").exists()  # fetched there, not here
    assert http.log == [("big.bin", None, len(PAYLOAD))]
    # a partial file on the host: only the rest is fetched
    on_host.unlink()
    part = on_host.with_name("big.bin.part")
    part.write_bytes(PAYLOAD[:100_000])
    rig.server.chown_to_user(part)
    http.log.clear()
    rows = rig.tt.json("data", "--on", HOST, "--to", "in", http.url("big.bin"))
    assert isinstance(rows, list)
    assert (rows[0]["status"], rows[0]["resumed_from"], rows[0]["received"]) == (
        "resumed", 100_000, len(PAYLOAD) - 100_000,
    )  # fmt: skip
    assert http.log == [("big.bin", "bytes=100000-", len(PAYLOAD) - 100_000)]
    assert on_host.read_bytes() == PAYLOAD
    # a failure there is one line here
    proc = rig.tt("data", "--on", HOST, http.url("nothing.bin"), check=False, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"tether: error: on {HOST}: {http.url('nothing.bin')}: HTTP 404 Not Found"
    )
