"""The reader's whole story in headless Chromium, with the news site on another origin.

The host page (the demo newspaper in ``demo/``) is served on ``http://localhost:P1`` and the
service on ``http://127.0.0.1:P2``: two different *sites*, so the browser treats the service
exactly as a third party (CORS for the widget, no cookies for the framed page).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from servers import LiveServer

from moderation.extensions import db
from moderation.models import Comment, CommentStatus, Site
from moderation.review import Actor, decide

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = "radwege-ringstrasse"  # the demo article (demo/index.html)
FRAMED = "stadtbibliothek-sonntags"  # the demo article with the iframe (demo/iframe.html)
XSS = """<script>window.__xss=1</script><img src=x onerror="window.__xss=1">"""

_spec = importlib.util.spec_from_file_location("demo_serve", ROOT / "demo" / "serve.py")
demo_serve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo_serve)

# Host pages the tests need besides the demo's own.
EXTRA_PAGES = {
    "far.html": """<!doctype html><html lang="de"><body>
<h1 id="top">Lang</h1><div style="height: 3000px"></div>
<div id="comments" data-site="demo" data-article="weit-unten" data-lang="en"></div>
<script src="http://127.0.0.1:5000/embed.js" defer></script></body></html>""",
    "sections.html": """<!doctype html><html lang="de"><body>
