"""The moderator web UI: every page and action, with and without login and CSRF, by role."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import THREAD, approve, post_comment, snapshot
from markupsafe import escape
from moderator_ui import csrf_token, log_in, logged_in, post
from werkzeug.test import TestResponse

from moderation import review
from moderation.extensions import db
from moderation.models import Article, Comment, CommentStatus, ModerationEvent, Moderator, Site
from moderation.review import history
from moderation.sites import create_site


def _status(app: Flask, comment_id: int) -> CommentStatus:
    with app.app_context():
        return db.session.get(Comment, comment_id).status


def _article_id(app: Flask) -> int:
    with app.app_context():
        return db.session.scalars(db.select(Article.id)).first()


def _ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li class="card [^"]*" id="c(\d+)"', html)]


@pytest.fixture
def mod(app: Flask) -> FlaskClient:
    return logged_in(app)


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    return logged_in(app, "ada", admin=True)


# --- the queue -------------------------------------------------------------------------------


def test_queue_shows_a_card_with_everything(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    parent = post_comment(
        client, body="Der Artikel stimmt.", title="Russland und die USA"
    ).get_json()
    approve(client, parent["id"])
    post_comment(client, body="Noch einer aus derselben Quelle.")
    reply = post_comment(
        client,
        author="Bert <b>",
        email="bert@example.org",
        body="Widerspruch! <script>alert(1)</script> http://a.example http://b.example http://c.example",
        parent_id=parent["id"],
    ).get_json()
    page = mod.get("/moderate/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert f'id="c{reply["id"]}"' in html
    assert "Russland und die USA" in html
    assert "Bert &lt;b&gt;" in html and "bert@example.org" in html
    assert "<script>alert(1)</script>" not in html  # sanitized HTML, escaped raw text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "waiting for" in html
    assert "many links" in html  # the reason "links", labelled
    assert "sent without the comment form" in html
    assert 'In reply to <bdi class="reader-text">Anna</bdi>:' in html
    assert "Der Artikel stimmt." in html
    with app.app_context():
        source = db.session.get(Comment, reply["id"]).source_hash
    assert source[:6] in html
    assert "2 other comments from the same source" in html
    assert 'id="pending-count"' in html and ">2</span>" in html


def test_the_count_of_a_sources_other_comments_stops_at_the_cap(
    client: FlaskClient, mod: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(review, "SOURCE_COUNT_CAP", 2)
    for n in range(2):
        post_comment(client, body=f"Nummer {n}.")
    assert "1 other comment from the same source" in mod.get("/moderate/").get_data(as_text=True)
    for n in range(2, 5):
        post_comment(client, body=f"Nummer {n}.")
    html = mod.get("/moderate/").get_data(as_text=True)
    assert "2 or more other comments from the same source" in html
    assert "4 other comments" not in html


def test_queue_is_oldest_first_and_says_when_empty(client: FlaskClient, mod: FlaskClient) -> None:
    ids = [post_comment(client, body=f"n{n}").get_json()["id"] for n in range(3)]
    assert _ids(mod.get("/moderate/").get_data(as_text=True)) == ids
    for comment_id in ids:
        post(mod, f"/moderate/comments/{comment_id}/approve")
    html = mod.get("/moderate/").get_data(as_text=True)
    assert _ids(html) == []
    assert "The queue is empty." in html


def test_unknown_reason_codes_show_as_they_are(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    comment_id = post_comment(client).get_json()["id"]
    with app.app_context():
        db.session.get(Comment, comment_id).reasons = ["blocked_word:idiot", "brand_new_check"]
        db.session.commit()
    html = mod.get("/moderate/").get_data(as_text=True)
    assert "blocked word: idiot" in html
    assert "brand_new_check" in html


def test_queue_in_german(client: FlaskClient, mod: FlaskClient) -> None:
    post_comment(client)
    html = mod.get("/moderate/", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(
        as_text=True
    )
    assert 'lang="de"' in html
    assert "Freigeben" in html and "Ablehnen" in html
    assert re.search(r"wartet seit \d+ (Sek|Min)\.", html)


def test_moderator_locale_overrides_the_browser(app: Flask, mod: FlaskClient) -> None:
    assert post(mod, "/moderate/locale", {"locale": "de", "next": "/moderate/"}).status_code == 302
    with app.app_context():
        assert db.session.scalars(db.select(Moderator)).one().locale == "de"
    html = mod.get("/moderate/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="de"' in html
    post(mod, "/moderate/locale", {"locale": ""})
    html = mod.get("/moderate/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="en"' in html


def test_bad_locale_changes_nothing(app: Flask, mod: FlaskClient) -> None:
    before = snapshot(app)
    assert post(mod, "/moderate/locale", {"locale": "fr"}).status_code == 400
    assert snapshot(app) == before


# --- decisions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "status"),
    [("approve", "approved"), ("reject", "rejected"), ("spam", "spam")],
)
def test_decide_redirects_back_and_is_audited(
    app: Flask, client: FlaskClient, mod: FlaskClient, decision: str, status: str
) -> None:
    comment_id = post_comment(client).get_json()["id"]
    response = post(
        mod,
        f"/moderate/comments/{comment_id}/{decision}",
        {"note": "off topic", "next": "/moderate/?site=demo#c9", "ground": "off_topic"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/moderate/?site=demo#c9"
    assert _status(app, comment_id) == status
    with app.app_context():
        (event,) = history(comment_id)
        assert event.actor_name == "mona" and event.actor_id is not None
        assert event.note == "off topic"
        assert event.to_status == status


def test_decide_answers_json_for_the_script(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    ids = [post_comment(client).get_json()["id"] for _ in range(2)]
    response = post(
        mod, f"/moderate/comments/{ids[0]}/approve", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "approved" and body["pending"] == 1 and body["changed"] is True
    listed = client.get(f"{THREAD}/comments").get_json()
    assert [c["id"] for c in listed["comments"]] == [ids[0]]


def test_decide_ignores_a_foreign_next(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    comment_id = post_comment(client).get_json()["id"]
    response = post(
        mod, f"/moderate/comments/{comment_id}/approve", {"next": "https://evil.example/"}
    )
    assert response.headers["Location"] == "/moderate/"


def test_decide_without_csrf_changes_nothing(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    comment_id = post_comment(client).get_json()["id"]
    before = snapshot(app)
    response = mod.post(f"/moderate/comments/{comment_id}/approve", data={"note": "x"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    response = mod.post(f"/moderate/comments/{comment_id}/approve", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert snapshot(app) == before


def test_decide_without_login_changes_nothing(app: Flask, client: FlaskClient) -> None:
    comment_id = post_comment(client).get_json()["id"]
    before = snapshot(app)
    token = re.search(r'value="([^"]+)"', client.get("/moderate/login").get_data(as_text=True))
    response = client.post(
        f"/moderate/comments/{comment_id}/approve", data={"csrf_token": token.group(1)}
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/moderate/login")
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/moderate/comments/999/approve", 404),
        ("/moderate/comments/{id}/delete", 400),
        ("/moderate/comments/abc/approve", 404),
    ],
)
def test_bad_decisions_change_nothing(
    app: Flask, client: FlaskClient, mod: FlaskClient, path: str, status: int
) -> None:
    comment_id = post_comment(client).get_json()["id"]
    before = snapshot(app)
    response = post(mod, path.format(id=comment_id))
    assert response.status_code == status
    assert "text/html" in response.headers["Content-Type"]
    assert snapshot(app) == before


def test_overlong_note_changes_nothing(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    comment_id = post_comment(client).get_json()["id"]
    before = snapshot(app)
    assert (
        post(mod, f"/moderate/comments/{comment_id}/reject", {"note": "x" * 501}).status_code == 400
    )
    assert snapshot(app) == before


def test_withdrawn_comment_cannot_be_decided(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    created = post_comment(client).get_json()
    client.delete(
        f"/api/v1/comments/{created['id']}", headers={"X-Comment-Token": created["token"]}
    )
    before = snapshot(app)
    assert post(mod, f"/moderate/comments/{created['id']}/approve").status_code == 409
    assert snapshot(app) == before
    html = mod.get("/moderate/?status=withdrawn").get_data(as_text=True)
    assert _ids(html) == [created["id"]]
    assert "withdrew" in html


# --- bulk ------------------------------------------------------------------------------------


def test_bulk_decision(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    ids = [post_comment(client, body=f"n{n}").get_json()["id"] for n in range(4)]
    response = post(
        mod,
        "/moderate/bulk",
        {
            "ids": [str(ids[0]), str(ids[2])],
            "decision": "spam",
            "note": "werbung",
            "next": "/moderate/",
        },
    )
    assert response.status_code == 302
    assert [_status(app, i) for i in ids] == ["spam", "pending", "spam", "pending"]
    with app.app_context():
        events = db.session.scalars(db.select(ModerationEvent)).all()
        assert sorted(e.comment_id for e in events) == [ids[0], ids[2]]
        assert {(e.actor_name, e.note) for e in events} == {("mona", "werbung")}


def test_bulk_json_reports_withdrawn_and_unchanged(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    ids = [post_comment(client).get_json()["id"] for _ in range(2)]
    gone = post_comment(client).get_json()
    client.delete(f"/api/v1/comments/{gone['id']}", headers={"X-Comment-Token": gone["token"]})
    approve(client, ids[1])
    response = post(
        mod,
        "/moderate/bulk",
        {"ids": [str(i) for i in (*ids, gone["id"], 999)], "decision": "approve"},
        headers={"Accept": "application/json"},
    )
    body = response.get_json()
    assert body["changed"] == [ids[0]]
    assert body["unchanged"] == [ids[1]]
    assert body["skipped"] == [gone["id"], 999]
    assert body["pending"] == 0


@pytest.mark.parametrize(
    "data",
    [
        {"decision": "approve"},
        {"ids": ["1"], "decision": "delete"},
        {"ids": ["one"], "decision": "approve"},
        {"ids": [str(n) for n in range(1, 202)], "decision": "approve"},
    ],
)
def test_bad_bulk_changes_nothing(
    app: Flask, client: FlaskClient, mod: FlaskClient, data: dict
) -> None:
    post_comment(client)
    before = snapshot(app)
    assert post(mod, "/moderate/bulk", data).status_code == 400
    assert snapshot(app) == before


def test_bulk_without_csrf_changes_nothing(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    comment_id = post_comment(client).get_json()["id"]
    before = snapshot(app)
    response = mod.post("/moderate/bulk", data={"ids": [str(comment_id)], "decision": "approve"})
    assert response.status_code == 400
    assert snapshot(app) == before


# --- filters and paging ----------------------------------------------------------------------


def test_filters(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    with app.app_context():
        create_site("other", "Andere", [], "en")
    a = post_comment(client, author="Anna", body="Über Politik").get_json()["id"]
    b = post_comment(client, author="Bert", body="Über Sport").get_json()["id"]
    c = post_comment(
        client, thread="/api/v1/sites/other/articles/x", author="Cleo", body="Sport!"
    ).get_json()["id"]
    d = post_comment(client, thread=f"{THREAD}-zwei", body="Zweiter Artikel").get_json()["id"]
    post(mod, "/moderate/bulk", {"ids": [str(b)], "decision": "reject", "ground": "other"})

    def ids(query: str) -> list[int]:
        response = mod.get(f"/moderate/?{query}")
        assert response.status_code == 200
        return _ids(response.get_data(as_text=True))

    assert ids("") == [a, c, d]
    assert ids("site=demo") == [a, d]
    assert ids("site=other") == [c]
    assert ids("status=rejected") == [b]
    assert ids("status=approved") == []
    assert ids("q=sport") == [c]
    assert ids("q=sport&status=rejected") == [b]
    assert ids("q=bert&status=rejected") == [b]
    assert ids("q=100%25") == []
    with app.app_context():
        second = db.session.scalars(db.select(Comment.article_id).where(Comment.id == d)).one()
    assert ids(f"article={second}") == [d]


@pytest.mark.parametrize(
    "query", ["status=deleted", "after=garbage", "after=1.0", "article=abc", "q=" + "x" * 201]
)
def test_bad_filters(mod: FlaskClient, query: str) -> None:
    response = mod.get(f"/moderate/?{query}")
    assert response.status_code == 400
    assert "text/html" in response.headers["Content-Type"]


def test_keyset_paging(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    app.config["QUEUE_PAGE_SIZE"] = 2
    ids = [post_comment(client, body=f"n{n}").get_json()["id"] for n in range(5)]
    seen: list[int] = []
    url = "/moderate/"
    pages = 0
    while url:
        html = mod.get(url).get_data(as_text=True)
        seen += _ids(html)
        pages += 1
        found = re.search(r'id="next-page" rel="next" href="([^"]+)"', html)
        url = found.group(1).replace("&amp;", "&") if found else None
        if pages == 1:
            # Deciding the first page does not shift what the cursor points at.
            post(mod, f"/moderate/comments/{ids[0]}/approve")
    assert seen == ids
    assert pages == 3


def test_keyset_paging_newest_first_for_decided(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    app.config["QUEUE_PAGE_SIZE"] = 2
    ids = [post_comment(client, body=f"n{n}").get_json()["id"] for n in range(3)]
    post(mod, "/moderate/bulk", {"ids": [str(i) for i in ids], "decision": "spam"})
    html = mod.get("/moderate/?status=spam").get_data(as_text=True)
    assert _ids(html) == [ids[2], ids[1]]
    url = re.search(r'id="next-page" rel="next" href="([^"]+)"', html).group(1)
    assert _ids(mod.get(url.replace("&amp;", "&")).get_data(as_text=True)) == [ids[0]]


# --- comment and article pages ---------------------------------------------------------------


def test_comment_page_shows_history_and_revises(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    comment_id = post_comment(client).get_json()["id"]
    post(mod, f"/moderate/comments/{comment_id}/reject", {"note": "zu scharf", "ground": "insult"})
    html = mod.get(f"/moderate/comments/{comment_id}").get_data(as_text=True)
    assert "zu scharf" in html and "mona" in html and "rejected" in html
    assert f"/moderate/comments/{comment_id}/approve" in html
    assert f"/moderate/comments/{comment_id}/reject" not in html  # already rejected
    post(
        mod,
        f"/moderate/comments/{comment_id}/approve",
        {"next": f"/moderate/comments/{comment_id}"},
    )
    assert _status(app, comment_id) == "approved"
    assert mod.get("/moderate/comments/999").status_code == 404


def test_article_page_and_close_reopen(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    first = post_comment(client, body="Erster").get_json()["id"]
    approve(client, first)
    post_comment(client, body="Zweiter")
    article_id = _article_id(app)
    html = mod.get(f"/moderate/articles/{article_id}").get_data(as_text=True)
    assert "Erster" in html and "Zweiter" in html and "Close comments" in html

    response = post(mod, f"/moderate/articles/{article_id}/close")
    assert response.status_code == 302
    refused = post_comment(client, body="Zu spät")
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "closed"
    assert "Reopen comments" in mod.get(f"/moderate/articles/{article_id}").get_data(as_text=True)
    # Approved comments stay listed while the article is closed.
    assert [c["id"] for c in client.get(f"{THREAD}/comments").get_json()["comments"]] == [first]

    post(mod, f"/moderate/articles/{article_id}/reopen")
    assert post_comment(client, body="Wieder offen").status_code == 202
    assert mod.get("/moderate/articles/999").status_code == 404


def test_close_without_csrf_changes_nothing(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    post_comment(client)
    article_id = _article_id(app)
    before = snapshot(app)
    assert mod.post(f"/moderate/articles/{article_id}/close").status_code == 400
    assert post(mod, "/moderate/articles/999/close").status_code == 404
    assert snapshot(app) == before


@pytest.mark.parametrize(
    "path",
    [
        "/moderate/",
        "/moderate/comments/1",
        "/moderate/articles/1",
        "/moderate/admin/moderators",
        "/moderate/admin/sites",
        "/moderate/admin/sites/demo",
    ],
)
def test_pages_need_login(client: FlaskClient, path: str) -> None:
    post_comment(client)
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/moderate/login?next=")


# --- admin -----------------------------------------------------------------------------------

ADMIN_POSTS = [
    ("/moderate/admin/moderators", {"username": "neu", "password": "long enough pw"}),
    ("/moderate/admin/moderators/mona/deactivate", {}),
    ("/moderate/admin/moderators/mona/password", {"password": "a new long password"}),
    ("/moderate/admin/sites", {"slug": "neu", "name": "Neu", "language": "de"}),
    ("/moderate/admin/sites/demo", {"name": "Umbenannt", "origins": "", "language": "en"}),
]


@pytest.mark.parametrize(
    "path", ["/moderate/admin/moderators", "/moderate/admin/sites", "/moderate/admin/sites/demo"]
)
def test_admin_pages_refuse_moderators(mod: FlaskClient, admin: FlaskClient, path: str) -> None:
    assert mod.get(path).status_code == 403
    assert admin.get(path).status_code == 200


@pytest.mark.parametrize(("path", "data"), ADMIN_POSTS)
def test_admin_actions_refuse_moderators(
    app: Flask, mod: FlaskClient, path: str, data: dict
) -> None:
    before = snapshot(app)
    assert post(mod, path, data).status_code == 403
    assert snapshot(app) == before


@pytest.mark.parametrize(("path", "data"), ADMIN_POSTS)
def test_admin_actions_need_csrf(
    app: Flask, mod: FlaskClient, admin: FlaskClient, path: str, data: dict
) -> None:
    before = snapshot(app)
    assert admin.post(path, data=data).status_code == 400
    assert snapshot(app) == before


def test_admin_adds_and_deactivates_a_moderator(app: Flask, admin: FlaskClient) -> None:
    response = post(
        admin,
        "/moderate/admin/moderators",
        {"username": "neu", "password": "long enough pw", "admin": "y"},
    )
    assert response.status_code == 302
    with app.app_context():
        added = db.session.scalars(db.select(Moderator).where(Moderator.username == "neu")).one()
        assert added.is_admin and added.active
    other = logged_in(app, "bo")
    assert other.get("/moderate/").status_code == 200
    assert post(admin, "/moderate/admin/moderators/bo/deactivate").status_code == 302
    assert other.get("/moderate/").status_code == 302
    assert post(admin, "/moderate/admin/moderators/bo/activate").status_code == 302
    with app.app_context():
        assert db.session.scalars(
            db.select(Moderator.active).where(Moderator.username == "bo")
        ).one()


def test_admin_resets_a_password(app: Flask, admin: FlaskClient) -> None:
    other = logged_in(app, "bo")
    response = post(
        admin, "/moderate/admin/moderators/bo/password", {"password": "a fresh long password"}
    )
    assert response.status_code == 302
    assert other.get("/moderate/").status_code == 302  # the old session ended
    from moderator_ui import log_in

    assert log_in(app.test_client(), "bo", "a fresh long password").status_code == 302


@pytest.mark.parametrize(
    ("path", "data", "status"),
    [
        ("/moderate/admin/moderators", {"username": "x y", "password": "long enough pw"}, 400),
        ("/moderate/admin/moderators", {"username": "neu", "password": "short"}, 400),
        ("/moderate/admin/moderators", {"username": "ada", "password": "long enough pw"}, 409),
        ("/moderate/admin/moderators", {"username": "", "password": ""}, 400),
        ("/moderate/admin/moderators/ada/deactivate", {}, 409),
        ("/moderate/admin/moderators/nobody/deactivate", {}, 404),
        ("/moderate/admin/moderators/nobody/password", {"password": "long enough pw"}, 404),
        ("/moderate/admin/moderators/ada/password", {"password": "short"}, 400),
        ("/moderate/admin/sites", {"slug": "Bad Slug", "name": "X", "language": "de"}, 400),
        ("/moderate/admin/sites", {"slug": "demo", "name": "X", "language": "de"}, 409),
        ("/moderate/admin/sites", {"slug": "report", "name": "X", "language": "de"}, 409),
        ("/moderate/admin/sites", {"slug": "neu", "name": "X", "language": "fr"}, 400),
        ("/moderate/admin/sites/demo", {"name": "X", "origins": "ftp://x", "language": "de"}, 400),
        ("/moderate/admin/sites/demo", {"name": " ", "language": "de"}, 400),
        # A port beyond 65535 and an unclosed IPv6 bracket made urlsplit raise: a 500.
        (
            "/moderate/admin/sites/demo",
            {"name": "X", "origins": "https://a.example:99999", "language": "de"},
            400,
        ),
        (
            "/moderate/admin/sites/demo",
            {"name": "X", "origins": "https://[::1", "language": "de"},
            400,
        ),
        (
            "/moderate/admin/sites",
            {"slug": "neu", "name": "X", "origins": "http://a:x", "language": "de"},
            400,
        ),
        ("/moderate/admin/sites/nope", {"name": "X", "language": "de"}, 404),
    ],
)
def test_bad_admin_input_changes_nothing(
    app: Flask, admin: FlaskClient, path: str, data: dict, status: int
) -> None:
    before = snapshot(app)
    assert post(admin, path, data).status_code == status
    assert snapshot(app) == before


def test_admin_adds_and_edits_a_site(app: Flask, admin: FlaskClient) -> None:
    response = post(
        admin,
        "/moderate/admin/sites",
        {
            "slug": "tagesblatt",
            "name": "Tagesblatt",
            "origins": "https://www.tagesblatt.example",
            "language": "de",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/moderate/admin/sites/tagesblatt"
    page = admin.get("/moderate/admin/sites/tagesblatt").get_data(as_text=True)
    assert "https://www.tagesblatt.example" in page
    response = post(
        admin,
        "/moderate/admin/sites/tagesblatt",
        {
            "name": "Das Tagesblatt",
            "origins": "https://Tagesblatt.example/x\nhttps://m.tagesblatt.example",
            "language": "en",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        site = db.session.scalars(db.select(Site).where(Site.slug == "tagesblatt")).one()
        assert site.name == "Das Tagesblatt"
        assert site.origins == ["https://tagesblatt.example", "https://m.tagesblatt.example"]
        assert site.language == "en"


def test_paging_is_keyset_not_offset(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    """Every page is one indexed range read: no OFFSET, which would read every earlier row."""
    from sqlalchemy import event

    app.config["QUEUE_PAGE_SIZE"] = 2
    for n in range(3):
        post_comment(client, body=f"n{n}")
    statements: list[tuple[str, object]] = []
    with app.app_context():
        engine = db.engine

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        html = mod.get("/moderate/").get_data(as_text=True)
        url = re.search(r'id="next-page" rel="next" href="([^"]+)"', html).group(1)
        mod.get(url.replace("&amp;", "&"))
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    reads = [(s, p) for s, p in statements if s.startswith("SELECT comment.id, comment.article_id")]
    assert len(reads) == 2
    for statement, parameters in statements:
        # SQLite's dialect always writes "LIMIT ? OFFSET ?"; the offset must then be 0.
        assert "OFFSET" not in statement or list(parameters)[-1] == 0
    assert "comment.created_at >" in reads[1][0]


def test_everything_from_one_source(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    mine = [post_comment(client, body=f"n{n}").get_json()["id"] for n in range(3)]
    other = post_comment(client, body="anderswo").get_json()["id"]
    with app.app_context():  # the test client has one address; give this one another source
        db.session.get(Comment, other).source_hash = "f" * 64
        db.session.commit()
        source = db.session.get(Comment, mine[0]).source_hash
    post(mod, f"/moderate/comments/{mine[1]}/spam")
    html = mod.get(f"/moderate/?status=all&source={source}").get_data(as_text=True)
    assert sorted(_ids(html)) == mine
    assert f"/moderate/?status=all&amp;source={source}" in mod.get("/moderate/").get_data(
        as_text=True
    )
    assert mod.get("/moderate/?source=abc").status_code == 400


def test_pending_count_is_capped(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    import moderation.moderate.pages

    for _ in range(3):
        post_comment(client)
    html = mod.get("/moderate/").get_data(as_text=True)
    assert 'data-cap="1000" title="pending">3</span>' in html
    moderation.moderate.pages.PENDING_CAP = 2
    try:
        html = mod.get("/moderate/").get_data(as_text=True)
        assert 'data-cap="2" title="pending">2+</span>' in html
    finally:
        moderation.moderate.pages.PENDING_CAP = 1000


def test_templates_have_no_inline_script_or_style() -> None:
    """The Content-Security-Policy allows neither; what a template does inline would break."""
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "templates/moderate"
    for template in folder.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert not re.search(r"\sstyle\s*=|<style", text), template.name


def test_errors_are_moderator_pages_in_the_moderators_language(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    comment_id = post_comment(client).get_json()["id"]
    german = {"Accept-Language": "de"}
    response = mod.post(f"/moderate/comments/{comment_id}/approve", headers=german)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "(CSRF)" in html and "Bitte laden Sie die Seite neu" in html
    assert 'id="pending-count"' in html  # the moderator's layout, with the navigation
    response = mod.get("/moderate/comments/999", headers=german)
    assert response.status_code == 404
    assert "Diesen Kommentar gibt es nicht." in response.get_data(as_text=True)
    assert response.headers["X-Frame-Options"] == "DENY"


# --- issue 16, finding 5: input that named nothing answered 500 ------------------------------

HUGE = "9" * 20  # beyond every database's integers
BEYOND_PG = str(2**31)  # ids are 32-bit on PostgreSQL
ID_ROUTES = [
    ("GET", "/moderate/comments/{}", "There is no such comment."),
    ("GET", "/moderate/articles/{}", "There is no such article."),
    ("POST", "/moderate/comments/{}/approve", "There is no such comment."),
    ("POST", "/moderate/articles/{}/close", "There is no such article."),
    ("POST", "/moderate/articles/{}/reopen", "There is no such article."),
    ("POST", "/moderate/articles/{}/title", "There is no such article."),
]


def _request(client: FlaskClient, method: str, path: str) -> TestResponse:
    if method == "GET":
        return client.get(path)
    return post(client, path, {"title": "x", "action": "confirm"})


@pytest.mark.parametrize("number", [HUGE, BEYOND_PG, str(2**63), "0", "0" * 25 + "1" + "0" * 4])
@pytest.mark.parametrize(("method", "route", "message"), ID_ROUTES)
def test_a_path_id_that_names_nothing_is_404(
    app: Flask,
    client: FlaskClient,
    mod: FlaskClient,
    method: str,
    route: str,
    message: str,
    number: str,
) -> None:
    """Numbers beyond the database's integers reached it: a 500 (PostgreSQL: beyond 2**31)."""
    post_comment(client)
    before = snapshot(app)
    response = _request(mod, method, route.format(number))
    assert response.status_code == 404
    assert message in response.get_data(as_text=True)
    assert 'id="pending-count"' in response.get_data(as_text=True)  # a moderator page
    assert snapshot(app) == before


