"""``tether mail setup`` (the SMTP account notifications are mailed from, the IMAP mailbox
replies are read from) and ``tether mail log``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tether.errors import ConfigError, UsageError
from tether.mail.smtp import DEFAULT_PORTS, SECURITY_CHOICES


@click.group()
def mail() -> None:
    """Email: the account notifications are sent from (and, later, replies are read by)."""


def _ask(value: Any, interactive: bool, prompt: str, flag: str, **kwargs: Any) -> Any:
    if value not in (None, "", ()):
        return value
    if not interactive:
        raise UsageError(f"{flag} is needed (no terminal to ask on)")
    return click.prompt(prompt, **kwargs)


@mail.command()
@click.option("--smtp-host", help="SMTP server, e.g. smtp.gmail.com.")
@click.option("--smtp-port", type=click.IntRange(1, 65535), help="Default: 587, 465 or 25.")
@click.option("--smtp-security", type=click.Choice(SECURITY_CHOICES), help="starttls or ssl.")
@click.option("--smtp-user", help="Login name (often the sender address); none: no login.")
@click.option(
    "--smtp-cafile",
    type=click.Path(exists=True, dir_okay=False, resolve_path=True),
    help="A PEM CA file to trust (a server with a private or self-signed certificate).",
)
@click.option("--from", "sender", help="The sender address.")
@click.option("--to", "recipients", multiple=True, help="Recipient address (repeatable).")
@click.option("--imap-host", help="IMAP server replies are read from (steering by mail).")
@click.option("--imap-port", type=click.IntRange(1, 65535), help="Default: 993, or 143.")
@click.option("--imap-security", type=click.Choice(["none", "starttls", "ssl"]), default=None)
@click.option("--imap-user", help="IMAP login name.")
@click.option(
    "--imap-cafile",
    type=click.Path(exists=True, dir_okay=False, resolve_path=True),
    help="A PEM CA file for the IMAP server (default: --smtp-cafile).",
)
@click.option(
    "--imap-poll",
    type=click.FloatRange(1, 86400),
    help="Seconds between checks when the server has no IMAP IDLE (default 30).",
)
@click.option(
    "--imap-move-to",
    metavar="FOLDER",
    help="Move handled replies to this IMAP folder (created if missing).",
)
@click.option("--allow", "allow", multiple=True, help="A sender allowed to steer (repeatable).")
@click.option("--no-check", is_flag=True, help="Do not log in to check the settings.")
def setup(
    smtp_host: str | None,
    smtp_port: int | None,
    smtp_security: str | None,
    smtp_user: str | None,
    smtp_cafile: str | None,
    sender: str | None,
    recipients: tuple[str, ...],
    imap_host: str | None,
    imap_port: int | None,
    imap_security: str | None,
    imap_user: str | None,
    imap_cafile: str | None,
    imap_poll: float | None,
    imap_move_to: str | None,
    allow: tuple[str, ...],
    no_check: bool,
) -> None:
    """Set up email notifications: asks for what no flag gives, checks the login, saves.

    The password is taken from TETHER_SMTP_PASSWORD or the system keyring (asked for and
    stored there when there is a terminal); it is never written to the config file.
    """
    from tether.config import load_user_config, save_user_config
    from tether.mail import secrets
    from tether.mail.account import smtp_settings
    from tether.mail.smtp import check_login

    if (imap_poll is not None or imap_move_to is not None) and not imap_host:
        raise UsageError("--imap-poll and --imap-move-to need --imap-host (and the other --imap-*)")
    interactive = sys.stdin.isatty()
    host = _ask(smtp_host, interactive, "SMTP server", "--smtp-host")
    security = _ask(
        smtp_security,
        interactive,
        "Security",
        "--smtp-security",
        type=click.Choice(SECURITY_CHOICES),
        default="starttls",
    )
    if security == "none":
        click.echo(
            "tether: warning: security 'none' sends mail and password unencrypted; use it only "
            "for a server on this machine",
            err=True,
        )
    port = smtp_port or (
        click.prompt("SMTP port", type=int, default=DEFAULT_PORTS[security])
        if interactive
        else DEFAULT_PORTS[security]
    )
    sender = _ask(sender, interactive, "Send from (address)", "--from")
    user = smtp_user
    if user is None and interactive:
        user = click.prompt("SMTP login (empty for none)", default=sender, show_default=True)
    if user is not None and user.strip().lower() in ("none", ""):
        user = None  # "none": no login (as the help says)
    to = list(recipients) or [_ask(None, interactive, "Send to (address)", "--to")]
    smtp: dict[str, Any] = {"host": host, "port": port, "security": security, "from": sender}
    smtp["to"] = to
    if user:
        smtp["user"] = user
    if smtp_cafile:
        smtp["cafile"] = smtp_cafile
    config = load_user_config()
    config.setdefault("mail", {})["smtp"] = smtp
    settings = smtp_settings(config)  # validates addresses, port, security

    password = secrets.get_password("smtp", user, host) if user else None
    if user and password is None and interactive:
        password = click.prompt(f"Password for {user}", hide_input=True)
        try:
            secrets.set_password("smtp", user, host, password)
            click.echo("password stored in the system keyring")
        except ConfigError as exc:  # no keyring here: the check can still use it once
            click.echo(f"tether: warning: {exc}", err=True)
    if no_check:
        if user and password is None:
            click.echo(
                f"tether: warning: no password found; set {secrets.env_var('smtp')} in the "
                "environment the agent starts from",
                err=True,
            )
    else:
        check_login(settings, password)
        click.echo(f"logged in to {settings.where}" if user else f"reached {settings.where}")

    if imap_host:
        _setup_imap(config, imap_host, imap_port, imap_security, imap_user, imap_cafile, allow)
        imap = config["mail"]["imap"]
        if imap_poll is not None:
            imap["poll"] = imap_poll
        if imap_move_to is not None:
            imap["move_to"] = imap_move_to
        _validate_imap(config)
        if not no_check:
            _check_imap(config, interactive)
        else:
            _warn_no_imap_password(config)
    notify = config.setdefault("notify", {})
    channels = notify.setdefault("channels", [])
    if not any(c == "email" or (isinstance(c, dict) and c.get("url") == "email") for c in channels):
        channels.append("email")
    path = save_user_config(config)
    click.echo(f"saved to {path}: notifications will be mailed to {', '.join(to)}")


def _setup_imap(
    config: dict[str, Any],
    host: str,
    port: int | None,
    security: str | None,
    user: str | None,
    cafile: str | None,
    allow: tuple[str, ...],
) -> None:
    """Write ``[mail.imap]``: where replies are read and who may steer jobs by mail."""
    from tether.mail.imap_settings import DEFAULT_PORTS

    security = security or "ssl"
    smtp = config.get("mail", {}).get("smtp", {})
    imap: dict[str, Any] = {"host": host, "port": port or DEFAULT_PORTS[security]}
    imap["security"] = security
    imap["user"] = user or smtp.get("from") or ""
    if not imap["user"]:
        raise UsageError("--imap-user is needed")
    if not allow:
        raise UsageError("give at least one --allow ADDRESS (who may steer jobs by mail)")
    imap["allow"] = list(allow)
    if cafile:
        imap["cafile"] = cafile
    config.setdefault("mail", {})["imap"] = imap


def _validate_imap(config: dict[str, Any]) -> None:
    """UsageError naming what is wrong with the ``[mail.imap]`` about to be saved."""
    from tether.mail.imap_settings import imap_settings

    try:
        imap_settings(config)
    except ConfigError as exc:
        raise UsageError(str(exc).split(": ", 1)[-1]) from None


def _check_imap(config: dict[str, Any], interactive: bool) -> None:
    """Log in to the IMAP server (bounded wait); ConfigError in one line if that fails."""
    from tether.mail import secrets
    from tether.mail.inbox import CHECK_TIMEOUT, InboxWatcher, describe_imap_error, imap_settings

    settings = imap_settings(config)
    assert settings is not None
    password = secrets.get_password("imap", settings.user, settings.host)
    if password is None and interactive:
        password = click.prompt(f"IMAP password for {settings.user}", hide_input=True)
        try:
            secrets.set_password("imap", settings.user, settings.host, password)
            click.echo("IMAP password stored in the system keyring")
        except ConfigError as exc:  # no keyring here: the check can still use it once
            click.echo(f"tether: warning: {exc}", err=True)
    if password is None:
        raise ConfigError(
            f"no IMAP password for {settings.user}: set {secrets.env_var('imap')} (or store it "
            "in the keyring from a terminal), or pass --no-check to save without checking; "
            "nothing was saved"
        )
    from tether.mail.imap_folders import ensure_folder

    try:
        client = InboxWatcher(Path(), settings, password, _no_send, "").connect(CHECK_TIMEOUT)
    except Exception as exc:
        reason = describe_imap_error(exc, settings, CHECK_TIMEOUT)
        raise ConfigError(
            f"{reason}; check the --imap-* settings, or pass --no-check to save without "
            "checking; nothing was saved"
        ) from None
    try:
        click.echo(f"logged in to IMAP {settings.host}:{settings.port}")
        if settings.move_to and ensure_folder(client, settings.move_to):
            click.echo(f"created IMAP folder {settings.move_to} for handled replies")
    except client.Error as exc:
        raise ConfigError(
            f"the IMAP server refused folder {settings.move_to!r} ({exc}); pick another "
            "--imap-move-to name (subfolders use the server's separator, often '.' or '/')"
        ) from None
    finally:
        client.logout()


def _warn_no_imap_password(config: dict[str, Any]) -> None:
    """With --no-check: a warning when the agent will find no IMAP password."""
    from tether.mail import secrets
    from tether.mail.inbox import imap_settings

    settings = imap_settings(config)
    if settings and secrets.get_password("imap", settings.user, settings.host) is None:
        click.echo(
            f"tether: warning: no IMAP password found; set {secrets.env_var('imap')} in the "
            "environment the agent starts from",
            err=True,
        )


def _no_send(msg: Any) -> None:
    pass


@mail.command(name="log")
@click.option("--last", "-n", "last", type=int, default=50, help="Show this many entries.")
def mail_log(last: int) -> None:
    """Mail received for steering: what was done, and what was ignored and why."""
    import time

    from tether.mail.mail_log import read_log, read_watch
    from tether.paths import tether_home

    home = tether_home()
    watch = read_watch(home)
    if watch:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(watch.get("since", 0)))
        where = f"{watch.get('folder')} on {watch.get('host')}"
        if watch.get("mode") == "stopped":
            click.echo(f"not watching {where} (the watcher stopped at {since})")
        elif watch.get("mode") == "failing":
            click.echo(
                f"the mailbox {where} fails (since {since}, {watch.get('tries', 1)} tries): "
                f"{watch.get('error', '?')}; "
                "fix it with `tether mail setup`, the notifier retries on its own"
            )
        else:
            how = "IMAP IDLE" if watch.get("mode") == "idle" else f"polling every {watch['poll']} s"
            click.echo(f"watching {where} by {how} (since {since})")
    entries = read_log(home)[-last:]
    if not entries and not watch:
        from tether.config import load_user_config
        from tether.mail.imap_settings import imap_settings

        if imap_settings(load_user_config()) is None:
            click.echo(
                "steering by mail is not set up: run `tether mail setup --imap-host HOST ...` "
                "to read replies"
            )
            return
    if not entries and not (watch and watch.get("mode") == "failing"):
        click.echo("no mail handled yet")
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.get("time", 0)))
        what = e.get("reason") or e.get("reply") or ""
        click.echo(f"{when}  {e.get('outcome', '?'):<9} {e.get('from', '')}: {what}")