<a data-comment-count data-site="demo" data-article="radwege-ringstrasse">?</a>
<a data-comment-count data-site="demo" data-article="stadtbibliothek-sonntags">?</a>
<a data-comment-count data-site="demo" data-article="radwege-ringstrasse" data-lang="en">?</a>
<script src="http://127.0.0.1:5000/count.js" defer></script></body></html>""",
}


@pytest.fixture
def host(app: Flask, live_server: LiveServer) -> Iterator[LiveServer]:
    """The demo newspaper on http://localhost:PORT, embedding the live service, with the
    shipped cache policy: browsers revalidate lists and counts on every load."""
    server = LiveServer(demo_serve.make_app(live_server.url, EXTRA_PAGES), host="localhost")
    with app.app_context():
        site = db.session.scalars(db.select(Site).where(Site.slug == "demo")).one()
        site.origins = [*site.origins, server.url]
        db.session.commit()
        db.session.remove()
    yield server
    server.stop()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def rows(app: Flask) -> list[Comment]:
    with app.app_context():
        found = list(db.session.scalars(db.select(Comment).order_by(Comment.id)))
        db.session.expunge_all()
        db.session.remove()
    return found


def approve(app: Flask, comment_id: int) -> None:
    with app.app_context():
        decide(comment_id, "approve", Actor("anna"))
        db.session.remove()


def write(page: Any, body: str, author: str = "Anna", email: str = "") -> None:
    widget = page.locator("#comments")
    widget.get_by_label("Name").fill(author)
    widget.get_by_label("E-Mail (optional)").fill(email)
    widget.get_by_label("Kommentar", exact=True).fill(body)
    widget.get_by_role("button", name="Kommentar absenden").click()


# --- story 1 ---------------------------------------------------------------------------------


def test_story_1_a_reader_comments_and_only_they_see_it_pending(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    page = reader()
    page.goto(f"{host.url}/")
    widget = page.locator("#comments")
    expect(widget.locator("h2")).to_have_text("0 Kommentare")
    expect(widget.get_by_text("Noch keine Kommentare")).to_be_visible()
    expect(widget.get_by_text("wird nicht veröffentlicht")).to_be_visible()
    counter = widget.get_by_text("noch 5000 Zeichen")
    expect(counter).to_be_visible()
    widget.get_by_label("Kommentar", exact=True).fill("Hallo")
    expect(widget.get_by_text("noch 4995 Zeichen")).to_be_visible()

    write(page, "Endlich sichere Radwege!\nDas wurde Zeit.", email="anna@example.org")
    status = widget.get_by_role("status")
    expect(status).to_have_text(
        "Danke! Ihr Kommentar wird geprüft und erscheint nach der Freigabe."
    )
    pending = widget.locator(".cm-pending")
    expect(pending).to_contain_text("Endlich sichere Radwege!")
    expect(pending).to_contain_text("wartet auf Freigabe")
    expect(widget.get_by_label("Kommentar", exact=True)).to_have_value("")

    (comment,) = rows(app)
    assert comment.status == CommentStatus.PENDING
    assert comment.email == "anna@example.org"
    assert comment.reasons == []  # a real form: valid token, empty honeypot
    # The withdrawal token lives in localStorage, never in a cookie.
    assert page.context.cookies() == []
    stored = json.loads(page.evaluate(f"localStorage.getItem('comments:demo:{ARTICLE}')"))
    assert stored[0]["id"] == comment.id and len(stored[0]["token"]) >= 24

    # After a reload the reader still sees it; another reader does not.
    page.reload()
    expect(page.locator("#comments .cm-pending")).to_contain_text("Endlich sichere Radwege!")
    other = reader()
    other.goto(f"{host.url}/")
    expect(other.locator("#comments h2")).to_have_text("0 Kommentare")
    expect(other.locator("#comments .cm-pending")).to_have_count(0)
    expect(other.locator("#comments")).not_to_contain_text("Endlich sichere Radwege!")
    assert page.errors == [] and other.errors == []


# --- story 2 ---------------------------------------------------------------------------------


def test_story_2_approved_comment_shows_with_date_and_a_nested_reply(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    page = reader()
    page.goto(f"{host.url}/")
    write(page, "Gute Nachricht für Pendler.")
    expect(page.locator("#comments .cm-pending")).to_have_count(1)
    (comment,) = rows(app)
    approve(app, comment.id)

    # At once, with the shipped cache policy: the browser holds the list from the first load
    # and must ask again (max-age=0, a 304 when nothing changed), not show it as it was.
    page.reload()
    widget = page.locator("#comments")
    expect(widget.locator("h2")).to_have_text("1 Kommentar")
    first = widget.locator(f"#comment-{comment.id}")
    expect(first.locator(".cm-author").first).to_have_text("Anna")
    expect(first.locator(".cm-body").first).to_have_text("Gute Nachricht für Pendler.")
    time = first.locator("time").first
    created = comment.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    expect(time).to_have_attribute("datetime", created)
    expect(time).to_have_text(re.compile(r"^(jetzt|vor \d+ (Sekunden|Minuten?))$"))
    expect(time).to_have_attribute("title", re.compile(r"\d{4}.*\d{2}:\d{2}"))
    # Approved now, so no longer kept as the reader's own pending comment.
    expect(widget.locator(".cm-pending")).to_have_count(0)
    # The meta line's count link (count.js) says so too.
    expect(page.locator(".meta [data-comment-count]")).to_have_text("1 Kommentar")

    first.get_by_role("button", name="Antworten (Anna)").click()
    expect(first.locator("form h3")).to_have_text("Antwort an Anna")
    expect(first.get_by_label("Kommentar", exact=True)).to_be_focused()
    first.get_by_label("Name").fill("Ben")
    first.get_by_label("Kommentar", exact=True).fill("Stimmt, endlich!")
    first.get_by_role("button", name="Kommentar absenden").click()
    expect(widget.get_by_role("status")).to_contain_text("Danke!")
    reply = rows(app)[-1]
    assert reply.parent_id == comment.id
    approve(app, reply.id)

    page.reload()
    expect(widget.locator("h2")).to_have_text("2 Kommentare")
    nested = widget.locator(f"#comment-{comment.id} .cm-replies #comment-{reply.id}")
    expect(nested).to_contain_text("Stimmt, endlich!")
    expect(nested.locator(".cm-author")).to_have_text("Ben")
    assert page.errors == []


# --- story 3 ---------------------------------------------------------------------------------


def test_story_3_markup_in_a_comment_shows_as_text_and_never_runs(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    page = reader()
    page.goto(f"{host.url}/")
    write(page, XSS, author='<img src=x onerror="window.__xss=1">')
    pending = page.locator("#comments .cm-pending")
    expect(pending).to_contain_text(XSS)
    (comment,) = rows(app)
    approve(app, comment.id)

    page.reload()
    body = page.locator(f"#comments #comment-{comment.id} .cm-body")
    expect(body).to_have_text(XSS)
    expect(page.locator(f"#comments #comment-{comment.id} .cm-author")).to_have_text(
        '<img src=x onerror="window.__xss=1">'
    )
    assert body.locator("script, img").count() == 0
    page.wait_for_timeout(300)  # give a stray onerror the chance it must not have
    assert page.evaluate("window.__xss") is None
    assert page.errors == []


# --- story 4 ---------------------------------------------------------------------------------


def test_story_4_without_javascript_the_page_lists_and_accepts(
    app: Flask, live_server: LiveServer, host: LiveServer, reader: Callable[..., Any]
) -> None:
    page = reader()
    page.goto(f"{host.url}/")
    write(page, "Schon freigegeben.")
    expect(page.locator("#comments .cm-pending")).to_have_count(1)
    approve(app, rows(app)[0].id)

    nojs = reader(java_script_enabled=False)
    nojs.goto(f"{live_server.url}/embed/demo/{ARTICLE}")
    expect(nojs.locator("h1")).to_have_text("1 Kommentar")
    expect(nojs.locator(".cm-body")).to_have_text("Schon freigegeben.")
    nojs.get_by_label("Name").fill("Carla")
    nojs.get_by_label("Kommentar", exact=True).fill("Ohne JavaScript geschrieben.")
    nojs.get_by_role("button", name="Kommentar absenden").click()
    expect(nojs.get_by_role("status")).to_have_text(
        "Danke! Ihr Kommentar wird geprüft und erscheint nach der Freigabe."
    )
    assert nojs.url.endswith("?sent=1#status")
    latest = rows(app)[-1]
    assert (latest.author, latest.status, latest.reasons) == ("Carla", "pending", [])

    # A field error comes back on the page, the text kept.
    nojs.get_by_label("Kommentar", exact=True).fill("Ohne Namen")
    nojs.get_by_role("button", name="Kommentar absenden").click()
    expect(nojs.locator("#author-error")).to_contain_text("Bitte geben Sie einen Namen an")
    expect(nojs.get_by_label("Kommentar", exact=True)).to_have_value("Ohne Namen")


def test_story_4_in_an_iframe_without_third_party_cookies_the_form_works(
    app: Flask, live_server: LiveServer, host: LiveServer, reader: Callable[..., Any]
) -> None:
    cookies_seen: list[str | None] = []
    inner = app.wsgi_app

    def record_cookies(environ: dict, start_response: Callable) -> Any:
        if environ["PATH_INFO"].startswith("/embed/"):
            cookies_seen.append(environ.get("HTTP_COOKIE"))
        return inner(environ, start_response)

    app.wsgi_app = record_cookies
    page = reader()
    # A cookie the service set earlier: a browser blocking third-party cookies withholds it.
    page.context.add_cookies([{"name": "probe", "value": "1", "url": live_server.url}])
    page.goto(f"{host.url}/iframe.html")
    frame = page.frame_locator("iframe#comments")
    expect(frame.locator("h1")).to_have_text("0 Kommentare")
    frame.get_by_label("Name").fill("Dana")
    frame.get_by_label("Kommentar", exact=True).fill("Im Rahmen geschrieben.")
    frame.get_by_role("button", name="Kommentar absenden").click()
    expect(frame.get_by_role("status")).to_contain_text("Danke! Ihr Kommentar wird geprüft")
    (comment,) = rows(app)
    assert (comment.author, comment.reasons) == ("Dana", [])
    assert len(cookies_seen) >= 3 and set(cookies_seen) == {None}  # GET, POST, GET after it

    # The frame tells the page its height (by a message, so a moment after the page grew): it
    # comes to fit without a scrollbar.
    def heights() -> tuple[float, float]:
        outer = page.locator("iframe#comments").evaluate("f => f.getBoundingClientRect().height")
        inner = frame.locator("html").evaluate("h => h.getBoundingClientRect().height")
        return outer, inner

    for _ in range(100):
        height, content = heights()
        if abs(height - content) <= 2:
            break
        page.wait_for_timeout(50)
    assert abs(height - content) <= 2, (height, content)
    assert page.errors == []


# --- story 5 ---------------------------------------------------------------------------------


def test_story_5_the_reader_withdraws_their_pending_comment(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    page = reader()
    page.goto(f"{host.url}/")
    write(page, "Doch nicht so gemeint.")
    widget = page.locator("#comments")
    pending = widget.locator(".cm-pending")
    expect(pending).to_have_count(1)
    pending.get_by_role("button", name="Zurückziehen").click()
    expect(widget.get_by_role("status")).to_have_text("Ihr Kommentar wurde zurückgezogen.")
    expect(pending).to_have_count(0)
    (comment,) = rows(app)
    assert comment.status == CommentStatus.WITHDRAWN and comment.body_raw == ""
    assert page.evaluate(f"localStorage.getItem('comments:demo:{ARTICLE}')") is None
    page.reload()
    expect(widget.locator("h2")).to_have_text("0 Kommentare")
    expect(widget.locator(".cm-pending")).to_have_count(0)
    assert page.errors == []


# --- the widget's other promises -------------------------------------------------------------


def test_widget_shows_field_errors_wait_time_and_keeps_text_offline(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    page = reader()
    page.goto(f"{host.url}/")
    widget = page.locator("#comments")
    write(page, "Text ohne Namen", author="", email="kaputt")
    expect(widget.locator("#cm-author-error")).to_have_text(
        "Bitte geben Sie einen Namen an (höchstens 80 Zeichen)."
    )
    expect(widget.locator("#cm-email-error")).to_contain_text("gültige E-Mail-Adresse")
    expect(widget.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(widget.get_by_label("Name")).to_be_focused()
    expect(widget.get_by_role("status")).to_have_text("Bitte prüfen Sie die markierten Felder.")

    # A real rate limit: one comment a minute. The second gets 429 and the wait time, which
    # the widget reads from Retry-After (exposed to it by CORS).
    app.config["RATE_LIMIT_PER_MINUTE"] = 1
    write(page, "Erster Kommentar", author="Anna", email="")
    expect(widget.get_by_role("status")).to_contain_text("Danke!")
    widget.get_by_label("Kommentar", exact=True).fill("Noch ein Kommentar")
    widget.get_by_role("button", name="Kommentar absenden").click()
    expect(widget.get_by_role("status")).to_have_text(
        re.compile(r"Bitte warten Sie \d+ Sekunden und senden Sie dann noch einmal")
    )
    expect(widget.get_by_label("Kommentar", exact=True)).to_have_value("Noch ein Kommentar")
    assert len(rows(app)) == 1

    # One second left is said in the singular.
    def one_second_left(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        headers = {"Retry-After": "1", "Access-Control-Allow-Origin": "*",
                   "Access-Control-Expose-Headers": "Retry-After"}  # fmt: skip
        route.fulfill(status=429, headers=headers, json={"error": "rate_limited", "message": "-"})

    page.route("**/comments", one_second_left)
    widget.get_by_role("button", name="Kommentar absenden").click()
    expect(widget.get_by_role("status")).to_contain_text(
        "Bitte warten Sie 1 Sekunde und senden Sie dann noch einmal."
    )
    page.unroute("**/comments")

    page.route("**/comments", lambda route: route.abort())
    widget.get_by_role("button", name="Kommentar absenden").click()
    expect(widget.get_by_role("status")).to_contain_text("Keine Verbindung. Ihr Text ist noch da")
    expect(widget.get_by_label("Kommentar", exact=True)).to_have_value("Noch ein Kommentar")
    assert len(rows(app)) == 1


def test_widget_loads_only_near_the_viewport_in_the_language_asked(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    page = reader()
    api_calls: list[str] = []
    page.on("request", lambda r: api_calls.append(r.url) if "/api/" in r.url else None)
    page.goto(f"{host.url}/far.html")
    page.wait_for_timeout(500)
    assert api_calls == []  # far below the fold: nothing loaded yet
    page.locator("#comments").scroll_into_view_if_needed()
    expect(page.locator("#comments h2")).to_have_text("0 comments")
    expect(page.locator("#comments").get_by_role("button", name="Post comment")).to_be_visible()
    assert len(api_calls) == 2  # the form token and the first page, nothing else


def test_widget_pages_with_load_more(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    app.config["LIST_DEFAULT_LIMIT"] = 2
    page = reader()
    page.goto(f"{host.url}/")
    for n in range(3):
        write(page, f"Kommentar Nummer {n}")
        expect(page.locator("#comments .cm-pending")).to_have_count(n + 1)
    for comment in rows(app):
        approve(app, comment.id)
    page = reader()  # another reader: none of the three is their own
    page.goto(f"{host.url}/")
    widget = page.locator("#comments")
    expect(widget.locator("h2")).to_have_text("3 Kommentare")
    expect(widget.locator(".cm-comment")).to_have_count(2)
    widget.get_by_role("button", name="Weitere Kommentare laden").click()
    expect(widget.locator(".cm-comment")).to_have_count(3)
    expect(widget.get_by_role("button", name="Weitere Kommentare laden")).to_be_hidden()


def test_count_script_fills_every_link_in_one_request(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    page = reader()
    page.goto(f"{host.url}/")
    write(page, "Gezählt")
    expect(page.locator("#comments .cm-pending")).to_have_count(1)
    approve(app, rows(app)[0].id)
    page = reader()
    counts: list[str] = []
    page.on("request", lambda r: counts.append(r.url) if "/counts?" in r.url else None)
    page.goto(f"{host.url}/sections.html")
    links = page.locator("[data-comment-count]")
    expect(links.nth(0)).to_have_text("1 Kommentar")
    expect(links.nth(1)).to_have_text("0 Kommentare")
    expect(links.nth(2)).to_have_text("1 comment")
    assert len(counts) == 1


def test_widget_styles_are_scoped_themeable_and_keyboard_friendly(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    page = reader()
    page.goto(f"{host.url}/")
    widget = page.locator("#comments")
    send = widget.get_by_role("button", name="Kommentar absenden")
    expect(send).to_be_visible()
    # The demo page has `button { background: hotpink }`: it does not reach in. Its
    # --cm-accent (#a3261b) does.
    assert send.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(163, 38, 27)"
    # Our styles do not leak out: the page's own headings keep their serif font.
    assert "Georgia" in page.locator("h1").evaluate("h => getComputedStyle(h).fontFamily")
    # Keyboard only: from the name field, Tab reaches e-mail, the box for mails, comment and
    # the button.
    widget.get_by_label("Name").focus()
    page.keyboard.type("Kai")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(widget.get_by_role("checkbox")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.type("Nur mit der Tastatur.")
    page.keyboard.press("Tab")
    expect(send).to_be_focused()
    assert send.evaluate("b => getComputedStyle(b).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(widget.get_by_role("status")).to_contain_text("Danke!")
    assert rows(app)[0].body_raw == "Nur mit der Tastatur."


def test_reading_the_article_nothing_jumps(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    """The widget loads before it scrolls into view and grows only below what the reader sees."""
    page = reader(viewport={"width": 1000, "height": 800})
    page.add_init_script(
        "window.__shift = 0; new PerformanceObserver(list => list.getEntries()"
        ".forEach(e => { window.__shift += e.value; }))"
        ".observe({type: 'layout-shift', buffered: true});"
    )
    page.goto(f"{host.url}/")
    lead = page.locator(".lead").bounding_box()
    # Near the viewport, not yet in it: the widget renders out of sight.
    page.wait_for_function("document.querySelector('#comments').shadowRoot.querySelector('h2')")
    assert page.locator("#comments").bounding_box()["y"] > 800
    page.mouse.wheel(0, 2500)
    expect(page.locator("#comments h2")).to_have_text("0 Kommentare")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__shift") == 0
    page.mouse.wheel(0, -5000)
    page.wait_for_timeout(300)
    assert page.locator(".lead").bounding_box() == lead


# --- notifications ---------------------------------------------------------------------------


def test_a_reader_ticks_the_box_to_be_notified(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    page = reader()
    page.goto(f"{host.url}/")
    widget = page.locator("#comments")
    box = widget.get_by_label(
        "Benachrichtigen, wenn mein Kommentar veröffentlicht wird oder jemand antwortet"
    )
    expect(box).not_to_be_checked()
    box.check()
    # Without an address the service asks for one, at the address field; nothing is stored.
    write(page, "Halten Sie mich auf dem Laufenden.")
    expect(widget.locator("#cm-email-error")).to_have_text(
        "Bitte geben Sie Ihre E-Mail-Adresse an, um benachrichtigt zu werden."
    )
    expect(widget.get_by_label("E-Mail (optional)")).to_have_attribute("aria-invalid", "true")
    assert rows(app) == []
    expect(box).to_be_checked()
    write(page, "Halten Sie mich auf dem Laufenden.", email="anna@example.org")
    expect(widget.get_by_role("status")).to_contain_text("Danke!")
    (comment,) = rows(app)
    assert comment.notify is True and comment.email == "anna@example.org"
    assert page.errors == []
