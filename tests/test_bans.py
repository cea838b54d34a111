"""Bans: the use cases and ``flask --app wsgi bans add|list|lift``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from helpers import post_comment, snapshot

from moderation import bans
from moderation.database import Driver
from moderation.errors import Conflict, InvalidInput, NotFound
from moderation.extensions import db
from moderation.models import Ban, BanKind, Comment, utcnow
from moderation.privacy import source_hash


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("30m", timedelta(minutes=30)),
        ("45min", timedelta(minutes=45)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2W", timedelta(weeks=2)),
        (" 3 d ", timedelta(days=3)),
        ("forever", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_duration(text: str | None, period: timedelta | None) -> None:
    assert bans.parse_duration(text) == period


@pytest.mark.parametrize("text", ["0d", "-1d", "7", "d", "1y", "eine Woche", "9999999d", "3651d"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(InvalidInput):
        bans.parse_duration(text)


def test_add_list_lift(ctx: None) -> None:
    forever = bans.add_ban("email", " Troll@Example.ORG ", reason="  Beleidigungen  ", actor="anna")
    week = bans.add_ban("source", "A" * 64, duration=timedelta(days=7))
    assert (forever.kind, forever.value, forever.expires_at) == (
        BanKind.EMAIL,
        "troll@example.org",
        None,
    )
    assert forever.reason == "Beleidigungen" and forever.created_by == "anna"
    assert week.value == "a" * 64
    assert timedelta(days=7) - (week.expires_at - week.created_at) < timedelta(seconds=1)
    assert [b.id for b in bans.list_bans()] == [week.id, forever.id]

    assert bans.lift_ban(forever.id).lifted_at is not None
    assert [b.id for b in bans.list_bans()] == [week.id]
    assert [b.id for b in bans.list_bans(include_ended=True)] == [week.id, forever.id]
    lifted_at = forever.lifted_at
    assert bans.lift_ban(forever.id).lifted_at == lifted_at  # twice is harmless


def test_banning_again_replaces_the_active_ban(ctx: None) -> None:
    first = bans.add_ban("email", "x@example.org", duration=timedelta(days=1))
    second = bans.add_ban("email", "X@example.org")
    assert first.lifted_at is not None
    assert bans.list_bans() == [second]
    connection = db.engine.raw_connection()
    try:
        driver = Driver(connection, db.engine.dialect)
        assert bans.active_ban_id(driver, None, "x@example.org", utcnow()) == second.id
        assert bans.active_ban_id(driver, None, "y@example.org", utcnow()) is None
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("kind", "value", "kwargs", "code"),
    [
        ("ip", "x@example.org", {}, "invalid_ban_kind"),
        ("email", "kein-mail", {}, "invalid_email"),
        ("email", "a@b.c" + "x" * 260, {}, "invalid_email"),
        ("source", "203.0.113.7", {}, "invalid_source"),
        ("source", "g" * 64, {}, "invalid_source"),
        ("email", "x@example.org", {"reason": "x" * 501}, "invalid_reason"),
        ("email", "x@example.org", {"duration": timedelta(0)}, "invalid_duration"),
        ("email", "x@example.org", {"duration": timedelta(days=4000)}, "invalid_duration"),
    ],
)
def test_add_ban_refuses_bad_input(
    app: Flask, kind: str, value: str, kwargs: dict, code: str
) -> None:
    before = snapshot(app)
    with app.app_context(), pytest.raises(InvalidInput) as caught:
        bans.add_ban(kind, value, **kwargs)
    assert caught.value.code == code
    assert snapshot(app) == before


def test_ban_a_comments_author(app: Flask, client: FlaskClient) -> None:
    with_email = post_comment(client, email="leser@example.org").get_json()["id"]
    without = post_comment(client, body="ohne Adresse").get_json()["id"]
    with app.app_context():
        by_source = bans.ban_comment_author(with_email, "source", duration=timedelta(hours=1))
        assert by_source.value == source_hash("127.0.0.1")
        by_email = bans.ban_comment_author(with_email, "email")
        assert by_email.value == "leser@example.org"
        with pytest.raises(Conflict):
            bans.ban_comment_author(without, "email")
        with pytest.raises(NotFound):
            bans.ban_comment_author(999, "source")
        with pytest.raises(InvalidInput):
            bans.ban_comment_author(without, "name")
        db.session.execute(db.update(Comment).values(source_hash=None))
        db.session.commit()
        with pytest.raises(Conflict):
            bans.ban_comment_author(without, "source")


@pytest.mark.parametrize("ban_id", [42, 2**31, 10**20])
def test_lift_unknown(ctx: None, ban_id: int) -> None:
    """A number too large for the database's ids is no ban either (not a driver error)."""
    with pytest.raises(NotFound):
        bans.lift_ban(ban_id)


# --- CLI -------------------------------------------------------------------------------------


def test_cli_add_list_lift(app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    comment_id = post_comment(client, email="leser@example.org").get_json()["id"]
    result = runner.invoke(
        args=["bans", "add", "--email", "troll@example.org", "--for", "7d", "--reason", "Hetze"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Ban #1: email troll@example.org until ")
    result = runner.invoke(args=["bans", "add", "--comment", str(comment_id), "--for", "forever"])
    assert result.exit_code == 0, result.output
    assert "Ban #2: source " in result.output and "forever" in result.output
    result = runner.invoke(
        args=["bans", "add", "--comment", str(comment_id), "--by", "email", "--for", "12h"]
    )
    assert "Ban #3: email leser@example.org" in result.output
    with app.app_context():
        hashed = source_hash("198.51.100.1")
    assert runner.invoke(args=["bans", "add", "--source", hashed, "--for", "1w"]).exit_code == 0

    listing = runner.invoke(args=["bans", "list"]).output.splitlines()
    assert [line.split("\t")[0] for line in listing] == ["#4", "#3", "#2", "#1"]
    assert "\temail\ttroll@example.org\tuntil " in listing[3] and listing[3].endswith("Hetze")

    result = runner.invoke(args=["bans", "lift", "1", "2"])
    assert result.exit_code == 0, result.output
    assert "Ban #1 lifted" in result.output and "Ban #2 lifted" in result.output
    assert len(runner.invoke(args=["bans", "list"]).output.splitlines()) == 2
    everything = runner.invoke(args=["bans", "list", "--all"]).output
    assert everything.count("lifted ") == 2


def test_cli_list_when_there_are_none(app: Flask, runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["bans", "list"]).output == "No bans.\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bans", "add", "--email", "x@example.org"], "Missing option '--for'"),
        (["bans", "add", "--for", "7d"], "exactly one of"),
        (
            ["bans", "add", "--email", "x@example.org", "--source", "a" * 64, "--for", "1d"],
            "exactly",
        ),
        (["bans", "add", "--email", "x@example.org", "--for", "ewig"], "not a period"),
        (["bans", "add", "--email", "keine", "--for", "1d"], "not a valid e-mail"),
        (["bans", "add", "--source", "1.2.3.4", "--for", "1d"], "64-character hash"),
        (["bans", "add", "--comment", "999", "--for", "1d"], "no comment 999"),
        (["bans", "add", "--comment", "x", "--for", "1d"], "not a valid integer"),
        (["bans", "add", "--comment", "1", "--by", "name", "--for", "1d"], "Invalid value"),
        (["bans", "lift", "999"], "no ban 999"),
        (["bans", "lift"], "Missing argument"),
        (["bans", "lift", "eins"], "not a valid integer"),
    ],
)
def test_cli_refuses_bad_input(
    app: Flask, runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    before = snapshot(app)
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert snapshot(app) == before
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Ban.id))) == 0