@pytest.mark.parametrize("number", ["%C2%B2", "%D9%A1", "%EF%BC%91", "1" * 31])
@pytest.mark.parametrize(("method", "route", "message"), ID_ROUTES)
def test_a_path_id_that_is_no_number_is_404(
    app: Flask,
    client: FlaskClient,
    mod: FlaskClient,
    method: str,
    route: str,
    message: str,
    number: str,
) -> None:
    """Digits of other scripts are no id: "١" (Arabic-Indic one) showed comment 1."""
    post_comment(client)  # comment 1 and article 1 exist
    before = snapshot(app)
    response = _request(mod, method, route.format(number))
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert snapshot(app) == before


@pytest.mark.parametrize(
    "ids",
    [
        [HUGE],
        [BEYOND_PG],
        ["1", HUGE],
        ["²"],
        ["١٢"],
        ["１"],
        [" 1"],
        ["+1"],
        ["1_0"],
        ["0"],
        ["-1"],
    ],
)
def test_bulk_refuses_numbers_that_cannot_be_ids(
    app: Flask, client: FlaskClient, mod: FlaskClient, ids: list[str]
) -> None:
    post_comment(client)
    before = snapshot(app)
    response = post(mod, "/moderate/bulk", {"ids": ids, "decision": "approve"})
    assert response.status_code == 400
    assert "Select comments by their numbers." in response.get_data(as_text=True)
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("article=%C2%B2", "Unknown article."),
        ("article=%D9%A1%D9%A2", "Unknown article."),
        ("article=%EF%BC%91", "Unknown article."),
        ("article=0", "Unknown article."),
        ("article=+1", "Unknown article."),
        (f"article={BEYOND_PG}", "Unknown article."),
        (f"article={HUGE}", "Unknown article."),
        (f"after=1.{HUGE}", "This place in the queue is not valid."),
        (f"after=1.{BEYOND_PG}", "This place in the queue is not valid."),
        (f"after={HUGE}{HUGE}.1", "This place in the queue is not valid."),
        ("after=1.%C2%B2", "This place in the queue is not valid."),
        ("after=%EF%BC%91.1", "This place in the queue is not valid."),
        ("after=%2B1.1", "This place in the queue is not valid."),
        ("after=1.1_0", "This place in the queue is not valid."),
        ("after=%201.1", "This place in the queue is not valid."),
    ],
)
def test_queue_arguments_that_cannot_be_ids(
    client: FlaskClient, mod: FlaskClient, query: str, message: str
) -> None:
    post_comment(client)
    response = mod.get(f"/moderate/?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_an_article_filter_for_a_missing_article_is_404(mod: FlaskClient) -> None:
    response = mod.get("/moderate/?article=12345")
    assert response.status_code == 404
    assert "There is no such article." in response.get_data(as_text=True)


NUL = "a\x00b"


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("GET", "/moderate/?q=a%00b", None),
        ("GET", "/moderate/?site=a%00b", None),
        ("GET", "/moderate/?status=all&q=%00", None),
        ("GET", "/moderate/admin/sites/a%00b", None),
        ("POST", "/moderate/comments/{id}/reject", {"note": NUL}),
        ("POST", "/moderate/bulk", {"ids": ["{id}"], "decision": "spam", "note": NUL}),
        ("POST", "/moderate/articles/{id}/title", {"title": NUL, "action": "confirm"}),
        ("POST", "/moderate/admin/sites/demo", {"name": NUL, "language": "de"}),
        (
            "POST",
            "/moderate/admin/sites/demo",
            {"name": "X", "origins": "https://a\x00.example", "language": "de"},
        ),
        ("POST", "/moderate/admin/sites", {"slug": "neu", "name": NUL, "language": "de"}),
        ("POST", "/moderate/admin/sites/a%00b", {"name": "X", "language": "de"}),
        ("POST", "/moderate/admin/moderators/a%00b/deactivate", {}),
        ("POST", "/moderate/admin/moderators/a%00b/password", {"password": "long enough pw"}),
        ("POST", "/moderate/admin/moderators", {"username": "neu", "password": NUL * 5}),
        ("POST", "/moderate/locale", {"locale": NUL}),
    ],
)
def test_text_the_database_cannot_store_is_refused(
    app: Flask, client: FlaskClient, admin: FlaskClient, method: str, path: str, data: dict | None
) -> None:
    """NUL made PostgreSQL raise (a 500) in searches, notes, site settings and paths."""
    comment_id = post_comment(client).get_json()["id"]
    path = path.format(id=comment_id)
    if data and "ids" in data:
        data = data | {"ids": [str(comment_id)]}
    before = snapshot(app)
    response = admin.get(path) if method == "GET" else post(admin, path, data)
    assert response.status_code == 400
    assert "cannot be stored" in response.get_data(as_text=True)
    assert snapshot(app) == before


