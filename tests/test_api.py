from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import THREAD, approve, heard_by_this_worker, post_comment, snapshot

from moderation.extensions import db
from moderation.models import Article, Comment, CommentStatus, Site

ORIGIN = "https://news.example"


# --- POST: happy path ------------------------------------------------------------------------


def test_post_queues_a_pending_comment(app: Flask, client: FlaskClient) -> None:
    response = post_comment(
        client,
        author="  Anna  Berg ",
        email="anna@example.org",
        body="Guter <b>Punkt</b>.\n\nZweiter Absatz.",
        title="Russland und die USA",
        url="https://news.example/politik/2026/russland-usa",
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"id", "status", "token"}
    assert body["status"] == "pending"
    assert len(body["token"]) >= 24
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    with app.app_context():
        comment = db.session.get(Comment, body["id"])
        assert comment.status == CommentStatus.PENDING
        assert comment.author == "Anna Berg"
        assert comment.email == "anna@example.org"
        assert comment.body_raw == "Guter <b>Punkt</b>.\n\nZweiter Absatz."
        assert comment.body_html == "<p>Guter <b>Punkt</b>.</p><p>Zweiter Absatz.</p>"
        assert comment.token_hash and body["token"] not in comment.token_hash
        assert comment.article.key == "politik/2026/russland-usa"
        assert comment.article.title == "Russland und die USA"
        assert comment.reasons == ["no_token"]


def test_post_without_origin_is_allowed(client: FlaskClient) -> None:
    assert post_comment(client).status_code == 202


def test_post_from_the_service_itself_is_allowed(client: FlaskClient) -> None:
    response = post_comment(client, headers={"Origin": "http://localhost"})
    assert response.status_code == 202


def test_reply_to_an_approved_comment(client: FlaskClient) -> None:
    parent = post_comment(client).get_json()["id"]
    approve(client, parent)
    response = post_comment(client, parent_id=parent, body="Stimme zu.")
    assert response.status_code == 202


def test_a_body_at_the_limit_is_accepted(client: FlaskClient) -> None:
    assert post_comment(client, body="x" * 5000, author="y" * 80).status_code == 202


# --- POST: bad input changes nothing ---------------------------------------------------------

