"""Readers' mails, end to end with a real SMTP server: double opt-in (the link's GET shows a
button and confirms nothing, the POST confirms), published / not published / reply mails,
one-click unsubscribe (RFC 8058), the suppression list, the limits, and bad links."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import approve, deliver, outbox_rows, post_comment, snapshot
from servers import MailServer

from moderation import privacy
from moderation.extensions import db
from moderation.models import Comment, OutboxKind, OutboxState, ReaderAddress, utcnow
from moderation.review import Actor, decide
from moderation.sites import create_site

PUBLIC = "https://kommentare.example"
ARTICLE_URL = "https://news.example/politik/2026/russland-usa"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": PUBLIC}
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def mails(app: Flask, mail_server: MailServer) -> MailServer:
    """The real SMTP server, with links in mails under PUBLIC."""
    app.config["PUBLIC_URL"] = PUBLIC
    return mail_server


def text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def html(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())


def link(message: EmailMessage, kind: str) -> str:
    """The path of the message's confirm or unsubscribe link (on PUBLIC)."""
    found = re.search(rf"{re.escape(PUBLIC)}(/notifications/{kind}/[\w.\-]+)", text(message))
    assert found, text(message)
    return found.group(1)


def unsubscribe_path(message: EmailMessage) -> str:
    """The List-Unsubscribe header's URL as a path; it must be on PUBLIC, and sent as it is
    (RFC 2369: a URL in angle brackets; mail programs decode no RFC 2047 words there)."""
    (raw,) = [value for name, value in message.raw_items() if name == "List-Unsubscribe"]
    assert "=?" not in raw and raw.strip().startswith("<https://"), raw
    url = str(message["List-Unsubscribe"]).strip("<>")
    assert url.startswith(PUBLIC + "/notifications/unsubscribe/")
    return urlsplit(url).path


def hashed(app: Flask, email: str) -> str:
    with app.app_context():
        return privacy.address_hash(email)


def address(app: Flask, email: str) -> ReaderAddress | None:
    with app.app_context():
        row = db.session.scalar(
            db.select(ReaderAddress).where(ReaderAddress.email_hash == privacy.address_hash(email))
        )
        db.session.expunge_all()
        db.session.remove()
    return row


def comment_by(client: FlaskClient, email: str, **fields: Any) -> int:
    response = post_comment(client, email=email, **fields)
    assert response.status_code == 202, response.get_json()
    return int(response.get_json()["id"])


def confirmed_reader(
    app: Flask, client: FlaskClient, mails: MailServer, email: str, **fields: Any
) -> int:
    """A reader who comments with notify and confirms the mailed link; their comment's id."""
    comment_id = comment_by(client, email, notify=True, **fields)
    deliver(app)
    confirmation = mails.to(email)[-1]
    response = client.post(link(confirmation, "confirm"), headers=SAME_ORIGIN)
    assert response.status_code == 200, response.text
    return comment_id


def reject(app: Flask, comment_id: int, note: str | None = None) -> None:
    with app.app_context():
        decide(comment_id, "reject", Actor("test"), note=note)
        db.session.remove()


# --- the whole path --------------------------------------------------------------------------


