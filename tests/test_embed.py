"""The embed face: the no-JS page (GET/POST), its frame policy, and the served scripts."""

from __future__ import annotations

import gzip
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import approve, heard_by_this_worker, post_comment, snapshot
from werkzeug.test import TestResponse

from moderation import checks
from moderation.errors import RateLimited
from moderation.extensions import db
from moderation.models import Article, Comment, CommentStatus, Site
from moderation.public import embed

PAGE = "/embed/demo/politik/2026/russland-usa"
API_THREAD = "/api/v1/sites/demo/articles/politik/2026/russland-usa"


def token_of(response: TestResponse) -> str:
    match = re.search(r'name="form_token" type="hidden" value="([^"]+)"', response.text)
    assert match, "the page has no form token"
    return match.group(1)


def send(client: FlaskClient, url: str = PAGE, **fields: str) -> TestResponse:
    """Post the page's form as a browser would, with a token from a fresh GET."""
    form = {"author": "Anna", "body": "Ein guter Artikel.", "email": "", "website": ""}
    form["form_token"] = token_of(client.get(url))
    return client.post(url, data=form | fields)


def approved_comment(client: FlaskClient, **fields: object) -> int:
    comment_id = post_comment(client, thread=API_THREAD, **fields).get_json()["id"]
    approve(client, comment_id)
    return comment_id


def comments(app: Flask) -> list[Comment]:
    with app.app_context():
        found = db.session.scalars(db.select(Comment).order_by(Comment.id)).all()
        db.session.expunge_all()
        return list(found)


# --- GET -------------------------------------------------------------------------------------


def test_page_lists_approved_comments_nested_and_escaped(client: FlaskClient) -> None:
    first = approved_comment(client, author="<b>Jörg</b>", body="Erster <i>Punkt</i>")
    reply = approved_comment(client, author="Mia", body="Antwort", parent_id=first)
    approved_comment(client, author="Ben", body="Antwort auf die Antwort", parent_id=reply)
    post_comment(client, thread=API_THREAD, author="Eve", body="noch nicht frei")

    response = client.get(PAGE)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.text
    assert '<html lang="de">' in html
    assert "3 Kommentare" in html
    assert "&lt;b&gt;Jörg&lt;/b&gt;" in html  # the author is text
    assert "<p>Erster <i>Punkt</i></p>" in html  # only the sanitized body is HTML
    assert "noch nicht frei" not in html
    # Replies, also a reply to a reply, sit one level under their top-level comment.
    replies = html.split('class="cm-replies"', 1)[1]
    assert "Mia" in replies and "Antwort auf die Antwort" in replies
    assert html.count('class="cm-replies"') == 1
    assert 'name="form_token"' in html and 'name="website"' in html
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_page_without_comments_invites_the_first(client: FlaskClient) -> None:
    html = client.get(PAGE).text
    assert "0 Kommentare" in html
    assert "Noch keine Kommentare" in html
    assert "Kommentar hinterlassen" in html and "wird nicht veröffentlicht" in html


def test_page_in_english_by_site_or_by_lang(app: Flask, client: FlaskClient) -> None:
    approved_comment(client)
    html = client.get(f"{PAGE}?lang=en").text
    assert '<html lang="en">' in html and "1 comment" in html and "Post comment" in html
    assert 'action="/embed/demo/politik/2026/russland-usa?lang=en"' in html
    assert "Kommentar" in client.get(f"{PAGE}?lang=fr").text  # unknown: the site's language


@pytest.mark.parametrize(
    ("origins", "expected"),
    [
        (["https://news.example"], "frame-ancestors 'self' https://news.example"),
        (
            ["http://localhost:5001", "http://127.0.0.1:5001"],
            "frame-ancestors 'self' http://localhost:5001 http://127.0.0.1:5001",
        ),
        ([], "frame-ancestors 'self'"),
        (["https://ok.example", "https://x.example; script-src *"], "'self' https://ok.example"),
    ],
)
def test_page_may_be_framed_only_by_the_sites_origins(
    app: Flask, client: FlaskClient, origins: list[str], expected: str
) -> None:
    with app.app_context():
        db.session.execute(db.update(Site).values(origins=origins))
        db.session.commit()
    policy = client.get(PAGE).headers["Content-Security-Policy"]
    assert policy.startswith("frame-ancestors ")
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["frame-ancestors"].endswith(expected.removeprefix("frame-ancestors "))
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'none'"
    assert "script-src *" not in policy


