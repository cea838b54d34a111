"""The transactional outbox: events written with their cause, claimed by one worker at a time,
retried with backoff, and sent as real mails to a real SMTP server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from helpers import approve, deliver, outbox_rows, post_comment, snapshot
from servers import MailServer

from moderation.extensions import db
from moderation.models import OutboxKind, OutboxMessage, OutboxState, utcnow
from moderation.notify import mail, outbox


def queue_mail(app: Flask, recipient: str = "leser@example.org", **content: Any) -> int:
    with app.app_context():
        with mail.language("de"):
            composed = mail.compose(
                "base", subject=content.pop("subject", "Betreff"), unsubscribe_url=None
            )
        row = outbox.add_mail("test", recipient, composed | content)
        db.session.commit()
        row_id = row.id
        db.session.remove()
    return row_id


def test_a_submission_and_a_decision_write_their_events_in_their_transaction(
    app: Flask, client: Any
) -> None:
    response = post_comment(client)
    comment_id = response.get_json()["id"]
    events = outbox_rows(app, kind=OutboxKind.EVENT)
    assert [(e.topic, e.comment_id, e.state) for e in events] == [
        ("comment.created", comment_id, OutboxState.PENDING)
    ]
    assert events[0].payload == {"status": "pending"}
    approve(client, comment_id)
    events = outbox_rows(app, kind=OutboxKind.EVENT)
    assert [e.topic for e in events] == ["comment.created", "comment.approved"]
    assert events[1].payload["previous"] == "pending"
    assert events[1].payload["actor"] == "test"


def test_a_refused_submission_writes_no_event(app: Flask, client: Any) -> None:
    before = snapshot(app)
    assert post_comment(client, body="").status_code == 400
    assert post_comment(client, notify=True).status_code == 400  # notify needs an address
    assert post_comment(client, notify="yes", email="a@example.org").status_code == 400
    assert snapshot(app) == before


def test_the_worker_expands_events_once(app: Flask, client: Any) -> None:
    post_comment(client)
    tally = deliver(app)
    assert tally.expanded == 1
    assert [e.state for e in outbox_rows(app, kind=OutboxKind.EVENT)] == [OutboxState.DELIVERED]
    assert deliver(app).expanded == 0


def test_claims_do_not_overlap_and_a_lapsed_lease_is_taken_over(app: Flask) -> None:
    ids = [queue_mail(app, f"r{n}@example.org") for n in range(5)]
    with app.app_context():
        first = outbox.claim("worker-a", 3)
        second = outbox.claim("worker-b", 3)
        assert first == ids[:3] and second == ids[3:]
        assert outbox.claim("worker-c", 3) == []
        # worker-a dies; once its lease has run out, worker-c takes its rows over
        later = utcnow() + timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"] + 1)
        assert outbox.claim("worker-c", 10, now=later) == ids
        # worker-a wakes up: it no longer holds the lease and records nothing
        assert outbox.finish(ids[0], "worker-a", outbox.Outcome(True)) is None
        row = outbox.finish(ids[0], "worker-c", outbox.Outcome(True))
        assert row is not None and row.state == OutboxState.DELIVERED
        db.session.remove()


def test_a_host_whose_clock_runs_ahead_takes_over_no_lease(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hosts, one clock ten minutes ahead: the leases are the database's time."""
    ids = [queue_mail(app, f"r{n}@example.org") for n in range(2)]
    with app.app_context():
        assert outbox.claim("host-a", 1) == ids[:1]
        ahead = utcnow() + timedelta(minutes=10)
        monkeypatch.setattr(outbox, "utcnow", lambda: ahead)
        assert outbox.claim("host-b", 10) == ids[1:]
        db.session.remove()


