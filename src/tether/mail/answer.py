"""The watcher's answers: the headers of an incoming reply and the message that answers it."""

from __future__ import annotations

from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import formatdate, make_msgid, parseaddr


def read_headers(raw: bytes) -> dict[str, str]:
    """Subject, Message-ID, References and From of `raw`, "" where absent or unreadable."""
    try:
        msg = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    except Exception:
        return {}
    found = {}
    for name in ("From", "Subject", "Message-ID", "References"):
        try:
            found[name] = " ".join(str(msg.get(name, "")).split())[:998]
        except Exception:
            found[name] = ""
    return found


def answer_message(headers: dict[str, str], sender: str, to: str, text: str) -> EmailMessage:
    """The answer to the message with `headers`: same thread, marked as auto-replied.

    It has a Message-ID of its own, and In-Reply-To/References pointing at the answered
    message's Message-ID, so mail clients thread it under the steering mail.
    """
    subject = " ".join(headers.get("Subject", "").split())  # unfold, no stray spaces
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid("tether", domain=_domain(sender))
    msg["Auto-Submitted"] = "auto-replied"
    message_id = _first_id(headers.get("Message-ID", ""))
    if message_id:
        msg["In-Reply-To"] = message_id
        earlier = [i for i in headers.get("References", "").split() if i != message_id]
        msg["References"] = " ".join([*earlier, message_id])
    msg.set_content(text + "\n")
    return msg


def _domain(sender: str) -> str:
    """The domain of the sender's address, for Message-IDs ("tether.invalid" when none)."""
    domain = parseaddr(sender)[1].rpartition("@")[2].strip(" <>")
    return domain or "tether.invalid"


def _first_id(value: str) -> str:
    """The first Message-ID in a header value, in angle brackets ("" when none)."""
    first = value.split()[0] if value.split() else ""
    if not first:
        return ""
    return first if first.startswith("<") else f"<{first.strip('<>')}>"
