"""Readers' reports (DSA Art. 16): the API and its refusals, holding a comment after N reports,
the moderator's keep / remove, and the reporter's mails through a real SMTP server."""

from __future__ import annotations

import json
import re
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import approve, deliver, outbox_rows, post_comment, snapshot
from servers import MailServer

from moderation import privacy
from moderation.errors import InvalidInput, NotFound
from moderation.extensions import db
from moderation.models import (
    Comment,
    CommentStatus,
    ModerationEvent,
    ReaderAddress,
    Report,
    ReportStatus,
    Site,
    utcnow,
)
from moderation.reports import decide_reports
from moderation.review import Actor, decide

ORIGIN = "https://news.example"
PUBLIC = "https://kommentare.example"
VALID: dict[str, Any] = {
    "category": "insult",
    "explanation": "Der Kommentar beleidigt eine andere Leserin.",
    "good_faith": True,
}


def published(client: FlaskClient, **fields: Any) -> int:
    comment_id = int(post_comment(client, **fields).get_json()["id"])
    approve(client, comment_id)
    return comment_id


def report(client: FlaskClient, comment_id: int, origin: str | None = ORIGIN, **fields: Any) -> Any:
    headers = {"Origin": origin} if origin else {}
    return client.post(
        f"/api/v1/comments/{comment_id}/reports", json=VALID | fields, headers=headers
    )


def reports_of(app: Flask, comment_id: int) -> list[Report]:
    with app.app_context():
        rows = list(db.session.scalars(db.select(Report).where(Report.comment_id == comment_id)))
        db.session.expunge_all()
        db.session.remove()
    return rows


def status_of(app: Flask, comment_id: int) -> CommentStatus:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        status = comment.status
        db.session.remove()
    return status


def set_site(app: Flask, **values: Any) -> None:
    with app.app_context():
        site = db.session.scalars(db.select(Site).where(Site.slug == "demo")).one()
        for name, value in values.items():
            setattr(site, name, value)
        db.session.commit()
        db.session.remove()


# --- the API ---------------------------------------------------------------------------------


def test_a_report_is_stored_with_the_source_hash_and_answered_202(
    app: Flask, client: FlaskClient
) -> None:
    comment_id = published(client)
    response = report(client, comment_id, category="illegal", law="§ 185 StGB", email="r@x.de")
    assert response.status_code == 202
    assert response.get_json() == {"id": response.get_json()["id"], "status": "received"}
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    (row,) = reports_of(app, comment_id)
    assert (row.category, row.law, row.email) == ("illegal", "§ 185 StGB", "r@x.de")
    assert row.status == ReportStatus.OPEN
    with app.app_context():
        assert row.source_hash == privacy.source_hash("127.0.0.1")
    # Reporting does not take the comment down on its own (the site's hold-after is off).
    assert status_of(app, comment_id) == CommentStatus.APPROVED


def test_the_preflight_allows_the_sites_pages_only(client: FlaskClient) -> None:
    comment_id = published(client)
    path = f"/api/v1/comments/{comment_id}/reports"
    allowed = client.options(path, headers={"Origin": ORIGIN})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in allowed.headers["Access-Control-Allow-Headers"]
    refused = client.options(path, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"category": "boring"}, "category"),
        ({"category": None}, "category"),
        ({"category": ["insult"]}, "category"),
        ({"category": "illegal"}, "law"),
        ({"category": "illegal", "law": "   "}, "law"),
        ({"category": "illegal", "law": "x" * 501}, "law"),
        ({"law": 185}, "law"),
        ({"explanation": ""}, "explanation"),
        ({"explanation": " \u200b "}, "explanation"),
        ({"explanation": None}, "explanation"),
        ({"explanation": "x" * 2001}, "explanation"),
        ({"explanation": "\ud800"}, "explanation"),
        ({"email": "not an address"}, "email"),
        ({"email": "a@" + "b" * 260 + ".de"}, "email"),
        ({"email": 7}, "email"),
        ({"good_faith": False}, "good_faith"),
        ({"good_faith": "true"}, "good_faith"),
        ({"good_faith": None}, "good_faith"),
    ],
)
def test_bad_fields_are_named_in_the_sites_language_and_nothing_is_stored(
    app: Flask, client: FlaskClient, fields: dict[str, Any], field: str
) -> None:
    comment_id = published(client)
    before = snapshot(app)
    response = report(client, comment_id, **fields)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid"
    assert field in body["fields"]
    # The demo site is German.
    assert body["message"] == "Bitte sehen Sie sich einige Felder noch einmal an."
    assert snapshot(app) == before