def test_a_username_with_nul_is_a_400(app: Flask, client: FlaskClient) -> None:
    before = snapshot(app)
    response = log_in(client, username=NUL)
    assert response.status_code == 400
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("method", "path", "data", "status"),
    [
        ("GET", "/moderate/?q=%ED%A0%80", None, 200),
        ("GET", "/moderate/?site=%ED%A0%80", None, 200),
        ("GET", "/moderate/admin/sites/%ED%A0%80", None, 404),
        ("POST", "/moderate/comments/{id}/reject", "note=%ED%A0%80&ground=other", 302),
        ("POST", "/moderate/comments/{id}/reject", "note=\udced\udca0\udc80", 400),
        ("POST", "/moderate/admin/sites/demo", "name=%ED%A0%80&language=de", 302),
    ],
)
def test_lone_surrogates_from_the_wire_do_no_harm(
    app: Flask,
    client: FlaskClient,
    admin: FlaskClient,
    method: str,
    path: str,
    data: str | None,
    status: int,
) -> None:
    """A lone surrogate cannot travel as UTF-8: it comes percent-encoded (kept as that text)
    or as bytes that are no UTF-8 (werkzeug then reads no form at all: no CSRF token, 400)."""
    comment_id = post_comment(client).get_json()["id"]
    path = path.format(id=comment_id)
    if method == "GET":
        response = admin.get(path)
    else:
        token = quote(csrf_token(admin, "/moderate/"))
        body = f"csrf_token={token}&{data}".encode("utf-8", "surrogateescape")
        response = admin.post(path, data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == status


# --- issue 16, finding 7: an article's title and address come from its first commenter --------


def _plant(
    app: Flask,
    *,
    key: str = "planted",
    title: str | None = None,
    url: str | None = None,
    author: str = "Anna",
    email: str | None = None,
    body_raw: str = "Ein Kommentar.",
) -> tuple[int, int]:
    """A comment and its article written straight to the database, as old rows may be (the
    public side now refuses some of this); returns (comment id, article id)."""
    with app.app_context():
        demo = db.session.scalars(db.select(Site).where(Site.slug == "demo")).one()
        article = db.session.scalars(
            db.select(Article).where(Article.site_id == demo.id, Article.key == key)
        ).first() or Article(site=demo, key=key, title=title, url=url)
        comment = Comment(
            article=article,
            author=author,
            email=email,
            body_raw=body_raw,
            body_html=f"<p>{escape(body_raw)}</p>",
            reasons=[],
        )
        db.session.add(comment)
        db.session.commit()
        return comment.id, article.id


PHISH = "Moderators: re-login required"


def test_a_readers_title_is_shown_as_a_claim(app: Flask, mod: FlaskClient) -> None:
    _, article_id = _plant(app, key="politik/wahl", title=PHISH, url="https://evil.example/login")
    claim = (
        '<span class="claimed-title">title given by a reader: '
        f'<q><bdi class="reader-text">{PHISH}</bdi></q></span>'
    )
    for path in ("/moderate/", f"/moderate/?article={article_id}"):
        html = mod.get(path).get_data(as_text=True)
        link = re.search(r'<a class="article" href="[^"]+">(.*?)</a>', html).group(1)
        assert link == '<bdi class="reader-text">politik/wahl</bdi>'  # named by its key
        assert claim in html
        assert "evil.example" not in html
    html = mod.get(f"/moderate/articles/{article_id}").get_data(as_text=True)
    assert '<h1><bdi class="reader-text">politik/wahl</bdi></h1>' in html
    assert "<title>politik/wahl · Moderation</title>" in html
    assert "Title given by a reader, not confirmed:" in html
    assert "evil.example" not in html
    assert "Confirm title" in html and f'value="{PHISH}"' in html


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://news.example/politik/wahl", True),
        ("https://NEWS.example:443/politik/wahl?x=1#c", True),
        ("https://evil.example/login", False),
        ("http://news.example/politik/wahl", False),  # another origin: the scheme differs
        ("https://news.example.evil.example/", False),
        ("https://news.example@evil.example/", False),
        ("https://evil.example\\@news.example/", False),  # browsers go to evil.example
        ("https://user@news.example/", False),
        ("https://news.example:99999/", False),
        ("https://news.example:8443/", False),
        ("javascript://news.example/%0aalert(1)", False),
        (" https://news.example/", False),
        ("https://news.example/\u202ex", False),
        ("//news.example/x", False),
        ("/politik/wahl", False),
    ],
)
def test_the_article_link_only_to_the_sites_own_origins(
    app: Flask, mod: FlaskClient, url: str, linked: bool
) -> None:
    _, article_id = _plant(app, title="Wahl", url=url)
    href = f'href="{escape(url)}"'
    for path in ("/moderate/", f"/moderate/articles/{article_id}"):
        html = mod.get(path).get_data(as_text=True)
        assert (href in html) is linked, path
        assert ("↗" in html) is linked, path


