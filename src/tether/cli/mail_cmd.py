"""``tether mail setup``: the SMTP account notifications are mailed from."""

from __future__ import annotations

import sys
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
@click.option("--no-check", is_flag=True, help="Do not log in to check the settings.")
def setup(
    smtp_host: str | None,
    smtp_port: int | None,
    smtp_security: str | None,
    smtp_user: str | None,
    smtp_cafile: str | None,
    sender: str | None,
    recipients: tuple[str, ...],
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

    notify = config.setdefault("notify", {})
    channels = notify.setdefault("channels", [])
    if not any(c == "email" or (isinstance(c, dict) and c.get("url") == "email") for c in channels):
        channels.append("email")
    path = save_user_config(config)
    click.echo(f"saved to {path}: notifications will be mailed to {', '.join(to)}")
