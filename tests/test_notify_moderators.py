"""Moderators' mails, sent to a real SMTP server: one per new comment (``each``), a digest per
period (``digest``), a site's overdue alert once per episode; the settings page and the CLI
that choose them."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from helpers import approve, deliver, outbox_rows, post_comment, snapshot
from moderator_ui import add_moderator, csrf_token, log_in, logged_in, post
from servers import MailServer

from moderation import moderators, sites
from moderation.extensions import db
from moderation.models import Comment, Moderator, NotifyMode, Site, utcnow
from moderation.notify import moderators as notify_moderators
from moderation.review import Actor, decide

PUBLIC_URL = "https://moderation.example"


@pytest.fixture(autouse=True)
def _public_url(app: Flask) -> None:
    app.config["PUBLIC_URL"] = PUBLIC_URL


def notify(
    app: Flask,
    username: str,
    mode: str,
    email: str | None = None,
    *,
    hours: int | None = None,
    locale: str | None = None,
    active: bool = True,
) -> None:
    """A moderator (added if missing) who hears about the queue as told."""
    with app.app_context():
        if moderators.get_moderator(username, required=False) is None:
            db.session.remove()
            add_moderator(app, username)
        moderators.set_notifications(
            username, email=email or f"{username}@example.org", mode=mode, digest_hours=hours
        )
        account = moderators.get_moderator(username)
        account.locale = locale
        account.active = active
        db.session.commit()
        db.session.remove()


def comment_id(client: FlaskClient, body: str = "Ein guter Artikel.", **fields: Any) -> int:
    response = post_comment(client, body=body, **fields)
    assert response.status_code == 202, response.get_json()
    return int(response.get_json()["id"])


def backdate(app: Flask, comment: int, minutes: int) -> None:
    """Make a comment look as if it had waited this long."""
    with app.app_context():
        db.session.get(Comment, comment).created_at = utcnow() - timedelta(minutes=minutes)
        db.session.commit()
        db.session.remove()


def set_digest_sent(app: Flask, username: str, hours_ago: float | None) -> None:
    with app.app_context():
        account = moderators.get_moderator(username)
        account.digest_sent_at = (
            None if hours_ago is None else utcnow() - timedelta(hours=hours_ago)
        )
        db.session.commit()
        db.session.remove()


def parts(message: Any) -> tuple[str, str]:
    """A mail's text and HTML alternatives (with the line ends SMTP gave them made plain)."""
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    return text, html


def moderator_row(app: Flask, username: str) -> Moderator:
    with app.app_context():
        found = moderators.get_moderator(username)
        db.session.expunge(found)
        db.session.remove()
    return found


# --- each -----------------------------------------------------------------------------------


