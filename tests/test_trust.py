"""Trusted readers (moderation.trust): a confirmed reader with a good record on a site is
published at once, but only from the browser that holds their reader key.

The key comes the real way: a comment asking for notices, the confirmation mail from a real
SMTP server, the confirmation page's POST, and the link on that page back to the article.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from helpers import THREAD, assert_indexed, deliver, driver_plan, outbox_rows, snapshot
from moderator_ui import csrf_token, logged_in
from servers import MailServer

from moderation import privacy, subject_requests, trust
from moderation.extensions import db
from moderation.models import (
    Comment,
    CommentStatus,
    ModerationEvent,
    ReaderAddress,
    ReaderKey,
    Site,
    utcnow,
)
from moderation.review import Actor, decide
from moderation.sites import update_policy

PUBLIC = "https://kommentare.example"
ARTICLE_URL = "https://news.example/politik/2026/russland-usa"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": PUBLIC}
ANNA = "anna@example.org"
BOB = "bob@example.org"
KEY_LINK = re.compile(r'href="(https://news\.example/[^"#]*)#cm-key=([A-Za-z0-9_-]{43})"')


@pytest.fixture
def mails(app: Flask, mail_server: MailServer) -> MailServer:
    app.config["PUBLIC_URL"] = PUBLIC
    return mail_server


def trust_on(app: Flask, **settings: Any) -> None:
    with app.app_context():
        update_policy("demo", trust_readers=True, **settings)
        db.session.remove()


def send(client: FlaskClient, email: str | None, key: str | None = None, **fields: Any) -> Any:
    """A comment as the widget sends it: with a fresh form token (no ``no_token`` reason)."""
    token = client.get(f"{THREAD}/form-token").get_json()["token"]
    payload = {"author": "Anna", "body": f"Kommentar {token[:12]}", "form_token": token}
    payload |= {"email": email, "url": ARTICLE_URL} | fields
    if key is not None:
        payload["reader_key"] = key
    response = client.post(f"{THREAD}/comments", json=payload)
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def decide_as(app: Flask, comment_id: int, decision: str) -> None:
    with app.app_context():
        decide(comment_id, decision, Actor("mona"))
        db.session.remove()


def confirm_link(mails: MailServer, email: str) -> str:
    message = mails.to(email)[-1]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(rf"{re.escape(PUBLIC)}(/notifications/confirm/[\w.\-]+)", body.get_content())
    assert found
    return found.group(1)


def confirmed_key(
    app: Flask, client: FlaskClient, mails: MailServer, email: str
) -> tuple[int, str]:
    """A reader asks for notices and confirms: their comment's id and their browser's key."""
    first = send(client, email, notify=True)["id"]
    deliver(app)
    page = client.post(confirm_link(mails, email), headers=SAME_ORIGIN)
    assert page.status_code == 200, page.text
    found = KEY_LINK.search(page.text)
    assert found, page.text
    assert found.group(1) == ARTICLE_URL
    return first, found.group(2)


def trusted_reader(
    app: Flask, client: FlaskClient, mails: MailServer, email: str = ANNA
) -> tuple[list[int], str]:
    """A reader with a key and three approved comments on the site (the default needs 3)."""
    first, key = confirmed_key(app, client, mails, email)
    ids = [first, send(client, email, key)["id"], send(client, email, key)["id"]]
    for comment_id in ids:
        decide_as(app, comment_id, "approve")
    return ids, key


def comment(app: Flask, comment_id: int) -> Comment:
    with app.app_context():
        found = db.session.get(Comment, comment_id)
        assert found is not None
        db.session.expunge(found)
        db.session.remove()
    return found


def events(app: Flask, comment_id: int) -> list[tuple[str, str | None, str | None, str | None]]:
    with app.app_context():
        rows = [
            (
                e.actor_name,
                e.from_status and e.from_status.value,
                e.to_status and e.to_status.value,
                e.note,
            )
            for e in db.session.scalars(
                db.select(ModerationEvent)
                .where(ModerationEvent.comment_id == comment_id)
                .order_by(ModerationEvent.id)
            )
        ]
        db.session.remove()
    return rows


# --- the whole path --------------------------------------------------------------------------


def test_the_fourth_comment_of_a_trusted_reader_is_published_at_once(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    trust_on(app)
    first, key = confirmed_key(app, client, mails, ANNA)
    decide_as(app, first, "approve")
    # With one and then two approved comments the key is not enough yet.
    second = send(client, ANNA, key)
    assert second["status"] == "pending"
    decide_as(app, second["id"], "approve")
    third = send(client, ANNA, key)
    assert third["status"] == "pending"
    decide_as(app, third["id"], "approve")

    fourth = send(client, ANNA, key, body="Der vierte Kommentar.", notify=True)
    assert fourth["status"] == "approved"
    stored = comment(app, fourth["id"])
    assert stored.status == CommentStatus.APPROVED
    assert stored.reasons == ["trusted"]
    assert stored.decided_at is not None and stored.decided_by_id is None
    assert events(app, fourth["id"]) == [("system", "pending", "approved", "trusted")]
    # Listed at once, counted, and the outbox tells the author and the webhooks.
    listed = client.get(f"{THREAD}/comments").get_json()
    assert [c["id"] for c in listed["comments"]][-1] == fourth["id"]
    assert listed["count"] == 4
    topics = [row.topic for row in outbox_rows(app, comment_id=fourth["id"])]
    assert topics == ["comment.created", "comment.approved"]
    deliver(app)
    published = [m for m in mails.to(ANNA) if "veröffentlicht" in str(m["Subject"])]
    assert len(published) == 2  # the first comment's and this one's (both asked for notices)
    # The moderators' reason label, in both languages.
    with app.test_request_context(), app.app_context():
        from flask_babel import force_locale

        from moderation.i18n import reason_label

        with force_locale("de"):
            assert reason_label("trusted") == "vertrauenswürdig"
        with force_locale("en"):
            assert reason_label("trusted") == "trusted"


def test_the_address_without_its_key_is_not_trusted(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    trust_on(app)
    _, anna_key = trusted_reader(app, client, mails, ANNA)
    _, bob_key = confirmed_key(app, client, mails, BOB)
    # Someone types Anna's address: no key, Bob's key, a well-formed key nobody holds.
    for key in (None, bob_key, "A" * 43):
        answer = send(client, ANNA, key, author="Anna")
        assert answer["status"] == "pending"
        assert comment(app, answer["id"]).reasons == []
    # Anna's key with Bob's address, or without any address, is no better.
    assert send(client, BOB, anna_key)["status"] == "pending"
    assert send(client, None, anna_key)["status"] == "pending"
    # Anna herself is, and the address's case does not matter.
    assert send(client, "Anna@Example.org", anna_key)["status"] == "approved"


def test_a_rejection_revokes_the_trust(app: Flask, client: FlaskClient, mails: MailServer) -> None:
    trust_on(app, trust_days=30)
    ids, key = trusted_reader(app, client, mails)
    assert send(client, ANNA, key)["status"] == "approved"
    decide_as(app, ids[0], "reject")  # a moderator revises an old approval
    answer = send(client, ANNA, key)
    assert answer["status"] == "pending"
    assert comment(app, answer["id"]).reasons == []
    # More approvals do not help while the rejection is in the window…
    decide_as(app, answer["id"], "approve")
    assert send(client, ANNA, key)["status"] == "pending"
    # …and once it is older than trust_days (written and decided), trust comes back.
    with app.app_context():
        long_ago = utcnow() - timedelta(days=31)
        db.session.execute(
            db.update(Comment)
            .where(Comment.id == ids[0])
            .values(created_at=long_ago, decided_at=long_ago)
        )
        db.session.commit()
        db.session.remove()
    assert send(client, ANNA, key)["status"] == "approved"


def test_a_rejection_revokes_the_trust_however_the_address_was_written(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    """Comments keep the address as typed: a rejection under ANNA@Example.ORG counts against
    anna@example.org, and the record is read through its index."""
    trust_on(app, trust_days=30)
    _, key = trusted_reader(app, client, mails)
    shouted = send(client, "ANNA@Example.ORG", key)
    assert shouted["status"] == "approved"
    decide_as(app, shouted["id"], "reject")
    assert send(client, ANNA, key)["status"] == "pending"
    assert send(client, "Anna@example.org", key)["status"] == "pending"
    # Many readers, most without an address, as on a real site: the statistics that see this
    # must still leave the record on its index.
    for number in range(30):
        send(client, f"leser{number}@example.org" if number % 3 == 0 else None)
    params = {"lowered": ANNA, "site_id": 1, "since": "2026-01-01 00:00:00"}
    assert_indexed(driver_plan(app, trust._RECORD, params, analyze=True), "ix_comment_email_lower")


def test_spam_in_the_window_revokes_the_trust_too(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    trust_on(app)
    _, key = trusted_reader(app, client, mails)
    spam = send(client, ANNA, key, website="http://bot.example")  # the honeypot: spam
    assert comment(app, spam["id"]).status == CommentStatus.SPAM
    assert send(client, ANNA, key)["status"] == "pending"


def test_the_other_checks_still_hold_a_trusted_readers_comment(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    trust_on(app)
    _, key = trusted_reader(app, client, mails)
    with app.app_context():
        update_policy("demo", blocked_words=["betrug"], watched_words=["wahl"], max_links=0)
        db.session.remove()
    held = send(client, ANNA, key, body="Zur Wahl")
    assert held["status"] == "pending"
    assert comment(app, held["id"]).reasons == ["watched_word:wahl"]
    linked = send(client, ANNA, key, body="Siehe https://example.org")
    assert linked["status"] == "pending"
    assert comment(app, linked["id"]).reasons == ["links"]
    # Without a form token (a plain API client) the comment is held as well.
    response = client.post(
        f"{THREAD}/comments",
        json={"author": "Anna", "body": "Ohne Formular", "email": ANNA, "reader_key": key},
    )
    assert response.get_json()["status"] == "pending"
    assert comment(app, response.get_json()["id"]).reasons == ["no_token"]
    # A blocked word makes it spam, answered like everything else ("pending").
    spam = send(client, ANNA, key, body="Alles Betrug!")
    assert spam["status"] == "pending"
    assert comment(app, spam["id"]).status == CommentStatus.SPAM
    assert comment(app, spam["id"]).reasons == ["blocked_word:betrug"]
    # And the spam revokes the trust: with the words gone, a clean comment waits too.
    with app.app_context():
        update_policy("demo", blocked_words=[], watched_words=[], max_links=None)
        db.session.remove()
    assert send(client, ANNA, key)["status"] == "pending"


def test_trust_is_off_by_default(app: Flask, client: FlaskClient, mails: MailServer) -> None:
    with app.app_context():
        site = db.session.scalars(db.select(Site).where(Site.slug == "demo")).one()
        assert (site.trust_readers, site.trust_min_approved, site.trust_days) == (False, 3, 180)
        db.session.remove()
    _, key = trusted_reader(app, client, mails)
    assert send(client, ANNA, key)["status"] == "pending"


def test_the_minimum_is_the_sites(app: Flask, client: FlaskClient, mails: MailServer) -> None:
    trust_on(app, trust_min_approved=1)
    first, key = confirmed_key(app, client, mails, ANNA)
    assert send(client, ANNA, key)["status"] == "pending"  # nothing approved yet
    decide_as(app, first, "approve")
    assert send(client, ANNA, key)["status"] == "approved"


def test_an_unconfirmed_or_unsubscribed_address_is_not_trusted(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    trust_on(app)
    _, key = trusted_reader(app, client, mails)
    # Unsubscribed since it confirmed (the key row still there): not trusted.
    with app.app_context():
        db.session.execute(
            db.update(ReaderAddress).values(unsubscribed_at=utcnow() + timedelta(seconds=1))
        )
        db.session.commit()
        db.session.remove()
    assert send(client, ANNA, key)["status"] == "pending"
    # Never confirmed: not trusted either.
    with app.app_context():
        db.session.execute(db.update(ReaderAddress).values(unsubscribed_at=None, confirmed_at=None))
        db.session.commit()
        db.session.remove()
    assert send(client, ANNA, key)["status"] == "pending"


def test_unsubscribing_forgets_the_keys(app: Flask, client: FlaskClient, mails: MailServer) -> None:
    trust_on(app)
    _, key = trusted_reader(app, client, mails)
    message = mails.to(ANNA)[-1]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(
        rf"{re.escape(PUBLIC)}(/notifications/unsubscribe/[\w.\-]+)", body.get_content()
    )
    assert found
    response = client.post(found.group(1), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalars(db.select(ReaderKey)).all() == []
        db.session.remove()
    assert send(client, ANNA, key)["status"] == "pending"


# --- the key ---------------------------------------------------------------------------------


def test_confirming_hands_this_browser_a_key_in_the_link_to_the_article(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    send(client, ANNA, notify=True)
    deliver(app)
    link = confirm_link(mails, ANNA)
    # The GET (a mail scanner) confirms nothing and makes no key.
    looked = client.get(link)
    assert looked.status_code == 200 and "cm-key" not in looked.text
    with app.app_context():
        assert db.session.scalars(db.select(ReaderKey)).all() == []
        db.session.remove()

    page = client.post(link, headers=SAME_ORIGIN)
    assert page.status_code == 200
    assert "no-store" in page.headers["Cache-Control"]
    assert page.headers["Referrer-Policy"] == "same-origin"
    found = KEY_LINK.search(page.text)
    assert found and found.group(1) == ARTICLE_URL
    key = found.group(2)
    assert "Zurück zum Artikel" in page.text
    with app.app_context():
        (row,) = db.session.scalars(db.select(ReaderKey)).all()
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()  # only the hash kept
        assert row.email_hash == privacy.address_hash(ANNA)
        db.session.remove()
    # Confirming again (another browser, within the link's week) gives another key.
    assert "Auch in diesem Browser wiedererkennen" in client.get(link).text
    again = KEY_LINK.search(client.post(link, headers=SAME_ORIGIN).text)
    assert again and again.group(2) != key
    with app.app_context():
        assert len(db.session.scalars(db.select(ReaderKey)).all()) == 2
        db.session.remove()


def test_no_key_without_an_article_address(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    send(client, ANNA, notify=True, url=None)
    deliver(app)
    page = client.post(confirm_link(mails, ANNA), headers=SAME_ORIGIN)
    assert page.status_code == 200 and "cm-key" not in page.text
    with app.app_context():
        assert db.session.scalars(db.select(ReaderKey)).all() == []
        db.session.remove()


def test_an_address_keeps_at_most_ten_keys(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    send(client, ANNA, notify=True)
    deliver(app)
    link = confirm_link(mails, ANNA)
    keys = [KEY_LINK.search(client.post(link, headers=SAME_ORIGIN).text) for _ in range(12)]
    with app.app_context():
        stored = set(db.session.scalars(db.select(ReaderKey.key_hash)))
        db.session.remove()
    assert len(stored) == 10
    newest = {hashlib.sha256(k.group(2).encode()).hexdigest() for k in keys[-10:] if k}
    assert stored == newest


@pytest.mark.parametrize(
    "bad",
    [123, True, ["A" * 43], {"key": "x"}, "short", "A" * 42, "A" * 44, "!" * 43, "A" * 42 + "="],
)
def test_a_bad_reader_key_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, bad: Any
) -> None:
    before = snapshot(app)
    response = client.post(
        f"{THREAD}/comments", json={"author": "Anna", "body": "Hallo", "reader_key": bad}
    )
    assert response.status_code == 400
    assert set(response.get_json()["fields"]) == {"reader_key"}
    assert snapshot(app) == before


# --- privacy ---------------------------------------------------------------------------------


def test_export_lists_the_keys_and_erasure_deletes_them(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    confirmed_key(app, client, mails, ANNA)
    confirmed_key(app, client, mails, BOB)
    with app.app_context():
        exported = subject_requests.export_data(ANNA)
        keys = exported["notifications"]["reader_keys"]
        assert len(keys) == 1 and set(keys[0]) == {"created_at"}  # when, never the hash
        erased = subject_requests.erase_data(ANNA)
        assert erased.reader_keys == 1
        left = db.session.scalars(db.select(ReaderKey.email_hash)).all()
        assert left == [privacy.address_hash(BOB)]
        db.session.remove()


# --- settings: the CLI and the admin form ------------------------------------------------------


def _settings(app: Flask) -> tuple[bool, int, int]:
    with app.app_context():
        site = db.session.scalars(db.select(Site).where(Site.slug == "demo")).one()
        found = (site.trust_readers, site.trust_min_approved, site.trust_days)
        db.session.remove()
    return found


def test_cli_sets_trust(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["sites", "set", "demo", "--trust", "--trust-min-approved", "5", "--trust-days", "30"]
    )
    assert result.exit_code == 0, result.output
    assert "Trusted readers: after 5 approved comments in 30 days" in result.output
    assert _settings(app) == (True, 5, 30)
    result = runner.invoke(args=["sites", "set", "demo", "--no-trust"])
    assert result.exit_code == 0 and "Trusted readers: off" in result.output
    assert _settings(app) == (False, 5, 30)


@pytest.mark.parametrize(
    "args",
    [
        ["--trust-min-approved", "0"],
        ["--trust-min-approved", "1001"],
        ["--trust-min-approved", "drei"],
        ["--trust-days", "0"],
        ["--trust-days", "3651"],
        ["--trust-days", "-1"],
        ["--trust", "--trust-days", "9999"],
    ],
)
def test_cli_refuses_bad_trust_settings(app: Flask, runner: FlaskCliRunner, args: list) -> None:
    before = snapshot(app)
    result = runner.invoke(args=["sites", "set", "demo", *args])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert snapshot(app) == before


ADMIN_SITE = "/moderate/admin/sites/demo"
BASICS = {"name": "Demo-Zeitung", "origins": "https://news.example", "language": "de"}


def test_admin_form_sets_trust(app: Flask) -> None:
    admin = logged_in(app, "ada", admin=True)
    page = admin.get(ADMIN_SITE)
    assert 'name="trust_readers"' in page.text and 'value="180"' in page.text
    data = BASICS | {"trust_readers": "y", "trust_min_approved": "5", "trust_days": "30"}
    response = admin.post(ADMIN_SITE, data=data | {"csrf_token": csrf_token(admin, ADMIN_SITE)})
    assert response.status_code == 302
    assert _settings(app) == (True, 5, 30)
    # Unticked: off, the numbers stay.
    data = BASICS | {"trust_min_approved": "5", "trust_days": "30"}
    response = admin.post(ADMIN_SITE, data=data | {"csrf_token": csrf_token(admin, ADMIN_SITE)})
    assert response.status_code == 302
    assert _settings(app) == (False, 5, 30)


@pytest.mark.parametrize(
    "fields",
    [
        {"trust_min_approved": "0"},
        {"trust_min_approved": "1001"},
        {"trust_min_approved": "drei"},
        {"trust_min_approved": "²"},
        {"trust_days": "0"},
        {"trust_days": "3651"},
        {"trust_days": "-5"},
        {"trust_days": "1" * 11},
    ],
)
def test_admin_form_refuses_bad_trust_settings(app: Flask, fields: dict) -> None:
    admin = logged_in(app, "ada", admin=True)
    before = snapshot(app)
    data = BASICS | {"name": "Umbenannt", "trust_readers": "y"} | fields
    response = admin.post(ADMIN_SITE, data=data | {"csrf_token": csrf_token(admin, ADMIN_SITE)})
    assert response.status_code == 400
    assert snapshot(app) == before


def test_admin_form_needs_csrf_and_an_admin(app: Flask) -> None:
    admin = logged_in(app, "ada", admin=True)
    mod = logged_in(app, "mona")
    before = snapshot(app)
    data = BASICS | {"trust_readers": "y"}
    assert admin.post(ADMIN_SITE, data=data).status_code == 400  # no CSRF token
    assert (
        mod.post(ADMIN_SITE, data=data | {"csrf_token": csrf_token(mod, "/moderate/")}).status_code
        == 403
    )
    assert snapshot(app) == before


# --- the widget, in a real browser -------------------------------------------------------------

TRUST_PAGE = """<!doctype html><html lang="de"><head><title>Vertrauen</title></head><body>
<div id="comments" data-site="demo" data-article="vertrauen"></div>
<script src="http://127.0.0.1:5000/embed.js" defer></script></body></html>"""


@pytest.mark.browser
def test_the_widget_keeps_the_key_from_the_link_and_sends_it(
    app: Flask, live_server: Any, browser: Any, mail_server: MailServer
) -> None:
    import importlib.util
    from pathlib import Path

    from playwright.sync_api import expect
    from servers import LiveServer

    spec = importlib.util.spec_from_file_location(
        "demo_serve", Path(__file__).resolve().parent.parent / "demo" / "serve.py"
    )
    assert spec is not None and spec.loader is not None
    demo_serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo_serve)
    host = LiveServer(demo_serve.make_app(live_server.url, {"trust.html": TRUST_PAGE}), "localhost")
    app.config["PUBLIC_URL"] = live_server.url  # the mail's links lead to the live service
    with app.app_context():
        update_policy("demo", trust_readers=True, trust_min_approved=1)
        site = db.session.scalars(db.select(Site).where(Site.slug == "demo")).one()
        site.origins = [*site.origins, host.url]
        db.session.commit()
        db.session.remove()
    context = browser.new_context(locale="de-DE", timezone_id="Europe/Berlin")
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        article = f"{host.url}/trust.html"
        page.goto(article)
        widget = page.locator("#comments")

        def write(body: str) -> None:
            widget.get_by_label("Name").fill("Anna")
            widget.get_by_label("E-Mail (optional)").fill(ANNA)
            widget.get_by_label("Kommentar", exact=True).fill(body)
            widget.get_by_role("button", name="Kommentar absenden").click()

        widget.locator("#cm-notify").check()
        write("Mein erster Kommentar.")
        expect(widget.get_by_role("status")).to_contain_text("nach der Freigabe")
        with app.app_context():
            first = db.session.scalars(db.select(Comment)).one()
            db.session.remove()
        deliver(app)
        message = mail_server.to(ANNA)[-1]
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        found = re.search(r"(https?://\S+/notifications/confirm/[\w.\-]+)", body.get_content())
        assert found

        # The reader confirms in this browser and follows the link back to the article.
        page.goto(found.group(1))
        page.get_by_role("button", name="Adresse bestätigen").click()
        page.get_by_role("link", name="Zurück zum Artikel").click()
        expect(widget.get_by_role("button", name="Kommentar absenden")).to_be_visible()
        # The key is kept for the site and gone from the address bar.
        assert page.url == article
        key = page.evaluate("localStorage.getItem('cm-key:demo')")
        assert key and re.fullmatch(r"[\w-]{43}", key)
        with app.app_context():
            (row,) = db.session.scalars(db.select(ReaderKey)).all()
            assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
            db.session.remove()

        decide_as(app, first.id, "approve")
        page.reload()  # a later visit: the key comes from storage now
        with page.expect_request(lambda r: r.method == "POST" and "/comments" in r.url) as sent:
            write("Mein zweiter Kommentar.")
        assert sent.value.post_data_json["reader_key"] == key
        expect(widget.get_by_role("status")).to_have_text(
            "Danke! Ihr Kommentar ist veröffentlicht."
        )
        expect(widget.locator(".cm-badge")).to_have_text("veröffentlicht")
        with app.app_context():
            second = db.session.scalars(db.select(Comment).where(Comment.id != first.id)).one()
            assert second.status == CommentStatus.APPROVED and second.reasons == ["trusted"]
            db.session.remove()
        assert errors == []
    finally:
        context.close()
        host.stop()
