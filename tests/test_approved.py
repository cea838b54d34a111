"""The read path: page cache keyed by version, 304 without loading comments, indexed queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import (
    THREAD,
    approve,
    assert_indexed,
    driver_plan,
    make_app,
    post_comment,
    reset_schema,
)
from sqlalchemy import event, text

from moderation import approved, review
from moderation.approved import Page, PageCache
from moderation.extensions import db
from moderation.sites import create_site

# --- the per-worker page cache ---------------------------------------------------------------


def test_page_cache_is_bounded_by_entries() -> None:
    cache = PageCache(max_entries=2, max_bytes=1000)
    for i in range(3):
        cache.put(("k", i), Page(str(i), b"x"))
    assert len(cache) == 2
    assert cache.get(("k", 0)) is None
    assert cache.get(("k", 2)) == Page("2", b"x")


def test_page_cache_is_bounded_by_bytes_and_keeps_recently_used() -> None:
    cache = PageCache(max_entries=100, max_bytes=10)
    cache.put("a", Page("a", b"1234"))
    cache.put("b", Page("b", b"1234"))
    assert cache.get("a") is not None  # "a" is now the most recently used
    cache.put("c", Page("c", b"1234"))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    assert cache.size == 8
    cache.put("huge", Page("huge", b"x" * 11))  # larger than the whole cache: not kept
    assert cache.get("huge") is None and cache.size == 8


def test_page_cache_can_be_switched_off() -> None:
    cache = PageCache(max_entries=0, max_bytes=1000)
    cache.put("a", Page("a", b"1"))
    assert cache.get("a") is None


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts how often a page is built from the database."""
    calls: list[int] = []
    original = approved.approved_page

    def counting(*args: object) -> dict:
        calls.append(1)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(approved, "approved_page", counting)
    return calls


def test_a_page_is_built_once_per_version(client: FlaskClient, built: list[int]) -> None:
    approve(client, post_comment(client, body="Erster.").get_json()["id"])
    first = client.get(f"{THREAD}/comments")
    again = client.get(f"{THREAD}/comments")
    assert len(built) == 1
    assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]

    approve(client, post_comment(client, body="Zweiter.").get_json()["id"])
    changed = client.get(f"{THREAD}/comments")
    assert len(built) == 2
    assert [c["html"] for c in changed.get_json()["comments"]] == [
        "<p>Erster.</p>",
        "<p>Zweiter.</p>",
    ]
    assert changed.headers["ETag"] != first.headers["ETag"]


def test_the_body_always_matches_the_etag(app: Flask, client: FlaskClient) -> None:
    """Whatever the cache holds, an ETag is only ever sent with the JSON of its own version."""
    seen: dict[str, bytes] = {}
    ids = []
    for i in range(4):
        ids.append(post_comment(client, body=f"Nummer {i}.").get_json()["id"])
        approve(client, ids[-1])
        for limit in (1, 50):
            response = client.get(f"{THREAD}/comments?limit={limit}")
            etag = response.headers["ETag"]
            assert seen.setdefault(etag, response.data) == response.data
            assert response.get_json()["count"] == i + 1
    with app.app_context():
        review.decide(ids[0], "reject", review.Actor("test"))
    response = client.get(f"{THREAD}/comments")
    assert response.headers["ETag"] not in seen
    assert [c["id"] for c in response.get_json()["comments"]] == ids[1:]


def test_pages_are_cached_per_page(client: FlaskClient, built: list[int]) -> None:
    ids = [post_comment(client, body=f"K{i}").get_json()["id"] for i in range(3)]
    for comment_id in ids:
        approve(client, comment_id)
    one = client.get(f"{THREAD}/comments?limit=1").get_json()
    two = client.get(f"{THREAD}/comments?limit=1&after={one['next']}").get_json()
    assert [c["id"] for c in one["comments"]] == ids[:1]
    assert [c["id"] for c in two["comments"]] == ids[1:2]
    assert len(built) == 2


