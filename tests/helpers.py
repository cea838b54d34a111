"""Small helpers shared by the tests: apps, schemas, snapshots, comments, query plans.

``conftest.py`` holds only fixtures and hooks; whatever a test imports comes from here (or from
``moderator_ui.py`` and ``servers.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from werkzeug.test import TestResponse

from moderation import approved, create_app
from moderation.database import Driver, Statement
from moderation.extensions import db
from moderation.models import Comment, CommentStatus, Site

THREAD = "/api/v1/sites/demo/articles/politik/2026/russland-usa"

# Tests post many comments from 127.0.0.1, often with the same text; the abuse checks that
# count them (tests/test_checks.py sets them to their real values) stay out of the way here.
RELAXED_CHECKS = {
    "RATE_LIMIT_PER_MINUTE": 10_000,
    "RATE_LIMIT_PER_HOUR": 10_000,
    "DUPLICATE_WINDOW_HOURS": 0,
}

_pg_schema_ready = False


def make_app(database_url: str, tmp_path: Path, **config: Any) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": tmp_path / "instance",
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key",
            "MIN_SUBMIT_SECONDS": 0,
            **RELAXED_CHECKS,
            **config,
        }
    )


def reset_schema(app: Flask) -> None:
    """An empty schema: created on SQLite, truncated on PostgreSQL (faster than re-creating)."""
    global _pg_schema_ready
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            db.create_all()
            return
        if not _pg_schema_ready:
            db.drop_all()
            db.create_all()
            _pg_schema_ready = True
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()
        db.session.remove()


def forget_pg_schema() -> None:
    """For tests that drop and rebuild the PostgreSQL schema themselves."""
    global _pg_schema_ready
    _pg_schema_ready = False


def snapshot(app: Flask) -> dict[str, list[tuple]]:
    """Every row of every table, to show that a refused request changed nothing."""
    with app.app_context():
        state = {
            table.name: sorted(
                (tuple(map(repr, row)) for row in db.session.execute(table.select())),
            )
            for table in db.metadata.sorted_tables
        }
        db.session.remove()
    return state


def site(app: Flask, slug: str = "demo") -> Site:
    with app.app_context():
        found = db.session.scalars(db.select(Site).where(Site.slug == slug)).one()
        db.session.expunge(found)
        return found


def post_comment(
    client: FlaskClient,
    thread: str = THREAD,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> TestResponse:
    payload = {"author": "Anna", "body": "Ein guter Artikel."} | fields
    return client.post(f"{thread}/comments", json=payload, headers=headers or {})


def approve(client: FlaskClient, comment_id: int) -> None:
    from moderation.review import Actor, decide

    with client.application.app_context():
        decide(comment_id, "approve", Actor("test"))


def driver_plan(
    app: Flask, statement: Statement, params: Mapping[str, Any], *, analyze: bool = False
) -> str:
    """The query plan of a statement as :class:`moderation.database.Driver` runs it, as text.

    With ``analyze`` the database first gathers statistics, as a long-running installation's
    would. PostgreSQL is told to avoid sequential scans, because on the few rows of a test it
    would rightly prefer them; what matters is that an index can serve the query.
    """
    with app.app_context():
        engine = db.engine
        connection = engine.raw_connection()
        try:
            driver = Driver(connection, engine.dialect)
            if analyze:
                driver.execute("ANALYZE")
            if not driver.sqlite:
                driver.execute("SET enable_seqscan = off")
            sql, args = driver.render(statement, params)
            explain = "EXPLAIN QUERY PLAN" if driver.sqlite else "EXPLAIN"
            rows = driver.cursor.execute(f"{explain} {sql}", args).fetchall()
            return "\n".join(str(row[-1]) if driver.sqlite else row[0] for row in rows)
        finally:
            connection.rollback()
            connection.close()


def assert_indexed(text_plan: str, index: str) -> None:
    """The plan uses ``index`` and reads no table from end to end."""
    assert index in text_plan, text_plan
    # SQLite: a full scan of a table reads "SCAN comment" without "USING INDEX".
    for line in text_plan.splitlines():
        assert not (line.startswith("SCAN") and "USING" not in line), text_plan
    assert "Seq Scan" not in text_plan, text_plan


def least_cpu_seconds(work: Callable[[], object], runs: int = 5) -> float:
    """The least CPU time of ``runs`` calls of ``work`` (after one to warm up).

    CPU time of this thread, and the least of a few: other work on the machine only ever adds
    to it, so cost ratios measured this way hold on a busy machine too.
    """
    work()
    best = float("inf")
    for _ in range(runs):
        start = time.thread_time()
        work()
        best = min(best, time.thread_time() - start)
    return best


def deliver(app: Flask) -> Any:
    """Run the outbox worker until nothing is due (``outbox work --once``); returns its tally."""
    from moderation.notify import worker

    with app.app_context():
        tally = worker.work(once=True)
        db.session.remove()
    return tally


def outbox_rows(app: Flask, **where: Any) -> list[Any]:
    """The outbox's rows (detached), oldest first, filtered by column values."""
    from moderation.models import OutboxMessage

    with app.app_context():
        rows = list(db.session.scalars(db.select(OutboxMessage).filter_by(**where).order_by("id")))
        db.session.expunge_all()
        db.session.remove()
    return rows


def heard_by_this_worker(app: Flask) -> None:
    """After a commit made straight through the session: wait, as a write use case does after
    its own, until this worker's listener has heard of it (PostgreSQL), so that the sites and
    lists it keeps in memory are fresh for the next request."""
    watch = approved.watch_of(app)
    if watch is not None:
        watch.barrier()


def comment_numbered(
    app: Flask, comment_id: int, status: CommentStatus = CommentStatus.PENDING
) -> None:
    """A comment with a number of its own, committed now on the first comment's article: as a
    submission that drew its number before another one's and committed after it (PostgreSQL).
    Give numbers far above the sequence's, so that later submissions cannot meet them."""
    with app.app_context():
        article_id = db.session.scalar(db.select(Comment.article_id).limit(1))
        db.session.add(
            Comment(
                id=comment_id,
                article_id=article_id,
                author="Spät",
                body_raw="Spät dran",
                body_html="<p>Spät dran</p>",
                status=status,
            )
        )
        db.session.commit()
