"""Chat text in the preview: formatting marks become tags only after every character was escaped, and
links or mentions are styled text, never links."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from app.admin.chat_markup import markdown, slack_mrkdwn

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '"><svg onload=alert(1)>',
    "*<b>bold</b>*",
    "`<i>code</i>`",
    "```\n<iframe src=//evil></iframe>\n```",
]
ALLOWED_TAGS = {"strong", "em", "s", "u", "code", "pre", "br", "span"}


class Parsed(HTMLParser):
    """The tags and attribute names a browser would see."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("render", [slack_mrkdwn, markdown])
def test_submitted_html_is_text_whatever_the_marks_around_it(render, text):
    parsed = Parsed(str(render(text)))
    assert parsed.tags <= ALLOWED_TAGS
    assert parsed.attributes <= {"class", "title"}  # no handler, no href, no src


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*New* _order_ ~gone~", "<strong>New</strong> <em>order</em> <s>gone</s>"),
        ("a &lt;b&gt; &amp; c", "a &lt;b&gt; &amp; c"),  # Slack's escapes, shown as the characters
        ("<!channel> hi", '<span class="chat-mention">@channel</span> hi'),
        (
            '<https://x.test/a|the "site">',
            '<span class="chat-link" title="https://x.test/a">the &#34;site&#34;</span>',
        ),
        ("line one\n&gt; quoted", 'line one<br><span class="chat-quote">quoted</span>'),
    ],
)
def test_slack_mrkdwn_looks_like_slack(text, expected):
    assert str(slack_mrkdwn(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**Ada** chose *tea*", "<strong>Ada</strong> chose <em>tea</em>"),
        ("~~old~~ __new__", "<s>old</s> <u>new</u>"),
        (
            '[see](https://x.test/"onmouseover=x)',
            '<span class="chat-link" title="https://x.test/&#34;onmouseover=x">see</span>',
        ),
        ("`a*b*c`", "<code>a*b*c</code>"),  # no marks inside code
    ],
)
def test_markdown_looks_like_discord_and_teams(text, expected):
    assert str(markdown(text)) == expected
