"""The moderator UI's catalogs: complete in German and English, compiled, and labels for reasons."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask

from moderation.i18n import reason_label, status_label

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def _method_map() -> list[tuple[str, str]]:
    return [("moderation/**.py", "python"), ("templates/moderate/**.html", "jinja2")]


def _extracted() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), _method_map(), keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_ui_text_is_translated(lang: str) -> None:
    with open(ROOT / f"translations/{lang}/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f)
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalog
        if m.id and all(m.string if isinstance(m.string, tuple) else [m.string]) and not m.fuzzy
    }
    missing = _extracted() - translated
    assert not missing, f"run `make translations` and translate: {sorted(missing)}"


def _key(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


@pytest.mark.parametrize("lang", ["de", "en"])
def test_compiled_catalog_matches_the_source(lang: str) -> None:
    """`make install`/`make test` compile the .po files; a stale .mo would show old texts."""
    folder = ROOT / f"translations/{lang}/LC_MESSAGES"
    with open(folder / "messages.po", "rb") as f:
        source = {_key(m.id): _key(m.string) for m in read_po(f) if m.id}
    with open(folder / "messages.mo", "rb") as f:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id}
    assert compiled == source, "the .mo is stale: run `make install`"


@pytest.mark.parametrize(
    ("code", "de", "en"),
    [
        ("links", "viele Links", "many links"),
        ("blocked_word:idiot", "gesperrtes Wort: idiot", "blocked word: idiot"),
        ("watched_word:krieg", "beobachtetes Wort: krieg", "watched word: krieg"),
        ("rate_limit", "viele Kommentare aus dieser Quelle", "many comments from this source"),
        ("something_new", "something_new", "something_new"),
        ("something_new:x", "something_new:x", "something_new:x"),
    ],
)
def test_reason_labels(app: Flask, code: str, de: str, en: str) -> None:
    for lang, expected in (("de", de), ("en", en)):
        with app.test_request_context(headers={"Accept-Language": lang}):
            assert reason_label(code) == expected


def test_status_labels(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert status_label("withdrawn") == "zurückgezogen"
        assert status_label("unheard_of") == "unheard_of"
