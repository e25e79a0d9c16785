"""HTML mail bodies to plain text, keeping the line structure a program needs.

Line breaks come from <br> and block elements (<p>, <div>, <pre>, <li>, ...); text inside
<pre> is kept verbatim; elsewhere whitespace collapses as a browser would, except that
non-breaking spaces (how composers write indentation) become plain spaces. <blockquote>
content is prefixed with "> " so that quoted originals are recognised like plain-text quotes.

`html.parser` is super-linear on some malformed markup (many unclosed ``<a <a <a``), so the
input is first reduced, in one linear pass, to bare tags (``<div>``, ``</p>``) and text in
which every stray ``<`` is escaped; comments, doctypes and processing instructions are dropped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt"),
        *("fieldset", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6"),
        *("header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table"),
        *("tbody", "thead", "tfoot", "tr", "ul"),
    }
)
_SKIP_TAGS = frozenset({"script", "style", "title", "template", "xml"})
_CELL_TAGS = frozenset({"td", "th"})
_TAG_RE = re.compile(r"<([^<>]*)>")
_TAG_NAME_RE = re.compile(r"\s{0,64}(/?)\s{0,64}([A-Za-z][A-Za-z0-9:-]{0,63})")
_SPACE_RE = re.compile(r"[ \t\n\r\f]+")
_MAX_QUOTE_MARKS = 3


def html_to_text(html: str) -> str:
    """The text of an HTML document, one output line per rendered line. Never raises."""
    try:
        parser = _TextParser()
        parser.feed(_simplify(_drop_comments(html)))
        parser.close()
        return parser.text()
    except Exception:
        return ""


def _drop_comments(html: str) -> str:
    """`html` without <!-- ... --> comments (an unclosed one runs to the end), linearly."""
    pieces: list[str] = []
    pos = 0
    while True:
        start = html.find("<!--", pos)
        if start < 0:
            pieces.append(html[pos:])
            break
        pieces.append(html[pos:start])
        end = html.find("-->", start + 4)
        if end < 0:
            break
        pos = end + 3
    return "".join(pieces)


def _simplify(html: str) -> str:
    """Tags reduced to ``<name>`` / ``</name>``, other markup dropped, stray ``<`` escaped."""
    pieces: list[str] = []
    pos = 0
    for match in _TAG_RE.finditer(html):
        pieces.append(html[pos : match.start()].replace("<", "&lt;"))
        pos = match.end()
        name = _TAG_NAME_RE.match(match.group(1))
        if name is not None:
            pieces.append(f"<{name.group(1)}{name.group(2).lower()}>")
    pieces.append(html[pos:].replace("<", "&lt;"))
    return "".join(pieces)


class _TextParser(HTMLParser):
    """Collects rendered lines; blockquote depth becomes a "> " prefix."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[str] = []
        self._current: list[str] = []
        self._line_depth: int | None = None
        self._quote_depth = 0
        self._pre_depth = 0
        self._skip_depth = 0
        self._after_pre_start = False

    def text(self) -> str:
        """The collected text, lines joined by newlines."""
        self._end_line(force=False)
        return "\n".join(self._lines)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag == "br":
            self._end_line(force=True)
        elif tag in _CELL_TAGS:
            if self._current:
                self._current.append(" ")
        elif tag in _BLOCK_TAGS:
            self._end_line(force=False)
            if tag == "blockquote":
                self._quote_depth += 1
            elif tag == "pre":
                self._pre_depth += 1
                self._after_pre_start = True

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._end_line(force=False)
            if tag == "blockquote":
                self._quote_depth = max(0, self._quote_depth - 1)
            elif tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._pre_depth:
            if self._after_pre_start and data.startswith("\n"):
                data = data[1:]
            self._after_pre_start = False
            data = data.replace("\r\n", "\n").replace("\r", "\n")
            first, *rest = data.split("\n")
            self._add(first)
            for piece in rest:
                self._end_line(force=True)
                self._add(piece)
            return
        data = _SPACE_RE.sub(" ", data)
        if not self._current:
            data = data.lstrip(" ")
        self._add(data)

    def _add(self, text: str) -> None:
        if text:
            if self._line_depth is None:
                self._line_depth = self._quote_depth
            self._current.append(text)

    def _end_line(self, *, force: bool) -> None:
        """Finish the current line; an empty one only when `force` (a <br> or a <pre> newline)."""
        if not self._current and not force:
            return
        line = "".join(self._current).replace("\xa0", " ")
        if not self._pre_depth:
            line = line.rstrip(" ")
        depth = self._quote_depth if self._line_depth is None else self._line_depth
        self._lines.append("> " * min(depth, _MAX_QUOTE_MARKS) + line)
        self._current = []
        self._line_depth = None
