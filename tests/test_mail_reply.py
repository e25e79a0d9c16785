"""Reading emailed replies: real messages in every encoding, quoting style and command form."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from tether.mail.reply import (
    MAX_MESSAGE_BYTES,
    Command,
    Invalid,
    Rejected,
    ReplyOutcome,
    parse_reply,
)
from tether.mail.reply_html import html_to_text
from tether.mail.reply_mime import unflow
from tether.mail.tokens import (
    find_tokens,
    is_token,
    make_message_id,
    make_token,
    subject_tag,
    tokens_equal,
)
from waiting import cpu_seconds

TOKEN = "k7f3q2zxabcdefghk7f3q2zx"
OTHER_TOKEN = "zzzzzzzzzzzzzzzzzzzzzzzz"
USER = "user@example.com"
JOB = {"id": 42, "name": "train"}
SUBJECT = f"Re: [tether #42 {TOKEN}] train finished"
PROGRAM = (
    "import math\n"
    "\n"
    "\n"
    "def f(x):\n"
    '    """Square root.\n'
    "\n"
    "    >>> f(4)\n"
    "    2.0\n"
    '    """\n'
    "    if x > 0:\n"
    "\treturn math.sqrt(x)  # a tab\n"
    "    return 0.0\n"
    "\n"
    "\n"
    "print(f(2))\n"
)
NOTIFICATION = (
    "import math\nprint(1)\n>>>>>>OUTPUT STATUS<<<<<\nfinished, exit 0\n>>>>>CONTROLS<<<<<\n"
    "Reply with:\n'$q' to quit program\n'$r' to re-execute program\n"
    "'$sq' to save current program and quit\n"
    "While replying keep CONTROLS between '>EOM<'\n>EOM<\n$r\n>EOM<\n"
)
GMAIL_ATTRIBUTION = "On Mon, Jan 1, 2024 at 10:00 AM tether <tether@example.org> wrote:"


def quoted(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines())


