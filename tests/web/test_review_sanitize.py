"""Ticket text from helpdesks is shown with its harmless formatting and nothing that can run."""

import re

import pytest

from service.web.review.sanitize import clean_html, looks_like_html, render_body
from tests.support.review import decided_ticket

ATTACKS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle r=1></circle></svg>",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<iframe src="https://evil.example"></iframe>',
    '<p style="background:url(javascript:alert(1))" onclick="alert(1)">x</p>',
    "<body onload=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<object data="x.swf"></object><embed src="x.swf">',
    '<form action="https://evil.example"><input name=x></form>',
    '<div><noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript></div>',
    "<scr<script>ipt>alert(1)</script>",
]


@pytest.mark.parametrize("payload", ATTACKS)
def test_nothing_executable_survives_the_sanitiser(payload):
    out = str(clean_html(payload)).lower()
    assert "<script" not in out and "<iframe" not in out and "<svg" not in out and "<img" not in out
    assert not re.search(r"\son\w+\s*=", out)
    assert "javascript:" not in out and "style=" not in out and "<form" not in out and "<object" not in out


def test_formatting_and_safe_links_are_kept():
    out = str(clean_html('<p>Hi <b>Ann</b>,</p><ul><li>one</li></ul><a href="https://bank.example/help">help</a>'))
    assert "<p>Hi <b>Ann</b>,</p>" in out and "<li>one</li>" in out
    assert 'href="https://bank.example/help"' in out and 'rel="noopener noreferrer nofollow"' in out


@pytest.mark.parametrize(
    "text, is_html",
    [
        ("I <3 my card, 2 < 3", False),
        ("Plain text\nwith lines", False),
        ("<p>Hello</p>", True),
        ("Hi<br>there", True),
        ("<!-- a comment -->text", True),
    ],
)
def test_html_is_told_from_plain_text(text, is_html):
    assert looks_like_html(text) is is_html


def test_plain_text_is_escaped_and_keeps_its_line_breaks():
    body, is_html = render_body("a < b\n<3 & more")
    assert not is_html and str(body) == "a &lt; b\n&lt;3 &amp; more"


def test_the_ticket_page_shows_a_hostile_ticket_inert(agent, rt):
    ticket_id = decided_ticket(
        rt,
        subject='<script>alert("subject")</script>',
        body='<p>Hi</p><script>alert("body")</script><img src=x onerror="alert(2)">'
        '<a href="javascript:alert(3)">link</a>',
    )
    page = agent.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;subject&#34;)&lt;/script&gt;" in page  # the subject, shown as text
    body = page.split('class="ticket-body', 1)[1].split("</div>", 1)[0]
    assert "<p>Hi</p>" in body
    assert "<script" not in body and "onerror" not in body and "javascript:" not in body
    # The only scripts on the page are our own static file.
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/review/static/review.js" defer>']
