"""Property tests for reply parsing: it never raises, and only an allowed sender with a valid
token ever gets a Command (or an Invalid, which is answered)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from email.message import EmailMessage

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tether.mail.reply import Command, Invalid, Rejected, ReplyOutcome, parse_reply
from tether.mail.tokens import make_message_id, subject_tag

TOKEN = "k7f3q2zxabcdefghk7f3q2zx"
WRONG = "abcdefghabcdefghabcdefgh"
USER = "user@example.com"
HEAD = f"From: {USER}\r\nSubject: Re: {subject_tag(42, TOKEN)}\r\n".encode()

SETTINGS = settings(
    max_examples=int(os.environ.get("TETHER_FUZZ_EXAMPLES", "300")),  # raise it for a long fuzz
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def parse(raw: bytes) -> ReplyOutcome:
    outcome = parse_reply(
        raw,
        allowed_senders=[USER, "Other Person <other@example.org>"],
        token_is_valid=lambda token: {"job": 42} if token == TOKEN else None,
    )
    assert isinstance(outcome, Command | Invalid | Rejected)
    if isinstance(outcome, Command | Invalid):
        assert outcome.job_token == TOKEN
        assert outcome.sender in (USER, "other@example.org")
    return outcome


# --- raw bytes --------------------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(raw: bytes) -> None:
    parse(raw)


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_after_valid_headers(body: bytes) -> None:
    parse(HEAD + body)


CONTENT_TYPES = st.sampled_from(
    [
        b"text/plain",
        b"text/plain; charset=utf-8; format=flowed; delsp=yes",
        b"text/plain; charset=x-unknown",
        b"text/html; charset=latin-1",
        b'multipart/alternative; boundary="b"',
        b'multipart/mixed; boundary="b"',
        b"multipart/mixed",
        b"message/rfc822",
        b"text/x-python; name=a.py",
        b"application/octet-stream; name*=utf-8''x%FF.py",
    ]
)
ENCODINGS = st.sampled_from([b"7bit", b"8bit", b"base64", b"quoted-printable", b"x-uue", b"?"])


@SETTINGS
@given(CONTENT_TYPES, ENCODINGS, st.binary(max_size=2000))
def test_arbitrary_bodies_under_mime_headers(ctype: bytes, cte: bytes, body: bytes) -> None:
    head = HEAD + b"Content-Type: " + ctype + b"\r\nContent-Transfer-Encoding: " + cte
    parse(head + b"\r\n\r\n" + body)


FRAGMENTS = st.sampled_from(
    [
        "stop",
        "rerun",
        "rerun --queue",
        "save",
        "status",
        "logs 5",
        "$q",
        "$r",
        "$sq",
        ">EOM<",
        " >eom< ",
        "> quoted",
        "> >EOM<",
        "lr = 0.1",
        "x=[1, (2, 3)]",
        "name = “adam”",
        "```",
        "```python",
        "~~~",
        "print('hi')",
        "    return 1",
        ">>> doctest",
        "",
        "   ",
        "-- ",
        "On Mon, Jan 1, 2024 at 10:00 tether <t@example.org> wrote:",
        "On Mon, Jan 1, 2024 at 10:00 tether <",
        "t@example.org> wrote:",
        "-----Original Message-----",
        "________________________________",
        "From: tether",
        "Sent: Monday",
        "Sent from my iPhone",
        "<div>&gt;EOM&lt;</div>",
        "<blockquote>",
        "</pre>",
        "=?utf-8?q?x?=",
        "\r",
        "\t",
    ]
)
BODIES = st.lists(FRAGMENTS | st.text(max_size=30), max_size=25).map("\n".join)


@SETTINGS
@given(BODIES)
def test_text_bodies(body: str) -> None:
    parse(HEAD + b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.encode())
    parse(HEAD + b"Content-Type: text/html; charset=utf-8\r\n\r\n" + body.encode())


# --- structured messages: who may steer ------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A generated message and whether it is entitled to be acted on."""

    raw: bytes
    entitled: bool
    note: str


