"""Rules about reader input that several modules apply, each written once.

Article keys and ids arrive in paths, query strings, form fields and JSON; every reader of them
applies these definitions, so what one entrance accepts, the others accept too.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# Lengths of what a reader sends beside the comment (the comment's and the name's own limits
# are settings: MAX_BODY_LENGTH, MAX_AUTHOR_LENGTH).
# Deliberately simple: one @, something on each side, a dot in the domain, no spaces.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_EMAIL_LENGTH = 254
MAX_TITLE_LENGTH = 300
MAX_URL_LENGTH = 2000
# Each "<" or "&" makes the sanitizer's HTML parser work several microseconds (20-40 times a
# plain letter); a comment may have this many, which no real comment comes near, so that no
# body costs more than a small multiple of ordinary text of its length.
MAX_MARKUP_CHARACTERS = 100


def markup_characters(text: str) -> int:
    return text.count("<") + text.count("&")


# Ids are 32-bit integers on PostgreSQL; larger numbers name nothing (and must not reach SQL).
MAX_ID = 2**31 - 1

# 1–200 URL-safe characters, starting with a letter or digit: a slug or a path such as
# ``politik/2026/x``. No empty segment (``//``), no trailing slash, no ``.`` or ``..`` segment:
# browsers and proxies normalise such paths, so they would name the same page as another key.
# Written for both Python and the OpenAPI document's (ECMA) regular expressions.
ARTICLE_KEY_PATTERN = (
    r"(?!.*//)(?!(?:.*/)?\.\.?(?:/|$))"
    r"[A-Za-z0-9](?:[A-Za-z0-9._~\-/]{0,198}[A-Za-z0-9._~\-])?"
)
ARTICLE_KEY = re.compile(ARTICLE_KEY_PATTERN)
ARTICLE_KEY_MESSAGE = (
    "The article key must be 1–200 characters of letters, digits and . _ ~ - /, "
    "without empty, '.' or '..' segments and without a trailing slash."
)
_ASCII_DIGITS = re.compile(r"[0-9]{1,10}")


def is_row_id(value: int) -> bool:
    """Whether a number can name a row at all: asking the database for a larger one makes the
    driver raise instead of finding nothing."""
    return 1 <= value <= MAX_ID


def is_article_key(key: str) -> bool:
    return ARTICLE_KEY.fullmatch(key) is not None


def parse_id(raw: object) -> int | None:
    """An id from text: plain ASCII digits naming a number from 1 to :data:`MAX_ID`, else None.

    ``str.isdigit`` and ``int`` accept more than that (``"²"``, ``"١٢"``, ``" 7"``), and a number
    beyond 32 bits makes PostgreSQL refuse the query, so every id a reader or a moderator types
    goes through here.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _ASCII_DIGITS.fullmatch(raw):
        value = int(raw)
    else:
        return None
    return value if is_row_id(value) else None


# --- text a reader writes ------------------------------------------------------------------

# Characters that draw as nothing though Unicode files them as letters or marks (Hangul
# fillers, the braille blank, the combining grapheme joiner): used to fake an empty name.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f")
_JOINERS = frozenset("\u200c\u200d")  # needed inside Persian words and emoji sequences
# NUL is refused by PostgreSQL in any text; a lone surrogate cannot be encoded as UTF-8.
UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def is_valid_text(text: str) -> bool:
    """False for text that no database here can store (see :data:`UNSTORABLE`)."""
    return UNSTORABLE.search(text) is None


def is_visible(char: str) -> bool:
    """A letter, digit, punctuation mark or symbol that shows as something on the page."""
    return unicodedata.category(char)[0] in "LNPS" and char not in BLANK_LETTERS


def is_hidden(char: str) -> bool:
    """An invisible or direction-changing character: a control (but line breaks and tabs), a
    format character (bidi controls, zero-width ones), a line or paragraph separator, or a
    blank letter. U+202E turns "gnp.exe" into "exe.png"."""
    if char in "\n\r\t":
        return False
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp") or char in BLANK_LETTERS


def has_visible_character(text: str) -> bool:
    """False for names and comments of only spaces, joiners, bidi marks and blank letters."""
    return any(is_visible(char) for char in text)


@functools.cache
def visible_character_class() -> str:
    """:func:`is_visible` as a regular-expression class, for the OpenAPI document.

    Spelled out for the Basic Multilingual Plane only (``\\uXXXX`` is what both Python's and
    ECMA's expressions understand); the few invisible characters beyond it are refused by the
    code all the same.
    """
    ranges: list[list[int]] = []
    for code in range(0x10000):
        if is_visible(chr(code)):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    parts = (
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges
    )
    return f"[^{''.join(parts)}]"


def strip_invisible(name: str) -> str:
    """A name without format characters (zero-width spaces, bidi marks, soft hyphens …).

    They make ``ad\\u200bmin`` look like ``admin`` and reorder what follows them. Zero-width
    joiners stay after a non-ASCII character, where scripts and emoji need them.
    """
    kept = []
    for index, char in enumerate(name):
        if unicodedata.category(char) == "Cf" and not (
            char in _JOINERS and index and not name[index - 1].isascii()
        ):
            continue
        kept.append(char)
    return "".join(kept)


# --- languages, notes, sources -------------------------------------------------------------

# The languages a site speaks to its readers and the moderator UI speaks to moderators; each
# has a catalog in translations/ (models.Language has one member per entry).
LANGUAGES = ("de", "en")

# A moderator's reason for a decision or a ban, kept in the audit trail.
MAX_NOTE_LENGTH = 500

# A reader's source as stored: the keyed HMAC-SHA256 of privacy.source_hash, in hex.
SOURCE_HASH = re.compile(r"[0-9a-f]{64}")

# A trusted reader's key (moderation.trust): secrets.token_urlsafe(32), 43 URL-safe characters.
READER_KEY = re.compile(r"[A-Za-z0-9_-]{43}")
# A site's trust settings: approved comments needed (1 to 1000) within 1 to 3650 days.
MAX_TRUST_MIN_APPROVED = 1000
MAX_TRUST_DAYS = 3650

# What a moderator may search the queue for.
MAX_SEARCH_LENGTH = 200

# How often a moderator in digest mode gets the digest: every 1 to 168 hours (a week).
MAX_DIGEST_HOURS = 168
# A site's overdue limit for its oldest pending comment: 1 minute to a week.
MAX_OVERDUE_MINUTES = 7 * 24 * 60

# The grounds of a removal (a statement of reasons, DSA Art. 17) a site offers unless it sets
# its own (Site.removal_grounds); moderation.reports gives their German and English labels.
REMOVAL_GROUNDS = (
    "off_topic",
    "insult",
    "hate_speech",
    "spam",
    "illegal",
    "personal_data",
    "other",
)

# A site's report and removal policy (moderation.sites.update_policy).
MAX_REPORT_HOLD_AFTER = 1000
MAX_REMOVAL_GROUNDS = 20
GROUND_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