def test_the_readers_whole_path(app: Flask, client: FlaskClient, mails: MailServer) -> None:
    anna = comment_by(client, "anna@example.org", notify=True, url=ARTICLE_URL)
    deliver(app)

    # Double opt-in: one confirmation mail, with no word the reader wrote.
    (confirmation,) = mails.to("anna@example.org")
    assert confirmation["Subject"] == (
        "Bitte bestätigen: Benachrichtigungen zu Ihrem Kommentar auf Demo-Zeitung"
    )
    assert "Ein guter Artikel" not in confirmation.as_string()
    assert "Anna" not in str(confirmation["Subject"]) + text(confirmation)
    assert confirmation["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_path(confirmation)
    (row,) = outbox_rows(app, kind=OutboxKind.MAIL)
    assert row.recipient_hash == hashed(app, "anna@example.org")
    confirm = link(confirmation, "confirm")
    assert "anna" not in confirm  # the link carries the hash, never the address

    # The link's GET (a mail scanner, say) shows a button and confirms nothing.
    before = snapshot(app)
    page = client.get(confirm)
    assert page.status_code == 200
    assert "Adresse bestätigen" in page.text and 'method="post"' in page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "no-store" in page.headers["Cache-Control"]
    assert snapshot(app) == before
    assert not address(app, "anna@example.org").confirmed

    # The button's POST confirms.
    done = client.post(confirm, headers=SAME_ORIGIN)
    assert done.status_code == 200 and "Ihre Adresse ist bestätigt" in done.text
    assert address(app, "anna@example.org").confirmed
    assert "Set-Cookie" not in done.headers

    # Approval: "published", with the link to the comment on the article.
    approve(client, anna)
    deliver(app)
    published = mails.to("anna@example.org")[-1]
    assert published["Subject"] == "Ihr Kommentar auf Demo-Zeitung ist veröffentlicht"
    assert f"{ARTICLE_URL}#comment-{anna}" in text(published)
    assert f'href="{ARTICLE_URL}#comment-{anna}"' in html(published)
    assert "> Ein guter Artikel." in text(published)
    unsubscribe_path(published)

    # A reply, pending: nothing for Anna. Approved: "reply", quoting it.
    ben = comment_by(
        client, "ben@example.org", author="Ben", body="Sehe ich anders.", parent_id=anna
    )
    deliver(app)
    assert len(mails.to("anna@example.org")) == 2
    approve(client, ben)
    deliver(app)
    reply = mails.to("anna@example.org")[-1]
    assert reply["Subject"] == "Ben hat auf Ihren Kommentar auf Demo-Zeitung geantwortet"
    assert "> Sehe ich anders." in text(reply)
    assert f"{ARTICLE_URL}#comment-{ben}" in text(reply)
    assert "ben@example.org" not in reply.as_string()
    assert mails.to("ben@example.org") == []  # Ben asked for nothing

    # One-click unsubscribe, as a mail client posts it: no cookie, no token, a foreign Origin.
    client.delete_cookie("session")
    response = client.post(
        unsubscribe_path(reply),
        data=ONE_CLICK,
        headers={"Origin": "https://mail.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 200
    gone = address(app, "anna@example.org")
    assert gone is not None and gone.email is None and gone.unsubscribed_at is not None
    assert gone.email_hash == hashed(app, "anna@example.org") and not gone.confirmed

    # The next approved reply mails nothing.
    carl = comment_by(client, "carl@example.org", author="Carl", body="Ich auch.", parent_id=anna)
    approve(client, carl)
    deliver(app)
    assert len(mails.to("anna@example.org")) == 3


def test_without_an_article_address_the_link_is_our_page(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    anna = confirmed_reader(app, client, mails, "anna@example.org")
    approve(client, anna)
    deliver(app)
    published = mails.to("anna@example.org")[-1]
    assert f"{PUBLIC}/embed/demo/politik/2026/russland-usa#comment-{anna}" in text(published)
    page = client.get("/embed/demo/politik/2026/russland-usa")
    assert f'id="comment-{anna}"' in page.text  # the anchor the link points to


def test_a_rejection_says_so_with_the_moderators_reason(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    first = confirmed_reader(app, client, mails, "anna@example.org")
    reject(app, first, note="Bitte bleiben Sie sachlich.")
    second = comment_by(client, "anna@example.org", notify=True, body="Zweiter Versuch.")
    reject(app, second)
    spam = comment_by(client, "anna@example.org", notify=True, body="Dritter Versuch.")
    with app.app_context():
        decide(spam, "spam", Actor("test"))
        db.session.remove()
    deliver(app)

    confirmation, with_reason, without = mails.to("anna@example.org")  # nothing for spam
    assert with_reason["Subject"] == "Ihr Kommentar auf Demo-Zeitung wurde nicht veröffentlicht"
    assert "Begründung der Moderation:\n> Bitte bleiben Sie sachlich." in text(with_reason)
    assert "Bitte bleiben Sie sachlich." in html(with_reason)
    # The comment is not quoted: the address may not be the writer's own.
    assert "Ein guter Artikel" not in with_reason.as_string()
    assert "Begründung" not in text(without) and "Zweiter Versuch" not in without.as_string()
    assert re.search(
        r"Ihr Kommentar vom \d\d\.\d\d\.\d{4}, \d\d:\d\d UTC auf Demo-Zeitung wurde", text(without)
    )


def test_a_comment_without_notify_or_unconfirmed_gets_nothing_but_the_confirmation(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    quiet = comment_by(client, "quiet@example.org")
    waiting = comment_by(client, "waiting@example.org", notify=True)
    spam = comment_by(client, "spam@example.org", notify=True, website="http://bot.example")
    for comment_id in (quiet, waiting):
        approve(client, comment_id)
    reject(app, spam, note="Spam")
    deliver(app)
    assert mails.to("quiet@example.org") == [] and mails.to("spam@example.org") == []
    (only,) = mails.to("waiting@example.org")
    assert only["Subject"].startswith("Bitte bestätigen")
    assert address(app, "spam@example.org") is None  # spam leaves no record


def test_a_decision_revised_back_and_forth_mails_once(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    anna = confirmed_reader(app, client, mails, "anna@example.org")
    approve(client, anna)
    reject(app, anna)
    approve(client, anna)
    deliver(app)
    subjects = [m["Subject"] for m in mails.to("anna@example.org")]
    assert subjects.count("Ihr Kommentar auf Demo-Zeitung ist veröffentlicht") == 1
    assert subjects.count("Ihr Kommentar auf Demo-Zeitung wurde nicht veröffentlicht") == 0


# --- limits, suppression ---------------------------------------------------------------------


def test_at_most_one_confirmation_mail_a_day(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    for _ in range(3):
        comment_by(client, "anna@example.org", notify=True)
    deliver(app)
    assert len(mails.to("anna@example.org")) == 1
    with app.app_context():
        db.session.execute(
            db.update(ReaderAddress).values(confirm_sent_at=utcnow() - timedelta(hours=25))
        )
        db.session.commit()
    comment_by(client, "anna@example.org", notify=True)
    deliver(app)
    assert len(mails.to("anna@example.org")) == 2


def test_at_most_n_reader_mails_a_day(app: Flask, client: FlaskClient, mails: MailServer) -> None:
    app.config["READER_MAILS_PER_DAY"] = 3
    first = confirmed_reader(app, client, mails, "anna@example.org")  # mail 1
    others = [comment_by(client, "anna@example.org", notify=True) for _ in range(3)]
    for comment_id in (first, *others):
        approve(client, comment_id)
    deliver(app)
    assert len(mails.to("anna@example.org")) == 3  # the confirmation and two "published"
    rows = outbox_rows(app, recipient_hash=hashed(app, "anna@example.org"))
    assert len(rows) == 3
    # A day later the address may hear again.
    with app.app_context():
        db.session.execute(
            db.update(db.metadata.tables["outbox_message"])
            .where(db.metadata.tables["outbox_message"].c.kind == OutboxKind.MAIL.value)
            .values(created_at=utcnow() - timedelta(hours=25))
        )
        db.session.commit()
    fifth = comment_by(client, "anna@example.org", notify=True)
    approve(client, fifth)
    deliver(app)
    assert len(mails.to("anna@example.org")) == 4


def test_suppression_and_confirming_anew(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    confirmed_reader(app, client, mails, "anna@example.org")
    old_confirm = link(mails.to("anna@example.org")[0], "confirm")
    time.sleep(1.1)  # itsdangerous stamps whole seconds: the next link is visibly younger
    response = client.post(
        unsubscribe_path(mails.to("anna@example.org")[0]), data="List-Unsubscribe=One-Click"
    )
    assert response.status_code == 200  # bare text, as some clients send it

    # A new comment asking for notices: no mail within 30 days of the last confirmation mail.
    comment_by(client, "anna@example.org", notify=True)
    deliver(app)
    assert len(mails.to("anna@example.org")) == 1
    # The old confirmation link cannot undo the unsubscription.
    before = snapshot(app)
    stale = client.post(old_confirm, headers=SAME_ORIGIN)
    assert stale.status_code == 400 and snapshot(app) == before

    # After 30 days a new comment that asks may bring one confirmation mail (not two).
    with app.app_context():
        db.session.execute(
            db.update(ReaderAddress).values(confirm_sent_at=utcnow() - timedelta(days=31))
        )
        db.session.commit()
    again = comment_by(client, "anna@example.org", notify=True)
    comment_by(client, "anna@example.org", notify=True)
    deliver(app)
    assert len(mails.to("anna@example.org")) == 2
    approve(client, again)
    deliver(app)
    assert len(mails.to("anna@example.org")) == 2  # suppressed until it confirms anew

    new_confirm = link(mails.to("anna@example.org")[1], "confirm")
    assert client.post(new_confirm, headers=SAME_ORIGIN).status_code == 200
    row = address(app, "anna@example.org")
    assert row is not None and row.confirmed and row.email == "anna@example.org"
    later = comment_by(client, "anna@example.org", notify=True)
    approve(client, later)
    deliver(app)
    assert mails.to("anna@example.org")[-1]["Subject"].endswith("ist veröffentlicht")


def test_the_unsubscribe_page_and_its_button(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    confirmed_reader(app, client, mails, "anna@example.org")
    path = unsubscribe_path(mails.to("anna@example.org")[0])
    before = snapshot(app)
    page = client.get(path)
    assert page.status_code == 200 and snapshot(app) == before
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    # The page's button posts the same body as a mail client.
    done = client.post(path, data=ONE_CLICK, headers=SAME_ORIGIN)
    assert done.status_code == 200 and "Sie sind abgemeldet" in done.text
    assert "bereits abgemeldet" in client.get(path).text
    # Twice is fine, and RFC 8058 allows multipart too.
    assert client.post(path, data=ONE_CLICK, content_type="multipart/form-data").status_code == 200


# --- what a mail may carry -------------------------------------------------------------------


def test_a_mail_never_carries_another_readers_address(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    readers = ["anna@example.org", "ben@example.org", "carl@example.org"]
    anna = confirmed_reader(app, client, mails, readers[0], author="Anna")
    approve(client, anna)
    ben = confirmed_reader(app, client, mails, readers[1], author="Ben", parent_id=anna)
    approve(client, ben)
    carl = confirmed_reader(app, client, mails, readers[2], author="Carl", parent_id=ben)
    approve(client, carl)
    # Anna replies to her own comment: she is not told of her own reply.
    own = comment_by(client, "ANNA@example.org", notify=True, author="Anna", parent_id=anna)
    approve(client, own)
    deliver(app)
    kinds = {r.topic for r in outbox_rows(app, kind=OutboxKind.MAIL)}
    assert kinds == {"reader/confirm", "reader/published", "reader/reply"}
    assert len(mails.messages) == 3 + 4 + 2  # confirmations, published, Ben→Anna, Carl→Ben
    for message in mails.messages:
        whole = message.as_string().lower()
        (recipient,) = [r for r in readers if r in str(message["To"]).lower()]
        for other in readers:
            if other != recipient:
                assert other not in whole, (message["Subject"], other)
    to_anna = [m["Subject"] for m in mails.to("anna@example.org")]
    assert "Ben hat auf Ihren Kommentar auf Demo-Zeitung geantwortet" in to_anna
    assert not any("Anna hat" in subject for subject in to_anna)


def test_a_line_break_in_a_name_changes_no_header(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    anna = confirmed_reader(app, client, mails, "anna@example.org")
    approve(client, anna)
    # The API makes a name one line; a name that came in otherwise (an import) is the test.
    ben = comment_by(client, "ben@example.org", author="Ben\r\nBcc: x", parent_id=anna)
    with app.app_context():
        db.session.get(Comment, ben).author = "Ben\r\nBcc: evil@example.org\r\nX-Evil: 1"
        db.session.commit()
    approve(client, ben)
    deliver(app)
    reply = mails.to("anna@example.org")[-1]
    assert reply["Subject"] == (
        "Ben Bcc: evil@example.org X-Evil: 1 hat auf Ihren Kommentar auf Demo-Zeitung geantwortet"
    )
    assert reply["Bcc"] is None and reply["X-Evil"] is None
    assert mails.to("evil@example.org") == []
    assert all(m["To"] == "anna@example.org" for m in mails.messages)


# --- bad links and bodies --------------------------------------------------------------------


def _expired_confirm_link(app: Flask, monkeypatch: pytest.MonkeyPatch) -> str:
    from moderation.notify import readers

    eight_days_ago = time.time() - 8 * 86400
    with app.test_request_context(), monkeypatch.context() as patched:
        patched.setattr("itsdangerous.timed.time.time", lambda: eight_days_ago)
        token = readers.confirm_token(privacy.address_hash("anna@example.org"), "en")
    return f"/notifications/confirm/{token}"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda path: path[:-3],  # cut short
        lambda path: path[:-5] + ("A" if path[-5] != "A" else "B") + path[-4:],  # tampered
        lambda path: path.replace("/confirm/", "/unsubscribe/"),  # another purpose's salt
        lambda path: path + "x" * 400,  # far too long
        lambda path: "/notifications/confirm/e30.Zm9v.YmFy",  # made up
    ],
)
def test_bad_links_change_nothing(
    app: Flask, client: FlaskClient, mails: MailServer, mangle: Any
) -> None:
    comment_by(client, "anna@example.org", notify=True)
    deliver(app)
    path = mangle(link(mails.to("anna@example.org")[0], "confirm"))
    before = snapshot(app)
    for method in ("get", "post"):
        response = getattr(client, method)(path, data=ONE_CLICK, headers=SAME_ORIGIN)
        assert response.status_code == 400, (method, path)
        assert "Dieser Link funktioniert nicht" in response.text
        assert response.headers["X-Frame-Options"] == "DENY"
    assert snapshot(app) == before


def test_an_expired_confirmation_link_says_so_in_its_language(
    app: Flask, client: FlaskClient, mails: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    comment_by(client, "anna@example.org", notify=True)
    deliver(app)
    path = _expired_confirm_link(app, monkeypatch)
    before = snapshot(app)
    for response in (client.get(path), client.post(path, headers=SAME_ORIGIN)):
        assert response.status_code == 400
        assert "This link has expired" in response.text and 'lang="en"' in response.text
    assert snapshot(app) == before and not address(app, "anna@example.org").confirmed


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ],
)
def test_a_confirmation_posted_from_elsewhere_is_refused(
    app: Flask, client: FlaskClient, mails: MailServer, headers: dict[str, str]
) -> None:
    comment_by(client, "anna@example.org", notify=True)
    deliver(app)
    path = link(mails.to("anna@example.org")[0], "confirm")
    before = snapshot(app)
    assert client.post(path, headers=headers).status_code == 403
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("", "application/x-www-form-urlencoded"),
        ("List-Unsubscribe=Yes", "application/x-www-form-urlencoded"),
        ("Unsubscribe=One-Click", "application/x-www-form-urlencoded"),
        ('{"List-Unsubscribe": "One-Click"}', "application/json"),
    ],
)
def test_an_unsubscribe_post_without_the_one_click_body_changes_nothing(
    app: Flask, client: FlaskClient, mails: MailServer, body: str, content_type: str
) -> None:
    confirmed_reader(app, client, mails, "anna@example.org")
    path = unsubscribe_path(mails.to("anna@example.org")[0])
    before = snapshot(app)
    response = client.post(path, data=body, content_type=content_type)
    assert response.status_code == 400
    assert snapshot(app) == before


def test_confirming_an_erased_address_is_a_clear_404(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    comment_by(client, "anna@example.org", notify=True)
    deliver(app)
    path = link(mails.to("anna@example.org")[0], "confirm")
    with app.app_context():
        db.session.execute(db.delete(ReaderAddress))
        db.session.commit()
    before = snapshot(app)
    for response in (client.get(path), client.post(path, headers=SAME_ORIGIN)):
        assert response.status_code == 404
        assert "Diese Adresse ist uns nicht bekannt" in response.text
    assert snapshot(app) == before


# --- languages -------------------------------------------------------------------------------


def test_an_english_site_mails_and_answers_in_english(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    with app.app_context():
        create_site("daily", "The Daily", ["https://daily.example"], "en")
        db.session.remove()
    thread = "/api/v1/sites/daily/articles/world/story"
    response = post_comment(
        client, thread=thread, author="Ann", email="ann@example.org", notify=True
    )
    comment_id = response.get_json()["id"]
    deliver(app)
    (confirmation,) = mails.to("ann@example.org")
    assert confirmation["Subject"] == "Please confirm: notices about your comment on The Daily"
    assert "If that was you, please confirm your address here:" in text(confirmation)
    path = link(confirmation, "confirm")
    page = client.get(path)
    assert 'lang="en"' in page.text and "Confirm my address" in page.text
    assert "Your address is confirmed" in client.post(path, headers=SAME_ORIGIN).text
    approve(client, comment_id)
    deliver(app)
    published = mails.to("ann@example.org")[-1]
    assert published["Subject"] == "Your comment on The Daily is published"
    assert f"{PUBLIC}/embed/daily/world/story#comment-{comment_id}" in text(published)
    assert "No more mails:" in text(published)
    unsubscribe = client.get(unsubscribe_path(published))
    assert 'lang="en"' in unsubscribe.text and "Unsubscribe" in unsubscribe.text


# --- privacy ---------------------------------------------------------------------------------


def test_export_and_erase_include_the_mail_records(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    from moderation.subject_requests import erase_data, export_data

    comment_by(client, "anna@example.org", notify=True)
    mails.refuse = "451 try again later"  # the confirmation mail stays queued
    deliver(app)
    with app.app_context():
        data = export_data("Anna@Example.org")["notifications"]
    assert data["address"]["email"] == "anna@example.org"
    assert data["address"]["confirmed"] is False
    (queued,) = data["mails"]
    assert queued["state"] == "pending" and queued["kind"] == "reader/confirm"
    assert queued["to"] == "anna@example.org" and "/notifications/confirm/" in queued["text"]

    with app.app_context():
        erased = erase_data("anna@example.org")
    assert (erased.mails, erased.notifications) == (1, "deleted")
    assert address(app, "anna@example.org") is None
    assert outbox_rows(app, kind=OutboxKind.MAIL) == []
    mails.refuse = None
    deliver(app)
    assert mails.messages == []


def test_erasing_an_unsubscribed_address_keeps_only_its_hash(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    from moderation.subject_requests import erase_data

    confirmed_reader(app, client, mails, "anna@example.org")
    client.post(unsubscribe_path(mails.to("anna@example.org")[0]), data=ONE_CLICK)
    with app.app_context():
        erased = erase_data("anna@example.org")
    assert erased.notifications == "suppressed"
    row = address(app, "anna@example.org")
    assert row is not None and row.email is None and row.confirmed_at is None
    assert row.unsubscribed_at is not None
    assert outbox_rows(app, kind=OutboxKind.MAIL, state=OutboxState.DELIVERED) == []


def test_the_cli_erases_mail_records_of_an_address_without_comments(
    app: Flask, client: FlaskClient, mails: MailServer
) -> None:
    comment_by(client, "anna@example.org", notify=True)
    deliver(app)
    with app.app_context():
        db.session.execute(db.delete(Comment))  # say, purged already
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["privacy", "erase", "anna@example.org", "--yes"])
    assert result.exit_code == 0, result.output
    assert "deleted 1 mails to it" in result.output
    assert address(app, "anna@example.org") is None