def test_failures_are_retried_with_growing_pauses_then_given_up(app: Flask) -> None:
    row_id = queue_mail(app)
    with app.app_context():
        pauses = []
        for _ in range(4):
            assert outbox.claim("w", 1, now=utcnow() + timedelta(days=2)) == [row_id]
            row = outbox.finish(row_id, "w", outbox.Outcome(False, "421 try later", 421))
            assert row is not None
            pauses.append(round((row.next_attempt_at - row.last_attempt_at).total_seconds()))
        assert pauses == [30, 60, 120, 240]
        assert row.state == OutboxState.PENDING
        # a day after it was written, the next failure is the last
        row.created_at = utcnow() - timedelta(hours=23, minutes=59)
        db.session.commit()
        assert outbox.claim("w", 1, now=utcnow() + timedelta(days=2)) == [row_id]
        row = outbox.finish(row_id, "w", outbox.Outcome(False, "421 try later", 421))
        assert row is not None and row.state == OutboxState.FAILED
        db.session.remove()


def test_a_mail_reaches_a_real_smtp_server(app: Flask, mail_server: MailServer) -> None:
    row_id = queue_mail(app, subject="Hallo")
    tally = deliver(app)
    assert tally.delivered == 1
    (received,) = mail_server.to("leser@example.org")
    (row,) = outbox_rows(app, id=row_id)
    assert row.state == OutboxState.DELIVERED and row.attempts == 1
    assert received["Subject"] == "Hallo"
    assert received["Message-ID"].startswith(f"<{row.delivery_id}@")
    assert received["Date"]
    assert received.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in received.iter_parts()]
    assert kinds == ["text/plain", "text/html"]


def test_a_refused_address_fails_at_once_and_a_busy_server_is_retried(
    app: Flask, mail_server: MailServer
) -> None:
    refused = queue_mail(app, "gone@example.org")
    mail_server.refuse = "550 no such user"
    deliver(app)
    (row,) = outbox_rows(app, id=refused)
    assert (row.state, row.last_status, row.attempts) == (OutboxState.FAILED, 550, 1)
    busy = queue_mail(app, "later@example.org")
    mail_server.refuse = "451 try again later"
    deliver(app)
    (row,) = outbox_rows(app, id=busy)
    assert (row.state, row.last_status) == (OutboxState.PENDING, 451)
    assert row.next_attempt_at > utcnow()
    assert mail_server.messages == []


def test_an_unreachable_server_is_retried(app: Flask) -> None:
    app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=9, MAIL_TIMEOUT=2)
    row_id = queue_mail(app)
    deliver(app)
    (row,) = outbox_rows(app, id=row_id)
    assert row.state == OutboxState.PENDING and row.attempts == 1
    assert "Connection" in (row.last_error or "")


def test_header_text_is_one_line_without_control_characters() -> None:
    assert mail.header_text("Anna\r\nBcc: x@example.org") == "Anna Bcc: x@example.org"
    assert mail.header_text("a\u2028b\x00c") == "a b c"
    assert len(mail.header_text("x" * 500)) == mail.MAX_SUBJECT


def test_status_retry_and_purge_from_the_cli(app: Flask, runner: FlaskCliRunner) -> None:
    row_id = queue_mail(app)
    with app.app_context():
        db.session.execute(
            db.update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(state=OutboxState.FAILED, last_error="550 gone")
        )
        db.session.commit()
    result = runner.invoke(args=["outbox", "status"])
    assert result.exit_code == 0
    assert "mail     failed     1" in result.output and "550 gone" in result.output
    result = runner.invoke(args=["outbox", "retry", str(row_id)])
    assert result.exit_code == 0, result.output
    assert outbox_rows(app, id=row_id)[0].state == OutboxState.PENDING
    assert runner.invoke(args=["outbox", "retry", "999999"]).exit_code == 1
    result = runner.invoke(args=["outbox", "work", "--once"])
    assert result.exit_code == 0 and "1 delivered" in result.output
    assert runner.invoke(args=["outbox", "retry", str(row_id)]).exit_code == 1  # delivered
    with app.app_context():
        assert outbox.purge(30) == 0
        assert outbox.purge(30, now=utcnow() + timedelta(days=31)) == 1
        db.session.remove()


def test_the_console_backend_prints_the_mail_readably(app: Flask, capsys: Any) -> None:
    queue_mail(app, subject="Grüße")
    app.config["MAIL_BACKEND"] = "console"
    assert deliver(app).delivered == 1
    printed = capsys.readouterr().out
    assert "Subject: Grüße" in printed
    assert "Diese E-Mail wurde automatisch vom Kommentardienst versandt." in printed