def message(
    body: str | None = "stop",
    *,
    subject: str | None = SUBJECT,
    sender: str | None = f"Some User <{USER}>",
    subtype: str = "plain",
    cte: str | None = None,
    charset: str = "utf-8",
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    if sender is not None:
        msg["From"] = sender
    msg["To"] = "tether@example.org"
    if subject is not None:
        msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.com")
    for name, value in (headers or {}).items():
        msg[name] = value
    if body is not None:
        msg.set_content(body, subtype=subtype, cte=cte, charset=charset)
    if html is not None:
        if body is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    return msg


def parse(msg: EmailMessage | bytes, **kwargs: object) -> ReplyOutcome:
    raw = msg.as_bytes() if isinstance(msg, EmailMessage) else msg
    options: dict[str, object] = {
        "allowed_senders": [USER],
        "token_is_valid": lambda token: JOB if token == TOKEN else None,
    }
    options.update(kwargs)
    return parse_reply(raw, **options)


def command(msg: EmailMessage | bytes, **kwargs: object) -> Command:
    outcome = parse(msg, **kwargs)
    assert isinstance(outcome, Command), outcome
    assert outcome.job_token == TOKEN
    return outcome


def invalid(msg: EmailMessage | bytes) -> Invalid:
    outcome = parse(msg)
    assert isinstance(outcome, Invalid), outcome
    assert outcome.job_token == TOKEN
    return outcome


def rejected(msg: EmailMessage | bytes, **kwargs: object) -> Rejected:
    outcome = parse(msg, **kwargs)
    assert isinstance(outcome, Rejected), outcome
    return outcome


def seed(program: str, cmd: str = "$r") -> str:
    return f"{program}>EOM<\n{cmd}\n>EOM<\n"


# --- the seed format: the three replies of the original tool -----------------------------


def test_seed_quit() -> None:
    result = command(message(">EOM<\n$q\n>EOM<\n"))
    assert (result.kind, result.program, result.params, result.queue) == ("quit", None, {}, False)
    assert result.job == JOB
    assert result.sender == USER


def test_seed_rerun_with_program() -> None:
    result = command(message(seed(PROGRAM)))
    assert result.kind == "rerun"
    assert result.program == PROGRAM
    assert result.program_source == "body"


def test_seed_save_quit_with_program() -> None:
    result = command(message(seed(PROGRAM, "$sq")))
    assert (result.kind, result.program) == ("save_quit", PROGRAM)


def test_seed_rerun_without_program_means_same_program() -> None:
    for body in (">EOM<\n$r\n>EOM<\n", "\n  \n\t\n>EOM<\n$r\n>EOM<\n"):
        result = command(message(body))
        assert result.kind == "rerun"
        assert result.program is None


def test_seed_program_keeps_indentation_and_inner_blank_lines() -> None:
    body = "\n\n" + PROGRAM + "\n   \n\t\n" + ">EOM<\n$r\n>EOM<\n"
    assert command(message(body)).program == PROGRAM


def test_seed_crlf_and_cr_become_lf() -> None:
    raw = message(seed("X")).as_bytes().split(b"\n\n", 1)[0] + b"\n\n"
    body = PROGRAM.replace("\n", "\r\n") + ">EOM<\r\n$r\r\n>EOM<\r\n"
    assert command(raw.replace(b"\n", b"\r\n") + body.encode()).program == PROGRAM
    body = PROGRAM.replace("\n", "\r") + ">EOM<\r$r\r>EOM<\r"
    assert command(raw + body.encode()).program == PROGRAM


def test_seed_marker_is_case_and_space_tolerant_and_closing_marker_optional() -> None:
    assert command(message("print(1)\n>eom<  \n $sq \n")).kind == "save_quit"
    assert command(message("print(1)\n>EOM<\n$q\n")).kind == "quit"


def test_indented_markers_are_not_markers() -> None:
    # tether's own notification shows "  >EOM<\n  $q\n  >EOM<" as an example; echoed back
    # unquoted it must not quit the job.
    example = "For example:\n  >EOM<\n  $q\n  >EOM<\n"
    assert "unknown command 'For'" in invalid(message(example)).reason
    assert command(message("rerun\n\n" + GMAIL_ATTRIBUTION + "\n" + example)).kind == "rerun"


def test_seed_empty_command_block_is_invalid() -> None:
    assert "no command" in invalid(message("print(1)\n>EOM<\n\n>EOM<\n")).reason


def test_seed_unknown_command_is_invalid_never_a_rerun() -> None:
    reason = invalid(message(seed(PROGRAM, "$x"))).reason
    assert "unknown command '$x'" in reason
    for word in ("stop", "rerun", "save", "status", "logs", "$r"):
        assert word in reason


def test_seed_params_after_command() -> None:
    result = command(message(">EOM<\n$r\nlr = 0.5\n>EOM<\n"))
    assert result.params == {"lr": 0.5}


def test_seed_code_between_markers_is_invalid() -> None:
    assert "above the first" in invalid(message(">EOM<\n$r\n```\nx\n```\n>EOM<\n")).reason


def test_seed_program_may_be_a_fenced_block() -> None:
    body = "```python\n" + PROGRAM + "```\n>EOM<\n$r\n>EOM<\n"
    assert command(message(body)).program == PROGRAM


def test_seed_pasted_notification_sections_are_quotes_not_markers() -> None:
    # Quoted ">EOM<" lines of the original never count as markers.
    body = "stop\n\n" + GMAIL_ATTRIBUTION + "\n" + quoted(NOTIFICATION)
    assert command(message(body)).kind == "quit"


# --- transfer encodings and charsets ------------------------------------------------------

UNICODE_PROGRAM = 'print("héllo wörld – 你好")\nname = "Zoë"\n'
LATIN1_PROGRAM = 'print("héllo wörld, ça va")\nname = "Zoë"\n'


@pytest.mark.parametrize("cte", ["7bit", "8bit", "quoted-printable", "base64"])
def test_every_transfer_encoding(cte: str) -> None:
    program = PROGRAM if cte == "7bit" else UNICODE_PROGRAM
    result = command(message(seed(program), cte=cte))
    assert result.program == program


@pytest.mark.parametrize("cte", ["8bit", "quoted-printable", "base64"])
def test_latin1_charset(cte: str) -> None:
    result = command(message(seed(LATIN1_PROGRAM), cte=cte, charset="iso-8859-1"))
    assert result.program == LATIN1_PROGRAM


@pytest.mark.parametrize("charset", ["windows-1252", "koi8-r", "shift_jis", "gb2312"])
def test_other_charsets(charset: str) -> None:
    program = {
        "koi8-r": 'print("привет")\n',
        "shift_jis": 'print("こんにちは")\n',
        "gb2312": 'print("你好")\n',
    }.get(charset, 'print("ça")\n')
    result = command(message(seed(program), cte="base64", charset=charset))
    assert result.program == program


def test_quoted_printable_long_lines_and_soft_breaks() -> None:
    program = "x = " + " + ".join(str(i) for i in range(60)) + "  # =?= tricky\n"
    msg = message(seed(program), cte="quoted-printable")
    assert b"=\n" in msg.as_bytes()  # really soft-broken
    assert command(msg).program == program


def test_undeclared_charset_utf8_is_read() -> None:
    head = b"From: " + USER.encode() + b"\nSubject: " + SUBJECT.encode() + b"\n"
    raw = head + b"Content-Type: text/plain\n\n" + seed(UNICODE_PROGRAM).encode()
    assert command(raw).program == UNICODE_PROGRAM


def test_undecodable_text_never_yields_a_program() -> None:
    head = f"From: {USER}\nSubject: {SUBJECT}\nContent-Type: text/plain; charset=utf-8\n\n"
    raw = head.encode() + b'print("\xff\xfe caf\xe9")\n>EOM<\n$r\n>EOM<\n'
    assert "could not be decoded" in invalid(raw).reason
    stop = head.encode() + b"stop\n\xff\n"
    assert command(stop).kind == "quit"


def test_damaged_base64_never_yields_a_program() -> None:
    head = (
        f"From: {USER}\nSubject: {SUBJECT}\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n\n"
    )
    raw = head.encode() + b"cnVuCmxyID0gMC4x!!\n"  # "run\nlr = 0.1" + junk
    assert "damaged" in invalid(raw).reason


def test_unknown_charset_falls_back_without_crashing() -> None:
    head = f"From: {USER}\nSubject: {SUBJECT}\nContent-Type: text/plain; charset=x-nonsense\n\n"
    assert command((head + "status\n").encode()).kind == "status"


def test_dangerous_codec_names_are_not_used() -> None:
    head = f"From: {USER}\nSubject: {SUBJECT}\nContent-Type: text/plain; charset=unicode_escape"
    raw = (head + "\n\nrerun\nx = 'é'\n").encode()
    assert command(raw).params == {"x": "é"}  # read as UTF-8, not as unicode_escape


def test_format_flowed_is_unflowed() -> None:
    long_line = "x = " + " + ".join(str(i) for i in range(30))
    k = long_line.index(" ", 40)
    flowed = long_line[:k] + " \n" + long_line[k + 1 :] + "\n"
    # Space-stuffed lines lose exactly one leading space; ">EOM<" arrives stuffed.
    body = "def f():\n     return 1\n" + flowed + "  >>> doctest\n >EOM<\n$r\n >EOM<\n"
    head = (
        f"From: {USER}\nSubject: {SUBJECT}\n"
        'Content-Type: text/plain; charset="utf-8"; format=flowed\n\n'
    )
    result = command((head + body).encode())
    assert result.program == "def f():\n    return 1\n" + long_line + "\n >>> doctest\n"


def test_unflow_delsp() -> None:
    assert unflow("abc \ndef\n> q \n> r", delsp=True) == "abcdef\n> q \n> r"
    assert unflow("abc \ndef", delsp=False) == "abc def"
    assert unflow("-- \nsig", delsp=False) == "-- \nsig"


# --- multipart and HTML ------------------------------------------------------------------


def test_alternative_prefers_plain_text() -> None:
    msg = message(seed(PROGRAM), html="<div>$q garbage</div>")
    assert command(msg).program == PROGRAM


def test_html_only_gmail_style_divs_and_nbsp_indentation() -> None:
    html = (
        '<div dir="ltr"><div>def f(x):</div><div>&nbsp; &nbsp; if x &gt; 0:</div>'
        "<div>&nbsp; &nbsp; &nbsp; &nbsp; return x</div><div><br></div>"
        "<div>print(f(1))</div><div>&gt;EOM&lt;</div><div>$r</div><div>&gt;EOM&lt;</div></div>"
        '<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        + GMAIL_ATTRIBUTION.replace("<", "&lt;").replace(">", "&gt;")
        + '<br></div><blockquote class="gmail_quote" style="margin:0px">'
        "<div>old program</div><div>&gt;EOM&lt;</div><div>$q</div></blockquote></div>"
    )
    result = command(message(None, html=html))
    assert result.program == "def f(x):\n    if x > 0:\n        return x\n\nprint(f(1))\n"
    assert result.kind == "rerun"


def test_html_only_pre_block_verbatim() -> None:
    html = (
        "<html><head><style>p { color: red }</style><title>t</title></head><body>"
        "<p>rerun</p><p>lr = 0.25</p><pre>\n```python\n" + PROGRAM.replace("<", "&lt;") + "```"
        "</pre></body></html>"
    )
    result = command(message(None, html=html))
    assert (result.kind, result.params, result.program) == ("rerun", {"lr": 0.25}, PROGRAM)


def test_html_outlook_paragraphs_and_reply_header_block() -> None:
    html = (
        "<html><body>\r\n<p class=MsoNormal>stop<o:p></o:p></p>\r\n"
        '<div style="border:none"><p class=MsoNormal><b>From:</b> tether '
        "&lt;t@example.org&gt;<br><b>Sent:</b> Monday<br><b>Subject:</b> x</p></div>\r\n"
        "<p>&gt;EOM&lt;</p><p>$r</p><p>&gt;EOM&lt;</p></body></html>"
    )
    assert command(message(None, html=html)).kind == "quit"


def test_html_to_text_is_linear_on_malformed_markup() -> None:
    for nasty in ("<a " * 30_000, "</" * 50_000, "<!" * 50_000, "<!--" + "x" * 100_000):
        _, spent = cpu_seconds(lambda: html_to_text(nasty))  # noqa: B023
        assert spent < 5  # CPU seconds: linear takes milliseconds, quadratic minutes


def test_html_to_text_basics() -> None:
    assert html_to_text("a<br>b<br/><br>c") == "a\nb\n\nc"
    assert html_to_text("<div>\n  <p>  x   y </p>\n</div>") == "x y"
    assert html_to_text("<blockquote><div>q</div><blockquote>qq</blockquote></blockquote>") == (
        "> q\n> > qq"
    )
    assert html_to_text("<blockquote>" * 50 + "deep") == "> > > deep"
    assert html_to_text("<table><tr><td>a</td><td>b</td></tr></table>") == "a b"
    assert html_to_text("<script>if (a < b) x()</script>ok &amp; &lt;fine&gt;") == "ok & <fine>"
    # Known limit: a ">" inside an attribute value ends the tag early.
    assert html_to_text('<a title="1 > 0">x</a>') == '0">x'


def test_nbsp_indentation_becomes_spaces() -> None:
    body = "def f():\n\xa0\xa0\xa0\xa0return '\xa0'\n>EOM<\n$r\n>EOM<\n"
    assert command(message(body)).program == "def f():\n    return '\xa0'\n"


def test_empty_plain_alternative_falls_back_to_html() -> None:
    msg = message("\n  \n", html="<div>logs 7</div>")
    assert command(msg).log_lines == 7


# --- .py attachments ----------------------------------------------------------------------


def with_attachment(
    body: str,
    code: bytes | str,
    *,
    filename: str = "train.py",
    disposition: str = "attachment",
    subtype: str = "x-python",
) -> EmailMessage:
    msg = message(body)
    if isinstance(code, str):
        msg.add_attachment(code, subtype=subtype, filename=filename, disposition=disposition)
    else:
        msg.add_attachment(code, maintype="application", subtype="octet-stream", filename=filename)
    return msg


def test_python_attachment_is_the_program() -> None:
    result = command(with_attachment("rerun\nepochs = 3", PROGRAM))
    assert (result.program, result.program_source, result.params) == (
        PROGRAM,
        "train.py",
        {"epochs": 3},
    )


def test_python_attachment_as_bytes_with_coding_cookie() -> None:
    code = "# -*- coding: latin-1 -*-\n" + LATIN1_PROGRAM
    result = command(with_attachment("rerun", code.encode("latin-1")))
    assert result.program == code


def test_python_attachment_with_bom_and_crlf() -> None:
    code = b"\xef\xbb\xbf" + PROGRAM.replace("\n", "\r\n").encode()
    assert command(with_attachment("run", code)).program == PROGRAM


def test_python_attachment_inline_apple_mail_style() -> None:
    msg = with_attachment("save", PROGRAM, disposition="inline", subtype="plain")
    result = command(msg)
    assert (result.kind, result.program) == ("save_quit", PROGRAM)


def test_python_attachment_in_seed_format() -> None:
    assert command(with_attachment(">EOM<\n$r\n>EOM<\n", PROGRAM)).program == PROGRAM


def test_python_attachment_keeps_its_leading_lines() -> None:
    code = "\n\n" + PROGRAM + "\n\n"
    assert command(with_attachment("rerun", code)).program == "\n\n" + PROGRAM


def test_two_programs_are_invalid() -> None:
    msg = with_attachment("rerun\n```\nprint(2)\n```\n", PROGRAM)
    assert "more than one program" in invalid(msg).reason
    msg = with_attachment(seed("print(2)\n"), PROGRAM)
    assert "more than one program" in invalid(msg).reason


def test_undecodable_python_attachment_is_invalid() -> None:
    msg = with_attachment("rerun", b"print('\xff\xfe')\n")
    assert "could not be decoded" in invalid(msg).reason


def test_other_attachments_are_ignored() -> None:
    msg = message("rerun")
    msg.add_attachment(b"\x89PNG...", maintype="image", subtype="png", filename="chart.png")
    msg.add_attachment("notes", filename="notes.txt")
    result = command(msg)
    assert (result.kind, result.program) == ("rerun", None)


def test_forwarded_message_parts_are_not_read() -> None:
    inner = message(seed(PROGRAM))
    msg = message("status")
    msg.add_attachment(inner)
    assert command(msg).kind == "status"


# --- quoting styles -----------------------------------------------------------------------


def test_gmail_top_posting_original_below() -> None:
    body = seed(PROGRAM) + "\n" + GMAIL_ATTRIBUTION + "\n" + quoted(NOTIFICATION) + "\n"
    assert command(message(body)).program == PROGRAM


def test_gmail_attribution_wrapped_over_two_lines() -> None:
    attribution = "On Mon, Jan 1, 2024 at 10:00 AM tether <\ntether@example.org> wrote:"
    body = "rerun\nlr = 1e-3\n\n" + attribution + "\n\n" + quoted(NOTIFICATION)
    assert command(message(body)).params == {"lr": 0.001}


@pytest.mark.parametrize(
    "attribution",
    [
        "Am Mo., 1. Jan. 2024 um 10:00 Uhr schrieb tether <tether@example.org>:",
        "Le lun. 1 janv. 2024 à 10:00, tether <tether@example.org> a écrit :",
        "El lun, 1 ene 2024 a las 10:00, tether (<tether@example.org>) escribió:",
        "On 1/1/24 10:00, tether wrote:",
    ],
)
def test_attributions_in_other_languages_and_clients(attribution: str) -> None:
    body = "rerun\nlr = 2\n\n" + attribution + "\n\n" + quoted(NOTIFICATION)
    assert command(message(body)).params == {"lr": 2}


def test_bottom_posting_original_above() -> None:
    body = GMAIL_ATTRIBUTION + "\n" + quoted(NOTIFICATION) + "\n\n" + seed(PROGRAM)
    assert command(message(body)).program == PROGRAM


def test_program_keeps_inner_lines_starting_with_gt() -> None:
    program = 'def f():\n    """\n>>> f()\n> not a quote here\n    """\n'
    assert command(message(seed(program))).program == program


def test_trailing_quote_inside_program_region_is_dropped() -> None:
    body = PROGRAM + "\n" + GMAIL_ATTRIBUTION + "\n> old program\n\n>EOM<\n$r\n>EOM<\n"
    assert command(message(body)).program == PROGRAM


def test_apple_mail_quote_with_mobile_signature() -> None:
    body = (
        "rerun --queue\nbatch = 64\n\nSent from my iPhone\n\n"
        "On Jan 1, 2024, at 10:00, tether <tether@example.org> wrote:\n\n" + quoted(NOTIFICATION)
    )
    result = command(message(body))
    assert (result.queue, result.params) == (True, {"batch": 64})


def test_outlook_original_message_block_unprefixed() -> None:
    body = "stop\n\n-----Original Message-----\nFrom: tether\nSent: today\n\n" + NOTIFICATION
    assert command(message(body)).kind == "quit"


def test_outlook_header_block_with_rule() -> None:
    body = (
        seed(PROGRAM, "$sq") + "\n________________________________\nFrom: tether <t@example.org>\n"
        "Sent: Monday, January 1, 2024 10:00 AM\nTo: me\nSubject: x\n\n" + NOTIFICATION
    )
    result = command(message(body))
    assert (result.kind, result.program) == ("save_quit", PROGRAM)


def test_outlook_header_block_without_rule_and_unquoted_original_with_markers() -> None:
    body = "status\n\nFrom: tether <t@example.org>\nDate: Mon\nSubject: x\n\n" + NOTIFICATION
    assert command(message(body)).kind == "status"


def test_attribution_followed_by_unprefixed_original_ends_the_reply() -> None:
    body = "logs 20\n\n" + GMAIL_ATTRIBUTION + "\n" + NOTIFICATION
    assert command(message(body)).log_lines == 20


def test_signature_is_dropped() -> None:
    body = "rerun\nlr = 0.1\n-- \nJane Doe\nPhD student, lab = 7\n"
    assert command(message(body)).params == {"lr": 0.1}


# --- friendly commands --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("stop", "quit"),
        ("Quit", "quit"),
        ("cancel.", "quit"),
        ("rerun", "rerun"),
        ("Run", "rerun"),
        ("again!", "rerun"),
        ("save", "save_quit"),
        ("status", "status"),
        ("logs", "logs"),
        ("$r", "rerun"),
        ("$SQ", "save_quit"),
    ],
)
def test_command_words(word: str, kind: str) -> None:
    result = command(message(f"\n\n  {word}  \n"))
    assert result.kind == kind
    assert result.program is None


