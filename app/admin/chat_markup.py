"""Chat text as safe HTML for the editor's preview: Slack mrkdwn, and the markdown of Discord and Teams.

Every character of the text is HTML-escaped first; only then are the few formatting marks turned into tags
(bold, italic, strike, code, quotes, line breaks). Links and mentions become styled text, never an
``href``: nothing in a preview links anywhere, whatever was submitted.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from markupsafe import Markup, escape

# Slack's control sequences: <https://x|label>, <!channel>, <@U123>, <#C123|name>.
SLACK_ANGLE = re.compile(r"<([^<>]+)>")
MD_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
INLINE_CODE = re.compile(r"`([^`\n]+)`")
CODE_BLOCK = re.compile(r"```\n?(.*?)```", re.DOTALL)


def _single(mark: str) -> re.Pattern[str]:
    """Text between two single ``mark`` characters, not inside a word nor next to a space within."""
    m = re.escape(mark)
    return re.compile(rf"(?<![\w{m}]){m}(?!\s)([^{m}\n]+?)(?<!\s){m}(?![\w{m}])")


def _double(mark: str) -> re.Pattern[str]:
    """Text between two doubled ``mark`` characters, not next to a space within."""
    m = re.escape(mark) * 2
    return re.compile(rf"{m}(?!\s)(.+?)(?<!\s){m}")


# (pattern on escaped text, tag); applied in order, outside code.
SLACK_MARKS = ((_single("*"), "strong"), (_single("_"), "em"), (_single("~"), "s"))
MARKDOWN_MARKS = (
    (_double("*"), "strong"),
    (_double("_"), "u"),
    (_single("*"), "em"),
    (_single("_"), "em"),
    (_double("~"), "s"),
)


def _marks(text: str, marks: tuple[tuple[re.Pattern[str], str], ...]) -> str:
    for pattern, tag in marks:
        text = pattern.sub(rf"<{tag}>\1</{tag}>", text)
    return text


def _lines(text: str) -> str:
    """Quotes (``> ``, escaped as ``&gt; ``) as blockquotes, line breaks as ``<br>``."""
    out = []
    for line in text.split("\n"):
        if line.startswith("&gt; "):
            out.append(f'<span class="chat-quote">{line[5:]}</span>')
        else:
            out.append(line)
    return "<br>".join(out)


def unslack(text: str) -> str:
    """Slack's three escapes undone (``&lt;`` is a ``<`` to show); other entities are shown as typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _with_code(text: str, inline: Callable[[str], str], plain: Callable[[str], str]) -> str:
    """``inline`` applied outside code blocks and code spans; those are shown as they are (``plain``
    turns their source into the text shown, then it is escaped)."""
    parts: list[str] = []
    last = 0
    for m in CODE_BLOCK.finditer(text):
        parts.append(_without_code_spans(text[last : m.start()], inline, plain))
        parts.append(f'<pre class="chat-pre">{escape(plain(m.group(1).rstrip(chr(10))))}</pre>')
        last = m.end()
    parts.append(_without_code_spans(text[last:], inline, plain))
    return "".join(parts)


def _without_code_spans(text: str, inline: Callable[[str], str], plain: Callable[[str], str]) -> str:
    parts: list[str] = []
    last = 0
    for m in INLINE_CODE.finditer(text):
        parts.append(inline(text[last : m.start()]))
        parts.append(f"<code>{escape(plain(m.group(1)))}</code>")
        last = m.end()
    parts.append(inline(text[last:]))
    return "".join(parts)


def _slack_angle(inner: str) -> str:
    """One ``<...>`` of Slack text as safe HTML (a link or mention as styled text)."""
    target, _, label = inner.partition("|")
    if target.startswith("!"):
        return f'<span class="chat-mention">@{escape(label or target[1:].split("^")[0])}</span>'
    if target.startswith(("@", "#")):
        return f'<span class="chat-mention">{escape(target[0])}{escape(label or target[1:])}</span>'
    return f'<span class="chat-link" title="{escape(target)}">{escape(label or target)}</span>'


def slack_mrkdwn(text: str) -> Markup:
    """Slack mrkdwn (as sent: ``&amp;``, ``&lt;`` and ``&gt;`` escaped by Slack's rules) as safe HTML."""

    def inline(chunk: str) -> str:
        parts: list[str] = []
        last = 0
        for m in SLACK_ANGLE.finditer(chunk):
            parts.append(_lines(_marks(str(escape(unslack(chunk[last : m.start()]))), SLACK_MARKS)))
            parts.append(_slack_angle(unslack(m.group(1))))
            last = m.end()
        parts.append(_lines(_marks(str(escape(unslack(chunk[last:]))), SLACK_MARKS)))
        return "".join(parts)

    return Markup(_with_code(text, inline, unslack))  # noqa: S704 - every piece was escaped above


def markdown(text: str) -> Markup:
    """The markdown of Discord and Teams (bold, italic, underline, strike, code, quotes, links) as safe
    HTML."""

    def inline(chunk: str) -> str:
        parts: list[str] = []
        last = 0
        for m in MD_LINK.finditer(chunk):
            parts.append(_lines(_marks(str(escape(chunk[last : m.start()])), MARKDOWN_MARKS)))
            parts.append(f'<span class="chat-link" title="{escape(m.group(2))}">{escape(m.group(1))}</span>')
            last = m.end()
        parts.append(_lines(_marks(str(escape(chunk[last:])), MARKDOWN_MARKS)))
        return "".join(parts)

    return Markup(_with_code(text, inline, lambda code: code))  # noqa: S704 - every piece was escaped above
