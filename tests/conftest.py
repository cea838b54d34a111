"""Fixtures: every test gets a fresh database, on SQLite and (when available) on PostgreSQL.

``TEST_DATABASE_URL`` names a PostgreSQL database for tests (``.ci/run`` starts one). Without
it, the PostgreSQL half of each test is skipped locally; with ``CI`` set, any skip fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text

from moderation import create_app
from moderation.extensions import db
from moderation.models import Site
from moderation.sites import create_site

PG_URL = os.environ.get("TEST_DATABASE_URL")
_pg_schema_ready = False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """In CI a skipped test is a failure: a test that needs a server must get one there."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {reason}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set (no PostgreSQL server for tests)")
    return PG_URL


# Tests post many comments from 127.0.0.1, often with the same text; the abuse checks that
# count them (tests/test_checks.py sets them to their real values) stay out of the way here.
RELAXED_CHECKS = {
    "RATE_LIMIT_PER_MINUTE": 10_000,
    "RATE_LIMIT_PER_HOUR": 10_000,
    "DUPLICATE_WINDOW_HOURS": 0,
}


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


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = make_app(database_url, tmp_path)
    reset_schema(app)
    with app.app_context():
        create_site("demo", "Demo-Zeitung", ["https://news.example"], "de")
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    """An application context, for tests that call use-case functions directly."""
    with app.app_context():
        yield
        db.session.remove()


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


# --- live servers and a real browser -------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Keep every request on loopback; Chromium still calls home otherwise.
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]


class LiveServer:
    """A WSGI app served by werkzeug in a thread on a free loopback port."""

    def __init__(self, wsgi_app: Any, host: str = "127.0.0.1") -> None:
        import threading

        from werkzeug.serving import make_server

        self._server = make_server(host, 0, wsgi_app, threaded=True)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The test's app, reachable over HTTP at ``live_server.url`` (http://127.0.0.1:PORT)."""
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright; never a downloaded browser."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies, no storage) and a page in it."""
    context = browser.new_context(locale="de-DE", timezone_id="Europe/Berlin")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