def test_rerun_queue_and_phone_dashes() -> None:
    assert command(message("rerun --queue")).queue is True
    assert command(message("Rerun \u2014queue")).queue is True
    assert command(message("rerun")).queue is False


def test_logs_count() -> None:
    assert command(message("logs 50")).log_lines == 50
    assert command(message("logs")).log_lines is None
    for bad in ("logs 0", "logs -3", "logs many", "logs 5 6", "logs 99999999"):
        assert "logs" in invalid(message(bad)).reason


def test_typed_params() -> None:
    body = (
        "rerun\n"
        "lr = 0.001\n"
        "epochs=10\n"
        "use_gpu = True\n"
        "shuffle = false\n"
        "seed = None\n"
        "name = resnet 50\n"
        "opt = 'adam'\n"
        "tag = \u201cbest\u201d\n"
        "layers = [64, 128, (3, 3)]\n"
        "model.depth = -2\n"
        "ratio = 1e-3  # from the paper\n"
        "path = /tmp/x=y\n"
    )
    assert command(message(body)).params == {
        "lr": 0.001,
        "epochs": 10,
        "use_gpu": True,
        "shuffle": False,
        "seed": None,
        "name": "resnet 50",
        "opt": "adam",
        "tag": "best",
        "layers": [64, 128, (3, 3)],
        "model.depth": -2,
        "ratio": 0.001,
        "path": "/tmp/x=y",
    }


