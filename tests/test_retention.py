"""Retention: ``privacy purge`` removes what outlived its purpose, and only that."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from helpers import THREAD, approve, post_comment, snapshot

from moderation import bans, retention
from moderation.errors import InvalidInput
from moderation.extensions import db
from moderation.models import (
    Article,
    Ban,
    Comment,
    CommentStatus,
    LoginAttempt,
    ModerationEvent,
    OutboxMessage,
    OutboxState,
    utcnow,
)
from moderation.notify import outbox
from moderation.review import Actor, decide


def age(app: Flask, comment_id: int, days: float, *, events_days: float | None = None) -> None:
    """Move a comment (written ``days`` ago) and its events (``events_days`` ago) into the past."""
    with app.app_context():
        then = utcnow() - timedelta(days=days)
        db.session.execute(
            db.update(Comment).where(Comment.id == comment_id).values(created_at=then)
        )
        event_time = utcnow() - timedelta(days=days if events_days is None else events_days)
        db.session.execute(
            db.update(ModerationEvent)
            .where(ModerationEvent.comment_id == comment_id)
            .values(created_at=event_time)
        )
        db.session.commit()


def a_comment(app: Flask, client: FlaskClient, decision: str | None, days: float, **kw) -> int:
    comment_id = post_comment(client, body=f"{decision} {days} {kw}").get_json()["id"]
    if decision:
        with app.app_context():
            decide(comment_id, decision, Actor("anna"), note="Notiz")
    age(app, comment_id, days, **kw)
    return comment_id


def ids(app: Flask) -> set[int]:
    with app.app_context():
        found = set(db.session.scalars(db.select(Comment.id)))
        db.session.remove()
        return found


def test_purge_removes_only_what_is_due(app: Flask, client: FlaskClient) -> None:
    old_spam = a_comment(app, client, "spam", 8)
    new_spam = a_comment(app, client, "spam", 6)
    old_rejected = a_comment(app, client, "reject", 31)
    new_rejected = a_comment(app, client, "reject", 29)
    old_pending = a_comment(app, client, None, 100)
    old_approved = a_comment(app, client, "approve", 100)
    # Written 60 days ago, marked spam yesterday: the week counts from the decision.
    late_spam = a_comment(app, client, "spam", 60, events_days=1)
    check_spam = post_comment(client, website="bot").get_json()["id"]  # spam by a check
    age(app, check_spam, 8)
    withdrawn = post_comment(client, body="zurück")
    client.delete(
        f"/api/v1/comments/{withdrawn.get_json()['id']}",
        headers={"X-Comment-Token": withdrawn.get_json()["token"]},
    )
    age(app, withdrawn.get_json()["id"], 31)

    with app.app_context():
        result = retention.purge()
        assert result.removed == {"spam": 2, "rejected": 1, "withdrawn": 1}
        assert result.comments == 4
    assert ids(app) == {new_spam, new_rejected, old_pending, old_approved, late_spam}
    assert old_spam not in ids(app) and old_rejected not in ids(app)

    with app.app_context():
        anonymous = db.session.scalars(
            db.select(ModerationEvent).where(ModerationEvent.to_status.is_(None))
        ).all()
        assert sorted(e.from_status.value for e in anonymous) == [
            "rejected",
            "spam",
            "spam",
            "withdrawn",
        ]
        assert {e.actor_name for e in anonymous} == {"system"}
        assert all(e.comment_id is None for e in anonymous)
        assert any("for over 7 days" in e.note for e in anonymous)
        # The moderators' earlier events stay, no longer pointing at a comment.
        orphaned = db.session.scalars(
            db.select(ModerationEvent).where(
                ModerationEvent.comment_id.is_(None), ModerationEvent.actor_name == "anna"
            )
        ).all()
        assert len(orphaned) == 2
        # Nothing is due the second time.
        assert retention.purge().comments == 0


def test_each_batch_is_its_own_transaction(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = a_comment(app, client, "spam", 8)
    second = a_comment(app, client, "spam", 9)
    monkeypatch.setattr(retention, "BATCH", 1)
    batches = 0
    one_batch = retention._purge_batch

    def fails_second(*args: Any) -> dict[str, int]:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise RuntimeError("the second batch fails")
        return one_batch(*args)

    monkeypatch.setattr(retention, "_purge_batch", fails_second)
    with app.app_context(), pytest.raises(RuntimeError):
        retention.purge()
    assert ids(app) == {second}  # what the first batch removed stays removed
    assert first < second
    monkeypatch.setattr(retention, "_purge_batch", one_batch)
    with app.app_context():
        assert retention.purge().removed == {"spam": 1}
    assert ids(app) == set()


def test_replies_of_a_purged_comment_move_to_the_top(app: Flask, client: FlaskClient) -> None:
    parent = post_comment(client, body="Eltern").get_json()["id"]
    approve(client, parent)
    reply = post_comment(client, body="Antwort", parent_id=parent).get_json()["id"]
    approve(client, reply)
    with app.app_context():
        decide(parent, "spam", Actor("anna"))
    age(app, parent, 8)
    etag = client.get(f"{THREAD}/comments").headers["ETag"]
    with app.app_context():
        assert retention.purge().comments == 1
        assert db.session.get(Comment, reply).parent_id is None
    listed = client.get(f"{THREAD}/comments")
    assert listed.headers["ETag"] != etag
    assert listed.get_json()["comments"][0]["parent_id"] is None


def test_purge_clears_old_source_hashes_login_attempts_and_ended_bans(
    app: Flask, client: FlaskClient
) -> None:
    old = a_comment(app, client, None, 31)
    new = a_comment(app, client, None, 29)
    with app.app_context():
        db.session.add_all(
            [
                LoginAttempt(username="anna", created_at=utcnow() - timedelta(days=31)),
                LoginAttempt(username="anna", created_at=utcnow() - timedelta(days=1)),
            ]
        )
        db.session.commit()
        long_lifted = bans.add_ban("email", "a@example.org")
        long_lifted.lifted_at = utcnow() - timedelta(days=31)
        long_expired = bans.add_ban("email", "b@example.org", duration=timedelta(days=1))
        long_expired.expires_at = utcnow() - timedelta(days=31)
        recently_lifted = bans.add_ban("email", "c@example.org")
        recently_lifted.lifted_at = utcnow() - timedelta(days=1)
        db.session.commit()
        forever = bans.add_ban("email", "d@example.org")
        week = bans.add_ban("email", "e@example.org", duration=timedelta(days=7))
        kept = {recently_lifted.id, forever.id, week.id}

        result = retention.purge()
        assert (result.source_hashes, result.login_attempts, result.bans) == (1, 1, 2)
        assert db.session.get(Comment, old).source_hash is None
        assert db.session.get(Comment, new).source_hash is not None
        assert set(db.session.scalars(db.select(Ban.id))) == kept
        assert db.session.scalar(db.select(db.func.count(LoginAttempt.id))) == 1


def test_periods_from_arguments_and_settings(app: Flask, client: FlaskClient) -> None:
    spam = a_comment(app, client, "spam", 3)
    rejected = a_comment(app, client, "reject", 10)
    hashed = a_comment(app, client, None, 40)
    with app.app_context():
        app.config["RETENTION_SOURCE_HASH_DAYS"] = 0  # keep source hashes
        assert retention.purge(spam_days=4).comments == 0
        assert retention.purge(spam_days=2, rejected_days=11).removed == {"spam": 1}
        app.config["RETENTION_REJECTED_DAYS"] = 9
        assert retention.purge().removed == {"rejected": 1}
        assert db.session.get(Comment, hashed).source_hash is not None
        assert retention.purge(source_hash_days=39).source_hashes == 1
    assert spam not in ids(app) and rejected not in ids(app)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"spam_days": 0},
        {"rejected_days": -1},
        {"source_hash_days": -1},
        {"spam_days": True},
        {"outbox_days": 0},
    ],
)
def test_purge_refuses_bad_periods(app: Flask, client: FlaskClient, kwargs: dict) -> None:
    a_comment(app, client, "spam", 100)
    before = snapshot(app)
    with app.app_context(), pytest.raises(InvalidInput):
        retention.purge(**kwargs)
    assert snapshot(app) == before


# --- CLI -------------------------------------------------------------------------------------


def test_cli_purge(app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    a_comment(app, client, "spam", 8)
    a_comment(app, client, "reject", 20)
    result = runner.invoke(args=["privacy", "purge", "--rejected-days", "14"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Removed 2 comments (1 rejected, 1 spam), 0 ended bans")
    again = runner.invoke(args=["privacy", "purge"])
    assert "Removed 0 comments (none due)" in again.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Article.id))) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spam-days", "0"], "at least 1"),
        (["--rejected-days", "-3"], "at least 1"),
        (["--source-hash-days", "-1"], "at least 0"),
        (["--outbox-days", "0"], "at least 1"),
        (["--spam-days", "sieben"], "not a valid integer"),
        (["--days", "7"], "No such option"),
    ],
)
def test_cli_purge_refuses_bad_input(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    a_comment(app, client, "spam", 100)
    before = snapshot(app)
    result = runner.invoke(args=["privacy", "purge", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert snapshot(app) == before


# --- notifications -----------------------------------------------------------------------


def a_notification(app: Flask, state: OutboxState, days: float) -> int:
    """An outbox mail written ``days`` ago, and sent (or given up) then unless still pending."""
    with app.app_context():
        row = outbox.add_mail("test", "leser@example.org", {"subject": "s", "text": "t"})
        then = utcnow() - timedelta(days=days)
        row.state, row.created_at = state, then
        row.delivered_at = then if state == OutboxState.DELIVERED else None
        db.session.commit()
        row_id = row.id
        db.session.remove()
    return row_id


def notifications(app: Flask) -> set[int]:
    with app.app_context():
        found = set(db.session.scalars(db.select(OutboxMessage.id)))
        db.session.remove()
        return found


def test_purge_removes_sent_notifications_after_their_days(app: Flask) -> None:
    old = {
        a_notification(app, OutboxState.DELIVERED, 31),
        a_notification(app, OutboxState.FAILED, 40),
        a_notification(app, OutboxState.CANCELLED, 40),
    }
    recent = a_notification(app, OutboxState.DELIVERED, 29)
    waiting = a_notification(app, OutboxState.PENDING, 40)  # never removed before it is sent
    with app.app_context():
        assert retention.purge().notifications == 3
    assert notifications(app) == {recent, waiting}
    with app.app_context():
        assert retention.purge(outbox_days=10).notifications == 1
        assert retention.purge(outbox_days=10).notifications == 0
    assert notifications(app) == {waiting} and not old & notifications(app)


def test_cli_purge_counts_sent_notifications(app: Flask, runner: FlaskCliRunner) -> None:
    a_notification(app, OutboxState.DELIVERED, 12)
    kept = a_notification(app, OutboxState.DELIVERED, 8)
    result = runner.invoke(args=["privacy", "purge", "--outbox-days", "10"])
    assert result.exit_code == 0, result.output
    assert "1 sent notifications" in result.output
    assert notifications(app) == {kept}


def test_status_names_match_the_model() -> None:
    assert {s.value for s in CommentStatus} >= {"spam", "rejected", "withdrawn"}
