"""Accessible to all (issue 14, section 5): axe-core scans, dark mode, reduced motion, the
keyboard alone, and the widget's theme from the host page, in headless Chromium.

Every scan fails on a serious or critical axe-core violation (``tests/a11y.py``). The pages are
scanned as readers and moderators see them: the widget on a host page of another origin (plain,
with a long thread, with the reply form and the report form open), the no-JS comment page and
its report form, the moderator's queue with cards, a comment's page, the settings, the
statistics and the login, and the reader's confirm and unsubscribe pages.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from a11y import assert_accessible
from flask import Flask
from helpers import THREAD, approve, deliver, post_comment
from moderator_ui import PASSWORD, add_moderator
from servers import LiveServer, MailServer

from moderation import privacy
from moderation.extensions import db
from moderation.models import Site
from moderation.notify import readers
from moderation.reports import file_report, parse_report

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = THREAD.split("/articles/", 1)[1]  # politik/2026/russland-usa

_spec = importlib.util.spec_from_file_location("demo_serve", ROOT / "demo" / "serve.py")
demo_serve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo_serve)

# A plain article page of a news site that embeds the widget; "themed.html" sets every
# documented custom property (docs/embedding.md) on the widget's element.
HOST_PAGES = {
    "plain.html": f"""<!doctype html><html lang="de"><head><meta charset="utf-8">
<title>Artikel</title></head><body><main><h1>Ein Artikel</h1><p>Text des Artikels.</p>
<div id="comments" data-site="demo" data-article="{ARTICLE}"></div></main>
<script src="http://127.0.0.1:5000/embed.js" defer></script></body></html>""",
    "light.html": f"""<!doctype html><html lang="de"><head><meta charset="utf-8">
<title>Artikel</title></head><body><main><h1>Ein Artikel</h1>
<div id="comments" data-site="demo" data-article="{ARTICLE}" data-color-scheme="light"></div>
</main><script src="http://127.0.0.1:5000/embed.js" defer></script></body></html>""",
    "themed.html": f"""<!doctype html><html lang="de"><head><meta charset="utf-8">
<title>Artikel</title><style>
#comments {{ --cm-accent: rgb(120, 20, 10); --cm-accent-text: rgb(255, 250, 240);
  --cm-text: rgb(20, 30, 40); --cm-bg: rgb(250, 245, 230); --cm-input-bg: rgb(255, 255, 250);
  --cm-font: Georgia, serif; --cm-font-size: 18px; --cm-radius: 0px;
  --cm-border: rgb(90, 90, 90); --cm-muted: rgb(70, 70, 70); --cm-error: rgb(150, 0, 20);
  --cm-focus: rgb(0, 90, 0); --cm-link: rgb(0, 0, 160); }}
