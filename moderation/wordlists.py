"""Blocked and watched words: normalizing entries and finding them in a comment.

Both the comment and each list entry are *folded* the same way before they are compared, so
simple disguises do not hide a word:

* invisible format characters (zero-width space and joiners, soft hyphen, word joiner, BOM …)
  are removed: ``i\\u200bdiot`` is ``idiot``;
* accents are stripped and case is folded: ``ÍDÌOT`` is ``idiot``, ``Spaß`` is ``spass``;
* a run of the same letter counts once: ``iiidiooot`` is ``idiot``.

An entry matches whole words only (``rat`` does not match ``Ratgeber``); an entry ending in
``*`` matches every word that starts with it (``idiot*`` matches ``Idioten``), which suits
German compounds. An entry of several words matches them in a row. Folding repeated letters
makes ``Kaffee`` and ``Kafe`` the same word; that is the price of catching ``iiidiot``.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence

from .errors import InvalidInput

MAX_ENTRIES = 500
MAX_ENTRY_LENGTH = 100

_WORD = re.compile(r"\w+")
_REPEATS = re.compile(r"(\w)\1+")


def fold(text: str) -> str:
    """The comparable form of a text: no format characters, accents, case or repeated letters."""
    visible = "".join(c for c in text if unicodedata.category(c) != "Cf")
    decomposed = unicodedata.normalize("NFKD", visible)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _REPEATS.sub(r"\1", unicodedata.normalize("NFKC", bare.casefold()))


def _words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


class _Texts:
    """The folded words of the texts a comment has, indexed for fast lookups.

    A site's list may have hundreds of entries and a comment thousands of words, and the check
    runs on every submission: a single word is a set lookup, a prefix a binary search in the
    sorted words, a phrase of n words a lookup of its first n - 1 words among the comment's
    runs of n - 1 words (built once per length) and then of its last word among the words that
    follow such a run. No entry scans the comment, so a comment of one word repeated costs no
    more than prose against a list of phrases that start with that word.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = [_words(text) for text in texts]
        self.words = {word for words in self.texts for word in words}
        self.sorted = sorted(self.words)
        self._followers: dict[int, dict[tuple[str, ...], list[str]]] = {}

    def has_prefix(self, prefix: str) -> bool:
        return _has_prefix(self.sorted, prefix)

    def followers(self, length: int) -> dict[tuple[str, ...], list[str]]:
        """Each run of ``length`` words in the texts → the sorted words that follow it."""
        if length not in self._followers:
            runs: dict[tuple[str, ...], set[str]] = {}
            for text in self.texts:
                for start in range(len(text) - length):
                    runs.setdefault(tuple(text[start : start + length]), set()).add(
                        text[start + length]
                    )
            self._followers[length] = {run: sorted(after) for run, after in runs.items()}
        return self._followers[length]

    def has(self, words: Sequence[str], prefix: bool) -> bool:
        if len(words) == 1:
            return self.has_prefix(words[0]) if prefix else words[0] in self.words
        if words[0] not in self.words:
            return False
        *whole, last = words
        after = self.followers(len(whole)).get(tuple(whole))
        if not after:
            return False
        if prefix:
            return _has_prefix(after, last)
        at = bisect.bisect_left(after, last)
        return at < len(after) and after[at] == last


def _has_prefix(sorted_words: Sequence[str], prefix: str) -> bool:
    at = bisect.bisect_left(sorted_words, prefix)
    return at < len(sorted_words) and sorted_words[at].startswith(prefix)


def find(entries: Iterable[str], *texts: str) -> list[str]:
    """The entries that occur in any of the texts, in list order, each once."""
    index = _Texts(texts)
    found = []
    for entry in entries:
        words, prefix = _key(entry)
        if words and index.has(words, prefix):
            found.append(entry)
    return found


def clean_entries(entries: Iterable[str], *, label: str = "word list") -> list[str]:
    """Validate a word list for storage: trimmed, no empties, no duplicates after folding.

    Raises :class:`InvalidInput` naming the first bad entry.
    """
    cleaned: list[str] = []
    seen: set[tuple[tuple[str, ...], bool]] = set()
    for raw in entries:
        if not isinstance(raw, str):
            raise InvalidInput(f"Every entry of the {label} must be text.", code="invalid_word")
        entry = " ".join(raw.split())
        if not entry:
            continue
        if len(entry) > MAX_ENTRY_LENGTH:
            raise InvalidInput(
                f"{entry[:30]!r}… is longer than {MAX_ENTRY_LENGTH} characters.",
                code="invalid_word",
            )
        if "*" in entry.rstrip("*") or entry.endswith("**"):
            raise InvalidInput(
                f"{entry!r}: a * may only end an entry (it matches words starting with it).",
                code="invalid_word",
            )
        key = _key(entry)
        if not key[0]:
            raise InvalidInput(f"{entry!r} contains no letters or digits.", code="invalid_word")
        if key not in seen:
            seen.add(key)
            cleaned.append(entry)
    if len(cleaned) > MAX_ENTRIES:
        raise InvalidInput(
            f"A {label} may have at most {MAX_ENTRIES} entries.", code="too_many_words"
        )
    return cleaned


@functools.lru_cache(maxsize=8192)  # a site's entries are folded once, not per comment
def _key(entry: str) -> tuple[tuple[str, ...], bool]:
    """Entries with the same key match the same words."""
    entry = entry.strip()
    return tuple(_words(entry.rstrip("*"))), entry.endswith("*")


def edit(entries: Iterable[str], add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
    """A word list with entries added and removed (removal ignores case and accents).

    Raises :class:`InvalidInput` when an entry to remove is not on the list.
    """
    current = list(entries)
    for word in remove:
        keys = [_key(entry) for entry in current]
        if _key(word) not in keys:
            raise InvalidInput(f"{word!r} is not on the list.", code="unknown_word")
        del current[keys.index(_key(word))]
    return current + list(add)


def parse_lines(text: str) -> Sequence[str]:
    """Entries from a text area or a file: one per line, or separated by commas."""
    return [part for line in text.splitlines() for part in line.split(",")]