def test_english_on_request(client: FlaskClient) -> None:
    comment_id = published(client)
    response = client.post(
        f"/api/v1/comments/{comment_id}/reports?lang=en",
        json=VALID | {"good_faith": False},
        headers={"Origin": ORIGIN},
    )
    assert response.get_json()["fields"]["good_faith"] == (
        "Please confirm that you report in good faith."
    )


def test_a_law_is_kept_and_the_rest_is_optional(app: Flask, client: FlaskClient) -> None:
    comment_id = published(client)
    assert report(client, comment_id, category="other", email="  ").status_code == 202
    (row,) = reports_of(app, comment_id)
    assert (row.category, row.law, row.email) == ("other", None, None)


@pytest.mark.parametrize(
    "body", [[], "text", 5, None, {"category": "spam"}], ids=["list", "str", "int", "null", "few"]
)
def test_bodies_that_are_no_report(app: Flask, client: FlaskClient, body: Any) -> None:
    comment_id = published(client)
    before = snapshot(app)
    response = client.post(
        f"/api/v1/comments/{comment_id}/reports",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 400
    assert snapshot(app) == before


def test_not_json(app: Flask, client: FlaskClient) -> None:
    comment_id = published(client)
    before = snapshot(app)
    path = f"/api/v1/comments/{comment_id}/reports"
    form = client.post(path, data={"category": "spam"}, headers={"Origin": ORIGIN})
    assert form.status_code == 415
    assert form.get_json()["error"] == "unsupported_media_type"
    broken = client.post(
        path, data="{", content_type="application/json", headers={"Origin": ORIGIN}
    )
    assert broken.status_code == 400
    assert broken.get_json()["error"] == "invalid_json"
    assert snapshot(app) == before


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://news.example"])
def test_a_foreign_or_missing_origin_is_refused(
    app: Flask, client: FlaskClient, origin: str | None
) -> None:
    comment_id = published(client)
    before = snapshot(app)
    response = report(client, comment_id, origin=origin)
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden_origin"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert snapshot(app) == before


def test_without_an_origin_as_a_submission_may(app: Flask, client: FlaskClient) -> None:
    """A server-side client sends no Origin; browsers always do (the same rule as comments)."""
    comment_id = published(client)
    assert report(client, comment_id, origin=None).status_code == 202


def test_only_published_comments_can_be_reported(app: Flask, client: FlaskClient) -> None:
    pending = int(post_comment(client).get_json()["id"])
    rejected = published(client, body="Noch einer.")
    with app.app_context():
        decide(rejected, "reject", Actor("test"))
    before = snapshot(app)
    for comment_id in (pending, rejected, 999_999, 2**31, 2**40):
        response = report(client, comment_id)
        assert response.status_code == 404, comment_id
        assert response.get_json()["error"] == "unknown_comment"
    assert (
        client.options(
            f"/api/v1/comments/{pending}/reports", headers={"Origin": ORIGIN}
        ).status_code
        == 404
    )
    assert snapshot(app) == before


def test_reports_are_rate_limited_per_source(app: Flask, client: FlaskClient) -> None:
    app.config["REPORT_RATE_LIMIT_PER_HOUR"] = 2
    comment_id = published(client)
    assert report(client, comment_id).status_code == 202
    assert report(client, comment_id).status_code == 202
    before = snapshot(app)
    refused = report(client, comment_id)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert refused.headers["Access-Control-Expose-Headers"] == "Retry-After"
    assert snapshot(app) == before
    # Another sender is not held back by this one.
    other = client.post(
        f"/api/v1/comments/{comment_id}/reports",
        json=VALID,
        headers={"Origin": ORIGIN},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert other.status_code == 202


def test_the_report_route_is_in_the_openapi_document(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/comments/{comment_id}/reports"]["post"]
    assert set(operation["responses"]) >= {"202", "400", "403", "404", "415", "429"}


# --- held after N reports --------------------------------------------------------------------


def test_the_nth_report_puts_the_comment_back_in_the_queue(app: Flask, client: FlaskClient) -> None:
    set_site(app, report_hold_after=2)
    comment_id = published(client)
    version = client.get("/api/v1/sites/demo/articles/politik/2026/russland-usa/comments")
    assert version.get_json()["count"] == 1
    assert report(client, comment_id).status_code == 202
    assert status_of(app, comment_id) == CommentStatus.APPROVED
    assert report(client, comment_id, category="spam").status_code == 202
    assert status_of(app, comment_id) == CommentStatus.PENDING
    listed = client.get("/api/v1/sites/demo/articles/politik/2026/russland-usa/comments")
    assert listed.get_json()["count"] == 0
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None and "reported" in comment.reasons
        event = db.session.scalars(
            db.select(ModerationEvent).order_by(ModerationEvent.id.desc())
        ).first()
        assert event is not None
        assert (event.actor_name, event.to_status, event.note) == (
            "system",
            CommentStatus.PENDING,
            "reported",
        )
        db.session.remove()
    # Held: no longer published, so no further reports.
    assert report(client, comment_id).status_code == 404


# --- the moderator's answer ------------------------------------------------------------------


def test_keep_dismisses_the_reports_and_publishes_a_held_comment(
    app: Flask, client: FlaskClient
) -> None:
    set_site(app, report_hold_after=1)
    comment_id = published(client)
    report(client, comment_id)
    assert status_of(app, comment_id) == CommentStatus.PENDING
    with app.app_context():
        decide_reports(comment_id, "keep", Actor("anna"))
        comment = db.session.get(Comment, comment_id)
        assert comment is not None and "reported" not in comment.reasons
        db.session.remove()
    assert status_of(app, comment_id) == CommentStatus.APPROVED
    (row,) = reports_of(app, comment_id)
    assert row.status == ReportStatus.DISMISSED and row.decided_at is not None


def test_remove_rejects_with_a_ground_on_the_event(app: Flask, client: FlaskClient) -> None:
    comment_id = published(client)
    report(client, comment_id)
    report(client, comment_id, category="other")
    with app.app_context():
        decide_reports(comment_id, "remove", Actor("anna"), ground="insult", note="Beleidigung")
        moderator_event = db.session.scalars(
            db.select(ModerationEvent).order_by(ModerationEvent.id.desc())
        ).first()
        assert moderator_event is not None
        assert (moderator_event.to_status, moderator_event.ground, moderator_event.note) == (
            CommentStatus.REJECTED,
            "insult",
            "Beleidigung",
        )
        db.session.remove()
    assert status_of(app, comment_id) == CommentStatus.REJECTED
    assert {r.status for r in reports_of(app, comment_id)} == {ReportStatus.UPHELD}


@pytest.mark.parametrize(
    ("decision", "ground", "error"),
    [
        ("remove", None, InvalidInput),
        ("remove", "boring", InvalidInput),
        ("delete", None, InvalidInput),
    ],
)
def test_bad_decisions_change_nothing(
    app: Flask, client: FlaskClient, decision: str, ground: str | None, error: type
) -> None:
    comment_id = published(client)
    report(client, comment_id)
    before = snapshot(app)
    with app.app_context(), pytest.raises(error):
        decide_reports(comment_id, decision, Actor("anna"), ground=ground)
    assert snapshot(app) == before


def test_deciding_without_open_reports_or_comment(app: Flask, client: FlaskClient) -> None:
    comment_id = published(client)
    with app.app_context():
        with pytest.raises(InvalidInput):
            decide_reports(comment_id, "keep", Actor("anna"))
        with pytest.raises(NotFound):
            decide_reports(999_999, "keep", Actor("anna"))


def test_a_site_may_have_its_own_grounds(app: Flask, client: FlaskClient) -> None:
    set_site(app, removal_grounds=["netiquette"])
    comment_id = published(client)
    report(client, comment_id)
    with app.app_context():
        with pytest.raises(InvalidInput):
            decide_reports(comment_id, "remove", Actor("anna"), ground="insult")
        decide_reports(comment_id, "remove", Actor("anna"), ground="netiquette")
    assert status_of(app, comment_id) == CommentStatus.REJECTED


# --- the reporter's mails --------------------------------------------------------------------


def text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def test_receipt_and_decision_reach_the_reporter(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    app.config["PUBLIC_URL"] = PUBLIC
    comment_id = published(client, body="Ein gemeiner Satz über Bob.")
    report(client, comment_id, email="melder@example.org", explanation="Beleidigt Bob sehr.")
    report(client, comment_id)  # without an address: no mail
    deliver(app)
    (receipt,) = mail_server.messages
    assert receipt["To"] == "melder@example.org"
    assert receipt["Subject"] == "Wir haben Ihre Meldung zu Demo-Zeitung erhalten"
    body = text(receipt)
    assert "Meldung" in body and f"#comment-{comment_id}" in body
    # Neither the comment nor the report is quoted: the address may not be the reporter's.
    assert "gemeiner" not in body and "Beleidigt Bob" not in body
    assert receipt["List-Unsubscribe"]
    mail_server.messages.clear()

    with app.app_context():
        decide_reports(comment_id, "remove", Actor("anna"), ground="insult")
    deliver(app)
    (decision,) = mail_server.messages
    assert decision["To"] == "melder@example.org"
    assert "den Kommentar zu entfernen" in text(decision)


def test_keep_is_told_in_english_for_an_english_site(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    set_site(app, language="en")
    comment_id = published(client)
    report(client, comment_id, email="reporter@example.org")
    with app.app_context():
        decide_reports(comment_id, "keep", Actor("anna"))
    deliver(app)
    receipt, decision = sorted(mail_server.messages, key=lambda m: "decision" in m["Subject"])
    assert receipt["Subject"] == "We received your report on Demo-Zeitung"
    assert decision["Subject"] == "Your report on Demo-Zeitung: our decision"
    assert "stays published" in text(decision)


def test_a_suppressed_address_gets_no_mail(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    with app.app_context():
        db.session.add(
            ReaderAddress(
                email_hash=privacy.address_hash("gone@example.org"), unsubscribed_at=utcnow()
            )
        )
        db.session.commit()
    comment_id = published(client)
    assert report(client, comment_id, email="Gone@example.org").status_code == 202
    assert not [r for r in outbox_rows(app) if r.topic.startswith("report/")]
    deliver(app)
    assert mail_server.messages == []


# --- the no-JS page --------------------------------------------------------------------------

THREAD_PAGE = "/embed/demo/politik/2026/russland-usa"
FORM_VALUES = {
    "category": "insult",
    "explanation": "Beleidigt eine Leserin.",
    "good_faith": "y",
}


def report_page(comment_id: int) -> str:
    return f"/embed/report/{comment_id}"


def form_token_of(html: str) -> str:
    match = re.search(r'name="form_token" type="hidden" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def send_form(client: FlaskClient, comment_id: int, **fields: Any) -> Any:
    token = form_token_of(client.get(report_page(comment_id)).text)
    return client.post(report_page(comment_id), data={"form_token": token} | FORM_VALUES | fields)


def test_every_published_comment_links_to_its_report_form(client: FlaskClient) -> None:
    comment_id = published(client)
    page = client.get(THREAD_PAGE).text
    assert f'href="/embed/report/{comment_id}"' in page and ">Melden<" in page
    english = client.get(THREAD_PAGE + "?lang=en").text
    assert f'href="/embed/report/{comment_id}?lang=en"' in english and ">Report<" in english
    form = client.get(report_page(comment_id))
    assert form.status_code == 200
    assert "Ein guter Artikel." in form.text and "Kommentar melden" in form.text
    assert "frame-ancestors 'self' https://news.example" in form.headers["Content-Security-Policy"]
    assert "script-src 'self'" in form.headers["Content-Security-Policy"]
    assert form.headers["Cache-Control"] == "no-store"


def test_the_form_files_a_report_and_thanks_the_reader(app: Flask, client: FlaskClient) -> None:
    comment_id = published(client)
    response = send_form(
        client, comment_id, category="illegal", law="§ 130 StGB", email="leser@example.org"
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/embed/report/{comment_id}?sent=1#status"
    thanks = client.get(response.headers["Location"])
    assert "Vielen Dank! Wir haben Ihre Meldung erhalten." in thanks.text
    assert 'name="form_token"' not in thanks.text
    (row,) = reports_of(app, comment_id)
    assert (row.category, row.law, row.email) == ("illegal", "§ 130 StGB", "leser@example.org")
    assert [r.topic for r in outbox_rows(app, comment_id=comment_id, topic="report/receipt")]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"category": ""}, "category"),
        ({"category": "boring"}, "category"),
        ({"category": "illegal"}, "law"),
        ({"explanation": ""}, "explanation"),
        ({"explanation": "x" * 2001}, "explanation"),
        ({"email": "kein Name"}, "email"),
        ({"good_faith": ""}, "good_faith"),
    ],
)
def test_bad_form_input_is_shown_at_its_field(
    app: Flask, client: FlaskClient, fields: dict[str, Any], field: str
) -> None:
    comment_id = published(client)
    before = snapshot(app)
    response = send_form(client, comment_id, **fields)
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text
    assert "Bitte prüfen Sie die markierten Felder." in response.text
    assert snapshot(app) == before


def test_the_form_token_is_required_single_use_and_for_this_comment(
    app: Flask, client: FlaskClient
) -> None:
    comment_id = published(client)
    other = published(client, body="Ein anderer.")
    token = form_token_of(client.get(report_page(comment_id)).text)
    before = snapshot(app)
    for data in (FORM_VALUES, FORM_VALUES | {"form_token": "WyJ4Il0.forged.sig"}):
        response = client.post(report_page(comment_id), data=data)
        assert response.status_code == 400
        assert "Dieses Formular ist ungültig." in response.text
    # A token for one comment does not report another.
    response = client.post(report_page(other), data=FORM_VALUES | {"form_token": token})
    assert response.status_code == 400
    assert snapshot(app) == before
    data = FORM_VALUES | {"form_token": token}
    assert client.post(report_page(comment_id), data=data).status_code == 303
    again = client.post(report_page(comment_id), data=data)
    assert again.status_code == 400
    assert "Dieses Formular wurde bereits gesendet." in again.text
    assert len(reports_of(app, comment_id)) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost"},
    ],
)
def test_a_post_from_another_page_is_refused(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    comment_id = published(client)
    token = form_token_of(client.get(report_page(comment_id)).text)
    before = snapshot(app)
    response = client.post(
        report_page(comment_id), data=FORM_VALUES | {"form_token": token}, headers=headers
    )
    assert response.status_code == 403
    assert snapshot(app) == before


def test_the_form_is_rate_limited_too(app: Flask, client: FlaskClient) -> None:
    app.config["REPORT_RATE_LIMIT_PER_HOUR"] = 1
    comment_id = published(client)
    assert send_form(client, comment_id).status_code == 303
    before = snapshot(app)
    refused = send_form(client, comment_id)
    assert refused.status_code == 429
    assert "viele Meldungen" in refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert snapshot(app) == before


def test_no_form_for_a_comment_that_is_not_published(app: Flask, client: FlaskClient) -> None:
    pending = int(post_comment(client).get_json()["id"])
    before = snapshot(app)
    assert client.get(report_page(pending)).status_code == 404
    assert client.get(report_page(99_999_999_999)).status_code == 404
    assert client.post(report_page(pending), data=FORM_VALUES).status_code == 404
    assert snapshot(app) == before
