"""The newsroom's voice (issue 14, section 3): staff replies and editors' picks from the
moderator's comment page (CSRF, bad input, audit, outbox, the reply mail), and the list API's
``staff``/``featured`` fields and ``?sort=`` orders, each with its own ETag, answered alike by
the fast path and by Flask."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import THREAD, approve, deliver, outbox_rows, post_comment, snapshot
from moderator_ui import csrf_token, logged_in, post
from servers import MailServer
from werkzeug.test import Client

from moderation import approved
from moderation.extensions import db
from moderation.models import Article, Comment, ModerationEvent
from moderation.public.fast_path import FastPath

LIST = f"{THREAD}/comments"
PUBLIC = "https://kommentare.example"


@pytest.fixture
def mod(app: Flask) -> FlaskClient:
    return logged_in(app)


def published(client: FlaskClient, n: int = 1, **fields: object) -> list[int]:
    ids = []
    for i in range(n):
        response = post_comment(client, body=f"Beitrag {i}.", **fields)
        assert response.status_code == 202, response.get_json()
        ids.append(response.get_json()["id"])
        approve(client, ids[-1])
    return ids


def article_version(app: Flask) -> int:
    with app.app_context():
        version = db.session.scalar(db.select(Article.version))
        db.session.remove()
    return int(version or 0)


# --- staff replies -----------------------------------------------------------------------------


def test_a_staff_reply_is_published_at_once_audited_and_announced(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    (parent,) = published(client)
    before = article_version(app)
    page = mod.get(f"/moderate/comments/{parent}").get_data(as_text=True)
    assert "Als Redaktion antworten" in page or "Reply as the newsroom" in page
    response = post(
        mod, f"/moderate/comments/{parent}/staff-reply", {"body": "Danke, wir prüfen das."}
    )
    assert response.status_code == 302
    with app.app_context():
        reply = db.session.scalars(db.select(Comment).where(Comment.parent_id == parent)).one()
        assert (reply.staff, reply.status.value, reply.author) == (True, "approved", "Demo-Zeitung")
        assert reply.body_html == "<p>Danke, wir prüfen das.</p>"
        assert reply.decided_by is not None and reply.decided_by.username == "mona"
        event = db.session.scalars(
            db.select(ModerationEvent).where(ModerationEvent.comment_id == reply.id)
        ).one()
        assert (event.actor_name, event.to_status.value, event.note) == (
            "mona",
            "approved",
            "staff reply",
        )
        reply_id = reply.id
        db.session.remove()
    assert response.headers["Location"].endswith(f"/moderate/comments/{reply_id}")
    assert article_version(app) > before
    assert [row.comment_id for row in outbox_rows(app, topic="comment.approved")][-1] == reply_id
    listed = client.get(LIST).get_json()
    assert listed["count"] == 2
    assert [(c["id"], c["staff"], c["parent_id"]) for c in listed["comments"]] == [
        (parent, False, None),
        (reply_id, True, parent),
    ]


def test_the_answered_reader_gets_the_reply_mail(
    app: Flask, client: FlaskClient, mod: FlaskClient, mail_server: MailServer
) -> None:
    import re

    app.config["PUBLIC_URL"] = PUBLIC
    response = post_comment(client, email="anna@example.org", notify=True)
    parent = response.get_json()["id"]
    deliver(app)
    confirmation = mail_server.to("anna@example.org")[-1]
    body = confirmation.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(rf"{re.escape(PUBLIC)}(/notifications/confirm/[\w.\-]+)", body.get_content())
    assert found
    origin = {"Sec-Fetch-Site": "same-origin", "Origin": PUBLIC}
    assert client.post(found.group(1), headers=origin).status_code == 200
    approve(client, parent)
    deliver(app)
    post(mod, f"/moderate/comments/{parent}/staff-reply", {"body": "Danke für den Hinweis."})
    deliver(app)
    last = mail_server.to("anna@example.org")[-1]
    assert "Demo-Zeitung" in str(last["Subject"])
    text = last.get_body(preferencelist=("plain",))
    assert text is not None and "Danke für den Hinweis." in text.get_content()


@pytest.mark.parametrize(
    ("body", "status"),
    [("", 400), ("   \n ", 400), ("x" * 5001, 400)],
    ids=["empty", "blank", "too-long"],
)
def test_a_bad_staff_reply_changes_nothing(
    app: Flask, client: FlaskClient, mod: FlaskClient, body: str, status: int
) -> None:
    (parent,) = published(client)
    before = snapshot(app)
    response = post(mod, f"/moderate/comments/{parent}/staff-reply", {"body": body})
    assert response.status_code == status
    assert snapshot(app) == before


def test_staff_replies_and_picks_need_a_published_comment_csrf_and_login(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    pending = post_comment(client).get_json()["id"]
    (parent,) = published(client)
    before = snapshot(app)
    # Not published (any more): refused, nothing written.
    assert (
        post(mod, f"/moderate/comments/{pending}/staff-reply", {"body": "Hallo"}).status_code == 409
    )
    assert post(mod, f"/moderate/comments/{pending}/pick").status_code == 409
    assert post(mod, "/moderate/comments/999999/pick").status_code == 404
    assert post(mod, f"/moderate/comments/{parent}/feature").status_code == 400
    # A forged or missing token, or no login: refused, nothing written.
    forged = {"csrf_token": "forged", "body": "Hallo"}
    assert mod.post(f"/moderate/comments/{parent}/staff-reply", data=forged).status_code == 400
    assert mod.post(f"/moderate/comments/{parent}/pick", data={}).status_code == 400
    stranger = app.test_client()
    token = csrf_token(stranger)
    answer = stranger.post(f"/moderate/comments/{parent}/pick", data={"csrf_token": token})
    assert answer.status_code == 302 and "/moderate/login" in answer.headers["Location"]
    assert snapshot(app) == before


# --- editors' picks ----------------------------------------------------------------------------


def test_a_pick_is_audited_and_changes_the_list_and_its_etag(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    first, second = published(client, 2)
    etag = client.get(f"{LIST}?sort=featured").headers["ETag"]
    assert post(mod, f"/moderate/comments/{second}/pick").status_code == 302
    assert "Remove from editors" in mod.get(f"/moderate/comments/{second}").get_data(as_text=True)
    again = client.get(f"{LIST}?sort=featured", headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["ETag"] != etag
    assert [(c["id"], c["featured"]) for c in again.get_json()["comments"]] == [
        (second, True),
        (first, False),
    ]
    # Picking again changes nothing; unpicking restores the order.
    version = article_version(app)
    assert post(mod, f"/moderate/comments/{second}/pick").status_code == 302
    assert article_version(app) == version
    assert post(mod, f"/moderate/comments/{second}/unpick").status_code == 302
    assert [c["id"] for c in client.get(f"{LIST}?sort=featured").get_json()["comments"]] == [
        first,
        second,
    ]
    with app.app_context():
        notes = db.session.scalars(
            db.select(ModerationEvent.note)
            .where(ModerationEvent.comment_id == second, ModerationEvent.actor_name == "mona")
            .order_by(ModerationEvent.id)
        ).all()
        db.session.remove()
    assert notes == ["editors' pick", "editors' pick removed"]


# --- the list's orders -------------------------------------------------------------------------


def pick(app: Flask, comment_id: int) -> None:
    with app.app_context():
        db.session.get(Comment, comment_id).featured = True  # type: ignore[union-attr]
        db.session.execute(db.update(Article).values(version=Article.version + 1))
        db.session.commit()


def pages(client: FlaskClient, query: str) -> list[int]:
    """Every id of the list in this order, following the cursor page by page."""
    seen: list[int] = []
    url = f"{LIST}?limit=2&{query}"
    while True:
        body = client.get(url).get_json()
        seen += [c["id"] for c in body["comments"]]
        if not body["next"]:
            return seen
        url = f"{LIST}?limit=2&{query}&after={body['next']}"


def test_each_order_pages_through_the_whole_list(app: Flask, client: FlaskClient) -> None:
    ids = published(client, 5)
    pick(app, ids[1])
    pick(app, ids[3])
    assert pages(client, "sort=oldest") == pages(client, "") == ids
    assert pages(client, "sort=newest") == ids[::-1]
    assert pages(client, "sort=featured") == [ids[1], ids[3], ids[0], ids[2], ids[4]]
    first = client.get(f"{LIST}?limit=1&sort=featured").get_json()
    assert first["next"] == str(-ids[1])  # a place among the picks


def test_each_order_has_its_own_etag_and_304(client: FlaskClient) -> None:
    published(client, 2)
    etags = {sort: client.get(f"{LIST}?sort={sort}").headers["ETag"] for sort in approved.SORTS}
    assert len(set(etags.values())) == 3
    assert client.get(LIST).headers["ETag"] == etags["oldest"]
    for sort, etag in etags.items():
        assert client.get(f"{LIST}?sort={sort}", headers={"If-None-Match": etag}).status_code == 304
    other = client.get(f"{LIST}?sort=newest", headers={"If-None-Match": etags["oldest"]})
    assert other.status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "sort=best",
        "sort=OLDEST",
        "after=x",
        "sort=newest&after=-1",
        "sort=featured&after=-2147483648",
    ],
)
def test_a_bad_sort_or_cursor_is_a_400(client: FlaskClient, query: str) -> None:
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid"
    assert set(body["fields"]) <= {"sort", "after"}


@pytest.mark.parametrize(
    "query", ["?sort=newest", "?sort=featured", "?sort=featured&limit=1", "?sort=oldest&after=1"]
)
def test_the_fast_path_answers_each_order_as_flask_does(
    app: Flask, client: FlaskClient, query: str
) -> None:
    ids = published(client, 3)
    pick(app, ids[2])
    fast = app.wsgi_app
    assert isinstance(fast, FastPath)
    flask_alone = Client(fast.app)
    first = client.get(LIST + query)  # Flask builds and caches the page
    cached = client.get(LIST + query)  # the fast path answers it
    alone = flask_alone.get(LIST + query)
    assert (cached.status, cached.data) == (first.status, first.data) == (alone.status, alone.data)
    assert cached.headers["ETag"] == alone.headers["ETag"]
    etag = cached.headers["ETag"]
    assert client.get(LIST + query, headers={"If-None-Match": etag}).status_code == 304


# --- the page without JavaScript ---------------------------------------------------------------

PAGE = "/embed/demo/politik/2026/russland-usa"


def test_the_page_shows_the_badges_and_pages_in_each_order(app: Flask, client: FlaskClient) -> None:
    app.config["LIST_DEFAULT_LIMIT"] = 2
    ids = published(client, 5)
    pick(app, ids[4])
    with app.app_context():
        db.session.get(Comment, ids[0]).staff = True  # type: ignore[union-attr]
        db.session.commit()
        db.session.remove()
    html = client.get(PAGE).get_data(as_text=True)
    assert html.count('class="cm-badge cm-staff">Redaktion<') == 1
    assert f'href="{PAGE}?sort=featured"' in html and f'href="{PAGE}?sort=newest"' in html
    # Picks first, and the next page's link keeps the order (and the cursor among the picks).
    featured = client.get(f"{PAGE}?sort=featured").get_data(as_text=True)
    assert "Redaktionsempfehlung" in featured
    assert featured.index(f'id="comment-{ids[4]}"') < featured.index(f'id="comment-{ids[0]}"')
    assert f"{PAGE}?sort=featured&amp;after={ids[0]}" in featured
    newest = client.get(f"{PAGE}?sort=newest&after={ids[3]}").get_data(as_text=True)
    assert f'id="comment-{ids[2]}"' in newest and f'id="comment-{ids[4]}"' not in newest
    assert f"{PAGE}?sort=newest&amp;after={ids[1]}" in newest
    assert f'href="{PAGE}?sort=newest"' in newest  # back to the start, in the same order
    # An unknown order is the default one.
    assert client.get(f"{PAGE}?sort=best").status_code == 200
