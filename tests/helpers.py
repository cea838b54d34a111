"""Small helpers shared by the tests."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from moderation.database import Driver
from moderation.extensions import db

THREAD = "/api/v1/sites/demo/articles/politik/2026/russland-usa"


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


def driver_plan(app: Flask, sql: str, params: tuple, *, analyze: bool = False) -> str:
    """The query plan of SQL written for :class:`moderation.database.Driver` (``{p}``), as text.

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
            if driver.sqlite:
                rows = driver.all(f"EXPLAIN QUERY PLAN {sql}", params)
                return "\n".join(str(row[-1]) for row in rows)
            driver.execute("SET enable_seqscan = off")
            return "\n".join(row[0] for row in driver.all(f"EXPLAIN {sql}", params))
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
