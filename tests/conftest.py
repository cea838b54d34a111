"""Fixtures: every test gets a fresh database, on SQLite and (when available) on PostgreSQL.

``TEST_DATABASE_URL`` names a PostgreSQL database for tests (``.ci/run`` starts one). Without
it, the PostgreSQL half of each test is skipped locally; with ``CI`` set, any skip fails.

Only fixtures and hooks live here; tests import their helpers from ``helpers.py``,
``moderator_ui.py`` and ``servers.py``, never from this file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from helpers import make_app, reset_schema
from servers import CHROMIUM, CHROMIUM_ARGS, LiveServer, MailServer

from moderation.extensions import db
from moderation.sites import create_site

PG_URL = os.environ.get("TEST_DATABASE_URL")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """In CI a skipped test is a failure: a test that needs a server must get one there."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {reason}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the browser carries the ``browser`` marker, so that
    ``-m "not browser"`` leaves out all of them."""
    unmarked = [
        item.nodeid
        for item in items
        if "browser" in getattr(item, "fixturenames", ())
        and item.get_closest_marker("browser") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use the browser without @pytest.mark.browser: " + ", ".join(unmarked)
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set (no PostgreSQL server for tests)")
    return PG_URL


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


# --- mail -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _smtp_server() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_server(app: Flask, _smtp_server: MailServer) -> MailServer:
    """A real SMTP server that the test's app sends to; it starts each test empty."""
    _smtp_server.messages.clear()
    _smtp_server.refuse = None
    app.config.update(_smtp_server.config)
    return _smtp_server


# --- live servers and a real browser -------------------------------------------------------


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
def reader(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open pages as separate readers: each call is a fresh browser context."""
    contexts: list[Any] = []

    def open_page(**options: Any) -> Any:
        context = browser.new_context(locale="de-DE", timezone_id="Europe/Berlin", **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies, no storage) and a page in it."""
    context = browser.new_context(locale="de-DE", timezone_id="Europe/Berlin")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
