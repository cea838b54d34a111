from __future__ import annotations

from collections.abc import Callable

import pytest
from bleach import html5lib_shim
from bleach.linkifier import LinkifyFilter
from bleach.sanitizer import Cleaner
from helpers import least_cpu_seconds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation import rules, sanitize
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


def _by_the_cleaner(text: str, cleaner: Cleaner | None = None) -> str:
    """What render() gives without its shortcut: always through bleach."""
    text = sanitize.normalize_text(text)
    if not text:
        return ""
    paragraphs = sanitize._PARAGRAPH_BREAK.split(text)
    markup = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs)
    html = (cleaner or sanitize._cleaner()).clean(markup.replace("<!", "&lt;!"))
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


# --- links: the same as bleach's own patterns give, for every real address -------------------


def _by_bleach_patterns(text: str) -> str:
    """What render() gave with bleach's own URL_RE and EMAIL_RE (quadratic, see sanitize.py)."""
    return _by_the_cleaner(text, sanitize.new_cleaner(Cleaner, LinkifyFilter))


@pytest.mark.parametrize(
    "text",
    [
        "https://example.com/a?b=c",
        "siehe www.example.de, oder nicht?",
        "schreib an anna@example.org.",
        "a.b-c@mail.example.co.uk",
        "first.last+tag@sub.example.com und o'brien@example.ie",
        '"quoted"@example.org',
        "Kontakt...anna@example.org",
        "(siehe https://de.wikipedia.org/wiki/Stra%C3%9Fe_(Begriffskl%C3%A4rung))",
        "https://user:pw@host.example.com:8443/p?q=1&r=2#frag",
        "https://www.spiegel.de/politik/a-1234.html#comments",
        "http://xn--bcher-kva.de und Straße.de und ftp://files.example.org/pub/",
        "<https://example.com> [www.example.de] 'www.example.de' \"https://example.com\"",
        "- example.com\n-example.com\n--example.com\n—example.com",
        "x-example.com, zeit.de/x, E-Mail: info@müller.de, test@localhost",
        "Links: example.com. example.com, (example.com) example.com:8080/x HTTPS://EXAMPLE.COM",
        '<code>https://example.org</code> <b>www.example.de</b> <a href="https://x.de">x</a>',
        "https://example.com/search?q=a+b&amp;x=%20 und a&amp;b@example.org",
        f"{'x' * 64}@example.org und {'a' * 63}.de",
    ],
)
def test_links_are_those_of_bleachs_own_patterns(text: str) -> None:
    assert render(text) == _by_bleach_patterns(text)


@pytest.mark.parametrize(
    "text",
    [
        f"{'x' * 65}@example.org",  # a local part has at most 64 characters
        f"{'a' * 64}.de",  # a label at most 63
        f"{'a' * 40}-{'b' * 40}.de",
        f"{'a.' * 127}de",  # a host at most 126 labels before its top-level domain
    ],
)
def test_parts_longer_than_the_rfcs_allow_stay_text(text: str) -> None:
    assert "<a " in _by_bleach_patterns(text)
    assert "<a " not in render(text)


# --- markup that costs the parser more than any comment needs is shown as text ----------------


def test_deep_nesting_is_shown_as_text() -> None:
    assert render("<b>" * 70 + "x") == "<p>" + "&lt;b&gt;" * 70 + "x</p>"


def test_elements_reopened_in_every_paragraph_are_shown_as_text() -> None:
    tags = "".join(f"<b title={i}>" for i in range(30))
    html = render(tags + "\n\nx" * 30)
    assert "<b>" not in html
    assert html.startswith("<p>&lt;b title=0&gt;&lt;b title=1&gt;")


def test_ordinary_nesting_and_an_unclosed_tag_keep_their_markup() -> None:
    nested = "<blockquote><b><i><em><strong><code>x</code></strong></em></i></b></blockquote>"
    assert nested in render(nested * 20)
    html = render("<b>" + "Absatz\n\n" * 40 + "Ende")
    assert html.count("<b>") == 41


_MARKUP = st.lists(
    st.sampled_from(
        ["<b>", "</b>", "<i>", "</i>", "<p>", "</p>", "<br>", "<blockquote>", "</blockquote>",
         '<a href="https://x.de">', "</a>", "<code>", "</code>", "x", " ", "&amp;", "<!-- -->"]
    ),
    max_size=40,
).map("".join)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(_MARKUP)
def test_the_walker_walks_as_html5libs_own(markup: str) -> None:
    parser = html5lib_shim.BleachHTMLParser(
        tags=sanitize.ALLOWED_TAGS, strip=False, consume_entities=False, namespaceHTMLElements=False
    )
    dom = parser.parseFragment(markup)
    assert list(sanitize._Walker(dom)) == list(html5lib_shim.getTreeWalker("etree")(dom))