BAD_POSTS = [
    # (description, request kwargs, status, error code, field)
    (
        "not json",
        {"data": "author=a&body=b", "content_type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
        None,
    ),
    (
        "no content type",
        {"data": '{"author": "a", "body": "b"}'},
        415,
        "unsupported_media_type",
        None,
    ),
    (
        "text/plain",
        {"data": '{"author": "a", "body": "b"}', "content_type": "text/plain"},
        415,
        "unsupported_media_type",
        None,
    ),
    (
        "broken json",
        {"data": '{"author": ', "content_type": "application/json"},
        400,
        "invalid_json",
        None,
    ),
    ("json list", {"json": ["a", "b"]}, 400, "invalid", None),
    ("json string", {"json": "hello"}, 400, "invalid", None),
    ("no author", {"json": {"body": "b"}}, 400, "invalid", "author"),
    ("blank author", {"json": {"author": "  \n ", "body": "b"}}, 400, "invalid", "author"),
    ("author not text", {"json": {"author": 7, "body": "b"}}, 400, "invalid", "author"),
    ("author too long", {"json": {"author": "x" * 81, "body": "b"}}, 400, "invalid", "author"),
    ("no body", {"json": {"author": "a"}}, 400, "invalid", "body"),
    ("blank body", {"json": {"author": "a", "body": " \x00 "}}, 400, "invalid", "body"),
    ("body too long", {"json": {"author": "a", "body": "x" * 5001}}, 400, "invalid", "body"),
    ("body not text", {"json": {"author": "a", "body": ["x"]}}, 400, "invalid", "body"),
    (
        "bad email",
        {"json": {"author": "a", "body": "b", "email": "no-at-sign"}},
        400,
        "invalid",
        "email",
    ),
    (
        "email with space",
        {"json": {"author": "a", "body": "b", "email": "a b@example.org"}},
        400,
        "invalid",
        "email",
    ),
    ("email not text", {"json": {"author": "a", "body": "b", "email": 1}}, 400, "invalid", "email"),
    (
        "parent not int",
        {"json": {"author": "a", "body": "b", "parent_id": "1"}},
        400,
        "invalid",
        "parent_id",
    ),
    (
        "parent bool",
        {"json": {"author": "a", "body": "b", "parent_id": True}},
        400,
        "invalid",
        "parent_id",
    ),
    (
        "parent zero",
        {"json": {"author": "a", "body": "b", "parent_id": 0}},
        400,
        "invalid",
        "parent_id",
    ),
    (
        "parent unknown",
        {"json": {"author": "a", "body": "b", "parent_id": 999}},
        400,
        "invalid",
        "parent_id",
    ),
    (
        "url not http",
        {"json": {"author": "a", "body": "b", "url": "javascript:alert(1)"}},
        400,
        "invalid",
        "url",
    ),
    (
        "title too long",
        {"json": {"author": "a", "body": "b", "title": "t" * 301}},
        400,
        "invalid",
        "title",
    ),
    (
        "forged form token",
        {"json": {"author": "a", "body": "b", "form_token": "x.y.z"}},
        400,
        "invalid_form_token",
        None,
    ),
    (
        "too large",
        {
            "data": json.dumps({"author": "a", "body": "x" * 70000}),
            "content_type": "application/json",
        },
        413,
        "too_large",
        None,
    ),
    (
        "foreign origin",
        {"json": {"author": "a", "body": "b"}, "headers": {"Origin": "https://evil.example"}},
        403,
        "forbidden_origin",
        None,
    ),
    (
        "origin null",
        {"json": {"author": "a", "body": "b"}, "headers": {"Origin": "null"}},
        403,
        "forbidden_origin",
        None,
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "field"),
    [case[1:] for case in BAD_POSTS],
    ids=[case[0] for case in BAD_POSTS],
)
def test_bad_post_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, kwargs: dict, status: int, code: str, field: str | None
) -> None:
    before = snapshot(app)
    response = client.post(f"{THREAD}/comments", **kwargs)
    assert response.status_code == status
    assert response.is_json
    body = response.get_json()
    assert body["error"] == code
    assert body["message"]
    if field:
        assert field in body["fields"]
    assert snapshot(app) == before


BAD_THREADS = [
    ("/api/v1/sites/nope/articles/a/comments", 404, "unknown_site"),
    ("/api/v1/sites/demo/articles/-bad/comments", 400, "invalid_article"),
    ("/api/v1/sites/demo/articles/a%20b/comments", 400, "invalid_article"),
    ("/api/v1/sites/demo/articles/a//b/comments", 400, "invalid_article"),
    (f"/api/v1/sites/demo/articles/{'a' * 201}/comments", 400, "invalid_article"),
]


@pytest.mark.parametrize(("path", "status", "code"), BAD_THREADS)
def test_bad_thread_is_refused_on_post_and_get(
    app: Flask, client: FlaskClient, path: str, status: int, code: str
) -> None:
    before = snapshot(app)
    for response in (client.post(path, json={"author": "a", "body": "b"}), client.get(path)):
        assert response.status_code == status
        assert response.get_json()["error"] == code
    assert snapshot(app) == before


def test_reply_to_a_pending_comment_is_refused(app: Flask, client: FlaskClient) -> None:
    parent = post_comment(client).get_json()["id"]
    before = snapshot(app)
    response = post_comment(client, parent_id=parent)
    assert response.status_code == 400
    assert "parent_id" in response.get_json()["fields"]
    assert snapshot(app) == before


def test_reply_across_articles_is_refused(client: FlaskClient) -> None:
    parent = post_comment(client).get_json()["id"]
    approve(client, parent)
    other = "/api/v1/sites/demo/articles/sport"
    assert post_comment(client, thread=other, parent_id=parent).status_code == 400


def test_closed_article_refuses_with_403(app: Flask, client: FlaskClient) -> None:
    post_comment(client)
    with app.app_context():
        db.session.execute(db.update(Article).values(closed=True))
        db.session.commit()
    before = snapshot(app)
    response = post_comment(client)
    assert response.status_code == 403
    assert response.get_json()["error"] == "closed"
    assert snapshot(app) == before
    # The request checks come first (docs/abuse-protection.md): a forged form is refused
    # as such, before the article is looked at.
    forged = post_comment(client, form_token="forged")
    assert forged.status_code == 400
    assert forged.get_json()["error"] == "invalid_form_token"
    assert snapshot(app) == before


