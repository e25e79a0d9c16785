"""The dashboard's gate: Host check (DNS rebinding), token -> cookie exchange, bearer tokens,
same-origin check on state-changing requests. A pure ASGI middleware (streams pass through)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

COOKIE = "tether_token"
SAFE_METHODS = {"GET", "HEAD"}

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class Gate:
    """Refuse a wrong Host (421), answer 401 without a valid token, 403 a cross-origin write."""

    def __init__(self, app: ASGIApp, token: str, allowed_hosts: set[str]) -> None:
        self.app, self.token, self.allowed_hosts = app, token, allowed_hosts

    def _ok(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "")
        if host not in self.allowed_hosts:
            await _reply(send, 421, "wrong Host header: refused (DNS rebinding protection)")
            return
        method = scope["method"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        if method in SAFE_METHODS and "token" in query:
            if not self._ok(query["token"]):
                await _reply(send, 401, "invalid token")
                return
            rest = urlencode({k: v for k, v in query.items() if k != "token"})
            location = scope["path"] + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            await _reply(send, 303, "", [("location", location), ("set-cookie", cookie)])
            return
        auth = headers.get("authorization", "")
        by_bearer = auth.startswith("Bearer ") and self._ok(auth[7:].strip())
        by_cookie = self._ok(_cookie(headers.get("cookie", ""), COOKIE))
        if not (by_bearer or by_cookie):
            await _reply(send, 401, "a valid token is needed: open the URL `tether web` printed")
            return
        if method not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and origin not in {f"http://{host}", f"https://{host}"}:
                await _reply(send, 403, "cross-origin request refused")
                return
            if origin is None and not by_bearer:  # a browser always sends Origin on a write
                await _reply(send, 403, "cross-origin request refused (no Origin)")
                return
        await self.app(scope, receive, send)


async def _reply(send: Any, status: int, text: str, extra: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.encode(), v.encode()) for k, v in extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