def test_page_has_no_inline_script(client: FlaskClient) -> None:
    html = client.get(PAGE).text
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag
    assert "<style" not in html and " style=" not in html


def test_reply_link_opens_the_form_for_that_comment(client: FlaskClient) -> None:
    first = approved_comment(client, author="Jörg")
    html = client.get(f"{PAGE}?reply={first}").text
    assert "Antwort an Jörg" in html
    assert f'name="parent_id" type="hidden" value="{first}"' in html
    # Not a published comment of this article: a plain form.
    pending = post_comment(client, thread=API_THREAD).get_json()["id"]
    html = client.get(f"{PAGE}?reply={pending}").text
    assert "Antwort an" not in html and 'name="parent_id" type="hidden" value=""' in html


def test_page_pages_with_more_link(app: Flask, client: FlaskClient) -> None:
    app.config["LIST_DEFAULT_LIMIT"] = 2
    ids = [approved_comment(client, body=f"Nummer {n}") for n in range(3)]
    html = client.get(PAGE).text
    assert "Nummer 0" in html and "Nummer 2" not in html
    more = re.search(r'href="([^"]+)">Weitere Kommentare', html).group(1)
    assert more.endswith(f"after={ids[1]}")
    html = client.get(more.replace("&amp;", "&")).text
    assert "Nummer 2" in html and "Nummer 0" not in html and "Zum Anfang" in html


def test_closed_article_shows_no_form(app: Flask, client: FlaskClient) -> None:
    approved_comment(client)
    with app.app_context():
        db.session.execute(db.update(Article).values(closed=True))
        db.session.commit()
    html = client.get(PAGE).text
    assert "Kommentare zu diesem Artikel sind geschlossen." in html
    assert "<form" not in html and "Antworten" not in html


@pytest.mark.parametrize(
    ("url", "status", "code_text"),
    [
        ("/embed/nope/politik/x", 404, "There is no site"),
        ("/embed/demo/bad..key%20x", 400, "article key"),
        ("/embed/demo/-starts-with-dash", 400, "article key"),
    ],
)
def test_page_bad_requests(
    app: Flask, client: FlaskClient, url: str, status: int, code_text: str
) -> None:
    before = snapshot(app)
    response = client.get(url)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert code_text in response.text
    assert response.headers["Content-Security-Policy"].startswith("frame-ancestors 'self'")
    assert snapshot(app) == before


# --- POST ------------------------------------------------------------------------------------


def test_post_stores_a_pending_comment_and_redirects(app: Flask, client: FlaskClient) -> None:
    response = send(client, author="  Anna ", email="anna@example.org", body="Guter <b>Punkt</b>")
    assert response.status_code == 303
    assert response.headers["Location"] == f"{PAGE}?sent=1#status"
    (comment,) = comments(app)
    assert comment.status == CommentStatus.PENDING
    assert (comment.author, comment.email) == ("Anna", "anna@example.org")
    assert comment.body_html == "<p>Guter <b>Punkt</b></p>"
    assert comment.reasons == []  # a real form with a valid token raises nothing
    assert comment.source_hash is not None
    page = client.get(response.headers["Location"])
    assert "Danke! Ihr Kommentar wird geprüft und erscheint nach der Freigabe." in page.text
    assert "0 Kommentare" in page.text  # nothing is public before approval


def test_the_form_offers_to_notify_and_stores_the_choice(app: Flask, client: FlaskClient) -> None:
    page = client.get(PAGE).text
    assert '<input id="notify" name="notify" type="checkbox" value="y">' in page
    label = "Benachrichtigen, wenn mein Kommentar veröffentlicht wird oder jemand antwortet"
    assert f'<label for="notify">{label}</label>' in page
    english = client.get(f"{PAGE}?lang=en").text
    assert "Notify me when my comment is published or someone replies" in english
    assert send(client, email="anna@example.org", notify="y").status_code == 303
    assert send(client, email="ben@example.org").status_code == 303
    assert [c.notify for c in comments(app)] == [True, False]