def test_a_moderator_confirms_edits_and_removes_the_title(app: Flask, mod: FlaskClient) -> None:
    _, article_id = _plant(app, key="politik/wahl", title=PHISH)
    title_path = f"/moderate/articles/{article_id}/title"

    def article() -> Article:
        with app.app_context():
            found = db.session.get(Article, article_id)
            db.session.expunge(found)
            return found

    response = post(mod, title_path, {"title": "Die Wahl", "action": "confirm"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/moderate/articles/{article_id}"
    assert (article().title, article().title_confirmed) == ("Die Wahl", True)
    html = mod.get(f"/moderate/articles/{article_id}").get_data(as_text=True)
    assert '<h1><bdi class="reader-text">Die Wahl</bdi></h1>' in html
    assert "Title confirmed." in html and "claimed-title" not in html and "Save title" in html
    queue = mod.get("/moderate/").get_data(as_text=True)
    assert '<bdi class="reader-text">Die Wahl</bdi></a>' in queue and "claimed-title" not in queue

    # What is confirmed is the text sent, one line, without invisible characters.
    post(mod, title_path, {"title": "  Die\u200b Wahl\u202e\n 2026 ", "action": "confirm"})
    assert (article().title, article().title_confirmed) == ("Die Wahl 2026", True)

    response = post(mod, title_path, {"title": "ignored", "action": "remove"})
    assert response.status_code == 302
    assert (article().title, article().title_confirmed) == (None, False)
    assert "Title removed." in mod.get(f"/moderate/articles/{article_id}").get_data(as_text=True)


def test_an_admin_confirms_a_title_too(app: Flask, admin: FlaskClient) -> None:
    _, article_id = _plant(app, title="Die Wahl")
    post(
        admin, f"/moderate/articles/{article_id}/title", {"title": "Die Wahl", "action": "confirm"}
    )
    with app.app_context():
        assert db.session.get(Article, article_id).title_confirmed


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"title": "x" * 301, "action": "confirm"}, 400),
        ({"title": "", "action": "confirm"}, 400),
        ({"title": "\u200b \u202e", "action": "confirm"}, 400),
        ({"title": "Die Wahl", "action": "publish"}, 400),
        ({"title": "Die Wahl"}, 400),
    ],
)
def test_bad_title_input_changes_nothing(
    app: Flask, mod: FlaskClient, data: dict, status: int
) -> None:
    _, article_id = _plant(app, title=PHISH)
    before = snapshot(app)
    response = post(mod, f"/moderate/articles/{article_id}/title", data)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert snapshot(app) == before