def test_params_never_evaluate_code() -> None:
    result = command(message("rerun\nx = __import__('os').system('echo hi')\ny = 2**10"))
    assert result.params == {"x": "__import__('os').system('echo hi')", "y": "2**10"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("rerun\nthanks!", "not a parameter"),
        ("rerun\nlr: 0.1", "not a parameter"),
        ("rerun\n2x = 1", "not a parameter"),
        ("rerun\nclass = 1", "not a parameter"),
        ("rerun\nlr == 1", "not a parameter"),
        ("rerun\nlr =", "no value"),
        ("rerun\nlr = 1\nlr = 2", "twice"),
        ("rerun lr=0.1", "own lines"),
        ("stop now", "unexpected"),
        ("rerun\n```python\nprint(1)\n", "not closed"),
        ("", "no command"),
        ("hello there", "unknown command 'hello'"),
        ("import os\nprint(os.getcwd())", "unknown command 'import'"),
    ],
)
def test_malformed_commands_are_invalid(body: str, fragment: str) -> None:
    assert fragment in invalid(message(body)).reason


def test_code_block_is_the_program() -> None:
    for fence, close in (("```", "```"), ("```python", "```"), ("~~~py", "~~~"), ("````", "````")):
        body = f"rerun\nlr = 2\n\n{fence}\n{PROGRAM}{close}\n\nthat should do it"
        outcome = parse(message(body))
        # Text after the block is not a parameter, so it is refused rather than ignored.
        assert isinstance(outcome, Invalid)
        result = command(message(f"rerun\nlr = 2\n\n{fence}\n{PROGRAM}{close}\n"))
        assert (result.program, result.params) == (PROGRAM, {"lr": 2})
        assert result.program_source == "code block"


