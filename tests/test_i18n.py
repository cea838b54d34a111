"""The catalogs: every human text (moderator UI, reader texts, API messages) extracted, complete in
every language, compiled; labels for reasons; reader texts in the site's language."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from helpers import post_comment

from moderation import rules
from moderation.extensions import db
from moderation.i18n import reason_label, status_label, wait_text
from moderation.models import Comment, Language, Site
from moderation.public import embed
from moderation.review import set_article_closed

ROOT = Path(__file__).resolve().parent.parent
# What `make translations` passes to pybabel: its default keywords plus -k _l -k lazy_gettext.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}


def _extracted() -> set[tuple[str | None, str]]:
    """(context, msgid) of every text `make translations` extracts, read from babel.cfg."""
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add((context, message[0] if isinstance(message, tuple) else message))
    return found


def test_extraction_reaches_every_kind_of_text() -> None:
    """Moderator UI, the no-JS page's template, the widget's words, API messages, placeholders."""
    extracted = {message for _context, message in _extracted()}
    for text in (
        "Reason (optional)",  # a moderator form
        "Leave this empty",  # the widget and the page
        "More comments",  # the page's template only
        "%(n)s characters left",  # the widget only
        "%(n)s comment",  # plural forms
        "Please enter a name.",  # an API field error
        "Comments are temporarily closed.",  # an API refusal
        "[deleted]",  # an erased comment
    ):
        assert text in extracted, text
    assert ("reader", "Back to the start") in _extracted()


@pytest.mark.parametrize("lang", rules.LANGUAGES)
def test_every_text_is_translated(lang: str) -> None:
    with open(ROOT / f"translations/{lang}/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f)
    translated = {
        (m.context, m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalog
        if m.id and all(m.string if isinstance(m.string, tuple) else [m.string]) and not m.fuzzy
    }
    missing = _extracted() - translated
    assert not missing, f"run `make translations` and translate: {sorted(missing)}"


def test_every_language_has_a_catalog() -> None:
    assert tuple(language.value for language in Language) == rules.LANGUAGES
    for lang in rules.LANGUAGES:
        assert (ROOT / f"translations/{lang}/LC_MESSAGES/messages.po").is_file()


def _key(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


@pytest.mark.parametrize("lang", rules.LANGUAGES)
def test_compiled_catalog_matches_the_source(lang: str) -> None:
    """`make install`/`make test` compile the .po files; a stale .mo would show old texts."""
    folder = ROOT / f"translations/{lang}/LC_MESSAGES"
    with open(folder / "messages.po", "rb") as f:
        source = {(m.context, _key(m.id)): _key(m.string) for m in read_po(f) if m.id}
    with open(folder / "messages.mo", "rb") as f:
        compiled = {(m.context, _key(m.id)): _key(m.string) for m in read_mo(f) if m.id}
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


# --- reader texts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "german", "english"),
    [
        (1, "1 Sekunde", "1 second"),
        (89, "89 Sekunden", "89 seconds"),
        (90, "2 Minuten", "2 minutes"),
    ],
)
def test_wait_text(app: Flask, seconds: int, german: str, english: str) -> None:
    with app.app_context():
        for lang, expected in (("de", german), ("en", english)):
            with force_locale(lang):
                assert wait_text(seconds) == expected


def test_scripts_hold_no_words_of_their_own() -> None:
    """The widget's and the count script's words come from the catalogs, through the service."""
    for name in ("embed.js", "count.js"):
        code = embed.minify_js((ROOT / "static" / name).read_text(encoding="utf-8"))
        assert '"__SETTINGS__"' in code, name
        for words in ("Kommentar", "1 comment", "Sekunde", "seconds", "Abbrechen", "Cancel"):
            assert words not in code, (name, words)


def test_served_scripts_speak_every_language_from_the_catalogs(
    app: Flask, client: FlaskClient
) -> None:
    widget = client.get("/embed.js").get_data(as_text=True)
    counts = client.get("/count.js").get_data(as_text=True)
    assert "__SETTINGS__" not in widget + counts
    for lang, leave, one, wait in (
        ("de", "Kommentar hinterlassen", "1 Kommentar", "{n} Sekunden"),
        ("en", "Leave a comment", "1 comment", "{n} seconds"),
    ):
        with app.test_request_context(), force_locale(lang):
            words = embed.widget_words()
        assert (words["leave"], words["c1"], words["sec"]) == (leave, one, wait)
        assert f'"leave":"{leave}"' in widget and f'"{one}"' in counts
    assert f'"max":{app.config["COUNTS_MAX_ARTICLES"]}' in counts
    assert f'"email":{rules.MAX_EMAIL_LENGTH}' in widget


@pytest.mark.parametrize(
    ("language", "author", "closed"),
    [
        (
            "de",
            "Bitte geben Sie einen Namen an (höchstens 80 Zeichen).",
            "Kommentare zu diesem Artikel sind geschlossen.",
        ),
        ("en", "Please enter a name.", "Comments are closed for this article."),
    ],
)
def test_api_messages_come_in_the_sites_language(
    app: Flask, client: FlaskClient, language: str, author: str, closed: str
) -> None:
    with app.app_context():
        db.session.execute(db.update(Site).values(language=language))
        db.session.commit()
    thread = "/api/v1/sites/demo/articles/sprache"
    refused = post_comment(client, thread, author=" ")
    assert refused.status_code == 400
    assert refused.get_json()["fields"]["author"] == author
    # ?lang= (the widget's data-lang) asks for the other language.
    other = "en" if language == "de" else "de"
    asked = client.post(f"{thread}/comments?lang={other}", json={"author": "", "body": "T"})
    assert asked.status_code == 400
    assert asked.get_json()["fields"]["author"] not in ("", author)
    accepted = post_comment(client, thread)
    assert accepted.status_code == 202
    with app.app_context():
        set_article_closed(db.session.get(Comment, accepted.get_json()["id"]).article_id, True)
    refused = post_comment(client, thread, body="Noch einer")
    assert (refused.status_code, refused.get_json()["message"]) == (403, closed)