# --- the cost of rendering grows with the length alone, not with what the text is -----------

_PROSE = (
    "Die Zahlen sind nachvollziehbar, aber die Schlussfolgerung greift zu kurz. Wer im Winter "
    "mit dem Zug von München nach Hamburg fährt, weiß, wie oft es Verspätungen gibt. "
)


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda n: (unit * (n // len(unit) + 1))[:n]


def _tags_then_paragraphs(n: int) -> str:
    tags = "".join(f"<b title={i}>" for i in range(n))[: n // 2]
    return tags + ("\n\nx" * n)[: n - len(tags)]


def _seconds(text: str) -> float:
    return least_cpu_seconds(lambda: render(text))


def _holds(condition: Callable[[], bool], attempts: int = 3) -> bool:
    """Whether a timing comparison holds in one of a few attempts: noise is not a regression."""
    return any(condition() for _ in range(attempts))


# Text as an attacker writes it, one family per way the old patterns scanned a run again from
# every position: bleach's EMAIL_RE on "a" * 5000 took a second, its URL_RE on "a.b-" * 1250
# seven, against a millisecond for prose.
TEXT_FAMILIES = {
    "letters": _repeat("a"),
    "digits": _repeat("1"),
    "underscores": _repeat("_"),
    "hyphens": _repeat("-"),
    "hyphenated": _repeat("a-"),
    "labels and hyphens": _repeat("a.b-"),
    "dots": _repeat("a."),
    "www": _repeat("www."),
    "parentheses": _repeat("("),
    "scheme then letters": lambda n: ("http://" + "a" * n)[:n],
    "at signs": _repeat("@"),
    "local parts": _repeat("a.a@"),
    "domains": _repeat("a@a."),
    "unicode letters": _repeat("äöüß"),
    "words": _repeat("a "),
}


@pytest.mark.parametrize("family", TEXT_FAMILIES)
def test_text_costs_a_small_multiple_of_prose(family: str) -> None:
    prose, text = _repeat(_PROSE)(5000), TEXT_FAMILIES[family](5000)
    assert _holds(lambda: _seconds(text) < 5 * _seconds(prose))


# Markup and entities go through html5lib, which costs some microseconds for each "<" or "&":
# more than prose, but in proportion to the length. Before, "&#" * n and "&" * n went through
# the e-mail pattern, "<b>" * n nested n / 3 deep and "<b title=N>" re-opened every element in
# every paragraph, all quadratic.
MARKUP_FAMILIES = {
    **{name: TEXT_FAMILIES[name] for name in ("letters", "labels and hyphens", "parentheses")},
    "ampersands": _repeat("&"),
    "character references": _repeat("&#"),
    "named references": _repeat("&a"),
    "angle brackets": _repeat("<"),
    "nested tags": _repeat("<b>"),
    "nested blocks": _repeat("<blockquote>"),
    "reopened tags": _tags_then_paragraphs,
    "closed tags": _repeat("<b>x</b> "),
    "paragraphs ending in a tag": _repeat("<br>\n\n"),
    "links": _repeat("siehe https://example.com/a?b=c und anna@example.org. "),
}


@pytest.mark.parametrize("family", MARKUP_FAMILIES)
def test_cost_grows_linearly(family: str) -> None:
    short, long = MARKUP_FAMILIES[family](2000), MARKUP_FAMILIES[family](8000)
    assert _holds(lambda: _seconds(long) < 6 * _seconds(short))


def _within_the_markup_limit(family: str, length: int = 5000) -> str:
    """The family's text cut where a comment reaches MAX_MARKUP_CHARACTERS, then prose."""
    text = MARKUP_FAMILIES[family](length)
    cut = len(text)
    while rules.markup_characters(text[:cut]) > rules.MAX_MARKUP_CHARACTERS:
        cut = cut * 9 // 10
    return text[:cut] + _repeat(_PROSE)(length - cut)


@pytest.mark.parametrize("family", MARKUP_FAMILIES)
def test_markup_a_comment_may_carry_costs_a_small_multiple_of_prose(family: str) -> None:
    """Submissions allow MAX_MARKUP_CHARACTERS "<" and "&": within it, no family of markup
    costs more than a small multiple of ordinary text with some markup of the same length
    (which the cleaner parses too; plain sentences take a shortcut)."""
    prose = _repeat(_PROSE.replace("Zahlen", "<b>Zahlen</b>", 1))(5000)
    text = _within_the_markup_limit(family)
    assert rules.markup_characters(text) <= rules.MAX_MARKUP_CHARACTERS
    assert _holds(lambda: _seconds(text) < 5 * _seconds(prose))
