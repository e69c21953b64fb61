"""Ticket text from helpdesks, made safe to show: an allow-list of harmless HTML, everything else inert."""

from __future__ import annotations

import re

import nh3
from markupsafe import Markup, escape

# Formatting only. No img (a remote image is a tracking beacon), no style, no forms, no media.
TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
URL_SCHEMES = {"http", "https", "mailto"}
# Dropped with their content, not just unwrapped: their text is code or noise, never message.
DROP_WITH_CONTENT = {"script", "style", "template", "iframe", "object", "noscript", "title", "textarea", "select"}
# A tag cannot contain "<": so "<a<a<a..." fails fast at each "<" instead of scanning to the end from each.
_LOOKS_LIKE_HTML = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9-]*+|/[a-zA-Z][a-zA-Z0-9-]*+|!--)[^<>]*+>")


def looks_like_html(text: str) -> bool:
    return bool(_LOOKS_LIKE_HTML.search(text))


def clean_html(text: str) -> Markup:
    """Keep the allow-listed tags and attributes; scripts, handlers and javascript: links are removed."""
    cleaned = nh3.clean(
        text,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        clean_content_tags=DROP_WITH_CONTENT,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return Markup(cleaned)  # the sanitiser's output is the only ticket text ever marked safe


def render_body(text: str) -> tuple[Markup, bool]:
    """The body as HTML to embed, and whether it was HTML (else plain text, shown with its line breaks)."""
    if looks_like_html(text):
        return clean_html(text), True
    return escape(text), False