def test_the_title_form_needs_csrf_and_login(app: Flask, mod: FlaskClient) -> None:
    _, article_id = _plant(app, title=PHISH)
    path = f"/moderate/articles/{article_id}/title"
    data = {"title": "Die Wahl", "action": "confirm"}
    before = snapshot(app)
    assert mod.post(path, data=data).status_code == 400
    anonymous = app.test_client()
    token = csrf_token(anonymous)
    response = anonymous.post(path, data=data | {"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/moderate/login")
    assert snapshot(app) == before


def test_the_title_form_in_german(app: Flask, mod: FlaskClient) -> None:
    _, article_id = _plant(app, title=PHISH)
    german = {"Accept-Language": "de"}
    html = mod.get("/moderate/", headers=german).get_data(as_text=True)
    assert "von einem Leser angegebener Titel:" in html
    html = mod.get(f"/moderate/articles/{article_id}", headers=german).get_data(as_text=True)
    assert "Titel bestätigen" in html and "Titel entfernen" in html


# --- issue 16, finding 8: invisible and direction-changing characters ------------------------

RLO, ZWSP = "\u202e", "\u200b"


def _outside_bodies(html: str) -> str:
    """The page without the comments' sanitized HTML: that is shown as readers will see it,
    each in a block of its own (``unicode-bidi: isolate``), so it cannot reorder the page."""
    return re.sub(r'<div class="body">.*?</div>', "", html, flags=re.S)


def _marker(code: str, name: str) -> str:
    return f'<span class="control-char" title="{name}">[U+{code}]</span>'


def test_hidden_characters_are_shown_and_cannot_reorder_the_page(
    app: Flask, mod: FlaskClient
) -> None:
    comment_id, article_id = _plant(
        app,
        title=f"{RLO}Titel",
        author=f"ad{ZWSP}min{RLO}",
        email=f"troll{RLO}@example.org",
        body_raw=f"Hallo {RLO}<b>gnp.exe</b>{ZWSP}\nZeile 2: äöü € 👍",
    )
    rlo = _marker("202E", "RIGHT-TO-LEFT OVERRIDE")
    zwsp = _marker("200B", "ZERO WIDTH SPACE")
    author = f'<bdi class="reader-text">ad{zwsp}min{rlo}</bdi>'
    pages = {
        "queue": mod.get("/moderate/").get_data(as_text=True),
        "comment": mod.get(f"/moderate/comments/{comment_id}").get_data(as_text=True),
        "article": mod.get(f"/moderate/articles/{article_id}").get_data(as_text=True),
    }
    for name, html in pages.items():
        assert RLO not in _outside_bodies(html) and ZWSP not in _outside_bodies(html), name
        assert author in html, name
        assert rlo + "Titel" in html, name  # the reader's title
    for html in (pages["queue"], pages["comment"]):
        assert f'<bdi class="reader-text">troll{rlo}@example.org</bdi>' in html
        raw = re.search(r"<pre>(.*?)</pre>", html, re.S).group(1)
        assert raw == (
            f'<bdi class="reader-text">Hallo {rlo}&lt;b&gt;gnp.exe&lt;/b&gt;{zwsp}\n'
            "Zeile 2: äöü € 👍</bdi>"
        )
        assert "Invisible or direction-changing characters: [U+200B] [U+202E]" in html


HIDDEN = [
    *"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c",  # bidi
    *"\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e",  # zero width, soft hyphen
    *"\u2028\u2029\x07\x1b\x7f\x85",  # separators, controls
    *"\u3164\u115f\uffa0",  # letters that draw as blanks
    "\U000e0041",  # a tag character
]


def test_every_kind_of_hidden_character_gets_a_marker(app: Flask, mod: FlaskClient) -> None:
    author = "A" + "".join(HIDDEN) + "Z"
    comment_id, _ = _plant(app, author=author, body_raw=author)
    html = mod.get(f"/moderate/comments/{comment_id}").get_data(as_text=True)
    for char in HIDDEN:
        assert char not in _outside_bodies(html), f"U+{ord(char):04X}"
    raw = re.search(r"<pre>(.*?)</pre>", html, re.S).group(1)
    markers = re.sub(
        r'<span class="control-char"(?: title="[A-Z0-9 -]+")?>([^<]+)</span>', r"\1", raw
    )
    expected = "A" + "".join(f"[U+{ord(char):04X}]" for char in HIDDEN) + "Z"
    assert markers == f'<bdi class="reader-text">{expected}</bdi>'
