"""The moderator UI in headless Chromium: keyboard, buttons, phones, and a whole queue in German."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from helpers import THREAD, post_comment
from moderator_ui import PASSWORD, add_moderator
from servers import LiveServer

from moderation.extensions import db
from moderation.models import ModerationEvent

pytestmark = pytest.mark.browser


def _log_in(page: Any, server: LiveServer, username: str = "mona") -> None:
    page.goto(f"{server.url}/moderate/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{server.url}/moderate/")


def _approved_ids(app: Flask) -> list[int]:
    client = app.test_client()
    return [c["id"] for c in client.get(f"{THREAD}/comments").get_json()["comments"]]


def test_approve_with_the_keyboard_and_reject_with_a_button(
    app: Flask, live_server: LiveServer, page: Any
) -> None:
    client = app.test_client()
    first, second, third = (
        post_comment(client, body=f"Kommentar {n}").get_json()["id"] for n in range(3)
    )
    add_moderator(app)
    _log_in(page, live_server)

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    assert page.locator("#cards > .card").count() == 3
    assert page.locator(f"#c{first}").evaluate("el => el.classList.contains('current')")

    page.keyboard.press("a")  # approve the first, which has focus
    page.locator(f"#c{first}").wait_for(state="detached")
    assert page.locator(f"#c{second}").evaluate("el => el.classList.contains('current')")
    assert page.locator("#pending-count").inner_text() == "2"

    card = page.locator(f"#c{third}")
    card.locator('input[name="note"]').fill("Beleidigung")
    card.locator("form.decide-reject select.ground").select_option("insult")
    card.locator(".btn-reject").click()
    card.wait_for(state="detached")

    assert _approved_ids(app) == [first]
    with app.app_context():
        events = db.session.scalars(db.select(ModerationEvent).order_by(ModerationEvent.id)).all()
        assert [(e.comment_id, e.to_status, e.actor_name, e.note) for e in events] == [
            (first, "approved", "mona", None),
            (third, "rejected", "mona", "Beleidigung"),
        ]
    assert page.url == f"{live_server.url}/moderate/"  # no reload, no navigation
    assert not errors, errors  # e.g. nothing blocked by the Content-Security-Policy


def test_no_horizontal_scroll_on_a_phone(app: Flask, live_server: LiveServer, page: Any) -> None:
    client = app.test_client()
    post_comment(
        client,
        author="Jemand mit einem sehr langen Namen",
        email="ein.sehr.langer.name@eine-lange-domain.example",
        body="Ein Wort ohne Pause: " + "x" * 300 + " https://example.org/" + "y" * 200,
        title="Ein Artikel mit einem recht langen Titel über sehr viele Dinge",
    )
    add_moderator(app, admin=True)
    page.set_viewport_size({"width": 375, "height": 740})
    _log_in(page, live_server)
    for path in (
        "/moderate/",
        "/moderate/comments/1",
        "/moderate/articles/1",
        "/moderate/admin/moderators",
        "/moderate/admin/sites/demo",
    ):
        page.goto(f"{live_server.url}{path}")
        if path == "/moderate/":
            page.locator("details.raw summary").first.click()  # the raw text, open
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width}px wide"


def test_clear_a_queue_of_fifty_with_the_keyboard_in_german(
    app: Flask, live_server: LiveServer, page: Any
) -> None:
    client = app.test_client()
    ids = [post_comment(client, body=f"Nummer {n}").get_json()["id"] for n in range(50)]
    add_moderator(app)
    _log_in(page, live_server)  # the page fixture's browser speaks German (de-DE)
    assert page.locator("html").get_attribute("lang") == "de"
    assert "wartet seit" in page.locator(f"#c{ids[0]}").inner_text()

    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    assert "Tastenkürzel" in page.locator("#shortcuts").inner_text()
    page.keyboard.press("?")
    assert not page.locator("#shortcuts").is_visible()

    plan = {}
    for n, comment_id in enumerate(ids):
        plan[comment_id] = "asr"[n % 3]
    for comment_id in ids:
        page.locator(f"#c{comment_id}.current").wait_for()
        page.keyboard.press(plan[comment_id])
        if plan[comment_id] == "r":
            # A rejection needs a ground: "r" takes the moderator to the card's ground first;
            # they choose one with the arrow keys, leave the list with Escape, press "r" again.
            from playwright.sync_api import expect

            ground = page.locator(f"#c{comment_id} form.decide-reject select.ground")
            expect(ground).to_be_focused()
            page.keyboard.press("ArrowDown")
            page.keyboard.press("Escape")
            page.keyboard.press("r")
        page.locator(f"#c{comment_id}").wait_for(state="detached")

    page.locator("#empty").wait_for(state="visible")
    assert "Die Warteschlange ist leer" in page.locator("#empty").inner_text()
    assert page.locator("#pending-count").inner_text() == "0"
    expected = {"a": "approved", "s": "spam", "r": "rejected"}
    with app.app_context():
        events = db.session.scalars(db.select(ModerationEvent)).all()
        assert {e.comment_id: e.to_status.value for e in events} == {
            i: expected[plan[i]] for i in ids
        }
        assert {e.actor_name for e in events} == {"mona"}
    assert sorted(_approved_ids(app)) == [i for i in ids if plan[i] == "a"]
