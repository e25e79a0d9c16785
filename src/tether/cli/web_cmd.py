"""``tether web``: serve the dashboard from this machine."""

from __future__ import annotations

import secrets
import socket

import click

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


WILDCARD = {"0.0.0.0", "::", ""}


def allowed_hosts(host: str, port: int) -> set[str]:
    """The Host headers the server answers (anything else may be DNS rebinding).

    Bound to every address (``0.0.0.0``, ``::``), that is loopback and this machine's own
    names and addresses: a page of another site, rebound to one of them by DNS, still sends
    its own name as Host and is refused."""
    if host in WILDCARD:
        names = {host, *LOOPBACK, *_own_names()} - {""}
    elif host in LOOPBACK:
        names = {host, *LOOPBACK}
    else:
        names = {host}
    shown = {f"[{n}]" if ":" in n else n for n in names}
    return {f"{n}:{port}" for n in shown} | ({*shown} if port == 80 else set())


def _own_names() -> set[str]:
    """This machine's host names and the addresses of its network interfaces."""
    import psutil

    names = {socket.gethostname(), socket.getfqdn()}
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family in (socket.AF_INET, socket.AF_INET6):
                names.add(addr.address.split("%")[0])  # fe80::1%eth0 -> fe80::1
    for name in list(names):
        try:
            for info in socket.getaddrinfo(name, None):
                names.add(str(info[4][0]).split("%")[0])
        except OSError:
            continue
    return {n.lower() for n in names if n}


@click.command()
@click.option("--port", type=int, default=0, help="Port (default: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
def web(port: int, host: str, open_browser: bool) -> None:
    """Serve the web dashboard; the first line printed is its URL with an access token."""
    import uvicorn

    from tether.paths import tether_home
    from tether.web.app import create_app

    if not port:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    token = secrets.token_urlsafe(24)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/?token={token}"
    click.echo(url)
    if host not in LOOPBACK:
        click.echo(
            f"tether: warning: serving on {host}, not loopback: anyone who can reach it and "
            "has the URL controls your jobs; prefer an SSH tunnel or a VPN",
            err=True,
        )
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    app = create_app(tether_home(), token, allowed_hosts(host, port))
    uvicorn.run(app, host=host, port=port, log_level="warning")
