"""The watcher's answers: the headers of an incoming reply and the message that answers it."""

from __future__ import annotations

from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import formatdate


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
    """The answer to the message with `headers`: same thread, marked as auto-replied."""
    subject = " ".join(headers.get("Subject", "").split())  # unfold, no stray spaces
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Auto-Submitted"] = "auto-replied"
    message_id = headers.get("Message-ID", "").strip()
    if message_id:
        msg["In-Reply-To"] = message_id
        msg["References"] = f"{headers.get('References', '')} {message_id}".strip()
    msg.set_content(text + "\n")
    return msg