def test_paused_site_refuses_with_403(app: Flask, client: FlaskClient) -> None:
    from moderation.models import Site

    with app.app_context():
        db.session.execute(db.update(Site).values(paused=True))
        db.session.commit()
    response = post_comment(client)
    assert response.status_code == 403
    assert response.get_json()["error"] == "paused"


def test_wrong_method_is_a_json_405(client: FlaskClient) -> None:
    response = client.put(f"{THREAD}/comments", json={})
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"


def test_unknown_api_path_is_a_json_404(client: FlaskClient) -> None:
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_unknown_page_is_an_html_404(client: FlaskClient) -> None:
    response = client.get("/nothing")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


# --- CORS ------------------------------------------------------------------------------------


def test_preflight_from_an_allowed_origin(client: FlaskClient) -> None:
    response = client.options(
        f"{THREAD}/comments",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize("origin", ["https://evil.example", "http://news.example", "null"])
def test_preflight_from_another_origin_is_refused(client: FlaskClient, origin: str) -> None:
    response = client.options(
        f"{THREAD}/comments",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_preflight_for_an_unknown_site(client: FlaskClient) -> None:
    response = client.options(
        "/api/v1/sites/nope/articles/a/comments",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 404


def test_errors_on_post_are_readable_by_the_allowed_page(client: FlaskClient) -> None:
    response = post_comment(client, body="", headers={"Origin": ORIGIN})
    assert response.status_code == 400
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_reading_is_open_to_every_origin_without_credentials(client: FlaskClient) -> None:
    response = client.get(f"{THREAD}/comments", headers={"Origin": "https://any.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Set-Cookie" not in response.headers


# --- GET list --------------------------------------------------------------------------------


def test_list_of_an_article_nobody_commented_on(client: FlaskClient) -> None:
    response = client.get("/api/v1/sites/demo/articles/neu/comments")
    assert response.status_code == 200
    assert response.get_json() == {"comments": [], "count": 0, "next": None}
    assert response.headers["ETag"]
    assert response.headers["Cache-Control"] == "public, max-age=0, must-revalidate, s-maxage=10"


def test_list_shows_approved_only_oldest_first(client: FlaskClient) -> None:
    ids = [post_comment(client, body=f"Nummer {n}").get_json()["id"] for n in range(4)]
    for comment_id in (ids[2], ids[0], ids[3]):
        approve(client, comment_id)
    body = client.get(f"{THREAD}/comments").get_json()
    assert [c["id"] for c in body["comments"]] == [ids[0], ids[2], ids[3]]
    assert body["count"] == 3
    first = body["comments"][0]
    assert set(first) == {"id", "parent_id", "author", "html", "created_at", "staff", "featured"}
    assert first["html"] == "<p>Nummer 0</p>"
    assert first["created_at"].endswith("Z")
    assert "email" not in json.dumps(body)


def test_list_pages_with_a_cursor(client: FlaskClient) -> None:
    ids = [post_comment(client, body=f"Nummer {n}").get_json()["id"] for n in range(5)]
    for comment_id in ids:
        approve(client, comment_id)
    seen = []
    url = f"{THREAD}/comments?limit=2"
    pages = 0
    while url:
        body = client.get(url).get_json()
        seen += [c["id"] for c in body["comments"]]
        assert body["count"] == 5
        pages += 1
        url = f"{THREAD}/comments?limit=2&after={body['next']}" if body["next"] else None
    assert seen == ids
    assert pages == 3


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=201", "limit=abc", "limit=-1", "after=x", "after=-5", "limit=1.5"]
)
def test_bad_list_parameters(client: FlaskClient, query: str) -> None:
    response = client.get(f"{THREAD}/comments?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid"


def test_etag_and_304(client: FlaskClient) -> None:
    first = client.get(f"{THREAD}/comments")
    etag = first.headers["ETag"]
    again = client.get(f"{THREAD}/comments", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    comment_id = post_comment(client).get_json()["id"]
    # A pending comment does not change the public list.
    assert client.get(f"{THREAD}/comments", headers={"If-None-Match": etag}).status_code == 304
    approve(client, comment_id)
    changed = client.get(f"{THREAD}/comments", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag


def test_etag_differs_per_page(client: FlaskClient) -> None:
    a = client.get(f"{THREAD}/comments?limit=1").headers["ETag"]
    b = client.get(f"{THREAD}/comments?limit=2").headers["ETag"]
    assert a != b


# --- counts ----------------------------------------------------------------------------------


def test_counts(client: FlaskClient) -> None:
    for _ in range(2):
        approve(client, post_comment(client).get_json()["id"])
    post_comment(client)  # pending: not counted
    response = client.get(
        "/api/v1/sites/demo/counts?article=politik/2026/russland-usa&article=nie-kommentiert"
    )
    assert response.status_code == 200
    assert response.get_json() == {"counts": {"politik/2026/russland-usa": 2, "nie-kommentiert": 0}}
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("", 400, "invalid"),
        ("article=" + "&article=".join(f"a{n}" for n in range(201)), 400, "invalid"),
        ("article=-x", 400, "invalid_article"),
    ],
)
def test_bad_counts(client: FlaskClient, query: str, status: int, code: str) -> None:
    response = client.get(f"/api/v1/sites/demo/counts?{query}")
    assert response.status_code == status
    assert response.get_json()["error"] == code


def test_counts_for_an_unknown_site(client: FlaskClient) -> None:
    response = client.get("/api/v1/sites/nope/counts?article=a")
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_site"


# --- form token ------------------------------------------------------------------------------


def test_form_token_round_trip(app: Flask, client: FlaskClient) -> None:
    response = client.get(f"{THREAD}/form-token")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    token = response.get_json()["token"]
    comment_id = post_comment(client, form_token=token).get_json()["id"]
    with app.app_context():
        assert db.session.get(Comment, comment_id).reasons == []


def test_form_token_of_another_article_is_refused(client: FlaskClient) -> None:
    token = client.get("/api/v1/sites/demo/articles/sport/form-token").get_json()["token"]
    response = post_comment(client, form_token=token)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_form_token"
    assert "reload" in response.get_json()["message"]


def test_form_token_for_an_unknown_site(client: FlaskClient) -> None:
    assert client.get("/api/v1/sites/nope/articles/a/form-token").status_code == 404


def test_form_token_tells_the_form_language_limits_and_whether_closed(
    app: Flask, client: FlaskClient
) -> None:
    body = client.get(f"{THREAD}/form-token").get_json()
    assert set(body) == {"token", "language", "closed", "limits"}
    assert body["language"] == "de" and body["closed"] is False
    assert body["limits"] == {"author": 80, "body": 5000}
    post_comment(client)
    with app.app_context():
        db.session.execute(db.update(Article).values(closed=True))
        db.session.commit()
    assert client.get(f"{THREAD}/form-token").get_json()["closed"] is True
    assert client.get("/api/v1/sites/demo/articles/other/form-token").get_json()["closed"] is False
    with app.app_context():
        db.session.execute(db.update(Site).values(paused=True, language="en"))
        db.session.commit()
        heard_by_this_worker(app)
    paused = client.get("/api/v1/sites/demo/articles/other/form-token").get_json()
    assert paused["closed"] is True and paused["language"] == "en"


def test_a_write_answer_lets_the_widget_read_retry_after(client: FlaskClient) -> None:
    response = post_comment(client, headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Expose-Headers"] == "Retry-After"


# --- withdrawal ------------------------------------------------------------------------------


def test_author_withdraws_with_the_token(app: Flask, client: FlaskClient) -> None:
    created = post_comment(client, email="anna@example.org").get_json()
    response = client.delete(
        f"/api/v1/comments/{created['id']}", headers={"X-Comment-Token": created["token"]}
    )
    assert response.status_code == 200
    assert response.get_json() == {"id": created["id"], "status": "withdrawn"}
    with app.app_context():
        comment = db.session.get(Comment, created["id"])
        assert comment.status == CommentStatus.WITHDRAWN
        assert comment.body_raw == comment.body_html == ""
        assert comment.email is None
    # Twice is harmless.
    again = client.delete(
        f"/api/v1/comments/{created['id']}", headers={"X-Comment-Token": created["token"]}
    )
    assert again.status_code == 200


def test_withdrawing_an_approved_comment_takes_it_off_the_list(client: FlaskClient) -> None:
    created = post_comment(client).get_json()
    approve(client, created["id"])
    etag = client.get(f"{THREAD}/comments").headers["ETag"]
    client.delete(
        f"/api/v1/comments/{created['id']}", headers={"X-Comment-Token": created["token"]}
    )
    response = client.get(f"{THREAD}/comments", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.get_json()["count"] == 0


@pytest.mark.parametrize(
    ("which", "headers", "status", "code"),
    [
        ("own", {}, 400, "missing_token"),
        # A wrong token and a missing comment get the same answer: no oracle for ids.
        ("own", {"X-Comment-Token": "wrong"}, 404, "unknown_comment"),
        ("other", "own-token", 404, "unknown_comment"),
        ("missing", {"X-Comment-Token": "x"}, 404, "unknown_comment"),
        ("huge", {"X-Comment-Token": "x"}, 404, "unknown_comment"),
        ("own", {"X-Comment-Token": "wrong", "Origin": "https://evil.example"}, 404, None),
        ("own", "own-token-from-evil", 403, "forbidden_origin"),
    ],
)
def test_bad_withdrawals(
    app: Flask,
    client: FlaskClient,
    which: str,
    headers: dict | str,
    status: int,
    code: str | None,
) -> None:
    own = post_comment(client).get_json()
    other = post_comment(client).get_json()
    if headers == "own-token":
        headers = {"X-Comment-Token": own["token"]}
    elif headers == "own-token-from-evil":
        headers = {"X-Comment-Token": own["token"], "Origin": "https://evil.example"}
    target = {"own": own["id"], "other": other["id"], "missing": 999, "huge": 10**20}[which]
    code = code or "unknown_comment"
    before = snapshot(app)
    response = client.delete(f"/api/v1/comments/{target}", headers=headers)
    assert response.status_code == status
    assert response.get_json()["error"] == code
    assert snapshot(app) == before


def test_withdrawal_preflight(client: FlaskClient) -> None:
    own = post_comment(client).get_json()
    ok = client.options(
        f"/api/v1/comments/{own['id']}",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"},
    )
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "X-Comment-Token" in ok.headers["Access-Control-Allow-Headers"]
    refused = client.options(
        f"/api/v1/comments/{own['id']}",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"},
    )
    assert refused.status_code == 403


def test_an_unexpected_error_is_a_json_500_without_traceback(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moderation import approved

    def broken(*args: object) -> dict:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(approved, "approved_page", broken)
    response = client.get(f"{THREAD}/comments")
    assert response.status_code == 500
    assert response.get_json() == {
        "error": "internal",
        "message": "Something went wrong on our side.",
    }
    assert b"secret internals" not in response.data


def test_the_api_has_no_cookie_session(app: Flask, client: FlaskClient) -> None:
    from flask import session
    from flask.sessions import NullSession

    with app.test_request_context(f"{THREAD}/comments"):
        assert isinstance(session, NullSession)
    with app.test_request_context("/embed/demo/x"):
        assert not isinstance(session, NullSession)
    response = client.get(f"{THREAD}/comments")
    assert "Set-Cookie" not in response.headers and "Cookie" not in response.vary


def test_withdrawal_preflight_does_not_tell_which_ids_exist(client: FlaskClient) -> None:
    own = post_comment(client).get_json()
    answers = [
        client.options(
            f"/api/v1/comments/{comment_id}",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"},
        )
        for comment_id in (own["id"], 999, 2**31 - 1)
    ]
    assert {(a.status_code, a.headers.get("Access-Control-Allow-Origin")) for a in answers} == {
        (204, ORIGIN)
    }


# --- findings of the security review (issue 16) ---------------------------------------------


def test_a_form_token_is_readable_only_by_the_sites_pages(client: FlaskClient) -> None:
    allowed = client.get(f"{THREAD}/form-token", headers={"Origin": ORIGIN})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in allowed.vary
    foreign = client.get(f"{THREAD}/form-token", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert "Access-Control-Allow-Origin" not in foreign.headers
    assert "token" not in foreign.get_json()
    plain = client.get(f"{THREAD}/form-token")  # a same-origin fetch sends no Origin
    assert plain.status_code == 200 and plain.get_json()["token"]
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_a_form_token_posts_one_comment(app: Flask, client: FlaskClient) -> None:
    token = client.get(f"{THREAD}/form-token").get_json()["token"]
    assert post_comment(client, form_token=token).status_code == 202
    before = snapshot(app)
    again = post_comment(client, form_token=token, body="Noch einmal")
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_form_token"
    assert snapshot(app) == before


def test_tokens_of_the_same_second_differ(client: FlaskClient) -> None:
    tokens = {client.get(f"{THREAD}/form-token").get_json()["token"] for _ in range(5)}
    assert len(tokens) == 5


def test_a_refused_submission_leaves_its_token_usable(client: FlaskClient) -> None:
    token = client.get(f"{THREAD}/form-token").get_json()["token"]
    assert post_comment(client, form_token=token, parent_id=12345).status_code == 400
    assert post_comment(client, form_token=token).status_code == 202


def test_deeply_nested_json_is_a_400(app: Flask, client: FlaskClient) -> None:
    before = snapshot(app)
    body = '{"author": ' + "[" * 1100 + "]" * 1100 + "}"
    response = client.post(
        f"{THREAD}/comments", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_json"
    assert snapshot(app) == before


@pytest.mark.parametrize("field", ["author", "body", "email", "title", "url", "form_token"])
def test_lone_surrogates_are_a_400_naming_the_field(
    app: Flask, client: FlaskClient, field: str
) -> None:
    before = snapshot(app)
    payload = {"author": "Anna", "body": "Ein Text.", field: "Bad \ud800 text"}
    response = client.post(
        f"{THREAD}/comments",
        data=json.dumps(payload),  # ASCII JSON with the escape "\ud800", as a client sends it
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert field in response.get_json()["fields"]
    assert snapshot(app) == before


@pytest.mark.parametrize("key", ["a/../x", "a/./b", "a/%2e%2e/b", "a/", "a/..", "x/."])
def test_article_keys_with_dot_segments_or_a_trailing_slash_are_refused(
    app: Flask, client: FlaskClient, key: str
) -> None:
    before = snapshot(app)
    thread = f"/api/v1/sites/demo/articles/{key}"
    posted = post_comment(client, thread=thread)
    assert posted.status_code == 400 and posted.get_json()["error"] == "invalid_article"
    assert client.get(f"{thread}/comments").status_code == 400
    assert client.get("/api/v1/sites/demo/counts", query_string={"article": key}).status_code == 400
    assert client.get(f"/embed/demo/{key}").status_code == 400
    assert snapshot(app) == before


def test_article_url_must_be_on_the_sites_origins(app: Flask, client: FlaskClient) -> None:
    before = snapshot(app)
    foreign = post_comment(
        client, title="Moderators: re-login required", url="https://evil.example/login"
    )
    assert foreign.status_code == 400
    assert "url" in foreign.get_json()["fields"]
    assert snapshot(app) == before
    own = post_comment(client, title="Der Artikel", url=f"{ORIGIN}/politik/2026/russland-usa")
    assert own.status_code == 202
    with app.app_context():
        article = db.session.scalars(db.select(Article)).one()
        assert article.url == f"{ORIGIN}/politik/2026/russland-usa"
        assert article.title == "Der Artikel" and article.title_confirmed is False


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example\\@news.example/x",
        "https://user@news.example/x",
        "https://news.example.evil.example/x",
        "https://news.example:8443/x",
        "http://news.example/x",
        "https://news.example/\u202ex",
        "https://news.example/ x",
        "https://news.example:99999/x",
        "https://[news.example/x",
    ],
)
def test_article_urls_that_lead_elsewhere_are_refused(
    app: Flask, client: FlaskClient, url: str
) -> None:
    before = snapshot(app)
    response = post_comment(client, url=url)
    assert response.status_code == 400
    assert "url" in response.get_json()["fields"]
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("author", "\u200b\u200b"),
        ("author", "\u3164"),
        ("author", "\u202e\u2066 \u2069"),
        ("body", "\u200b\u200c\u200d\ufeff"),
        ("body", "\u2800\u2800\n\u3164"),
    ],
)
def test_names_and_bodies_with_nothing_visible_are_refused(
    app: Flask, client: FlaskClient, field: str, value: str
) -> None:
    before = snapshot(app)
    response = post_comment(client, **{field: value})
    assert response.status_code == 400
    assert field in response.get_json()["fields"]
    assert snapshot(app) == before


def test_invisible_characters_are_stripped_from_names(app: Flask, client: FlaskClient) -> None:
    names = {"ad\u200bmin": "admin", "Bo\u202eb": "Bob", "\u2066Eve\u2069": "Eve"}
    for sent, kept in names.items():
        comment_id = post_comment(client, author=sent).get_json()["id"]
        with app.app_context():
            assert db.session.get(Comment, comment_id).author == kept
    # Joiners inside emoji and scripts that need them stay.
    family = "\U0001f468\u200d\U0001f469"
    comment_id = post_comment(client, author=family).get_json()["id"]
    with app.app_context():
        assert db.session.get(Comment, comment_id).author == family


def test_the_public_url_is_the_own_origin_not_the_host_header(app: Flask) -> None:
    """DNS rebinding: a page on a name that points at us sends a Host that matches its Origin."""
    app.config["PUBLIC_URL"] = "https://comments.example.org/"
    client = app.test_client()
    rebound = {"Origin": "http://rebound.example", "Host": "rebound.example"}
    assert post_comment(client, headers=rebound).status_code == 403
    own = {"Origin": "https://comments.example.org", "Host": "rebound.example"}
    assert post_comment(client, headers=own).status_code == 202


def test_a_flood_is_refused_before_its_text_is_rendered(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moderation import sanitize

    app.config["RATE_LIMIT_PER_MINUTE"] = 2
    for n in range(2):
        assert post_comment(client, body=f"Kommentar {n}").status_code == 202
    rendered = []
    real_render = sanitize.render
    monkeypatch.setattr(sanitize, "render", lambda text: rendered.append(text) or real_render(text))
    refused = post_comment(client, body="a" * 5000)
    assert refused.status_code == 429
    assert rendered == []


def test_a_body_dense_with_markup_is_refused_before_rendering(
    app: Flask, client: FlaskClient
) -> None:
    from moderation.rules import MAX_MARKUP_CHARACTERS

    before = snapshot(app)
    dense = post_comment(client, body="a <" * MAX_MARKUP_CHARACTERS + " & b")
    assert dense.status_code == 400
    assert "<" in dense.get_json()["fields"]["body"]
    assert snapshot(app) == before
    assert post_comment(client, body="a &" * MAX_MARKUP_CHARACTERS).status_code == 202


def test_browsers_revalidate_lists_and_counts_shared_caches_may_keep_them(
    app: Flask, client: FlaskClient
) -> None:
    """A reader sees a decision on the next load; a CDN may hold the answer s-maxage seconds."""
    approve(client, post_comment(client).get_json()["id"])
    counts = "/api/v1/sites/demo/counts?article=politik/2026/russland-usa"
    for url in (f"{THREAD}/comments", counts):
        first = client.get(url)
        assert first.headers["Cache-Control"] == "public, max-age=0, must-revalidate, s-maxage=10"
        again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304
    app.config.update(LIST_MAX_AGE=30, LIST_SHARED_MAX_AGE=120)
    for url in (f"{THREAD}/comments", counts):
        assert client.get(url).headers["Cache-Control"] == "public, max-age=30, s-maxage=120"
    approve(client, post_comment(client, body="Zweiter").get_json()["id"])
    fresh = client.get(counts, headers={"If-None-Match": first.headers["ETag"]})
    assert fresh.status_code == 200 and fresh.get_json()["counts"] == {
        "politik/2026/russland-usa": 2
    }


def test_a_comment_is_numbered_from_its_serial_columns_sequence(
    app: Flask, client: FlaskClient
) -> None:
    """On PostgreSQL a submission draws its comment's number itself, with its reads
    (submission._NEXT_COMMENT_ID): from the sequence PostgreSQL made for the serial id."""
    from sqlalchemy import text

    from moderation import submission

    first = post_comment(client).get_json()["id"]
    assert post_comment(client, body="Noch einer.").get_json()["id"] == first + 1
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return  # SQLite numbers the row as it inserts it
        sequence = db.session.scalar(text("SELECT pg_get_serial_sequence('comment', 'id')"))
    assert f"nextval('{sequence.removeprefix('public.')}')" in submission._NEXT_COMMENT_ID