def test_post_needs_no_session_cookie(app: Flask, client: FlaskClient) -> None:
    """Flask-WTF's session CSRF is on, yet a cookie-less post (as in a framed page) works."""
    assert app.config.get("WTF_CSRF_ENABLED", True)
    token = token_of(client.get(PAGE))
    client.delete_cookie("session")
    response = client.post(PAGE, data={"author": "A", "body": "b", "form_token": token})
    assert response.status_code == 303
    assert "Set-Cookie" not in response.headers


def test_post_a_reply_keeps_the_language(app: Flask, client: FlaskClient) -> None:
    parent = approved_comment(client)
    response = send(client, url=f"{PAGE}?lang=en", parent_id=str(parent))
    assert response.status_code == 303
    assert response.headers["Location"] == f"{PAGE}?lang=en&sent=1#status"
    assert comments(app)[-1].parent_id == parent


def test_post_without_token_is_held(app: Flask, client: FlaskClient) -> None:
    response = client.post(PAGE, data={"author": "A", "body": "b"})
    assert response.status_code == 303
    assert comments(app)[0].reasons == ["no_token"]


def test_post_with_honeypot_is_spam_but_looks_the_same(app: Flask, client: FlaskClient) -> None:
    response = send(client, website="http://spam.example")
    assert response.status_code == 303 and response.headers["Location"].endswith("sent=1#status")
    (comment,) = comments(app)
    assert comment.status == CommentStatus.SPAM and "honeypot" in comment.reasons


def test_post_too_fast_is_spam(app: Flask, client: FlaskClient) -> None:
    app.config["MIN_SUBMIT_SECONDS"] = 60
    assert send(client).status_code == 303
    (comment,) = comments(app)
    assert comment.status == CommentStatus.SPAM and "too_fast" in comment.reasons


BAD_FORMS = [
    # (description, fields, field with an error, message on the page)
    ("no name", {"author": ""}, "author", "Bitte geben Sie einen Namen an"),
    ("blank body", {"body": "   "}, "body", "Bitte schreiben Sie einen Kommentar"),
    ("body too long", {"body": "x" * 5001}, "body", "höchstens 5000 Zeichen"),
    ("name too long", {"author": "n" * 81}, "author", "höchstens 80 Zeichen"),
    ("bad email", {"email": "no-at-sign"}, "email", "gültige E-Mail-Adresse"),
    ("parent unknown", {"parent_id": "999"}, "parent_id", "kann man nicht antworten"),
    ("parent not a number", {"parent_id": "abc"}, "parent_id", "kann man nicht antworten"),
    ("notify without email", {"notify": "y"}, "email", "um benachrichtigt zu werden"),
]


