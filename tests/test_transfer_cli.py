"""Moving in and out end to end: every format through ``flask --app wsgi import …`` into a
real database (SQLite and PostgreSQL), and back out with ``export json|wxr``."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from helpers import snapshot
from sqlalchemy import func, select

from moderation.extensions import db
from moderation.models import Article, Comment, CommentStatus, ImportRun
from moderation.sites import create_site

FIXTURES = Path(__file__).parent / "fixtures" / "transfer"


def source_file(source: str, tmp_path: Path) -> str:
    if source == "isso":
        path = tmp_path / "comments.db"
        with sqlite3.connect(path) as connection:
            connection.executescript((FIXTURES / "isso.sql").read_text(encoding="utf-8"))
        connection.close()
        return str(path)
    name = {
        "disqus": "disqus.xml",
        "wordpress": "wordpress-1.2.xml",
        "remark42": "remark42.jsonl",
        "commento": "commento.json",
    }[source]
    return str(FIXTURES / name)


def statuses(app: Flask, slug: str = "demo") -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            select(Comment.status, func.count())
            .join(Article, Article.id == Comment.article_id)
            .join(Article.site)
            .where(Article.site.has(slug=slug))
            .group_by(Comment.status)
        ).all()
        db.session.remove()
    return {status.value: count for status, count in rows}


def invoke(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("source", ["disqus", "wordpress", "isso", "remark42", "commento"])
def test_each_format_imports_end_to_end_and_only_once(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, source: str
) -> None:
    path = source_file(source, tmp_path)
    before = snapshot(app)
    preview = invoke(runner, "import", source, path, "--site", "demo", "--dry-run")
    assert preview.startswith("Dry run: nothing was written.")
    assert snapshot(app) == before

    output = invoke(runner, "import", source, path, "--site", "demo")
    assert output.startswith("Imported.")
    counts = statuses(app)
    assert counts.get("approved", 0) >= 2, output
    assert set(counts) <= {"approved", "pending", "spam", "rejected"}
    # the dry run foretold the threads and the comments by status
    assert preview.splitlines()[1] == output.splitlines()[1]
    assert preview.splitlines()[2].split(":")[1] == output.splitlines()[2].split(":")[1]

    again = invoke(runner, "import", source, path, "--site", "demo")
    assert "comments: 0 (-)" in again
    assert statuses(app) == counts
    with app.app_context():
        runs = db.session.scalars(select(ImportRun)).all()
        assert [run.source for run in runs] == [source, source]
        assert all(run.finished_at for run in runs)
        # every reply sits under a top-level comment, on the same article
        for comment in db.session.scalars(select(Comment).where(Comment.parent_id.is_not(None))):
            assert comment.parent is not None and comment.parent.parent_id is None
            assert comment.parent.article_id == comment.article_id
        # the approved counts that serve the lists match the comments
        for article in db.session.scalars(select(Article)):
            approved = db.session.scalar(
                select(func.count()).where(
                    Comment.article_id == article.id, Comment.status == CommentStatus.APPROVED
                )
            )
            assert article.approved_count == approved
        db.session.remove()


def test_gzipped_exports_read_as_plain_ones(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    packed = tmp_path / "disqus.xml.gz"
    with open(FIXTURES / "disqus.xml", "rb") as plain, gzip.open(packed, "wb") as out:
        shutil.copyfileobj(plain, out)
    invoke(runner, "import", "disqus", str(packed), "--site", "demo")
    gzipped = statuses(app)
    with app.app_context():
        create_site("plain", "Plain")
        db.session.remove()
    invoke(runner, "import", "disqus", str(FIXTURES / "disqus.xml"), "--site", "plain")
    assert statuses(app, "plain") == gzipped


@pytest.mark.parametrize("name", ["billion-laughs.xml", "external-entity.xml"])
def test_unsafe_xml_is_refused_and_nothing_is_imported(
    app: Flask, runner: FlaskCliRunner, name: str
) -> None:
    before = snapshot(app)
    for source in ("disqus", "wordpress"):
        result = runner.invoke(args=["import", source, str(FIXTURES / name), "--site", "demo"])
        assert result.exit_code == 1
        assert "Refused" in result.output and "DTD" in result.output
        assert "Traceback" not in result.output
    assert snapshot(app) == before  # not even a record of the run


def test_bad_input_gets_a_clear_error(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    before = snapshot(app)
    not_xml = tmp_path / "export.xml"
    not_xml.write_text("this is not XML", encoding="utf-8")
    cases = [
        (["import", "disqus", str(FIXTURES / "disqus.xml"), "--site", "nope"], "no site 'nope'"),
        (["import", "disqus", str(tmp_path / "missing.xml"), "--site", "demo"], "does not exist"),
        (["import", "disqus", str(not_xml), "--site", "demo"], "Not well-formed XML"),
        (["import", "wordpress", str(FIXTURES / "disqus.xml"), "--site", "demo"], "WordPress"),
        (["import", "disqus", str(FIXTURES / "wordpress-1.2.xml"), "--site", "demo"], "Disqus"),
        (
            ["import", "json", str(FIXTURES / "commento.json"), "--site", "demo"],
            "moderation-export",
        ),
        (["import", "disqus", str(not_xml), "--site", "demo", "--article-key", "x"], "Invalid"),
        (["import", "disqus", str(not_xml), "--site", "demo", "--unapproved", "spam"], "Invalid"),
        (["export", "json", "--site", "nope"], "no site 'nope'"),
        (["export", "wxr", "--site", "nope", "-o", str(tmp_path / "x.xml")], "no site 'nope'"),
    ]
    for args, message in cases:
        result = runner.invoke(args=args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert not (tmp_path / "x.xml").exists()
    after = snapshot(app)
    assert after["comment"] == before["comment"] and after["article"] == before["article"]


def public_lists(client: FlaskClient, slug: str, keys: list[str]) -> dict[str, list]:
    lists = {}
    for key in keys:
        body = client.get(f"/api/v1/sites/{slug}/articles/{key}/comments").get_json()
        lists[key] = [
            (c["author"], c["html"], c["created_at"], c["parent_id"] is not None, c["featured"])
            for c in body["comments"]
        ]
    return lists


def article_keys(app: Flask, slug: str) -> list[str]:
    with app.app_context():
        keys = db.session.scalars(
            select(Article.key).where(Article.site.has(slug=slug)).order_by(Article.key)
        ).all()
        db.session.remove()
    return list(keys)


def test_json_export_survives_a_round_trip(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    invoke(runner, "import", "disqus", str(FIXTURES / "disqus.xml"), "--site", "demo")
    invoke(runner, "import", "commento", str(FIXTURES / "commento.json"), "--site", "demo")
    invoke(runner, "import", "wordpress", str(FIXTURES / "wordpress-1.2.xml"), "--site", "demo")
    with app.app_context():
        comment = db.session.scalars(select(Comment).where(Comment.status == "approved")).first()
        assert comment is not None
        comment.featured = True
        db.session.commit()
        db.session.remove()
    exported = tmp_path / "demo.json"
    invoke(runner, "export", "json", "--site", "demo", "-o", str(exported))
    document = json.loads(exported.read_text(encoding="utf-8"))
    assert (document["format"], document["version"]) == ("moderation-export", 1)
    assert document["site"]["slug"] == "demo"
    assert {"articles", "comments", "events"} <= set(document)

    with app.app_context():
        create_site("copy", "Kopie")
        db.session.remove()
    invoke(runner, "import", "json", str(exported), "--site", "copy")
    assert statuses(app, "copy") == statuses(app, "demo")
    keys = article_keys(app, "demo")
    assert article_keys(app, "copy") == keys
    assert public_lists(client, "copy", keys) == public_lists(client, "demo", keys)

    # a re-indented export is still read, whole
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(document, indent=2), encoding="utf-8")
    with app.app_context():
        create_site("pretty", "Hübsch")
        db.session.remove()
    invoke(runner, "import", "json", str(pretty), "--site", "pretty")
    assert statuses(app, "pretty") == statuses(app, "demo")


def test_wxr_export_reimports_with_the_same_counts(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    invoke(runner, "import", "disqus", str(FIXTURES / "disqus.xml"), "--site", "demo")
    exported = tmp_path / "demo.xml"
    invoke(runner, "export", "wxr", "--site", "demo", "-o", str(exported))
    with app.app_context():
        create_site("back", "Zurück")
        db.session.remove()
    output = invoke(runner, "import", "wordpress", str(exported), "--site", "back")
    approved = statuses(app)["approved"]
    assert statuses(app, "back") == {"approved": approved}
    assert f"comments: {approved:,} (approved {approved:,})" in output
    # the same articles (those with approved comments), with the same public lists
    with app.app_context():
        published = db.session.scalars(
            select(Article.key)
            .where(Article.site.has(slug="demo"), Article.approved_count > 0)
            .order_by(Article.key)
        ).all()
        db.session.remove()
    assert article_keys(app, "back") == list(published)
    assert public_lists(client, "back", list(published)) == public_lists(
        client, "demo", list(published)
    )
