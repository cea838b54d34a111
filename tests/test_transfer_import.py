"""The import engine (moderation/transfer/importer.py): the rules every format shares, shown
with streams of items written out here, on both databases. The formats' own parsers have
their tests (test_transfer_<format>.py); the CLI end to end is in test_transfer_cli.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import snapshot
from sqlalchemy import select

from moderation.extensions import db
from moderation.models import Article, Comment, CommentStatus, ImportRun
from moderation.transfer import importer
from moderation.transfer.importer import ArticleKey, Options, article_key, run_import
from moderation.transfer.records import Item, Markup, Post, Skip, SkipReason, SourceStatus, Thread

WHEN = datetime(2019, 5, 1, 10, 0, tzinfo=UTC)


def post(source_id: str, thread: str = "t1", parent: str | None = None, **fields: object) -> Post:
    values: dict = {
        "source_id": source_id,
        "thread_id": thread,
        "parent_id": parent,
        "author": f"Leser {source_id}",
        "email": f"leser{source_id}@example.org",
        "text": f"Kommentar {source_id}",
        "markup": Markup.TEXT,
        "created_at": WHEN,
        "status": SourceStatus.APPROVED,
    }
    values.update(fields)
    return Post(**values)


THREAD = Thread("t1", url="https://news.example/politik/wahl/", identifier="42", title="Die Wahl")


def comments(app: Flask) -> dict[str, Comment]:
    with app.app_context():
        rows = db.session.scalars(select(Comment).order_by(Comment.id)).all()
        db.session.expunge_all()
    return {row.source_id: row for row in rows}


def imported(app: Flask, items: list[Item], **options: object) -> importer.Report:
    with app.app_context():
        report = run_import("demo", "disqus", items, Options(**options))  # type: ignore[arg-type]
        db.session.remove()
    return report


def test_statuses_map_and_unapproved_is_chosen(app: Flask) -> None:
    items: list[Item] = [
        THREAD,
        post("1"),
        post("2", status=SourceStatus.UNAPPROVED),
        post("3", status=SourceStatus.SPAM),
        post("4", status=SourceStatus.DELETED),
        post("5", status=SourceStatus.REJECTED),
    ]
    report = imported(app, items)
    assert dict(report.imported) == {"approved": 1, "pending": 1, "spam": 1, "rejected": 1}
    assert dict(report.skipped) == {"deleted": 1}
    found = comments(app)
    assert found["2"].status is CommentStatus.PENDING
    assert "4" not in found

    items[2] = post("6", status=SourceStatus.UNAPPROVED)
    report = imported(app, items, unapproved=CommentStatus.REJECTED)
    assert comments(app)["6"].status is CommentStatus.REJECTED


def test_faithful_fields_and_public_list(app: Flask, client: FlaskClient) -> None:
    closed = Thread("t2", url="https://news.example/sport/", title="Sport", closed=True)
    items: list[Item] = [
        THREAD,
        closed,
        post("1", ip="203.0.113.7", created_at=datetime(2018, 3, 25, 3, 30, tzinfo=UTC)),
        post("2", thread="t2", featured=True),
    ]
    report = imported(app, items)
    assert report.threads == 2
    assert report.mappings == [
        ("https://news.example/politik/wahl/", "politik/wahl"),
        ("https://news.example/sport/", "sport"),
    ]
    found = comments(app)
    first = found["1"]
    assert (first.author, first.email, first.source) == ("Leser 1", "leser1@example.org", "disqus")
    assert first.created_at == datetime(2018, 3, 25, 3, 30, tzinfo=UTC)
    assert first.source_hash and len(first.source_hash) == 64
    assert found["2"].featured
    state = snapshot(app)
    assert "203.0.113.7" not in repr(state)
    with app.app_context():
        articles = {a.key: a for a in db.session.scalars(select(Article))}
        assert articles["politik/wahl"].title == "Die Wahl"
        assert articles["politik/wahl"].url == "https://news.example/politik/wahl/"
        assert articles["politik/wahl"].approved_count == 1
        assert articles["sport"].closed and not articles["politik/wahl"].closed
    listed = client.get("/api/v1/sites/demo/articles/politik/wahl/comments").get_json()
    assert [c["author"] for c in listed["comments"]] == ["Leser 1"]
    assert listed["comments"][0]["created_at"].startswith("2018-03-25T03:30")
    assert "leser1@example.org" not in repr(listed)


def test_html_passes_our_policy_and_raw_is_kept(app: Flask) -> None:
    html = (
        '<p>Gut <b>so</b><br>zweite Zeile</p><p><a href="javascript:x()">x</a>'
        "<script>alert(1)</script></p>"
    )
    imported(
        app, [THREAD, post("1", text=html, markup=Markup.HTML), post("2", text="*md* <b>x</b>")]
    )
    found = comments(app)
    assert found["1"].body_raw == html
    assert found["1"].body_html.startswith("<p>Gut <b>so</b><br>zweite Zeile</p><p>")
    assert "<script" not in found["1"].body_html and "&lt;script&gt;" in found["1"].body_html
    assert "javascript:" not in found["1"].body_html
    assert found["2"].body_html == "<p>*md* <b>x</b></p>"


def test_skips_are_counted_with_the_sources_ids(app: Flask) -> None:
    items: list[Item] = [
        THREAD,
        Thread("nokey", url=None, identifier=None),
        post("1", thread="missing"),
        post("2", created_at=None),
        post("3", text="   "),
        post("4", thread="nokey"),
        Skip("5", SkipReason.PINGBACK, "pingback"),
        post("6"),
        post("6"),
    ]
    report = imported(app, items)
    assert dict(report.skipped) == {
        "unknown_thread": 1,
        "invalid_date": 1,
        "empty": 1,
        "no_article_key": 1,
        "pingback": 1,
        "duplicate": 1,
    }
    assert "unknown_thread: 1" in report.errors
    assert "invalid_date: 2" in report.errors
    # routine skips are counted, not listed as errors
    assert not [error for error in report.errors if error.startswith(("pingback", "duplicate"))]
    assert report.total_imported == 1


def test_replies_go_under_their_top_level_comment_in_any_order(app: Flask) -> None:
    # 4 answers 3 answers 2 answers 1; 3 comes before its parent 2, 5 before 1.
    items: list[Item] = [
        THREAD,
        post("5", parent="1"),
        post("3", parent="2"),
        post("1"),
        post("2", parent="1"),
        post("4", parent="3"),
        post("6", parent="gone"),
    ]
    report = imported(app, items)
    found = comments(app)
    top = found["1"].id
    assert {k: found[k].parent_id for k in "23456"} == {
        "2": top,
        "3": top,
        "4": top,
        "5": top,
        "6": None,
    }
    assert report.replies == 5
    assert report.moved_up == 2  # 3 and 4 answered replies


def test_a_loop_of_parents_ends(app: Flask) -> None:
    imported(app, [THREAD, post("1", parent="2"), post("2", parent="1")])
    found = comments(app)
    top, other = ("1", "2") if found["1"].parent_id is None else ("2", "1")
    assert found[top].parent_id is None
    assert found[other].parent_id == found[top].id


def test_dry_run_writes_nothing_and_a_second_run_adds_nothing(app: Flask) -> None:
    items: list[Item] = [THREAD, post("1"), post("2", parent="1"), post("3", parent="2")]
    before = snapshot(app)
    preview = imported(app, items, dry_run=True)
    assert snapshot(app) == before
    assert preview.total_imported == 3 and preview.replies == 2 and preview.moved_up == 1

    first = imported(app, items)
    assert first.as_dict() | {"dry_run": True} == preview.as_dict()
    after_first = snapshot(app)
    second = imported(app, items)
    assert second.total_imported == 0 and second.skipped["duplicate"] == 3
    after_second = snapshot(app)
    assert after_second["comment"] == after_first["comment"]
    assert after_second["article"] == after_first["article"]

    bigger = imported(app, [*items, post("4", parent="3"), post("5")])
    assert bigger.total_imported == 2 and bigger.skipped["duplicate"] == 3
    found = comments(app)
    assert found["4"].parent_id == found["1"].id
    with app.app_context():
        runs = db.session.scalars(select(ImportRun).order_by(ImportRun.id)).all()
        assert [run.counts["imported"] for run in runs] == [{"approved": 3}, {}, {"approved": 2}]
        assert all(run.finished_at for run in runs)


def test_an_interrupted_import_keeps_whole_batches_and_continues(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "BATCH", 10)

    def stream(stop_after: int | None) -> Iterator[Item]:
        yield THREAD
        for number in range(1, 36):
            if number == stop_after:
                raise KeyboardInterrupt
            yield post(str(number), parent=str(number - 1) if number % 5 == 0 else None)

    with pytest.raises(KeyboardInterrupt):
        imported(app, stream(stop_after=25))  # type: ignore[arg-type]
    found = comments(app)
    assert len(found) == 20  # two whole batches; the third was never written
    with app.app_context():
        run = db.session.scalars(select(ImportRun)).one()
        assert run.finished_at is None and run.counts["imported"] == {"approved": 20}
        assert db.session.scalars(select(Article)).one().approved_count == 20

    report = imported(app, stream(stop_after=None))  # type: ignore[arg-type]
    assert report.total_imported == 15 and report.skipped["duplicate"] == 20
    found = comments(app)
    assert len(found) == 35
    assert found["25"].parent_id == found["24"].id


@pytest.mark.parametrize(
    ("thread", "how", "key"),
    [
        (Thread("1", url="https://x.example/a/b/?p=1#c", identifier="7"), ArticleKey.PATH, "a/b"),
        (
            Thread("1", url="https://x.example/a/b/", identifier="7"),
            ArticleKey.URL,
            "x.example/a/b",
        ),
        (Thread("1", url="https://x.example/a/b/", identifier="7"), ArticleKey.ID, "7"),
        (Thread("1", url="https://x.example/", identifier="home"), ArticleKey.PATH, "home"),
        (Thread("1", url=None, identifier="/blog/post/"), ArticleKey.PATH, "blog/post"),
        (Thread("1", url="https://x.example/a/", identifier=None), ArticleKey.ID, "a"),
        (Thread("1", url="https://x.example/%C3%BC/", identifier=None), ArticleKey.PATH, None),
        (Thread("1", url=None, identifier=None), ArticleKey.PATH, None),
    ],
)
def test_article_keys(thread: Thread, how: ArticleKey, key: str | None) -> None:
    assert article_key(thread, how) == key


def test_an_unknown_site_is_an_error(app: Flask) -> None:
    from moderation.errors import NotFound

    with app.app_context(), pytest.raises(NotFound):
        run_import("nope", "disqus", [THREAD], Options())