SENDERS = {
    "plain": (f"{USER}", True),
    "named": (f"Some User <{USER}>", True),
    "upper": ("USER <User@Example.COM>", True),
    "other": ("other@example.org", True),
    "stranger": ("intruder@example.net", False),
    "display_spoof": (f'"{USER}" <intruder@example.net>', False),
    "two": (f"{USER}, intruder@example.net", False),
    "group": (f"team: {USER}, other@example.org;", False),
    "quoted_local": (f'"{USER}"@example.net', False),
}
AUTOMATIC = {
    "none": (None, True),
    "auto_no": (("Auto-Submitted", "no"), True),
    "auto_replied": (("Auto-Submitted", "auto-replied"), False),
    "auto_generated": (("Auto-Submitted", "auto-generated"), False),
    "bulk": (("Precedence", "bulk"), False),
    "list": (("Precedence", "list"), False),
    "xautoreply": (("X-Autoreply", "yes"), False),
    "list_id": (("List-Id", "<lab.example.org>"), False),
    "null_return": (("Return-Path", "<>"), False),
}
TOKENS = ["subject", "in_reply_to", "references", "wrong", "none", "wrong_subject_right_refs"]
HEADER_TEXT = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
    max_size=40,
)


def _encodable(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


@st.composite
def cases(draw: st.DrawFn) -> Case:
    # Half of the cases are entitled, so both sides of the property get exercised.
    good = draw(st.booleans())
    sender_key = draw(st.sampled_from([k for k in sorted(SENDERS) if SENDERS[k][1] or not good]))
    auto_key = draw(st.sampled_from([k for k in sorted(AUTOMATIC) if AUTOMATIC[k][1] or not good]))
    token_key = draw(st.sampled_from(TOKENS[:3] if good else TOKENS))
    body = draw(
        BODIES
        | st.tuples(st.sampled_from(["stop", "rerun", "logs 3", "$r"]), BODIES).map("\n".join)
    )
    html = draw(st.one_of(st.none(), BODIES))
    layout = draw(st.sampled_from(["plain", "html_only", "alternative", "attachment"]))
    cte = draw(st.sampled_from(["7bit", "8bit", "quoted-printable", "base64"]))
    charset = draw(st.sampled_from(["utf-8", "iso-8859-1", "windows-1252", "us-ascii"]))
    subject_text = draw(HEADER_TEXT)
    extra = draw(st.lists(st.tuples(st.integers(0, 9), HEADER_TEXT), max_size=3))

    sender, sender_ok = SENDERS[sender_key]
    auto, auto_ok = AUTOMATIC[auto_key]
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "tether@example.org"
    msgid = make_message_id(42, TOKEN, "host.example", nonce="n1")
    if token_key == "subject":
        tag = subject_tag(42, TOKEN)
    elif token_key in ("wrong", "wrong_subject_right_refs"):
        tag = subject_tag(42, WRONG)
    else:
        tag = ""
    msg["Subject"] = f"Re: {tag} {subject_text}"
    if token_key == "in_reply_to":
        msg["In-Reply-To"] = msgid
    if token_key in ("references", "wrong_subject_right_refs"):
        msg["References"] = f"<x@y> {msgid}"
    if auto is not None:
        msg[auto[0]] = auto[1]
    for number, value in extra:
        msg[f"X-Extra-{number}"] = value
    token_ok = token_key not in ("wrong", "none")

    if not _encodable(body, charset):
        charset = "utf-8"
    if cte == "7bit" and not body.isascii():
        cte = "8bit"
    if layout == "html_only":
        msg.set_content(html or body, subtype="html", cte=cte if cte != "7bit" else "8bit")
    else:
        msg.set_content(body, cte=cte, charset=charset)
        if layout == "alternative" or (html is not None and layout == "plain"):
            msg.add_alternative(html or body, subtype="html")
        if layout == "attachment":
            msg.add_attachment(html or "print(1)\n", subtype="x-python", filename="job.py")
    for number, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"=_b{number}_=")  # the stdlib would draw one with `random`
    raw = msg.as_bytes()
    note = f"{sender_key}/{auto_key}/{token_key}/{layout}/{cte}/{charset}"
    return Case(raw, sender_ok and auto_ok and token_ok, note)


