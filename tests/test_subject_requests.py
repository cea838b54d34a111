"""Readers' data requests: ``privacy export EMAIL`` and ``privacy erase EMAIL`` round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from helpers import THREAD, approve, post_comment, snapshot

from moderation import bans, subject_requests
from moderation.errors import InvalidInput
from moderation.extensions import db
from moderation.models import Ban, Comment, CommentStatus, Language, ModerationEvent, Site
from moderation.review import Actor, decide

EMAIL = "Mara.Kunz@Example.org"
NAME = "Mara Kunz"


def a_reader_with_history(app: Flask, client: FlaskClient) -> dict[str, int]:
    """Mara's published comment (with someone's reply), a pending one, a spam one; a ban."""
    published = post_comment(client, author=NAME, email=EMAIL, body="Maras Meinung").get_json()
    approve(client, published["id"])
    reply = post_comment(client, author="Ben", body="Antwort an Mara", parent_id=published["id"])
    approve(client, reply.get_json()["id"])
    pending = post_comment(client, author=NAME, email=EMAIL.lower(), body="Maras Frage")
    spam = post_comment(client, author=NAME, email=EMAIL, body="Maras Werbung", website="x")
    other = post_comment(client, author="Eva", email="eva@example.org", body="Evas Text")
    with app.app_context():
        decide(pending.get_json()["id"], "reject", Actor("anna"), note="am Thema vorbei")
        bans.add_ban("email", EMAIL, reason="Werbung")
    return {
        "published": published["id"],
        "reply": reply.get_json()["id"],
        "rejected": pending.get_json()["id"],
        "spam": spam.get_json()["id"],
        "other": other.get_json()["id"],
    }


def test_export_has_everything_for_the_address_and_nothing_else(
    app: Flask, client: FlaskClient
) -> None:
    ids = a_reader_with_history(app, client)
    with app.app_context():
        data = subject_requests.export_data("mara.kunz@EXAMPLE.org")
    json.dumps(data)  # JSON-ready
    assert data["email"] == "mara.kunz@example.org"
    assert [c["id"] for c in data["comments"]] == [ids["published"], ids["rejected"], ids["spam"]]
    published, rejected, spam = data["comments"]
    assert published["body"] == "Maras Meinung" and published["author"] == NAME
    assert published["status"] == "approved"
    assert published["article"]["key"] == "politik/2026/russland-usa"
    assert published["site"] == "demo"
    assert published["source_hash"] and published["created_at"].endswith("Z")
    assert rejected["history"] == [
        {
            "at": rejected["history"][0]["at"],
            "from": "pending",
            "to": "rejected",
            "by": "anna",
            "note": "am Thema vorbei",
        }
    ]
    assert spam["status"] == "spam" and spam["reasons"] == ["honeypot", "no_token"]
    assert [b["value"] for b in data["bans"]] == ["mara.kunz@example.org"]
    assert data["bans"][0]["reason"] == "Werbung"
    text = json.dumps(data)
    assert "Evas Text" not in text and "Antwort an Mara" not in text and "eva@" not in text


def test_export_names_no_moderator(app: Flask, client: FlaskClient) -> None:
    from moderation.moderators import create_moderator

    comment_id = post_comment(client, email=EMAIL).get_json()["id"]
    with app.app_context():
        anna = create_moderator("anna", "ein langes Passwort")
        decide(comment_id, "approve", Actor.of(anna))
        data = subject_requests.export_data(EMAIL)
    assert data["comments"][0]["history"][0]["by"] == "moderator"


def test_erase_round_trip(app: Flask, client: FlaskClient) -> None:
    ids = a_reader_with_history(app, client)
    etag = client.get(f"{THREAD}/comments").headers["ETag"]
    with app.app_context():
        erased = subject_requests.erase_data(EMAIL.upper())
    assert (erased.anonymized, erased.deleted, erased.bans) == (1, 2, 1)

    # The published comment keeps its place, so the reply still reads as a reply.
    listed = client.get(f"{THREAD}/comments")
    assert listed.headers["ETag"] != etag
    comments = listed.get_json()["comments"]
    assert [(c["id"], c["author"], c["html"]) for c in comments] == [
        (ids["published"], "[gelöscht]", "<p>[gelöscht]</p>"),
        (ids["reply"], "Ben", "<p>Antwort an Mara</p>"),
    ]
    assert comments[1]["parent_id"] == ids["published"]

    with app.app_context():
        kept = db.session.get(Comment, ids["published"])
        assert (kept.email, kept.source_hash, kept.token_hash) == (None, None, None)
        assert kept.status == CommentStatus.APPROVED
        assert db.session.get(Comment, ids["rejected"]) is None
        assert db.session.get(Comment, ids["spam"]) is None
        assert db.session.get(Comment, ids["other"]).email == "eva@example.org"
        notes = db.session.scalars(
            db.select(ModerationEvent.note).where(ModerationEvent.actor_name == "cli")
        ).all()
        assert notes == [subject_requests.ERASED_NOTE] * 3
        (ban,) = db.session.scalars(db.select(Ban)).all()
        assert ban.value.startswith("erased:")
        # Nothing of Mara is left anywhere in the database …
        again = subject_requests.export_data(EMAIL)
        assert again["comments"] == []
    dump = repr(snapshot(app)).lower()
    for trace in (EMAIL.lower(), NAME.lower(), "maras"):
        assert trace not in dump
    # … and the ban still keeps her address out.
    response = post_comment(client, email=EMAIL, body="Ich bin wieder da")
    with app.app_context():
        assert "banned" in db.session.get(Comment, response.get_json()["id"]).reasons


def test_erase_speaks_the_sites_language(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        db.session.execute(db.update(Site).values(language=Language.EN))
        db.session.commit()
    comment_id = post_comment(client, email=EMAIL).get_json()["id"]
    approve(client, comment_id)
    with app.app_context():
        subject_requests.erase_data(EMAIL)
        comment = db.session.get(Comment, comment_id)
        assert (comment.author, comment.body_raw) == ("[deleted]", "[deleted]")


@pytest.mark.parametrize(
    "email", ["", "keine-adresse", "a@b", "a b@example.org", "x" * 250 + "@ex.org"]
)
def test_bad_addresses_are_refused(app: Flask, email: str) -> None:
    before = snapshot(app)
    with app.app_context():
        for request in (subject_requests.export_data, subject_requests.erase_data):
            with pytest.raises(InvalidInput):
                request(email)
    assert snapshot(app) == before


# --- CLI -------------------------------------------------------------------------------------


def test_cli_export(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    a_reader_with_history(app, client)
    result = runner.invoke(args=["privacy", "export", EMAIL])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["comments"]) == 3 and "Maras Meinung" in result.output  # not escaped
    target = tmp_path / "export.json"
    result = runner.invoke(args=["privacy", "export", EMAIL, "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text(encoding="utf-8"))["comments"] == data["comments"]
    assert target.stat().st_mode & 0o777 == 0o600  # a reader's data, for the operator only


def test_cli_erase_asks_first(app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    a_reader_with_history(app, client)
    before = snapshot(app)
    declined = runner.invoke(args=["privacy", "erase", EMAIL], input="n\n")
    assert declined.exit_code == 1
    assert "Erase 3 comments and hash 1 bans of mara.kunz@example.org?" in declined.output
    assert snapshot(app) == before
    confirmed = runner.invoke(args=["privacy", "erase", EMAIL], input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "Anonymized 1 published comments, deleted 2 others" in confirmed.output
    assert runner.invoke(args=["privacy", "erase", EMAIL, "--yes"]).output == (
        "Nothing is stored for mara.kunz@example.org.\n"
    )


def test_cli_erase_yes(app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    a_reader_with_history(app, client)
    result = runner.invoke(args=["privacy", "erase", EMAIL, "--yes", "--actor", "dsb"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert (
            db.session.scalar(
                db.select(db.func.count(ModerationEvent.id)).where(
                    ModerationEvent.actor_name == "dsb"
                )
            )
            == 3
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["privacy", "export", "keine-adresse"], "not a valid e-mail"),
        (["privacy", "erase", "keine-adresse", "--yes"], "not a valid e-mail"),
        (["privacy", "export"], "Missing argument"),
        (["privacy", "erase"], "Missing argument"),
        (["privacy", "export", EMAIL, "--output", "/nonexistent/dir/x.json"], "Error"),
    ],
)
def test_cli_refuses_bad_input(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    a_reader_with_history(app, client)
    before = snapshot(app)
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert snapshot(app) == before