</style></head><body><main><h1>Ein Artikel</h1>
<div id="comments" data-site="demo" data-article="{ARTICLE}"></div></main>
<script src="http://127.0.0.1:5000/embed.js" defer></script></body></html>""",
}

NO_TRANSITION = """root => {
  const top = root.documentElement || root.host;  // a document, or a widget's shadow root
  const all = [top, ...root.querySelectorAll('*')];
  const seconds = value => value.split(',').map(parseFloat).reduce((a, b) => a + b, 0);
  return all.map(node => getComputedStyle(node)).filter(style =>
    seconds(style.transitionDuration) > 0 || seconds(style.animationDuration) > 0 ||
    style.scrollBehavior === 'smooth').length;
}"""


@pytest.fixture
def host(app: Flask, live_server: LiveServer) -> Iterator[LiveServer]:
    """A news site on http://localhost:PORT (another site than the service) that the demo
    site allows as an origin."""
    server = LiveServer(demo_serve.make_app(live_server.url, HOST_PAGES), host="localhost")
    with app.app_context():
        found = db.session.scalars(db.select(Site).where(Site.slug == "demo")).one()
        found.origins = [*found.origins, server.url]
        db.session.commit()
        db.session.remove()
    yield server
    server.stop()


def published(app: Flask, count: int, *, replies_every: int = 0) -> list[int]:
    """``count`` approved comments on the thread; every ``replies_every``-th answers the one
    before it."""
    client = app.test_client()
    ids: list[int] = []
    for n in range(count):
        parent = ids[-1] if replies_every and n and n % replies_every == 0 else None
        answer = post_comment(client, author=f"Leser {n}", body=f"Kommentar {n}", parent_id=parent)
        assert answer.status_code == 202, answer.get_json()
        ids.append(answer.get_json()["id"])
        approve(client, ids[-1])
    return ids


def widget_ready(page: Any) -> Any:
    widget = page.locator("#comments")
    widget.locator("h2").wait_for()
    page.wait_for_function(
        "() => !document.querySelector('#comments').shadowRoot.querySelector('[aria-busy]')"
    )
    return widget


def log_in(page: Any, server: LiveServer, username: str = "mona") -> None:
    page.goto(f"{server.url}/moderate/login")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{server.url}/moderate/")


# --- the widget ------------------------------------------------------------------------------


def test_the_widget_has_no_serious_violations(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    page = reader()
    page.goto(f"{host.url}/plain.html")
    widget_ready(page)
    assert_accessible(page, "the widget, empty thread", include="#comments")

    published(app, 3, replies_every=2)
    page.reload()
    widget = widget_ready(page)
    assert_accessible(page, "the widget with comments", include="#comments")

    # A field error shown, then the reply form open under a comment.
    widget.get_by_role("button", name="Kommentar absenden").click()
    widget.locator("[aria-invalid=true]").first.wait_for()
    assert_accessible(page, "the widget with field errors", include="#comments")
    widget.get_by_role("button", name="Antworten (Leser 0)").click()
    widget.get_by_role("button", name="Abbrechen").wait_for()
    assert_accessible(page, "the widget with the reply form open", include="#comments")

    # The report form open under a comment, then sent empty: its field errors shown.
    widget.get_by_role("button", name="Melden").first.click()
    widget.locator("#cm-r-category").wait_for()
    assert_accessible(page, "the widget with the report form open", include="#comments")
    widget.get_by_role("button", name="Meldung senden").click()
    widget.locator("#cm-r-explanation[aria-invalid=true]").wait_for()
    assert_accessible(page, "the widget's report form with errors", include="#comments")
    assert not page.errors, page.errors


def test_the_widget_with_a_long_thread_has_no_serious_violations(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    published(app, 70, replies_every=5)
    page = reader(viewport={"width": 375, "height": 740})
    page.goto(f"{host.url}/plain.html")
    widget = widget_ready(page)
    more = widget.get_by_role("button", name="Weitere Kommentare laden")
    more.click()
    page.wait_for_function(
        "() => document.querySelector('#comments').shadowRoot"
        ".querySelectorAll('.cm-comment').length === 70"
    )
    assert_accessible(page, "the widget with 70 comments", include="#comments")


# --- the no-JS page and the report form ------------------------------------------------------


def test_the_no_js_page_and_the_report_form_have_no_serious_violations(
    app: Flask, live_server: LiveServer, reader: Callable[..., Any]
) -> None:
    ids = published(app, 3, replies_every=2)
    # axe-core is a script and needs JavaScript on (its promise never settles without); the
    # page's markup is the same either way: its one script only formats the dates.
    page = reader()
    page.goto(f"{live_server.url}/embed/demo/{ARTICLE}")
    assert_accessible(page, "the no-JS page")
    page.get_by_role("button", name="Kommentar absenden").click()
    page.locator("#author-error").wait_for()
    assert_accessible(page, "the no-JS page with field errors")

    page.goto(f"{live_server.url}/embed/report/{ids[0]}")
    assert_accessible(page, "the report form")
    page.get_by_role("button", name="Meldung senden").click()
    page.locator("#explanation-error").wait_for()
    assert_accessible(page, "the report form with field errors")


# --- the moderator UI ------------------------------------------------------------------------


def test_the_moderator_ui_has_no_serious_violations(
    app: Flask, live_server: LiveServer, reader: Callable[..., Any]
) -> None:
    client = app.test_client()
    post_comment(client, author="Anna", body="Noch nicht geprüft.", email="anna@example.org")
    post_comment(client, author="Bert", body="Ein Link: https://example.org/")
    reported = published(app, 1)[0]
    with app.test_request_context():
        report = {"category": "insult", "explanation": "Beleidigend.", "good_faith": True}
        file_report(reported, parse_report(report), source_hash=None)
        db.session.remove()
    add_moderator(app, admin=True)

    page = reader()
    page.goto(f"{live_server.url}/moderate/login")
    assert_accessible(page, "the login page")
    log_in(page, live_server)
    assert page.locator("#cards > .card").count() >= 2
    assert_accessible(page, "the queue with cards")
    page.keyboard.press("?")
    page.locator("#shortcuts").wait_for()
    assert_accessible(page, "the queue with the shortcuts open")
    page.keyboard.press("Escape")

    for path, where in (
        ("/moderate/comments/1", "a comment's page"),
        ("/moderate/settings", "the settings"),
        ("/moderate/stats", "the statistics"),
        ("/moderate/protection", "the spam protection"),
        ("/moderate/admin/sites/demo", "a site's settings"),
        ("/moderate/admin/sites/demo/transfer", "a site's import/export page"),
        ("/moderate/admin/moderators", "the moderators"),
    ):
        page.goto(f"{live_server.url}{path}")
        assert_accessible(page, where)
    assert not page.errors, page.errors


# --- the reader's pages behind the links in mails --------------------------------------------


def test_the_confirm_and_unsubscribe_pages_have_no_serious_violations(
    app: Flask, live_server: LiveServer, mail_server: MailServer, reader: Callable[..., Any]
) -> None:
    client = app.test_client()
    answer = post_comment(client, email="anna@example.org", notify=True)
    assert answer.status_code == 202
    deliver(app)  # the confirmation mail goes out: the address is known, waiting
    with app.test_request_context():
        address = privacy.address_hash("anna@example.org")
        confirm = readers.confirm_token(address, "de", answer.get_json()["id"])
        unsubscribe = readers.unsubscribe_token(address, "de")
    page = reader()
    page.goto(f"{live_server.url}/notifications/confirm/{confirm}")
    assert_accessible(page, "the confirm page")
    page.get_by_role("button", name="Adresse bestätigen").click()
    page.get_by_role("status").wait_for()
    assert_accessible(page, "the confirm page, confirmed")
    page.goto(f"{live_server.url}/notifications/unsubscribe/{unsubscribe}")
    assert_accessible(page, "the unsubscribe page")
    page.goto(f"{live_server.url}/notifications/confirm/not-a-token")
    assert_accessible(page, "the page for a bad link")


# --- dark mode and reduced motion ------------------------------------------------------------

COLOURS = """node => {
  const style = getComputedStyle(node);
  return [style.color, style.backgroundColor];
}"""


def widget_root(page: Any) -> Any:
    return page.evaluate_handle("() => document.querySelector('#comments').shadowRoot")


def test_dark_mode_changes_the_colours_and_keeps_the_contrast(
    app: Flask, host: LiveServer, live_server: LiveServer, reader: Callable[..., Any]
) -> None:
    ids = published(app, 2, replies_every=1)
    post_comment(app.test_client(), author="Cem", body="Wartet noch.")
    add_moderator(app)
    page = reader()
    views = [
        (f"{host.url}/plain.html", "#comments", "the widget"),
        (f"{live_server.url}/embed/demo/{ARTICLE}", None, "the no-JS page"),
        (f"{live_server.url}/embed/report/{ids[0]}", None, "the report form"),
    ]
    log_in(page, live_server)
    views += [
        (f"{live_server.url}/moderate/", None, "the queue"),
        (f"{live_server.url}/moderate/stats", None, "the statistics"),
    ]
    for url, include, where in views:
        colours = {}
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.goto(url)
            if include:
                widget_ready(page)
                button = page.locator("#comments").get_by_role("button", name="Kommentar absenden")
                colours[scheme] = (
                    page.locator("#comments").evaluate(COLOURS),
                    button.evaluate(COLOURS),
                )
            else:
                colours[scheme] = (page.locator("body").evaluate(COLOURS),)
                colours[scheme] += (page.locator("html").evaluate(COLOURS),)
            results = assert_accessible(
                page, f"{where} ({scheme})", include=include, rules=["color-contrast"]
            )
            assert any(rule["id"] == "color-contrast" for rule in results["passes"]), where
        assert colours["light"] != colours["dark"], f"{where} looks the same in dark mode"
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live_server.url}/moderate/")
    assert_accessible(page, "the queue in dark mode")  # every rule, not only the contrast


def test_reduced_motion_leaves_no_transition(
    app: Flask, host: LiveServer, live_server: LiveServer, reader: Callable[..., Any]
) -> None:
    post_comment(app.test_client(), body="Wartet.")
    add_moderator(app)
    page = reader()
    log_in(page, live_server)
    moving = {}
    for motion in ("no-preference", "reduce"):
        page.emulate_media(reduced_motion=motion)
        page.goto(f"{host.url}/plain.html")
        widget_ready(page)
        widget = page.evaluate(NO_TRANSITION, widget_root(page))
        page.goto(f"{live_server.url}/embed/demo/{ARTICLE}")
        no_js = page.evaluate(NO_TRANSITION, page.evaluate_handle("() => document"))
        page.goto(f"{live_server.url}/moderate/")
        page.locator("#cards > .card").first.evaluate("card => card.classList.add('leaving')")
        queue = page.evaluate(NO_TRANSITION, page.evaluate_handle("() => document"))
        moving[motion] = (widget, no_js, queue)
    assert all(moving["no-preference"]), moving  # each has something that moves …
    assert moving["reduce"] == (0, 0, 0), moving  # … and nothing moves when asked not to


# --- by keyboard alone -----------------------------------------------------------------------

FOCUSED = """() => {
  let node = document.activeElement;
  while (node && node.shadowRoot && node.shadowRoot.activeElement) {
    node = node.shadowRoot.activeElement;
  }
  if (!node || node === document.body) return null;
  const style = getComputedStyle(node);
  return {
    name: node.getAttribute('aria-label') || node.name || node.textContent.trim() || node.id,
    tag: node.tagName.toLowerCase(),
    visible: node.matches(':focus-visible') && style.outlineStyle !== 'none' &&
      parseFloat(style.outlineWidth) >= 2,
  };
}"""


def tab_to(page: Any, name: str, *, limit: int = 80) -> dict:
    """Press Tab until the element named ``name`` has the focus, and check on the way that
    every element that gets it shows a focus ring."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            continue
        assert focused["visible"], f"no visible focus on {focused}"
        if focused["name"] == name:
            return focused
    raise AssertionError(f"{name!r} was not reached with Tab")


