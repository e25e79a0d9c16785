"""Who may steer which job: the sender, machine-sent mail and the job token of a reply.

These checks run on the headers only, before any body is read; each failing one gives a
`Rejected` whose reason goes to the mail log, never back to the sender.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from email import errors
from email.headerregistry import Address
from email.message import Message
from email.utils import parseaddr

from tether.mail.reply_outcome import Rejected
from tether.mail.tokens import find_tokens

_AUTO_PRECEDENCE = frozenset({"bulk", "auto_reply", "list", "junk"})
_AUTO_FLAGS = ("x-autoreply", "x-autorespond", "x-autoresponder")
_LIST_HEADERS = ("list-id", "list-unsubscribe")
_BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "maildaemon"})
_AUTO_SUBJECTS = (
    "auto:",
    "automatic reply",
    "autoreply",
    "auto-reply",
    "out of office",
    "out of the office",
    "undeliverable:",
    "undelivered mail",
    "delivery status notification",
    "mail delivery failed",
    "returned mail:",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
)
_HARMLESS_ADDRESS_DEFECTS = (errors.ObsoleteHeaderDefect, errors.UndecodableBytesDefect)


def allowed_addresses(allowed_senders: Iterable[str]) -> frozenset[str]:
    """The allowed bare addresses, lowercase ("Name <a@b>" entries reduced to "a@b")."""
    if isinstance(allowed_senders, str):
        allowed_senders = [allowed_senders]
    result: set[str] = set()
    for entry in allowed_senders:
        if not isinstance(entry, str):
            continue
        address = parseaddr(entry)[1] if "<" in entry else entry
        address = address.strip().lower()
        if address.count("@") == 1 and not address.startswith("@") and address[-1] != "@":
            result.add(address)
    return frozenset(result)


def check_sender(msg: Message, allowed: frozenset[str]) -> str | Rejected:
    """The single, allowed, bare sender address, or why not."""
    headers = msg.get_all("From") or []
    if not headers:
        return Rejected("no From header")
    if len(headers) > 1:
        return Rejected("several From headers")
    header = headers[0]
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    defects: tuple[errors.MessageDefect, ...] = getattr(header, "defects", ())
    if len(addresses) != 1:
        return Rejected(f"From must hold exactly one address, not {len(addresses)}")
    if any(not isinstance(d, _HARMLESS_ADDRESS_DEFECTS) for d in defects):
        return Rejected("malformed From header")
    address = clean(str(addresses[0].addr_spec), 320).lower()
    if address not in allowed:
        return Rejected(f"sender not allowed: {address}")
    return address


def automatic_reason(msg: Message, sender: str) -> str:
    """Why `msg` looks machine-sent (auto-reply, bounce, list), or "" if it does not."""
    auto_submitted = header(msg, "Auto-Submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"auto-submitted message ({auto_submitted})"
    precedence = header(msg, "Precedence").strip().lower()
    if precedence in _AUTO_PRECEDENCE:
        return f"automatic message (Precedence: {precedence})"
    for name in _AUTO_FLAGS:
        value = header(msg, name).strip().lower()
        if value and value != "no":
            return f"auto-reply ({name})"
    for name in _LIST_HEADERS:
        if msg.get(name) is not None:
            return f"mailing-list message ({name})"
    if sender.split("@")[0] in _BOUNCE_SENDERS:
        return "bounce (mailer daemon)"
    if msg.get_content_type() == "multipart/report" or msg.get("X-Failed-Recipients"):
        return "bounce (delivery report)"
    if header(msg, "Return-Path").strip() == "<>":
        return "bounce (empty return path)"
    subject = header(msg, "Subject").strip().lower()
    if subject.startswith(_AUTO_SUBJECTS):
        return "auto-reply (subject)"
    return ""


def find_live_job(
    msg: Message, token_is_valid: Callable[[str], object | None]
) -> tuple[str, object] | Rejected:
    """The first token in the headers that names a live job, with the job."""
    tokens = find_tokens(
        header(msg, "Subject"), header(msg, "In-Reply-To"), header(msg, "References")
    )
    if not tokens:
        return Rejected("no tether token in In-Reply-To, Subject or References")
    for token in tokens:
        try:
            job = token_is_valid(token)
        except Exception as exc:
            return Rejected(f"token check failed ({type(exc).__name__})")
        if job is not None and job is not False:
            return token, (None if job is True else job)
    return Rejected("unknown or expired job token")


def header(msg: Message, name: str) -> str:
    """A header's (decoded) value, "" if absent or unreadable."""
    try:
        value = msg.get(name)
    except Exception:
        return ""
    return "" if value is None else str(value)


def clean(text: str, limit: int) -> str:
    """`text` safe to log and encode: no lone surrogates, no line breaks, at most `limit`."""
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return " ".join(text.split())[:limit]
