import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import post_comment

from moderation.errors import Conflict, InvalidInput, NotFound
from moderation.extensions import db
from moderation.models import Article, Comment, CommentStatus
from moderation.review import Actor, Decision, decide, history, pending_queue
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