def test_each_mode_mails_a_new_pending_comment_with_text_reasons_and_card(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    with app.app_context():
        sites.update_policy("demo", watched_words=["Krieg"], blocked_words=["Idiot"])
    notify(app, "mona", "each")
    notify(app, "eve", "each", locale="en")
    notify(app, "otto", "off")
    notify(app, "dora", "digest")
    set_digest_sent(app, "dora", 0)  # her digest is not due
    notify(app, "gone", "each", active=False)

    body = "Krieg & <b>Frieden</b>\nzweite Zeile"
    held = comment_id(client, body, author="Anna <Kowalski>")
    comment_id(client, "Du Idiot")  # spam: nobody is mailed about it
    deliver(app)

    (mail,) = mail_server.to("mona@example.org")
    assert mail["Subject"] == "Neuer Kommentar zur Moderation auf Demo-Zeitung"
    text, html = parts(mail)
    card = f"{PUBLIC_URL}/moderate/comments/{held}"
    assert body in text and "Anna <Kowalski>" in text
    assert "Krieg &amp; &lt;b&gt;Frieden&lt;/b&gt;" in html and "<b>" not in html
    assert "Anna &lt;Kowalski&gt;" in html
    assert "beobachtetes Wort: Krieg" in text and "beobachtetes Wort: Krieg" in html
    assert card in text and f'href="{card}"' in html
    assert "Demo-Zeitung" in text and "politik/2026/russland-usa" in text

    (english,) = mail_server.to("eve@example.org")
    assert english["Subject"] == "New comment to moderate on Demo-Zeitung"
    assert "watched word: Krieg" in parts(english)[0]
    # off, digest and a deactivated account get nothing; the spam comment made no mail at all
    assert len(mail_server.messages) == 2
    assert {row.comment_id for row in outbox_rows(app, topic="moderator.comment")} == {held}

    # the link opens the comment's card in the moderator UI
    ui = app.test_client()
    assert log_in(ui, "mona").status_code == 302
    page = ui.get(card.removeprefix(PUBLIC_URL))
    assert page.status_code == 200 and "Frieden" in page.get_data(as_text=True)


def test_a_comment_decided_before_the_worker_came_is_not_mailed(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    notify(app, "mona", "each")
    approve(client, comment_id(client))
    deliver(app)
    assert mail_server.messages == []


# --- digests --------------------------------------------------------------------------------


def test_one_digest_per_period_and_none_for_an_empty_queue(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    with app.app_context():
        sites.update_policy("demo", watched_words=["Krieg"])
    notify(app, "dora", "digest", hours=6)
    notify(app, "mona", "each")  # gets her mails, never a digest
    deliver(app)  # nothing waits: no digest, but the period starts
    assert mail_server.to("dora@example.org") == []
    started = moderator_row(app, "dora").digest_sent_at
    assert started is not None

    first = comment_id(client, "Krieg und Frieden")
    comment_id(client, "Noch ein Krieg")
    comment_id(client, "Ganz harmlos", author="Bert")
    backdate(app, first, 95)
    deliver(app)
    assert mail_server.to("dora@example.org") == []  # the period is not over

    set_digest_sent(app, "dora", 6.01)
    deliver(app)
    deliver(app)
    (digest,) = mail_server.to("dora@example.org")
    assert digest["Subject"] == "3 Kommentare warten auf Moderation"
    text, html = parts(digest)
    assert "Demo-Zeitung: 3 Kommentare" in text
    assert "beobachtetes Wort: 2" in text and "beobachtetes Wort: 2" in html
    assert "2 Std." in text  # the oldest has waited 95 minutes
    assert f"{PUBLIC_URL}/moderate/?site=demo" in text
    assert len(mail_server.to("mona@example.org")) == 3
    assert all("warten auf Moderation" not in m["Subject"] for m in mail_server.to("mona@"))

    # the next period: one more digest, and none for a queue that has emptied
    set_digest_sent(app, "dora", 6.01)
    deliver(app)
    assert len(mail_server.to("dora@example.org")) == 2
    with app.app_context():
        for row in db.session.scalars(db.select(Comment)):
            decide(row.id, "approve", Actor("test"))
        db.session.remove()
    set_digest_sent(app, "dora", 6.01)
    deliver(app)
    assert len(mail_server.to("dora@example.org")) == 2
    assert moderator_row(app, "dora").digest_sent_at > utcnow() - timedelta(minutes=1)


def test_two_workers_ticking_at_once_queue_each_digest_and_alert_once(
    app: Flask, client: FlaskClient
) -> None:
    names = [f"mod{n}" for n in range(5)]
    for name in names:
        notify(app, name, "digest", hours=1)
    with app.app_context():
        sites.update_policy("demo", overdue_minutes=10)
    backdate(app, comment_id(client), 30)

    def tick_together(now: Any, workers: int = 4) -> None:
        start = threading.Barrier(workers)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with app.app_context():
                    start.wait()
                    notify_moderators.tick(now)
                    db.session.remove()
            except BaseException as error:  # reported below, in the test's thread
                errors.append(error)

        threads = [threading.Thread(target=run) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []

    now = utcnow()
    for period in range(3):
        tick_together(now + timedelta(hours=period, minutes=1))
        digests = outbox_rows(app, topic="moderator.digest")
        assert sorted(row.recipient for row in digests) == sorted(
            f"{name}@example.org" for name in names for _ in range(period + 1)
        )
    alerts = outbox_rows(app, topic="moderator.overdue")
    assert sorted(row.recipient for row in alerts) == [f"{name}@example.org" for name in names]


# --- overdue alerts -------------------------------------------------------------------------


def test_an_overdue_queue_alerts_once_per_episode(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    with app.app_context():
        sites.update_policy("demo", overdue_minutes=30)
    notify(app, "mona", "each")
    notify(app, "dora", "digest", locale="en")
    set_digest_sent(app, "dora", 0)
    notify(app, "otto", "off")

    def alerts(address: str) -> list[Any]:
        return [m for m in mail_server.to(address) if "überfällig" in m["Subject"]]

    first = comment_id(client)
    deliver(app)
    assert alerts("mona@example.org") == []  # in time

    backdate(app, first, 31)
    deliver(app)
    deliver(app)
    (alert,) = alerts("mona@example.org")
    assert alert["Subject"] == "Die Warteschlange von Demo-Zeitung ist überfällig"
    text, html = parts(alert)
    assert "30 Minuten" in text and "1 Kommentar wartet" in text
    assert f'href="{PUBLIC_URL}/moderate/?site=demo"' in html
    (english,) = [m for m in mail_server.to("dora@example.org") if "overdue" in m["Subject"]]
    assert english["Subject"] == "The queue of Demo-Zeitung is overdue"
    assert mail_server.to("otto@example.org") == []
    with app.app_context():
        assert db.session.get(Site, 1).overdue_alerted_at is not None
        db.session.remove()

    approve(client, first)  # the queue is in time again: the episode ends
    deliver(app)
    with app.app_context():
        assert db.session.get(Site, 1).overdue_alerted_at is None
        db.session.remove()
    backdate(app, comment_id(client), 45)  # and falls behind again
    deliver(app)
    deliver(app)
    assert len(alerts("mona@example.org")) == 2
    assert len(outbox_rows(app, topic="moderator.overdue")) == 4  # mona and dora, twice


def test_a_site_without_a_limit_alerts_nobody(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    notify(app, "mona", "each")
    backdate(app, comment_id(client), 10_000)
    deliver(app)
    assert outbox_rows(app, topic="moderator.overdue") == []


# --- the settings page ----------------------------------------------------------------------


def test_the_settings_page_sets_how_a_moderator_hears(app: Flask) -> None:
    ui = logged_in(app, "mona")
    queue = ui.get("/moderate/").get_data(as_text=True)
    assert 'href="/moderate/settings"' in queue
    page = ui.get("/moderate/settings")
    assert page.status_code == 200
    assert 'name="email"' in page.get_data(as_text=True)
    response = post(
        ui,
        "/moderate/settings",
        {"email": " mona@example.org ", "mode": "digest", "digest_hours": "12"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/moderate/settings"
    account = moderator_row(app, "mona")
    assert (account.notify_email, account.notify_mode, account.digest_hours) == (
        "mona@example.org",
        NotifyMode.DIGEST,
        12,
    )
    shown = ui.get("/moderate/settings").get_data(as_text=True)
    assert 'value="mona@example.org"' in shown and 'value="digest" checked' in shown
    response = post(ui, "/moderate/settings", {"email": "", "mode": "off", "digest_hours": ""})
    assert response.status_code == 302
    account = moderator_row(app, "mona")
    assert (account.notify_email, account.notify_mode, account.digest_hours) == (
        None,
        NotifyMode.OFF,
        12,  # an empty period keeps the one set before
    )


def test_the_settings_page_needs_a_login_and_csrf(app: Flask) -> None:
    anonymous = app.test_client()
    assert anonymous.get("/moderate/settings").status_code == 302
    ui = logged_in(app, "mona")
    before = snapshot(app)
    data = {"email": "mona@example.org", "mode": "each", "digest_hours": "24"}
    assert ui.post("/moderate/settings", data=data).status_code == 400
    forged = data | {"csrf_token": "forged"}
    assert ui.post("/moderate/settings", data=forged).status_code == 400
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "keine-adresse", "mode": "each"}, "not an e-mail address"),
        ({"email": "a@b.example\u202e", "mode": "each"}, "not an e-mail address"),
        ({"email": "a@" + "b" * 250 + ".example", "mode": "each"}, "E-mail address"),
        ({"email": "", "mode": "each"}, "need an e-mail address"),
        ({"email": "", "mode": "digest"}, "need an e-mail address"),
        ({"mode": "sometimes"}, "Mails"),
        ({"mode": ""}, "Mails"),
        ({"mode": "digest", "digest_hours": "0"}, "every 1 to 168 hours"),
        ({"mode": "digest", "digest_hours": "169"}, "every 1 to 168 hours"),
        ({"mode": "digest", "digest_hours": "²"}, "every 1 to 168 hours"),
        ({"mode": "digest", "digest_hours": "zwölf"}, "every 1 to 168 hours"),
        ({"mode": "digest", "digest_hours": "-3"}, "every 1 to 168 hours"),
    ],
)
def test_the_settings_page_refuses_bad_input(app: Flask, data: dict, message: str) -> None:
    ui = logged_in(app, "mona")
    before = snapshot(app)
    form = {"email": "mona@example.org", "digest_hours": "24"} | data
    response = post(ui, "/moderate/settings", form, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert snapshot(app) == before


# --- the site's overdue limit in the admin UI -----------------------------------------------


def test_an_admin_sets_and_clears_the_overdue_limit(app: Flask) -> None:
    ui = logged_in(app, "ada", admin=True)
    page = ui.get("/moderate/admin/sites/demo").get_data(as_text=True)
    assert 'name="overdue_minutes"' in page
    form = {"name": "Demo-Zeitung", "origins": "https://news.example", "language": "de"}
    response = post(ui, "/moderate/admin/sites/demo", form | {"overdue_minutes": "45"})
    assert response.status_code == 302
    with app.app_context():
        assert sites.get_site("demo").overdue_minutes == 45
        db.session.remove()
    assert 'value="45"' in ui.get("/moderate/admin/sites/demo").get_data(as_text=True)
    assert post(ui, "/moderate/admin/sites/demo", form | {"overdue_minutes": ""}).status_code == 302
    with app.app_context():
        assert sites.get_site("demo").overdue_minutes is None
        db.session.remove()


@pytest.mark.parametrize("minutes", ["0", "-5", "viele", "²", "10081", "99999999999"])
def test_the_admin_form_refuses_a_bad_overdue_limit(app: Flask, minutes: str) -> None:
    ui = logged_in(app, "ada", admin=True)
    before = snapshot(app)
    # the other fields change too, so a refusal must leave them as they were
    form = {"name": "Anders", "origins": "", "language": "en", "overdue_minutes": minutes}
    response = post(ui, "/moderate/admin/sites/demo", form, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert "overdue" in response.get_data(as_text=True).lower()
    assert snapshot(app) == before


def test_the_admin_form_needs_csrf_for_the_overdue_limit(app: Flask) -> None:
    ui = logged_in(app, "ada", admin=True)
    csrf_token(ui, "/moderate/")  # a session with a token, which the POST leaves out
    before = snapshot(app)
    form = {"name": "Demo-Zeitung", "origins": "", "language": "de", "overdue_minutes": "5"}
    assert ui.post("/moderate/admin/sites/demo", data=form).status_code == 400
    assert snapshot(app) == before


# --- the CLI --------------------------------------------------------------------------------


def test_cli_notify_and_overdue_minutes(app: Flask, runner: FlaskCliRunner) -> None:
    add_moderator(app, "mona")
    result = runner.invoke(
        args=["moderators", "notify", "mona", "--email", "mona@example.org", "--mode", "each"]
    )
    assert result.exit_code == 0, result.output
    assert "mona: each, to mona@example.org" in result.output
    result = runner.invoke(
        args=["moderators", "notify", "mona", "--mode", "digest", "--digest-hours", "8"]
    )
    assert result.exit_code == 0, result.output
    assert "digest every 8 hours, to mona@example.org" in result.output  # the address stays
    account = moderator_row(app, "mona")
    assert (account.notify_mode, account.digest_hours) == (NotifyMode.DIGEST, 8)

    result = runner.invoke(args=["sites", "set", "demo", "--overdue-minutes", "20"])
    assert result.exit_code == 0, result.output
    assert "Overdue alert:   after 20 minutes" in result.output
    result = runner.invoke(args=["sites", "set", "demo", "--overdue-minutes", "off"])
    assert result.exit_code == 0, result.output
    assert "Overdue alert:   off" in result.output
    with app.app_context():
        assert sites.get_site("demo").overdue_minutes is None
        db.session.remove()


NOTIFY = ["moderators", "notify"]
TO = ["--email", "a@example.org"]
DIGEST = [*TO, "--mode", "digest", "--digest-hours"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*NOTIFY, "nobody", *TO, "--mode", "each"], "no moderator"),
        ([*NOTIFY, "mona", "--email", "kaputt", "--mode", "each"], "not an e-mail"),
        ([*NOTIFY, "mona", "--email", "a@b.example\x07", "--mode", "each"], "not an e-mail"),
        ([*NOTIFY, "mona", *TO, "--mode", "loud"], "each, digest or off"),
        ([*NOTIFY, "mona", "--mode", "each"], "need an e-mail address"),
        ([*NOTIFY, "mona", *TO], "Missing option '--mode'"),
        ([*NOTIFY, "mona", *DIGEST, "0"], "1 to 168 hours"),
        ([*NOTIFY, "mona", *DIGEST, "169"], "1 to 168 hours"),
        ([*NOTIFY, "mona", *DIGEST, "x"], "not a valid integer"),
        (["sites", "set", "demo", "--overdue-minutes", "0"], "1 to 10080 minutes"),
        (["sites", "set", "demo", "--overdue-minutes", "10081"], "1 to 10080 minutes"),
        (["sites", "set", "demo", "--overdue-minutes", "bald"], "whole number or 'off'"),
        (["sites", "set", "nope", "--overdue-minutes", "5"], "no site 'nope'"),
    ],
)
def test_cli_refuses_bad_input(
    app: Flask, runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    add_moderator(app, "mona")
    before = snapshot(app)
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert snapshot(app) == before


def test_erasing_a_readers_data_removes_the_moderators_mails_that_quote_it(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    from moderation.subject_requests import erase_data

    notify(app, "anna", "each")
    comment_id(client, body="Mein Text, den ich zurückziehe.", email="leser@example.org")
    mail_server.refuse = "451 try again later"  # the moderator's mail stays queued
    deliver(app)
    (queued,) = outbox_rows(app, topic="moderator.comment")
    assert "zurückziehe" in queued.payload["text"]
    with app.app_context():
        erase_data("leser@example.org")
        db.session.remove()
    assert outbox_rows(app, topic="moderator.comment") == []
    mail_server.refuse = None
    deliver(app)
    assert mail_server.messages == []