@SETTINGS
@given(cases())
def test_only_allowed_sender_with_valid_token_is_acted_on(case: Case) -> None:
    outcome = parse(case.raw)
    event(type(outcome).__name__)
    if not case.entitled:
        assert isinstance(outcome, Rejected), (case.note, outcome)
    else:
        # No false rejection: an entitled message is answered (Command or Invalid).
        assert not isinstance(outcome, Rejected), (case.note, outcome)


@SETTINGS
@given(cases(), st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=4)), max_size=8))
def test_mutated_messages(case: Case, edits: list[tuple[int, bytes]]) -> None:
    raw = bytearray(case.raw)
    for position, replacement in edits:
        at = position % (len(raw) + 1)
        raw[at : at + len(replacement) // 2] = replacement
    parse(bytes(raw))


# --- the program survives every encoding -----------------------------------------------------

CODE_CHARS = st.characters(
    categories=("Lu", "Ll", "Nd", "Zs"),
    include_characters="()[]{}=+-*/%'\".,#<>!&|^~@",
    exclude_characters="\x85\xa0\u2028\u2029\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u202f\u205f\u3000",
)


@st.composite
def programs(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 15))):
        indent = draw(st.sampled_from(["", "    ", "        ", "\t"]))
        kind = draw(st.sampled_from(["code", "code", "code", "blank", "doctest"]))
        if kind == "blank":
            lines.append(draw(st.sampled_from(["", "   ", "\t"])))
        elif kind == "doctest" and lines:
            lines.append(">>> " + draw(st.text(CODE_CHARS, max_size=30)))
        else:
            head = draw(st.sampled_from(["x", "print", "def", "return", "y_1", "import", "z"]))
            lines.append(indent + head + draw(st.text(CODE_CHARS, max_size=40)).rstrip())
    return "\n".join(lines)


def expected_program(program: str) -> str | None:
    """The documented rule: blank and ">" lines around the program are not part of it."""
    lines = program.split("\n")
    while lines and (not lines[0].strip() or lines[0].startswith(">")):
        lines.pop(0)
    while lines and (not lines[-1].strip() or lines[-1].startswith(">")):
        lines.pop()
    return "\n".join(lines) + "\n" if lines else None


@SETTINGS
@given(
    programs(),
    st.sampled_from(["7bit", "8bit", "quoted-printable", "base64"]),
    st.sampled_from(["utf-8", "iso-8859-1", "windows-1252"]),
    st.sampled_from(["$r", "$sq"]),
    st.booleans(),
)
def test_seed_program_round_trip(
    program: str, cte: str, charset: str, cmd: str, quote_below: bool
) -> None:
    if not _encodable(program, charset):
        charset = "utf-8"
    body = program + "\n>EOM<\n" + cmd + "\n>EOM<\n"
    if quote_below:
        body += "\nOn Mon, Jan 1, 2024 at 10:00 tether <t@example.org> wrote:\n> old\n> >EOM<\n"
    if cte == "7bit" and not body.isascii():
        cte = "8bit"
    msg = EmailMessage()
    msg["From"] = USER
    msg["Subject"] = "Re: " + subject_tag(42, TOKEN)
    msg.set_content(body, cte=cte, charset=charset)
    outcome = parse(msg.as_bytes())
    assert isinstance(outcome, Command), outcome
    assert outcome.kind == ("rerun" if cmd == "$r" else "save_quit")
    assert outcome.program == expected_program(program)