def test_code_block_protects_its_lines() -> None:
    program = "x = 1\n> not a quote\n-- \nSent from my iPhone\n>EOM<\n"
    result = command(message(f"rerun\n```\n{program}```\n"))
    assert result.program == program


def test_empty_code_block_is_no_program() -> None:
    assert command(message("rerun\n```\n  \n```\n")).program is None


def test_stop_status_logs_ignore_everything_else() -> None:
    result = command(message("stop\nplease, it diverges\n```\nx\n```\nlr = 3"))
    assert (result.kind, result.program, result.params) == ("quit", None, {})


def test_raw_text_is_the_decoded_body() -> None:
    assert command(message("stop\n", cte="base64")).raw_text == "stop\n"


# --- who may steer: sender, token, automatic mail -----------------------------------------


@pytest.mark.parametrize(
    "sender",
    [
        "intruder@example.net",
        f'"{USER}" <intruder@example.net>',
        f"=?utf-8?q?{USER}?= <intruder@example.net>",
        f"{USER}, intruder@example.net",
        f"{USER} <intruder@example.net>",
        f"<{USER}> <intruder@example.net>",
        f"team: {USER}, intruder@example.net;",
        f'"{USER}"@example.net',
        "",
    ],
)
def test_sender_not_allowed(sender: str) -> None:
    calls: list[str] = []

    def lookup(token: str) -> object:
        calls.append(token)
        return JOB

    rejected(message(seed(PROGRAM), sender=sender), token_is_valid=lookup)
    assert calls == []  # strangers never reach the job store


