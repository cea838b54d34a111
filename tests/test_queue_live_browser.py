"""The shared queue in two real browsers (two contexts, two moderators): decisions and new
comments reach the other screen, and so does "anna is looking at this"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from helpers import comment_numbered, post_comment
from moderator_ui import PASSWORD, add_moderator
from servers import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
def fast_polls(app: Flask) -> None:
    app.config["QUEUE_POLL_SECONDS"] = 0.3


@pytest.fixture
def two_pages(browser: Any) -> Iterator[tuple[Any, Any]]:
    contexts = [browser.new_context(locale="de-DE", timezone_id="Europe/Berlin") for _ in range(2)]
    pages = []
    for context in contexts:
        context.set_default_timeout(10_000)
        pages.append(context.new_page())
    yield pages[0], pages[1]
    for context in contexts:
        context.close()


def _log_in(page: Any, server: LiveServer, username: str) -> list[str]:
    errors: list[str] = []
    # A refused script or style (the CSP) is a console error; a failed request is caught by
    # its response instead, so that the browser's own favicon request does not count.
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.goto(f"{server.url}/moderate/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{server.url}/moderate/")
    return errors


def test_decisions_and_new_comments_reach_the_other_screen(
    app: Flask, live_server: LiveServer, two_pages: tuple[Any, Any], fast_polls: None
) -> None:
    client = app.test_client()
    first, second, third = (
        post_comment(client, body=f"Kommentar {n}").get_json()["id"] for n in range(3)
    )
    add_moderator(app, "anna")
    add_moderator(app, "bob")
    anna, bob = two_pages
    anna_errors = _log_in(anna, live_server, "anna")
    bob_errors = _log_in(bob, live_server, "bob")
    assert bob.title().startswith("(3) ")

    anna.keyboard.press("a")  # Anna approves the first card
    anna.locator(f"#c{first}").wait_for(state="detached")

    # Bob's card goes, with a polite notice, and his count and title follow.
    bob.locator(f"#c{first}").wait_for(state="detached")
    bob.locator("#live", has_text=f"#{first}: anna hat diesen Kommentar").wait_for()
    assert bob.locator("#live").get_attribute("aria-live") == "polite"
    assert bob.locator("#pending-count").inner_text() == "2"
    bob.wait_for_function("document.title.startsWith('(2) ')")
    assert bob.locator("#cards > .card").count() == 2

    # A comment sent through the API appears at the end of Anna's queue.
    fourth = post_comment(client, body="Ganz neu hier").get_json()["id"]
    anna.locator(f"#c{fourth}").wait_for()
    ids = anna.locator("#cards > .card").evaluate_all("cards => cards.map(c => c.dataset.id)")
    assert ids == [str(second), str(third), str(fourth)]
    assert anna.locator("#pending-count").inner_text() == "3"
    anna.wait_for_function("document.title.startsWith('(3) ')")
    assert "Ganz neu hier" in anna.locator(f"#c{fourth} .body").inner_text()

    # The new card works like the others: Anna rejects it with a button.
    anna.locator(f"#c{fourth} form.decide-reject select.ground").select_option("other")
    anna.locator(f"#c{fourth} .btn-reject").click()
    anna.locator(f"#c{fourth}").wait_for(state="detached")
    bob.locator(f"#c{fourth}").wait_for(state="detached")
    assert not anna_errors and not bob_errors, (anna_errors, bob_errors)  # e.g. the CSP


def test_the_other_moderator_sees_the_claim(
    app: Flask, live_server: LiveServer, two_pages: tuple[Any, Any], fast_polls: None
) -> None:
    client = app.test_client()
    first, second = (post_comment(client, body=f"K {n}").get_json()["id"] for n in range(2))
    add_moderator(app, "anna")
    add_moderator(app, "bob")
    anna, bob = two_pages
    _log_in(anna, live_server, "anna")
    _log_in(bob, live_server, "bob")

    anna.keyboard.press("j")  # Anna moves to the second card
    claim = bob.locator(f"#c{second} .claim")
    claim.wait_for(state="visible")
    assert claim.inner_text() == "anna sieht sich das gerade an"
    assert bob.locator(f"#c{first} .claim").is_hidden()
    # Anna does not see her own claim.
    anna.wait_for_timeout(800)
    assert anna.locator(f"#c{second} .claim").is_hidden()

    # Bob clicks the first card: Anna sees him there.
    bob.locator(f"#c{first} .body").click()
    anna.locator(f"#c{first} .claim", has_text="bob sieht sich das gerade an").wait_for()


def test_a_comment_that_turns_up_late_still_reaches_both_screens_once(
    app: Flask, live_server: LiveServer, two_pages: tuple[Any, Any], fast_polls: None
) -> None:
    """1001 drew its number before 1002 and commits after it (as on PostgreSQL): Anna's queue
    (the oldest first, its end on screen) gets both cards, Bob's (by attention, one page) a
    notice for each, and neither screen hears of one twice."""
    from playwright.sync_api import expect

    first = post_comment(app.test_client(), body="Der Erste").get_json()["id"]
    add_moderator(app, "anna")
    add_moderator(app, "bob")
    anna, bob = two_pages
    anna_errors = _log_in(anna, live_server, "anna")
    bob_errors = _log_in(bob, live_server, "bob")
    bob.goto(f"{live_server.url}/moderate/?sort=attention")
    notices = bob.locator("#live p", has_text="1 neuer Kommentar")

    comment_numbered(app, 1002)
    anna.locator("#c1002").wait_for()
    notices.first.wait_for()
    comment_numbered(app, 1001)
    anna.locator("#c1001").wait_for()
    expect(bob.locator("#live p")).to_have_count(2)

    anna.wait_for_timeout(1500)  # five more polls: nothing is handed out again
    ids = anna.locator("#cards > .card").evaluate_all("cards => cards.map(c => c.dataset.id)")
    assert ids == [str(first), "1002", "1001"]
    assert notices.count() == 2
    assert not anna_errors and not bob_errors, (anna_errors, bob_errors)