def test_the_widget_works_by_keyboard_alone(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    published(app, 1)
    page = reader()
    page.goto(f"{host.url}/plain.html")
    widget = widget_ready(page)

    tab_to(page, "author")
    page.keyboard.type("Kim")
    tab_to(page, "body")
    page.keyboard.type("Mit der Tastatur geschrieben.")
    tab_to(page, "Kommentar absenden")
    page.keyboard.press("Enter")
    expect_text = "Danke! Ihr Kommentar wird geprüft"
    widget.get_by_role("status").get_by_text(expect_text, exact=False).wait_for()

    # Reply: Enter opens the form under the comment with the focus in its text; cancelling
    # brings the focus back to the button that opened it.
    page.locator("body").focus()
    tab_to(page, "Antworten (Leser 0)")
    page.keyboard.press("Enter")
    assert page.evaluate(FOCUSED)["name"] == "body"
    tab_to(page, "Abbrechen")
    page.keyboard.press("Enter")
    assert page.evaluate(FOCUSED)["name"] == "Antworten (Leser 0)"
    assert not page.errors, page.errors


def test_the_no_js_page_works_by_keyboard_alone(
    app: Flask, live_server: LiveServer, browser: Any
) -> None:
    context = browser.new_context(
        java_script_enabled=False, locale="de-DE", timezone_id="Europe/Berlin"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/embed/demo/{ARTICLE}")
        tab_to(page, "author")
        page.keyboard.type("Kim")
        tab_to(page, "body")
        page.keyboard.type("Ohne Maus und ohne JavaScript.")
        tab_to(page, "Kommentar absenden")
        page.keyboard.press("Enter")
        page.wait_for_url("**sent=1**")
        assert "Danke!" in page.get_by_role("status").inner_text()
    finally:
        context.close()


def test_the_queue_works_by_keyboard_alone(
    app: Flask, live_server: LiveServer, reader: Callable[..., Any]
) -> None:
    client = app.test_client()
    first = post_comment(client, author="Anna", body="Erster.").get_json()["id"]
    post_comment(client, author="Bert", body="Zweiter.")
    add_moderator(app)
    page = reader()
    page.goto(f"{live_server.url}/moderate/login")
    tab_to(page, "username")
    page.keyboard.type("mona")
    tab_to(page, "password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/moderate/")

    # The queue's own buttons, reached with Tab (the shortcuts are tested elsewhere).
    page.locator("body").focus()
    focused = tab_to(page, "Freigeben")
    assert focused["tag"] == "button"
    page.keyboard.press("Enter")
    page.locator(f"#c{first}").wait_for(state="detached")
    assert [c["id"] for c in client.get(f"{THREAD}/comments").get_json()["comments"]] == [first]


# --- the host page's theme -------------------------------------------------------------------

THEMED = """root => {
  const style = selector => getComputedStyle(root.querySelector(selector));
  const host = getComputedStyle(root.host);
  const send = style('.cm-send'), form = style('.cm-form'), input = style('#cm-author');
  return {
    text: host.color, background: host.backgroundColor, font: host.fontFamily,
    size: host.fontSize, accent: send.backgroundColor, accentText: send.color,
    form: form.backgroundColor, radius: form.borderTopLeftRadius, border: form.borderTopColor,
    input: input.backgroundColor, muted: style('.cm-hint').color,
    link: style('.cm-link').color,
  };
}"""


def test_the_host_page_themes_the_widget_with_custom_properties(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    published(app, 1)
    page = reader()
    expected = {
        "text": "rgb(20, 30, 40)",
        "background": "rgb(250, 245, 230)",
        "font": "Georgia, serif",
        "size": "18px",
        "accent": "rgb(120, 20, 10)",
        "accentText": "rgb(255, 250, 240)",
        "form": "rgb(250, 245, 230)",
        "radius": "0px",
        "border": "rgb(90, 90, 90)",
        "input": "rgb(255, 255, 250)",
        "muted": "rgb(70, 70, 70)",
        "link": "rgb(0, 0, 160)",
    }
    page.goto(f"{host.url}/plain.html")
    widget_ready(page)
    plain = page.evaluate(THEMED, widget_root(page))
    assert all(plain[key] != value for key, value in expected.items()), plain  # not by chance

    page.goto(f"{host.url}/themed.html")
    widget_ready(page)
    assert page.evaluate(THEMED, widget_root(page)) == expected
    # The host's values win over the widget's dark defaults too.
    page.emulate_media(color_scheme="dark")
    assert page.evaluate(THEMED, widget_root(page)) == expected
    # data-color-scheme="light": a page that is always light keeps the widget light.
    page.goto(f"{host.url}/light.html")
    widget_ready(page)
    assert page.evaluate(THEMED, widget_root(page)) == plain
    page.goto(f"{host.url}/plain.html")
    widget_ready(page)
    assert page.evaluate(THEMED, widget_root(page)) != plain  # dark, without the attribute
    page.goto(f"{host.url}/themed.html")
    widget_ready(page)
    page.locator("#comments").get_by_label("Name").focus()
    page.keyboard.press("Tab")  # the focus ring, by keyboard, in the host's colour
    ring = page.evaluate(
        "root => getComputedStyle(root.activeElement).outlineColor", widget_root(page)
    )
    assert ring == "rgb(0, 90, 0)"
