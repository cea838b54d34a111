"""The no-JS report flow in headless Chromium with JavaScript off: from a published comment's
"Melden" link through the form (a field error first) to the thank-you page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from servers import LiveServer

from moderation.extensions import db
from moderation.models import Report
from moderation.review import Actor, decide
from moderation.sites import snapshot
from moderation.submission import parse_submission, submit_comment

pytestmark = pytest.mark.browser

ARTICLE = "politik/2026/russland-usa"


@pytest.fixture
def nojs(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        java_script_enabled=False, locale="de-DE", timezone_id="Europe/Berlin"
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def published_comment(app: Flask) -> int:
    with app.test_request_context():
        accepted = submit_comment(
            snapshot("demo"),
            ARTICLE,
            parse_submission({"author": "Bert", "body": "Ein fragwürdiger Satz."}),
            source_hash=None,
        )
        decide(accepted.comment_id, "approve", Actor("test"))
        db.session.remove()
    return accepted.comment_id


def test_a_reader_reports_a_comment_without_javascript(
    app: Flask, live_server: LiveServer, nojs: Any
) -> None:
    comment_id = published_comment(app)
    nojs.goto(f"{live_server.url}/embed/demo/{ARTICLE}")
    nojs.get_by_role("link", name="Melden (Bert)").click()
    assert nojs.url.endswith(f"/embed/report/{comment_id}")
    assert nojs.get_by_role("heading", level=1).inner_text() == "Kommentar melden"

    # Illegal content without the law: the field's error comes back, the text kept.
    nojs.get_by_label("Rechtswidriger Inhalt").check()
    nojs.get_by_label("Begründung").fill("Volksverhetzung.")
    nojs.get_by_label("Ich mache diese Meldung in gutem Glauben", exact=False).check()
    nojs.get_by_role("button", name="Meldung senden").click()
    assert "Bitte nennen Sie das Gesetz" in nojs.locator("#law-error").inner_text()
    assert nojs.get_by_label("Begründung").input_value() == "Volksverhetzung."
    assert nojs.get_by_label("Rechtswidriger Inhalt").is_checked()

    nojs.get_by_label("Gegen welches Gesetz", exact=False).fill("§ 130 StGB")
    nojs.get_by_label("Ich mache diese Meldung in gutem Glauben", exact=False).check()
    nojs.get_by_label("E-Mail (optional)").fill("leserin@example.org")
    nojs.get_by_role("button", name="Meldung senden").click()
    assert nojs.url.endswith("?sent=1#status")
    assert "Wir haben Ihre Meldung erhalten" in nojs.get_by_role("status").inner_text()

    with app.app_context():
        (row,) = db.session.scalars(db.select(Report)).all()
        assert (row.comment_id, row.category, row.law, row.email) == (
            comment_id,
            "illegal",
            "§ 130 StGB",
            "leserin@example.org",
        )
        db.session.remove()

    nojs.get_by_role("link", name="Zurück zu den Kommentaren").click()
    assert nojs.url.endswith(f"/embed/demo/{ARTICLE}#comment-{comment_id}")
