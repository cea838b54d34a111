"""The sanitizing policy: a reader's plain text in, safe HTML out. Nothing else lives here.

Comments are plain text with a small allowlist of inline markup. Markup outside the list is
*escaped*, not stripped, so a reader who writes ``a < b``, ``<3`` or ``<script>`` sees exactly
that, as text, instead of losing words or running code. Bare URLs and e-mail addresses become
links; every link gets ``rel="nofollow ugc noopener"`` and only ``http``, ``https`` and
``mailto`` survive. Blank lines start a paragraph, single line breaks become ``<br>``.

The raw text is stored as submitted and the HTML beside it with :data:`POLICY_VERSION`; when
this policy changes, bump the version and run ``flask --app wsgi comments resanitize``.

Comments imported from systems that stored HTML (Disqus, WordPress) go through the same
policy: :func:`render_foreign_html` turns their paragraphs and line breaks into ours first.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, MutableMapping
from functools import partial
from typing import Any

from bleach import html5lib_shim
from bleach.linkifier import TLDS, LinkifyFilter
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
# Foreign HTML's paragraph and line-break tags, any case, with any attributes (one pass each).
_FOREIGN_BREAK = re.compile(r"<br(?:\s[^<>]*)?/?>", re.IGNORECASE)
_FOREIGN_PARAGRAPH = re.compile(r"</?p(?:\s[^<>]*)?>", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")


# --- what the linkifier takes for a link --------------------------------------------------------
#
# bleach's own URL_RE and EMAIL_RE take quadratic time on reader input: they try a match at
# every position of a run such as "a" * 5000, "a-" * n, "&#" * n or "(" * n and scan to the end
# of the run each time, about a second of CPU for 5,000 characters. Ours are bleach's patterns,
# with the same characters, flags and order of alternatives, except that a match may start only
# where bleach's leftmost match would (once per run), and that the parts are bounded as RFC 5321
# and RFC 1035 bound them: an e-mail local part to 64 characters, a label to 63, a host to 126
# labels. Addresses and URLs within those bounds get the same links as from bleach; a longer
# part stays text instead of being linked from its middle. See tests/test_sanitize.py.

# bleach passes html5lib's list on; its stubs leave out what comes from html5lib.
_PROTOCOLS = "|".join(sorted(html5lib_shim.allowed_protocols))  # type: ignore[attr-defined]
_ATEXT = r"-!#$%&'*+/=?^_`{}|~0-9A-Z"  # what an unquoted local part is made of, as in bleach


def _alternatives(words: list[str]) -> str:
    """``words`` as a regex alternation that is tried in the same order, grouped by first letter.

    The pattern tries the top-level domains at every dot of a host; a flat alternation of
    bleach's 250 costs 250 tries there, the grouped one rejects a wrong first letter at once.
    ``words`` must be sorted (either way) so that each group keeps their order.
    """
    groups: dict[str, list[str]] = {}
    for word in words:
        groups.setdefault(word[0], []).append(re.escape(word[1:]))
    return "|".join(f"{first}(?:{'|'.join(rests)})" for first, rests in groups.items())


URL_RE = re.compile(
    rf"""
    (?<!\()\(*                                # opening parentheses, from the first of a run
    \b(?<![\w@.])(?<![\w@.]-)(?<![\w@.-]--)   # a word's start, not inside a host or address
    (?:(?:{_PROTOCOLS}):/{{0,3}}(?:(?:\w+:)?\w+@)?)?                               # http://
    (?:[\w-]{{1,63}}\.){{1,126}}(?:{_alternatives(sorted(TLDS))})(?:\:[0-9]+)?(?!\.\w)\b  # host
    (?:[/?][^\s\{{\}}\|\\\^`<>"]*)?                                               # /path?query
    """,
    re.IGNORECASE | re.VERBOSE | re.UNICODE,
)

EMAIL_RE = re.compile(
    rf"""
    (?<!//)
    (
        (?<![{_ATEXT}])(?<![{_ATEXT}]\.)    # the start of a dot-atom, not a part of one
        (?=[{_ATEXT}][{_ATEXT}.]{{0,63}}@)  # that ends at the @ within 64 characters
        [{_ATEXT}]+(?:\.[{_ATEXT}]+)*
    |
        ^"(?:[\001-\010\013\014\016-\037!#-\[\]-\177]
            |\\[\001-\011\013\014\016-\177])*"  # quoted-string
    )
    @(?:[A-Z0-9](?:[A-Z0-9-]{{0,61}}[A-Z0-9])?\.){{1,126}}(?:{_alternatives(TLDS)})  # domain
    """,  # bleach's TLDS run from z to a here, so "com" is tried before "co"
    re.IGNORECASE | re.MULTILINE | re.VERBOSE,
)


class _LinkifyFilter(LinkifyFilter):
    """bleach's linkifier with our patterns, which looks for addresses only where an ``@`` is."""

    def __init__(self, source: Iterable[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(
            source,  # type: ignore[arg-type]  # the filter before this one; stubs: a tree walker
            url_re=URL_RE,
            email_re=EMAIL_RE,
            **kwargs,
        )

    def handle_email_addresses(
        self, src_iter: Iterable[dict[str, Any]]
    ) -> Iterator[dict[str, Any]]:
        # Most text has no address, and no pattern is as cheap as the test for an "@".
        for token in src_iter:
            if token["type"] == "Characters" and "@" in token["data"]:
                yield from super().handle_email_addresses(iter([token]))
            else:
                yield token


def _link_attributes(
    attrs: MutableMapping[tuple[str | None, str], str], new: bool = False
) -> MutableMapping[tuple[str | None, str], str]:
    attrs[(None, "rel")] = LINK_REL
    return attrs


# --- what the HTML parser may build, and walking it ----------------------------------------------
#
# html5lib scans the stack of open elements for most tags, and at every new paragraph re-opens
# each formatting element still open (up to three alike, but "<b title=1>", "<b title=2>", … all
# differ). So "<b>" * 1666 nests 1,666 deep and "<b title=N>" * 250 before 800 paragraphs builds
# 200,000 elements: seconds of CPU for 5,000 characters. No comment nests 64 deep or needs more
# than a few re-opened elements, so the parser gives up there and the comment is shown with its
# markup as text.

_MAX_DEPTH = 64
_MAX_REOPENED = 500


class _TooMuchMarkup(Exception):
    """The markup nests deeper, or re-opens more elements, than a comment ever needs."""


class _Cleaner(Cleaner):
    """bleach's Cleaner, with the limits above on its parser and :class:`_Walker` for its tree."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._allowance = 0
        tree = self.parser.tree
        insert = tree.insertElementNormal

        def insert_element(token: dict) -> object:
            self._allowance -= 1
            if self._allowance < 0 or len(tree.openElements) >= _MAX_DEPTH:
                raise _TooMuchMarkup
            return insert(token)

        # Every element the tree builder makes from a tag or re-opens is inserted here; the tree
        # calls it through the instance, so this is the one place to count.
        tree.insertElementNormal = insert_element
        # A walker class, as bleach's own is; the stubs say an instance.
        self.walker = _Walker  # type: ignore[assignment]

    def clean(self, text: str) -> str:
        # A tag makes at most one element and needs a "<"; what is more was re-opened.
        self._allowance = text.count("<") + _MAX_REOPENED
        return super().clean(text)


class _Walker(html5lib_shim.getTreeWalker("etree")):  # type: ignore[misc]  # made at run time
    """html5lib's etree walker, which finds a parent's place among its siblings once, not always.

    Climbing back from an element's last child, html5lib's own looks the parent up in a fresh
    list of all its siblings: quadratic in the number of paragraphs that end in an element
    (``"<br>\\n\\n" * 833`` took 40 ms, four times as much 410 ms).
    """

    def __init__(self, tree: object) -> None:
        super().__init__(tree)
        self._places: dict[int, dict[int, int]] = {}  # id(element) -> {id(child): index}

    def getParentNode(self, node: object) -> object:
        if not isinstance(node, tuple) or node[3] == "text" or len(node[2]) < 2:
            return super().getParentNode(node)
        parents = node[2]
        parent = parents.pop()
        places = self._places.get(id(parents[-1]))
        if places is None:
            places = {id(child): i for i, child in enumerate(parents[-1])}
            self._places[id(parents[-1])] = places
        return parent, places[id(parent)], parents, None


def new_cleaner(
    cleaner: type[Cleaner] = _Cleaner, linkify: type[LinkifyFilter] = _LinkifyFilter
) -> Cleaner:
    """A cleaner for this policy. The defaults are ours (linear patterns, parser limits);
    bleach's own classes give the policy as bleach alone would apply it, which the tests and
    ``benchmarks/sanitize_cost.py`` compare ours with."""
    return cleaner(
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        protocols=ALLOWED_PROTOCOLS,
        strip=False,  # escape what is not allowed, so it shows as text
        strip_comments=False,
        filters=[
            partial(
                linkify,
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
        cleaner = _local.cleaner = new_cleaner()
    return cleaner


def normalize_text(text: str) -> str:
    """NFC-normalize, unify line endings and drop control and bidi-override characters."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.translate(_BIDI_CONTROLS)
    return _CONTROLS.sub("", text).strip()


def _is_plain(lines: list[str]) -> bool:
    """Whether bleach would leave these lines as they are, but for escaping ``>``.

    True for text without markup (no ``<``), entities (no ``&``), links or e-mail addresses
    (the linkifier's patterns, applied line by line as its linkifier sees the text between our
    ``<br>`` tags) or lone surrogates. Most comments are such plain sentences, and for them the
    HTML parse of the full cleaner is pure cost; ``tests/test_sanitize.py`` checks the shortcut
    against the cleaner on generated text.
    """
    for line in lines:
        if "<" in line or "&" in line or URL_RE.search(line):
            return False
        if "@" in line and EMAIL_RE.search(line):
            return False
        if not line.isascii():
            try:
                line.encode()
            except UnicodeEncodeError:
                return False
    return True


def _markup(paragraphs: list[list[str]], *, tags: bool = True) -> str:
    """The paragraphs as HTML for the cleaner; with ``tags=False`` every ``<`` is text."""
    if not tags:
        paragraphs = [[line.replace("<", "&lt;") for line in lines] for lines in paragraphs]
    markup = "".join(f"<p>{'<br>'.join(lines)}</p>" for lines in paragraphs)
    # Comments, doctypes and CDATA would otherwise pass as markup or vanish; show them as text.
    return markup.replace("<!", "&lt;!")


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
    try:
        html = _cleaner().clean(_markup(paragraphs))
    except _TooMuchMarkup:
        html = _cleaner().clean(_markup(paragraphs, tags=False))
    return _EMPTY_PARAGRAPH.sub("", html)


def render_foreign_html(html: str) -> str:
    """Another system's stored comment HTML through our policy.

    Its ``<p>`` and ``<br>`` become our blank lines and line breaks, so the paragraphs survive;
    then it is read as a reader's text (:func:`render`): the inline allowlist and links stay,
    with our ``rel``; every other tag (``<script>``, ``<div>`` …) is escaped and shows as text.
    """
    text = _FOREIGN_BREAK.sub("\n", html)
    text = _FOREIGN_PARAGRAPH.sub("\n\n", text)
    return render(_BLANK_LINES.sub("\n\n", text))