def test_sender_compared_case_insensitively_and_allowed_list_forms() -> None:
    msg = message("stop", sender="USER <User@Example.COM>")
    assert command(msg).sender == USER
    assert command(msg, allowed_senders=["Me <USER@example.com>"]).kind == "quit"
    assert command(msg, allowed_senders=USER).kind == "quit"  # a lone string is one address
    rejected(msg, allowed_senders=[])


def test_missing_or_repeated_from_is_rejected() -> None:
    rejected(message("stop", sender=None))
    raw = message("stop").as_bytes()
    assert "several From" in rejected(b"From: " + USER.encode() + b"\n" + raw).reason


def test_token_required_and_checked() -> None:
    assert "no tether token" in rejected(message("stop", subject="Re: train finished")).reason
    rejected(message("stop", subject=None))
    wrong = f"Re: [tether #42 {OTHER_TOKEN}]"
    assert "unknown or expired" in rejected(message("stop", subject=wrong)).reason
    rejected(message("stop"), token_is_valid=lambda token: None)
    rejected(message("stop"), token_is_valid=lambda token: False)


def test_token_from_reply_headers() -> None:
    msgid = make_message_id(42, TOKEN, "host.example")
    msg = message("stop", subject="Re: it finished", headers={"In-Reply-To": msgid})
    assert command(msg).kind == "quit"
    refs = f"<a@b> {msgid} <c@d>"
    msg = message("stop", subject="Re: it finished", headers={"References": refs})
    assert command(msg).kind == "quit"


