from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import post_comment

from moderation.errors import Conflict, InvalidInput, NotFound
from moderation.extensions import db
from moderation.models import Article, Comment, CommentStatus
from moderation.review import (
    Actor,
    Cursor,
    Decision,
    QueueFilter,
    decide,
    decide_many,
    find_comments,
    get_article,
    get_comment,
    history,
    pending_queue,
    set_article_closed,
    set_article_title,
)
from moderation.sites import create_site


def _article(app: Flask) -> Article:
    return db.session.scalars(db.select(Article)).one()


def test_queue_is_oldest_first_and_pending_only(app: Flask, client: FlaskClient) -> None:
    ids = [post_comment(client, body=f"n{n}").get_json()["id"] for n in range(3)]
    with app.app_context():
        decide(ids[1], "spam", Actor("t"))
        assert [c.id for c in pending_queue()] == [ids[0], ids[2]]
        assert [c.id for c in pending_queue(limit=1)] == [ids[0]]


def test_queue_per_site(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        create_site("other", "Andere", [], "en")
    mine = post_comment(client).get_json()["id"]
    theirs = post_comment(client, thread="/api/v1/sites/other/articles/x").get_json()["id"]
    with app.app_context():
        assert [c.id for c in pending_queue(site="demo")] == [mine]
        assert [c.id for c in pending_queue(site="other")] == [theirs]
        assert pending_queue(site="nope") == []


@pytest.mark.parametrize(
    ("steps", "count"),
    [
        (["approve"], 1),
        (["reject"], 0),
        (["approve", "reject"], 0),
        (["spam", "approve"], 1),
        (["approve", "spam", "approve"], 1),
    ],
)
def test_decisions_keep_count_and_version_in_step(
    app: Flask, client: FlaskClient, steps: list[str], count: int
) -> None:
    comment_id = post_comment(client).get_json()["id"]
    with app.app_context():
        for step in steps:
            decide(comment_id, step, Actor("t", None), note=step)
        article = _article(app)
        assert article.approved_count == count
        events = history(comment_id)
        assert [e.note for e in events] == steps
        assert events[0].from_status == CommentStatus.PENDING
        comment = db.session.get(Comment, comment_id)
        assert comment.status == Decision(steps[-1]).status
        assert comment.decided_at is not None


def test_deciding_the_same_twice_changes_nothing(app: Flask, client: FlaskClient) -> None:
    comment_id = post_comment(client).get_json()["id"]
    with app.app_context():
        assert decide(comment_id, "approve", Actor("t")) is not None
        version = _article(app).version
        assert decide(comment_id, "approve", Actor("t")) is None
        db.session.expire_all()
        assert _article(app).version == version
        assert len(history(comment_id)) == 1


def test_bad_decisions(app: Flask, client: FlaskClient) -> None:
    created = post_comment(client).get_json()
    client.delete(
        f"/api/v1/comments/{created['id']}", headers={"X-Comment-Token": created["token"]}
    )
    with app.app_context():
        with pytest.raises(InvalidInput):
            decide(created["id"], "publish", Actor("t"))
        with pytest.raises(NotFound):
            decide(9999, "approve", Actor("t"))
        with pytest.raises(Conflict):
            decide(created["id"], "approve", Actor("t"))
        assert [e.actor_name for e in history(created["id"])] == ["author"]


# --- issue 16: numbers that cannot be ids, and titles a moderator confirms --------------------

NOT_IDS = [0, -1, 2**31, 2**63, 10**20]


@pytest.mark.parametrize("number", NOT_IDS)
def test_a_number_that_cannot_be_an_id_finds_nothing(
    app: Flask, client: FlaskClient, number: int
) -> None:
    """Such numbers made the driver raise (PostgreSQL ids are 32-bit) instead of finding none."""
    post_comment(client)
    with app.app_context():
        for use_case in (
            lambda: get_comment(number),
            lambda: get_article(number),
            lambda: decide(number, "approve", Actor("t")),
            lambda: set_article_closed(number, True),
            lambda: set_article_title(number, "Titel"),
        ):
            with pytest.raises(NotFound):
                use_case()
        with pytest.raises(InvalidInput):
            find_comments(QueueFilter(article_id=number))


def test_bulk_skips_numbers_that_cannot_be_ids(app: Flask, client: FlaskClient) -> None:
    comment_id = post_comment(client).get_json()["id"]
    with app.app_context():
        result = decide_many([comment_id, *NOT_IDS], "approve", Actor("t"))
        assert result.changed == [comment_id]
        assert result.skipped == sorted(NOT_IDS)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "1",
        "1.",
        ".1",
        "1.1.1",
        "1.0",
        f"1.{2**31}",
        f"1.{'9' * 20}",
        f"{'9' * 19}.1",
        f"{'9' * 20}.1",
        "+1.1",
        " 1.1",
        "1.1 ",
        "1.1\n",
        "1_0.1",
        "1.1_0",
        "１.1",
        "1.²",
        "١.١",
        "1e3.1",
    ],
)
def test_a_cursor_is_what_encode_makes_and_nothing_else(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        Cursor.decode(cursor)


def test_a_cursor_survives_the_round_trip() -> None:
    cursor = Cursor(datetime(2026, 11, 30, 7, 1, 2, 345678, tzinfo=UTC), 2**31 - 1)
    assert Cursor.decode(cursor.encode()) == cursor


def test_a_confirmed_title_is_the_moderators(app: Flask, client: FlaskClient) -> None:
    post_comment(client, title="Moderators: re-login required")
    with app.app_context():
        article_id = _article(app).id
        assert not _article(app).title_confirmed
        set_article_title(article_id, "  Die\u200b Wahl\u202e\t2026 ")
        assert (_article(app).title, _article(app).title_confirmed) == ("Die Wahl 2026", True)
        set_article_title(article_id, None)
        assert (_article(app).title, _article(app).title_confirmed) == (None, False)


@pytest.mark.parametrize("title", ["", " ", "\u200b\u202e", "x" * 301])
def test_a_title_needs_something_visible_and_fits(
    app: Flask, client: FlaskClient, title: str
) -> None:
    post_comment(client, title="Vom Leser")
    with app.app_context():
        with pytest.raises(InvalidInput):
            set_article_title(_article(app).id, title)
        db.session.rollback()
        assert (_article(app).title, _article(app).title_confirmed) == ("Vom Leser", False)
