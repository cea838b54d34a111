import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation import sanitize
from moderation.sanitize import LINK_REL, normalize_text, render

REL = f'rel="{LINK_REL}"'


@pytest.mark.parametrize(
    ("text", "html"),
    [
        # plain text and paragraphs
        ("Hallo", "<p>Hallo</p>"),
        ("eins\nzwei", "<p>eins<br>zwei</p>"),
        ("eins\n\nzwei", "<p>eins</p><p>zwei</p>"),
        ("eins\r\n\r\n\r\nzwei", "<p>eins</p><p>zwei</p>"),
        ("  rundherum  \n", "<p>rundherum</p>"),
        # what looks like markup but is not allowed shows as text
        ("a < b und c > d", "<p>a &lt; b und c &gt; d</p>"),
        ("ich <3 das", "<p>ich &lt;3 das</p>"),
        ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
        ('<img src=x onerror="alert(1)">', '<p>&lt;img src=x onerror="alert(1)"&gt;</p>'),
        ("<iframe src=//evil>", "<p>&lt;iframe src=//evil&gt;</p>"),
        ("Tom & Jerry", "<p>Tom &amp; Jerry</p>"),
        # the allowlist
        ("<b>fett</b> <i>kursiv</i>", "<p><b>fett</b> <i>kursiv</i></p>"),
        (
            "<strong>s</strong><em>e</em><code>x = 1</code>",
            "<p><strong>s</strong><em>e</em><code>x = 1</code></p>",
        ),
        ("<b onclick=alert(1)>x</b>", "<p><b>x</b></p>"),
        ("<b>offen", "<p><b>offen</b></p>"),
        # links
        (
            "siehe https://example.org/a?b=1",
            f'<p>siehe <a href="https://example.org/a?b=1" {REL}>https://example.org/a?b=1</a></p>',
        ),
        (
            '<a href="https://example.org">hier</a>',
            f'<p><a href="https://example.org" {REL}>hier</a></p>',
        ),
        (
            '<a href="https://example.org" rel="follow" target="_top">x</a>',
            f'<p><a href="https://example.org" {REL}>x</a></p>',
        ),
        ('<a href="javascript:alert(1)">x</a>', f"<p><a {REL}>x</a></p>"),
        ('<a href="data:text/html,hi">x</a>', f"<p><a {REL}>x</a></p>"),
        (
            '<a href="mailto:a@example.org">mail</a>',
            f'<p><a href="mailto:a@example.org" {REL}>mail</a></p>',
        ),
        (
            "schreib an a@example.org",
            f'<p>schreib an <a href="mailto:a@example.org" {REL}>a@example.org</a></p>',
        ),
        ("<code>https://example.org</code>", "<p><code>https://example.org</code></p>"),
        # unicode
        ("Cafe\u0301", "<p>Café</p>"),
        ("a\u202eb\u2066c", "<p>abc</p>"),
        ("null\x00bell\x07", "<p>nullbell</p>"),
        ("tab\tbleibt", "<p>tab\tbleibt</p>"),
        ("Grüße 👋🏽", "<p>Grüße 👋🏽</p>"),
        # nothing left
        ("", ""),
        ("\x00 \n ", ""),
    ],
)
def test_render(text: str, html: str) -> None:
    assert render(text) == html


def test_html_comments_are_shown_not_hidden() -> None:
    assert "&lt;!--" in render("a <!-- versteckt --> b")


def test_blockquote_survives() -> None:
    html = render("<blockquote>Zitat</blockquote>\nAntwort")
    assert "<blockquote>Zitat</blockquote>" in html
    assert "Antwort" in html
    assert "<p></p>" not in html


def test_normalize_text() -> None:
    assert normalize_text(" A\u030a\r\nb\u200f ") == "\u00c5\nb\u200f"


# --- the shortcut for plain text gives exactly what the cleaner gives ------------------------

# Sentences as readers write them, with what could trip the shortcut: '>', quotes, dots that
# are not domains, '@' that is not an address, several lines and paragraphs, any Unicode.
_PIECES = st.sampled_from(
    [" ", "\n", "\n\n", "\n \n", ">", ">>", "'", '"', ".", "@", ":", "/", "www", "de", "com",
     "Zahlen.", "z.B.", "Spaß", "ÄÖÜ", "-->", "a>b", "ok:)", "…", "\u00a0", "\u2028", "\ufeff"]
)  # fmt: skip
_TEXT = st.lists(st.one_of(_PIECES, st.text(min_size=1, max_size=8)), max_size=30).map("".join)


def _by_the_cleaner(text: str) -> str:
    """What render() gives without its shortcut: always through bleach."""
    text = sanitize.normalize_text(text)
    if not text:
        return ""
    paragraphs = sanitize._PARAGRAPH_BREAK.split(text)
    markup = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs)
    html = sanitize._cleaner().clean(markup.replace("<!", "&lt;!"))
    return sanitize._EMPTY_PARAGRAPH.sub("", html)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_the_plain_text_shortcut_matches_the_cleaner(text: str) -> None:
    assert render(text) == _by_the_cleaner(text)


@pytest.mark.parametrize(
    "text",
    [
        "Die Zahlen sind nachvollziehbar. Aber: die Schlussfolgerung greift zu kurz!",
        "Zeile eins\nZeile zwei > Zeile eins\n\n  Neuer Absatz mit \"Zitat\" und 'so'.",
        "Mehr auf zeit.de und unter mail@example.org",  # links: the cleaner's path
        "a < b & c",  # markup characters: the cleaner's path
        "lone \ud800 surrogate",
    ],
)
def test_the_shortcut_on_typical_comments(text: str) -> None:
    assert render(text) == _by_the_cleaner(text)