def test_token_in_encoded_subject() -> None:
    msg = message("stop", subject=f"Re: [tether #42 {TOKEN}] fini — ça marche")
    assert b"=?utf-8?" in msg.as_bytes()
    assert command(msg).kind == "quit"


def test_first_valid_token_wins_and_validator_result_is_kept() -> None:
    msgid = make_message_id(7, OTHER_TOKEN, "host.example")
    msg = message("stop", headers={"In-Reply-To": msgid})
    jobs = {TOKEN: "job-42", OTHER_TOKEN: "job-7"}
    result = parse(msg, token_is_valid=jobs.get)
    assert isinstance(result, Command)
    assert (result.job_token, result.job) == (OTHER_TOKEN, "job-7")  # In-Reply-To first
    result = command(msg, token_is_valid=lambda t: True if t == TOKEN else None)
    assert result.job is None


def test_token_validator_exception_is_contained() -> None:
    def boom(token: str) -> object:
        raise RuntimeError("db down")

    assert "token check failed" in rejected(message("stop"), token_is_valid=boom).reason


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Auto-Submitted": "auto-generated; owner-email=x@y"},
        {"Precedence": "bulk"},
        {"Precedence": "auto_reply"},
        {"Precedence": "list"},
        {"X-Autoreply": "yes"},
        {"List-Id": "<lab.example.com>"},
        {"Return-Path": "<>"},
        {"X-Failed-Recipients": USER},
    ],
)
def test_automatic_mail_is_rejected(headers: dict[str, str]) -> None:
    rejected(message(seed(PROGRAM), headers=headers))


def test_auto_submitted_no_is_a_person() -> None:
    assert command(message("stop", headers={"Auto-Submitted": "no"})).kind == "quit"


def test_out_of_office_subject_and_bounces_are_rejected() -> None:
    rejected(message(seed(PROGRAM), subject=f"Automatic reply: [tether #42 {TOKEN}]"))
    bounce = message(seed(PROGRAM), sender="MAILER-DAEMON@example.com")
    rejected(bounce, allowed_senders=["mailer-daemon@example.com"])
    report = EmailMessage()
    report["From"] = USER
    report["Subject"] = SUBJECT
    report.set_content(seed(PROGRAM))
    report.make_mixed()
    report.replace_header("Content-Type", 'multipart/report; boundary="b"')
    rejected(report)


def test_own_notification_looped_back_is_rejected() -> None:
    msg = message(NOTIFICATION, headers={"Auto-Submitted": "auto-generated"})
    rejected(msg)


# --- hostile and broken input -------------------------------------------------------------


def test_too_large_is_rejected_cheaply() -> None:
    big = message("stop").as_bytes() + b"x" * MAX_MESSAGE_BYTES
    assert "too large" in rejected(big).reason
    assert "too large" in rejected(message("stop"), max_bytes=100).reason


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\xff" * 100, b"From:\n\n", b"garbage", "not bytes", None, 42, bytearray(b"x")],
)
def test_junk_is_rejected(raw: object) -> None:
    assert isinstance(parse(raw), Rejected)  # type: ignore[arg-type]


