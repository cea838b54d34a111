import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from helpers import post_comment

from moderation import cli, sanitize
from moderation.extensions import db
from moderation.models import Comment, CommentStatus, Moderator, Site
from moderation.review import history


def test_sites_add_and_list(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=[
            "sites",
            "add",
            "tagesblatt",
            "--name",
            "Tagesblatt",
            "--origin",
            "https://www.tagesblatt.example/",
            "--origin",
            "http://localhost:8000",
            "--language",
            "de",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        site = db.session.scalars(db.select(Site).where(Site.slug == "tagesblatt")).one()
        assert site.origins == ["https://www.tagesblatt.example", "http://localhost:8000"]
    listing = runner.invoke(args=["sites", "list"]).output
    assert "tagesblatt\tTagesblatt\tde" in listing


def test_sites_add_refuses_bad_input(app: Flask, runner: FlaskCliRunner) -> None:
    for args in (
        ["sites", "add", "demo", "--name", "Doppelt"],
        ["sites", "add", "Bad Slug", "--name", "x"],
        ["sites", "add", "ok", "--name", "x", "--origin", "ftp://x"],
        ["sites", "add", "ok", "--name", "x", "--language", "fr"],
        ["sites", "add", "report", "--name", "x"],  # /embed/report/<id> is the report form
    ):
        result = runner.invoke(args=args)
        assert result.exit_code != 0
        assert "Traceback" not in result.output
    assert "reserved" in runner.invoke(args=["sites", "add", "report", "--name", "x"]).output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Site.id))) == 1


def test_moderators_add_list_deactivate(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["moderators", "add", "anna", "--admin", "--password-stdin"],
        input="ein langes Passwort\n",
    )
    assert result.exit_code == 0, result.output
    prompted = runner.invoke(
        args=["moderators", "add", "ben"], input="noch ein Passwort\nnoch ein Passwort\n"
    )
    assert prompted.exit_code == 0, prompted.output
    assert runner.invoke(args=["moderators", "list"]).output.splitlines() == [
        "anna\tadmin\tactive",
        "ben\tmoderator\tactive",
    ]
    assert runner.invoke(args=["moderators", "deactivate", "ben"]).exit_code == 0
    with app.app_context():
        ben = db.session.scalars(db.select(Moderator).where(Moderator.username == "ben")).one()
        assert not ben.active
        assert "noch ein Passwort" not in ben.password_hash


def test_moderators_add_refuses_bad_input(app: Flask, runner: FlaskCliRunner) -> None:
    short = runner.invoke(args=["moderators", "add", "x", "--password-stdin"], input="kurz\n")
    assert short.exit_code == 1
    assert "at least" in short.output
    runner.invoke(args=["moderators", "add", "x", "--password-stdin"], input="lang genug 123\n")
    again = runner.invoke(
        args=["moderators", "add", "x", "--password-stdin"], input="lang genug 1\n"
    )
    assert again.exit_code == 1
    assert "exists" in again.output
    assert runner.invoke(args=["moderators", "deactivate", "nobody"]).exit_code == 1


def test_pending_decide_show(app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    ids = [post_comment(client, body=f"Kommentar {n}").get_json()["id"] for n in range(3)]
    pending = runner.invoke(args=["comments", "pending", "--site", "demo"]).output
    assert [line.split("\t")[0] for line in pending.splitlines()] == [f"#{i}" for i in ids]

    result = runner.invoke(args=["comments", "approve", str(ids[0]), str(ids[1]), "--note", "ok"])
    assert result.exit_code == 0, result.output
    assert f"#{ids[0]}: pending → approved" in result.output
    assert runner.invoke(args=["comments", "spam", str(ids[2])]).exit_code == 0
    assert runner.invoke(args=["comments", "reject", str(ids[1])]).exit_code == 0
    assert runner.invoke(args=["comments", "pending"]).output.strip() == "The queue is empty."

    shown = runner.invoke(args=["comments", "show", str(ids[1])]).output
    assert "Status:   rejected" in shown
    assert "cli: pending → approved (ok)" in shown
    assert "cli: approved → rejected" in shown
    with app.app_context():
        assert [e.actor_name for e in history(ids[1])] == ["cli", "cli"]


def test_decide_reports_unknown_ids_and_goes_on(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    comment_id = post_comment(client).get_json()["id"]
    result = runner.invoke(args=["comments", "approve", "999", str(comment_id)])
    assert result.exit_code == 1
    assert "There is no comment 999" in result.output
    with app.app_context():
        assert db.session.get(Comment, comment_id).status == CommentStatus.APPROVED
    assert runner.invoke(args=["comments", "show", "999"]).exit_code == 1


def test_resanitize(app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    comment_id = post_comment(client, body="a < b").get_json()["id"]
    runner.invoke(args=["comments", "approve", str(comment_id)])
    etag = client.get("/api/v1/sites/demo/articles/politik/2026/russland-usa/comments").headers[
        "ETag"
    ]
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        comment.body_html = "<p>stale</p>"
        comment.policy_version = 0
        db.session.commit()
    result = runner.invoke(args=["comments", "resanitize"])
    assert result.exit_code == 0
    assert "Re-rendered 1 comments" in result.output
    with app.app_context():
        assert db.session.get(Comment, comment_id).body_html == "<p>a &lt; b</p>"
    new = client.get("/api/v1/sites/demo/articles/politik/2026/russland-usa/comments")
    assert new.headers["ETag"] != etag


def test_resanitize_works_in_batches(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "RESANITIZE_BATCH", 2)
    made = [post_comment(client, body=f"a < {n}").get_json()["id"] for n in range(5)]
    with app.app_context():
        db.session.execute(
            db.update(Comment).where(Comment.id.in_(made[1:])).values(policy_version=0)
        )
        db.session.commit()
    result = runner.invoke(args=["comments", "resanitize"])
    assert result.exit_code == 0, result.output
    assert "Re-rendered 4 comments" in result.output  # across three batches, each one counted
    with app.app_context():
        versions = db.session.scalars(db.select(Comment.policy_version)).all()
        assert versions == [sanitize.POLICY_VERSION] * 5


def test_demo_creates_site_and_moderator_once(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        db.session.execute(db.delete(Site))
        db.session.commit()
    first = runner.invoke(args=["demo"])
    assert "Created the demo site" in first.output
    assert "password:" in first.output
    second = runner.invoke(args=["demo"])
    assert "Created" not in second.output and "password" not in second.output
    # Each run names the demo page (its own origin) and the moderator UI.
    assert "Demo article (a news site):  http://127.0.0.1:5001/" in second.output
    assert "Moderator UI (user 'demo'):  http://127.0.0.1:5000/moderate/" in second.output


def test_demo_allows_the_demo_origins(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        db.session.execute(db.delete(Site))
        db.session.commit()
    runner.invoke(args=["demo", "--origin", "http://127.0.0.1:5001"])
    runner.invoke(args=["demo"])  # an older demo site gets the origins it lacks
    with app.app_context():
        origins = db.session.scalars(db.select(Site.origins).where(Site.slug == "demo")).one()
    assert origins == ["http://127.0.0.1:5001", "http://localhost:5001"]