def test_a_304_does_not_load_comments(client: FlaskClient, built: list[int]) -> None:
    approve(client, post_comment(client).get_json()["id"])
    etag = client.get(f"{THREAD}/comments").headers["ETag"]
    assert len(built) == 1
    approved.page_cache(client.application)._pages.clear()
    response = client.get(f"{THREAD}/comments", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert len(built) == 1


def test_the_list_json_is_compact_and_complete(client: FlaskClient) -> None:
    comment_id = post_comment(client, body="Hallo").get_json()["id"]
    approve(client, comment_id)
    response = client.get(f"{THREAD}/comments")
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=0, must-revalidate, s-maxage=10"
    body = json.loads(response.data)
    assert body["count"] == 1 and body["next"] is None
    assert set(body["comments"][0]) == {
        "id",
        "parent_id",
        "author",
        "html",
        "created_at",
        "staff",
        "featured",
    }


# --- indexes: every hot query is served by an index (EXPLAIN on both databases) -------------


@pytest.fixture
def statements(app: Flask) -> Iterator[list[tuple[str, object]]]:
    """The SQL (with parameters) that the app sends through SQLAlchemy while the test runs."""
    seen: list[tuple[str, object]] = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def plan(app: Flask, statement: str, parameters: object, *, ordered: bool = False) -> str:
    """The query plan as text. PostgreSQL is told to avoid sequential scans, because on the
    few rows of a test it would rightly prefer them; what matters is that an index can serve
    the query (docs/performance.md has the plans on a million comments). With ``ordered`` it
    is told to avoid sorting too: the index must give the rows in the query's order."""
    with app.app_context():
        with db.engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                text_plan = "\n".join(str(row[-1]) for row in rows)
            else:
                # Fresh statistics: the tables are emptied between tests, not dropped, so those
                # of an earlier test (800 approved comments on one article, say) would make an
                # id-ordered scan of the primary key look just as good.
                connection.execute(text("ANALYZE comment"))
                connection.execute(text("SET enable_seqscan = off"))
                if ordered:
                    # ANALYZE leaves the column statistics of an empty table as they were, so
                    # an earlier test's mostly approved comments can make any index that finds
                    # the few pending ones, then sorts them, look as cheap.
                    connection.execute(text("SET enable_sort = off"))
                rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
                text_plan = "\n".join(row[0] for row in rows)
            connection.rollback()
    return text_plan


def test_the_list_query_uses_the_article_status_index(
    app: Flask, client: FlaskClient, statements: list
) -> None:
    approve(client, post_comment(client).get_json()["id"])
    statements.clear()
    assert client.get(f"{THREAD}/comments?after=0").status_code == 200
    (listing,) = [(s, p) for s, p in statements if "body_html" in s]
    assert_indexed(plan(app, *listing), "ix_comment_article_status_id")


def test_the_thread_state_query_uses_the_article_key_index(app: Flask) -> None:
    text_plan = driver_plan(app, approved._STATE, {"key": "a", "slug": "demo"})
    # The article is found by its (site_id, key) unique index, the site by its slug index.
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:
        assert "sqlite_autoindex_article_1" in text_plan, text_plan
        assert "sqlite_autoindex_site_1" in text_plan, text_plan
    else:
        assert "article_site_id_key_key" in text_plan, text_plan
        assert "site_slug_key" in text_plan, text_plan
    assert_indexed(text_plan, "")


def test_counts_for_100_articles_are_one_indexed_query(app: Flask, client: FlaskClient) -> None:
    post_comment(client)
    keys = [f"a{i}" for i in range(100)] + ["politik/2026/russland-usa"]
    query = "&".join(f"article={key}" for key in keys)
    response = client.get(f"/api/v1/sites/demo/counts?{query}")
    assert response.status_code == 200
    assert response.get_json()["counts"] == {key: 0 for key in keys}
    params = {f"key{number}": key for number, key in enumerate(keys)} | {"slug": "demo"}
    text_plan = driver_plan(app, approved._counts_statement(len(keys)), params)
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    assert_indexed(text_plan, "sqlite_autoindex_article_1" if sqlite else "article_site_id_key_key")


def test_the_moderation_queue_uses_the_status_index(app: Flask, statements: list) -> None:
    with app.app_context():
        review.pending_queue(limit=100)
        db.session.remove()
    (queue,) = statements
    assert_indexed(plan(app, *queue, ordered=True), "ix_comment_status_created")


# --- a page is only labelled with the version it was read at ---------------------------------


def test_a_decision_while_the_page_is_read_gets_the_new_version(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = post_comment(client, body="Erster.").get_json()["id"]
    approve(client, first)
    late = post_comment(client, body="Später.").get_json()["id"]
    old_etag = client.get(f"{THREAD}/comments?limit=10").headers["ETag"]
    approved.page_cache(app)._pages.clear()
    original = approved.approved_page
    calls: list[int] = []

    def racing(*args: object) -> dict:
        data = original(*args)  # type: ignore[arg-type]
        if not calls:  # a moderator approves right after the comments were read
            with app.app_context():
                review.decide(late, "approve", review.Actor("test"))
        calls.append(1)
        return data

    monkeypatch.setattr(approved, "approved_page", racing)
    response = client.get(f"{THREAD}/comments?limit=10")
    ids = [c["id"] for c in response.get_json()["comments"]]
    # SQLite reads comments and version in one snapshot (the old one); PostgreSQL sees the
    # approval when it reads the version again and builds the page anew. Either way the
    # body is the one that belongs to the ETag it carries.
    if response.headers["ETag"] == old_etag:
        assert ids == [first] and len(calls) == 1
    else:
        assert ids == [first, late] and len(calls) == 2
    newest = client.get(f"{THREAD}/comments?limit=10")
    assert [c["id"] for c in newest.get_json()["comments"]] == [first, late]
    assert newest.headers["ETag"] != old_etag


def test_a_list_that_keeps_changing_goes_out_without_etag(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    approve(client, post_comment(client).get_json()["id"])
    article_id = client.get(f"{THREAD}/comments").get_json()["comments"][0]["id"]
    original = approved.approved_page

    def churning(*args: object) -> dict:
        data = original(*args)  # type: ignore[arg-type]
        with app.app_context():
            comment = db.session.get(approved.Comment, article_id)
            review.bump_article(comment.article_id)
            db.session.commit()
        return data

    monkeypatch.setattr(approved, "approved_page", churning)
    response = client.get(f"{THREAD}/comments?limit=7")
    assert response.status_code == 200
    assert len(response.get_json()["comments"]) == 1
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:  # one snapshot: the version read matches the comments read, whatever commits
        assert response.headers["ETag"]
    else:
        assert "ETag" not in response.headers
        assert response.headers["Cache-Control"] == "no-store"


def test_the_state_ttl_bounds_staleness(app: Flask, client: FlaskClient) -> None:
    app.config["LIST_STATE_TTL"] = 3600
    approve(client, post_comment(client).get_json()["id"])
    before = client.get(f"{THREAD}/comments")
    approve(client, post_comment(client, body="Neu.").get_json()["id"])
    stale = client.get(f"{THREAD}/comments", headers={"If-None-Match": before.headers["ETag"]})
    assert stale.status_code == 304  # within the TTL this worker still has the old state
    app.extensions["moderation.state_cache"].clear()  # the TTL ran out
    fresh = client.get(f"{THREAD}/comments", headers={"If-None-Match": before.headers["ETag"]})
    assert fresh.status_code == 200
    assert fresh.get_json()["count"] == 2


def test_the_state_query_follows_the_app(database_url: str, tmp_path: Path) -> None:
    """Another app (another database) in the same thread gets its own connection."""
    other = make_app(f"sqlite:///{tmp_path / 'other.sqlite3'}", tmp_path / "other")
    reset_schema(other)
    with other.app_context():
        create_site("demo", "Andere", [], "de")
        db.session.remove()
    client = other.test_client()
    assert client.get(f"{THREAD}/comments").get_json()["count"] == 0
    approve(client, post_comment(client).get_json()["id"])
    assert client.get(f"{THREAD}/comments").get_json()["count"] == 1
    with other.app_context():
        db.engine.dispose()