def test_str_input_is_accepted() -> None:
    raw = message("stop").as_string()
    assert isinstance(parse(raw), Command)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "header",
    [
        "From: " + '"' * 60_000,
        "From: " + "a@b," * 20_000,
        "Content-Type: text/plain; " + "a*0*=b; " * 10_000,
        "From: " + "(" * 60_000,
    ],
)
def test_pathological_headers_are_fast(header: str) -> None:
    raw = (header + f"\nSubject: {SUBJECT}\n\nstop\n").encode()
    outcome, spent = cpu_seconds(lambda: parse(raw))
    assert isinstance(outcome, Rejected)
    assert spent < 5  # CPU seconds, not wall-clock


def test_header_limits() -> None:
    many = "".join(f"X-H{i}: v\n" for i in range(2_000))
    raw = (f"From: {USER}\nSubject: {SUBJECT}\n{many}\nstop\n").encode()
    assert "too many headers" in rejected(raw).reason
    subject = SUBJECT + " =?utf-8?q?a?=" * 5_000
    assert "too long" in rejected((f"From: {USER}\nSubject: {subject}\n\nstop").encode()).reason


def test_mime_bomb() -> None:
    body = 'Content-Type: multipart/mixed; boundary="b"\n\n' + "--b\n\nx\n" * 100_000
    for sender, expected in (("intruder@example.net", Rejected), (USER, Invalid)):
        raw = (f"From: {sender}\nSubject: {SUBJECT}\n" + body).encode()
        outcome, spent = cpu_seconds(lambda: parse(raw))  # noqa: B023
        assert isinstance(outcome, expected), outcome
        assert spent < 10  # CPU seconds, not wall-clock
    assert isinstance(outcome, Invalid) and "MIME parts" in outcome.reason


def test_pathological_bodies_are_fast() -> None:
    head = f"From: {USER}\nSubject: {SUBJECT}\n"
    bodies = [
        "Content-Type: text/plain\n\n" + "> " * 900_000,
        "Content-Type: text/plain\n\nrerun\n" + "On x@y wrote:\n\n\n" * 50_000,
        "Content-Type: text/plain\n\n" + "```\n" * 400_000,
        "Content-Type: text/plain\n\nrerun\n" + "a = " + "[" * 1_000 + "\n",
        "Content-Type: text/html\n\n" + "<a " * 500_000,
        "Content-Type: text/html\n\n" + "<blockquote>" * 100_000,
        'Content-Type: multipart/mixed; boundary="b"\n\n' + "--b\n" * 400_000,
    ]
    nested = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(99)
    )
    bodies.append(nested + "Content-Type: text/plain\n\nstop\n")
    for body in bodies:
        raw = (head + body).encode()
        assert len(raw) <= MAX_MESSAGE_BYTES
        _, spent = cpu_seconds(lambda: parse(raw))  # noqa: B023
        assert spent < 10, body[:60]  # CPU seconds, not wall-clock


# --- tokens ----------------------------------------------------------------------------------


def test_make_token() -> None:
    tokens = {make_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert len(token) == 24 and is_token(token) and token == token.lower()
        assert set(token) <= set("abcdefghijklmnopqrstuvwxyz234567")


def test_subject_tag_and_message_id_round_trip() -> None:
    token = make_token()
    assert subject_tag(42, token) == f"[tether #42 {token}]"
    assert make_message_id(42, token, "h.example", nonce="") == f"<tether.42.{token}@h.example>"
    a, b = make_message_id(42, token, "h.example"), make_message_id(42, token, "h.example")
    assert a != b
    assert find_tokens(f"Re: Fwd: {subject_tag('train-1', token)} done", None, None) == [token]
    assert find_tokens(None, a, None) == [token]
    assert find_tokens(None, None, f"<x@y> {b.upper()}") == [token]
    with pytest.raises(ValueError):
        subject_tag("has space", token)
    with pytest.raises(ValueError):
        subject_tag(1, "short")
    with pytest.raises(ValueError):
        make_message_id(1, token, "bad host")


def test_find_tokens_order_and_limits() -> None:
    t1, t2, t3 = (make_token() for _ in range(3))
    refs = " ".join(make_message_id(1, t, "h") for t in (t3, t2))
    found = find_tokens(f"[tether #1 {t2}]", make_message_id(1, t1, "h"), refs)
    assert found == [t1, t2, t3]
    many = " ".join(f"[tether #1 {make_token()}]" for _ in range(50))
    assert len(find_tokens(many, None, None)) == 8
    assert find_tokens("[tether #1 tooshort]", "<tether.1.abc@h>", "") == []
    assert find_tokens(None, None, None) == []


def test_tokens_equal() -> None:
    assert tokens_equal(TOKEN, TOKEN.upper())
    assert not tokens_equal(TOKEN, OTHER_TOKEN)
