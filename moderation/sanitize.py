"""The sanitizing policy: a reader's plain text in, safe HTML out. Nothing else lives here.

Comments are plain text with a small allowlist of inline markup. Markup outside the list is
*escaped*, not stripped, so a reader who writes ``a < b``, ``<3`` or ``<script>`` sees exactly
that, as text, instead of losing words or running code. Bare URLs and e-mail addresses become
links; every link gets ``rel="nofollow ugc noopener"`` and only ``http``, ``https`` and
``mailto`` survive. Blank lines start a paragraph, single line breaks become ``<br>``.

The raw text is stored as submitted and the HTML beside it with :data:`POLICY_VERSION`; when
this policy changes, bump the version and run ``flask --app wsgi comments resanitize``.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import partial

from bleach.linkifier import EMAIL_RE, URL_RE, LinkifyFilter
from bleach.sanitizer import Cleaner

POLICY_VERSION = 1

ALLOWED_TAGS = frozenset({"a", "b", "strong", "i", "em", "code", "blockquote", "p", "br"})
ALLOWED_ATTRIBUTES = {"a": ["href", "title"]}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow ugc noopener"

# Bidi embeddings, overrides and isolates can make a comment display differently from what it
# says ("Trojan Source"); they have no place in a comment.
_BIDI_CONTROLS = dict.fromkeys(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A)],
    None,
)
# Control characters (Unicode category Cc) except tab and line feed.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_EMPTY_PARAGRAPH = re.compile(r"<p>\s*</p>")


def _link_attributes(attrs: dict, new: bool = False) -> dict:
    attrs[(None, "rel")] = LINK_REL
    return attrs


def _new_cleaner() -> Cleaner:
    return Cleaner(
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        protocols=ALLOWED_PROTOCOLS,
        strip=False,  # escape what is not allowed, so it shows as text
        strip_comments=False,
        filters=[
            partial(
                LinkifyFilter,
                callbacks=[_link_attributes],
                parse_email=True,
                skip_tags={"code"},
            )
        ],
    )


# A Cleaner is built once and reused; it keeps parser state while it works, so each thread of
# a threaded server gets its own.
_local = threading.local()


def _cleaner() -> Cleaner:
    cleaner = getattr(_local, "cleaner", None)
    if cleaner is None:
        cleaner = _local.cleaner = _new_cleaner()
    return cleaner


def normalize_text(text: str) -> str:
    """NFC-normalize, unify line endings and drop control and bidi-override characters."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.translate(_BIDI_CONTROLS)
    return _CONTROLS.sub("", text).strip()


def _is_plain(lines: list[str]) -> bool:
    """Whether bleach would leave these lines as they are, but for escaping ``>``.

    True for text without markup (no ``<``), entities (no ``&``), links or e-mail addresses
    (bleach's own patterns, applied line by line as its linkifier sees the text between our
    ``<br>`` tags) or lone surrogates. Most comments are such plain sentences, and for them the
    HTML parse of the full cleaner is pure cost; ``tests/test_sanitize.py`` checks the shortcut
    against the cleaner on generated text.
    """
    for line in lines:
        if "<" in line or "&" in line or URL_RE.search(line) or EMAIL_RE.search(line):
            return False
        if not line.isascii():
            try:
                line.encode()
            except UnicodeEncodeError:
                return False
    return True


def render(text: str) -> str:
    """Turn a reader's text into the HTML that may be shown on an article page."""
    text = normalize_text(text)
    if not text:
        return ""
    paragraphs = [p.split("\n") for p in _PARAGRAPH_BREAK.split(text)]
    if all(_is_plain(lines) for lines in paragraphs):
        html = "".join(
            f"<p>{'<br>'.join(line.replace('>', '&gt;') for line in lines)}</p>"
            for lines in paragraphs
        )
        return _EMPTY_PARAGRAPH.sub("", html)
    markup = "".join(f"<p>{'<br>'.join(lines)}</p>" for lines in paragraphs)
    # Comments, doctypes and CDATA would otherwise pass as markup or vanish; show them as text.
    markup = markup.replace("<!", "&lt;!")
    html = _cleaner().clean(markup)
    return _EMPTY_PARAGRAPH.sub("", html)