@pytest.mark.parametrize(("description", "fields", "field", "message"), BAD_FORMS)
def test_post_bad_fields_change_nothing_and_keep_the_text(
    app: Flask,
    client: FlaskClient,
    description: str,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    token = token_of(client.get(PAGE))
    before = snapshot(app)
    form = {"author": "Anna", "body": "Mein langer Text", "form_token": token} | fields
    response = client.post(PAGE, data=form)
    assert snapshot(app) == before
    assert response.status_code == 400, description
    html = response.text
    assert "Bitte prüfen Sie die markierten Felder." in html
    assert f'id="{field}-error"' in html and message in html
    if field != "parent_id":
        assert 'aria-invalid="true"' in html
    kept = fields.get("body", "Mein langer Text")
    if kept.strip():
        assert kept[:50] in html
    assert token_of(response)  # a fresh token, so the reader can just send again


def test_post_reply_to_unpublished_comment_is_refused(app: Flask, client: FlaskClient) -> None:
    pending = post_comment(client, thread=API_THREAD).get_json()["id"]
    token = token_of(client.get(PAGE))
    before = snapshot(app)
    response = client.post(
        PAGE, data={"author": "A", "body": "Text", "parent_id": str(pending), "form_token": token}
    )
    assert response.status_code == 400
    assert "Bitte prüfen Sie die markierten Felder." in response.text
    assert snapshot(app) == before


def test_post_forged_token_asks_to_send_again(app: Flask, client: FlaskClient) -> None:
    before = snapshot(app)
    response = client.post(
        PAGE, data={"author": "A", "body": "Mein Text", "form_token": "WyJ4Il0.forged.sig"}
    )
    assert response.status_code == 400
    assert "Das Formular war abgelaufen. Ihr Text ist noch da" in response.text
    assert "Mein Text" in response.text
    assert snapshot(app) == before
    # The fresh token on that page works.
    again = client.post(
        PAGE, data={"author": "A", "body": "Mein Text", "form_token": token_of(response)}
    )
    assert again.status_code == 303


def test_post_token_for_another_article_is_refused(app: Flask, client: FlaskClient) -> None:
    token = token_of(client.get("/embed/demo/anderer-artikel"))
    before = snapshot(app)
    response = client.post(PAGE, data={"author": "A", "body": "b", "form_token": token})
    assert response.status_code == 400
    assert snapshot(app) == before


def test_post_expired_token_asks_to_send_again(app: Flask, client: FlaskClient) -> None:
    token = token_of(client.get(PAGE))
    app.config["FORM_TOKEN_MAX_AGE"] = -1  # every token is now too old
    before = snapshot(app)
    response = client.post(PAGE, data={"author": "A", "body": "Alter Text", "form_token": token})
    assert response.status_code == 400
    assert "Das Formular war abgelaufen" in response.text and "Alter Text" in response.text
    assert snapshot(app) == before


@pytest.mark.parametrize(("what", "message"), [("closed", "geschlossen"), ("paused", "vorüber")])
def test_post_when_commenting_is_closed(
    app: Flask, client: FlaskClient, what: str, message: str
) -> None:
    approved_comment(client)
    token = token_of(client.get(PAGE))
    with app.app_context():
        if what == "closed":
            db.session.execute(db.update(Article).values(closed=True))
        else:
            db.session.execute(db.update(Site).values(paused=True))
        db.session.commit()
        heard_by_this_worker(app)
    before = snapshot(app)
    response = client.post(PAGE, data={"author": "A", "body": "b", "form_token": token})
    assert response.status_code == 403
    assert message in response.text and "<form" not in response.text
    assert snapshot(app) == before


def test_post_rate_limited_says_how_long_to_wait(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def limited(ctx: checks.CheckContext) -> None:
        raise RateLimited("Too many comments.", retry_after=42)

    monkeypatch.setattr(checks, "CHECKS", [limited, *checks.CHECKS])
    token = token_of(client.get(PAGE))
    before = snapshot(app)
    response = client.post(PAGE, data={"author": "A", "body": "Bleibt da", "form_token": token})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "42"
    assert "Bitte warten Sie 42 Sekunden" in response.text and "Bleibt da" in response.text
    assert snapshot(app) == before


def test_post_over_the_real_rate_limit(app: Flask, client: FlaskClient) -> None:
    app.config["RATE_LIMIT_PER_MINUTE"] = 1
    assert send(client).status_code == 303
    token = token_of(client.get(PAGE))
    before = snapshot(app)
    response = client.post(PAGE, data={"author": "A", "body": "Zweiter", "form_token": token})
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert f"Bitte warten Sie {wait} Sekunden" in response.text and "Zweiter" in response.text
    assert snapshot(app) == before


def test_post_unknown_site_is_404(app: Flask, client: FlaskClient) -> None:
    before = snapshot(app)
    response = client.post("/embed/nope/x", data={"author": "A", "body": "b"})
    assert response.status_code == 404
    assert snapshot(app) == before


def test_nest_puts_replies_one_level_deep() -> None:
    rows = [
        {"id": 5, "parent_id": 1},  # parent on an earlier page: top level
        {"id": 6, "parent_id": None},
        {"id": 7, "parent_id": 6},
        {"id": 8, "parent_id": 7},
        {"id": 9, "parent_id": None},
    ]
    nested = embed.nest(rows)
    assert [c["id"] for c in nested] == [5, 6, 9]
    assert [r["id"] for r in nested[1]["replies"]] == [7, 8]


# --- the scripts -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["embed.js", "count.js"])
def test_scripts_are_served_compressed_and_cacheable(client: FlaskClient, name: str) -> None:
    plain = client.get(f"/{name}")
    assert plain.status_code == 200
    assert plain.mimetype == "text/javascript"
    assert plain.headers["X-Content-Type-Options"] == "nosniff"
    assert "public" in plain.headers["Cache-Control"]
    assert "Accept-Encoding" in plain.headers["Vary"]
    zipped = client.get(f"/{name}", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    again = client.get(f"/{name}", headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status_code == 304


def test_widget_has_its_css_inlined(client: FlaskClient) -> None:
    js = client.get("/embed.js").text
    assert "__CSS__" not in js
    assert "--cm-accent" in js  # the theming variables come with the script


def test_widget_is_at_most_8_kb_gzipped(app: Flask) -> None:
    with app.app_context():
        script = embed.load_script("embed.js")
    assert len(script.gzipped) <= 8192, f"{len(script.gzipped)} bytes gzipped"


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ("a { color: red ; }\n/* note */ b,\n i > em { x: y }", "a{color:red;}b,i>em{x:y}"),
        (":host .x :focus-visible { outline: 0 }", ":host .x :focus-visible{outline:0}"),
    ],
)
def test_minify_css(css: str, expected: str) -> None:
    assert embed.minify_css(css) == expected


def test_minify_js_keeps_code_and_strings() -> None:
    source = '  // a comment\n  var a = "http://x // y";\n\n    a += 1; // tail\n'
    assert embed.minify_js(source) == 'var a = "http://x // y";\na += 1; // tail\n'


# --- findings of the security review (issue 16) ---------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.localhost"},
        {"Origin": "null"},
    ],
)
def test_a_post_from_another_page_is_refused(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    form = {
        "author": "Anna",
        "body": "Ein guter Artikel.",
        "form_token": token_of(client.get(PAGE)),
    }
    before = snapshot(app)
    response = client.post(PAGE, data=form, headers=headers)
    assert response.status_code == 403
    assert snapshot(app) == before


def test_the_form_posts_from_its_own_page(app: Flask, client: FlaskClient) -> None:
    page = client.get(PAGE)
    assert page.headers["Referrer-Policy"] == "same-origin"  # so the POST carries our Origin
    form = {"author": "Anna", "body": "Ein guter Artikel.", "form_token": token_of(page)}
    own = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert client.post(PAGE, data=form, headers=own).status_code == 303
    assert len(comments(app)) == 1


def test_a_form_is_accepted_once(app: Flask, client: FlaskClient) -> None:
    form = {
        "author": "Anna",
        "body": "Ein guter Artikel.",
        "form_token": token_of(client.get(PAGE)),
    }
    assert client.post(PAGE, data=form).status_code == 303
    before = snapshot(app)
    for _ in range(2):
        replay = client.post(PAGE, data=form | {"body": "Noch einmal"})
        assert replay.status_code == 400
        assert "Noch einmal" in replay.text  # the reader's text is kept, with a fresh form
    assert snapshot(app) == before


@pytest.mark.parametrize(
    "query",
    [
        "after=9223372036854775808",
        "after=%C2%B2",
        "after=-1",
        "reply=9223372036854775808",
        "reply=%C2%B2",
        "reply=%D9%A1%D9%A2",
    ],
)
def test_odd_numbers_in_the_page_url_are_ignored(client: FlaskClient, query: str) -> None:
    approved_comment(client)
    response = client.get(f"{PAGE}?{query}")
    assert response.status_code == 200
    assert "Ein guter Artikel." in response.text


@pytest.mark.parametrize("parent_id", ["²", "9223372036854775808", "99999999999", "-1"])
def test_an_odd_parent_id_is_a_clear_400(app: Flask, client: FlaskClient, parent_id: str) -> None:
    before = snapshot(app)
    response = send(client, parent_id=parent_id)
    assert response.status_code == 400
    assert snapshot(app) == before
