"""Reported comments in the moderator UI, the ground of every rejection (DSA Art. 16 and 17),
the author's statement of reasons and objection, the transparency report and the reporters'
data under erasure and retention."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import approve, deliver, post_comment, snapshot
from moderator_ui import PASSWORD, add_moderator, logged_in, post

from moderation import privacy, retention, review, rules, subject_requests
from moderation.errors import InvalidInput
from moderation.extensions import db
from moderation.models import (
    Comment,
    CommentStatus,
    ModerationEvent,
    OutboxKind,
    OutboxMessage,
    Report,
    ReportStatus,
    Site,
)
from moderation.notify import readers
from moderation.review import Actor

ORIGIN = "https://news.example"
EN = {"Accept-Language": "en"}
DE = {"Accept-Language": "de"}
REPORT: dict[str, Any] = {
    "category": "illegal",
    "law": "§ 185 StGB",
    "explanation": "Beleidigt eine Leserin.",
    "email": "melder@example.org",
    "good_faith": True,
}


@pytest.fixture
def mod(app: Flask) -> FlaskClient:
    return logged_in(app)


def published(client: FlaskClient, **fields: Any) -> int:
    comment_id = int(post_comment(client, **fields).get_json()["id"])
    approve(client, comment_id)
    return comment_id


def report(client: FlaskClient, comment_id: int, **fields: Any) -> None:
    response = client.post(
        f"/api/v1/comments/{comment_id}/reports",
        json=REPORT | fields,
        headers={"Origin": ORIGIN},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},  # another source than the comments'
    )
    assert response.status_code == 202, response.get_json()


def set_site(app: Flask, **values: Any) -> None:
    with app.app_context():
        site = db.session.scalars(db.select(Site).where(Site.slug == "demo")).one()
        for name, value in values.items():
            setattr(site, name, value)
        db.session.commit()
        db.session.remove()


def comment_of(app: Flask, comment_id: int) -> Comment:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        db.session.expunge(comment)
        db.session.remove()
    return comment


def events_of(app: Flask, comment_id: int) -> list[ModerationEvent]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                db.select(ModerationEvent)
                .where(ModerationEvent.comment_id == comment_id)
                .order_by(ModerationEvent.id)
            )
        )
        db.session.expunge_all()
        db.session.remove()
    return rows


def report_statuses(app: Flask, comment_id: int) -> list[ReportStatus]:
    with app.app_context():
        found = list(
            db.session.scalars(db.select(Report.status).where(Report.comment_id == comment_id))
        )
        db.session.remove()
    return found


def card_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="card[^"]*" id="c(\d+)"', html)]


# --- 1. the "Reported" view ------------------------------------------------------------------


def test_the_reported_view_lists_published_and_held_comments_with_their_reports(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    quiet = published(client, body="Niemand meldet mich.")
    reported = published(client, body="Gemeldet, aber noch sichtbar.")
    held = published(client, body="Zurückgehalten.")
    report(client, reported)
    set_site(app, report_hold_after=1)
    report(client, held, category="spam", law=None, explanation="Werbung für Pillen")
    assert comment_of(app, held).status == CommentStatus.PENDING

    html = mod.get("/moderate/?status=reported", headers=EN).get_data(as_text=True)
    assert sorted(card_ids(html)) == sorted([reported, held])
    assert quiet not in card_ids(html)
    assert "Illegal content" in html and "§ 185 StGB" in html and "Beleidigt eine Leserin." in html
    assert "Spam or advertising" in html and "Werbung für Pillen" in html
    # Never the reporter's address or source.
    assert "melder@example.org" not in html
    with app.app_context():
        hashes = list(db.session.scalars(db.select(Report.source_hash)))
    for h in hashes:
        assert h is not None and h[:6] not in html
    # Keep and remove on each reported card, the count in the filter.
    assert f"/moderate/comments/{reported}/reports/keep" in html
    assert f"/moderate/comments/{held}/reports/remove" in html
    assert "Reported (2)" in html
    # The German label.
    german = mod.get("/moderate/?status=reported", headers=DE).get_data(as_text=True)
    assert "Gemeldet (2)" in german and "Rechtswidriger Inhalt" in german


def test_keep_publishes_a_held_comment_again_and_dismisses_its_reports(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    set_site(app, report_hold_after=1)
    comment_id = published(client)
    report(client, comment_id)
    response = post(
        mod,
        f"/moderate/comments/{comment_id}/reports/keep",
        {"next": "/moderate/?status=reported"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/moderate/?status=reported"
    comment = comment_of(app, comment_id)
    assert comment.status == CommentStatus.APPROVED and "reported" not in comment.reasons
    assert report_statuses(app, comment_id) == [ReportStatus.DISMISSED]
    html = mod.get("/moderate/?status=reported").get_data(as_text=True)
    assert comment_id not in card_ids(html)


def test_remove_rejects_with_the_ground_and_note(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    comment_id = published(client)
    report(client, comment_id)
    response = post(
        mod,
        f"/moderate/comments/{comment_id}/reports/remove",
        {"ground": "hate_speech", "note": "Volksverhetzung"},
    )
    assert response.status_code == 302
    assert comment_of(app, comment_id).status == CommentStatus.REJECTED
    assert report_statuses(app, comment_id) == [ReportStatus.UPHELD]
    last = events_of(app, comment_id)[-1]
    assert (last.to_status, last.ground, last.note, last.actor_name) == (
        CommentStatus.REJECTED,
        "hate_speech",
        "Volksverhetzung",
        "mona",
    )
    # The history shows the ground by its label.
    html = mod.get(f"/moderate/comments/{comment_id}", headers=EN).get_data(as_text=True)
    assert "Ground: Hate speech" in html and "Volksverhetzung" in html


@pytest.mark.parametrize(
    ("path", "data", "status"),
    [
        ("reports/remove", {}, 400),  # no ground
        ("reports/remove", {"ground": "boring"}, 400),  # not one of the site's
        ("reports/delete", {"ground": "insult"}, 400),  # no such decision
        ("reports/keep", {"note": "x" * 501}, 400),  # overlong note
    ],
)
def test_bad_report_decisions_change_nothing(
    app: Flask,
    client: FlaskClient,
    mod: FlaskClient,
    path: str,
    data: dict[str, str],
    status: int,
) -> None:
    comment_id = published(client)
    report(client, comment_id)
    before = snapshot(app)
    response = post(mod, f"/moderate/comments/{comment_id}/{path}", data)
    assert response.status_code == status
    assert snapshot(app) == before


def test_report_decisions_need_csrf_a_login_and_open_reports(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    comment_id = published(client)
    report(client, comment_id)
    before = snapshot(app)
    path = f"/moderate/comments/{comment_id}/reports/keep"
    assert mod.post(path, data={}).status_code == 400  # no CSRF token
    assert app.test_client().post(path).status_code in (302, 400, 401, 403)
    assert snapshot(app) == before
    unreported = published(client)
    before = snapshot(app)
    assert post(mod, f"/moderate/comments/{unreported}/reports/keep").status_code == 400
    assert post(mod, "/moderate/comments/999999/reports/keep").status_code == 404
    assert snapshot(app) == before


# --- 2. a ground for every rejection ---------------------------------------------------------


def test_rejecting_in_the_queue_needs_a_ground(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    comment_id = int(post_comment(client).get_json()["id"])
    html = mod.get("/moderate/", headers=EN).get_data(as_text=True)
    assert 'name="ground"' in html and "Personal data" in html and "Hate speech" in html
    before = snapshot(app)
    refused = post(mod, f"/moderate/comments/{comment_id}/reject", {"note": "nein"}, headers=EN)
    assert refused.status_code == 400
    assert "Choose the ground of the removal." in refused.get_data(as_text=True)
    refused = post(mod, f"/moderate/comments/{comment_id}/reject", {"ground": "netiquette"})
    assert refused.status_code == 400
    assert snapshot(app) == before
    assert (
        post(
            mod,
            f"/moderate/comments/{comment_id}/reject",
            {"ground": "personal_data", "note": "Adresse"},
        ).status_code
        == 302
    )
    last = events_of(app, comment_id)[-1]
    assert (last.to_status, last.ground, last.note) == (
        CommentStatus.REJECTED,
        "personal_data",
        "Adresse",
    )
    with app.app_context():
        event = db.session.scalars(
            db.select(OutboxMessage).where(
                OutboxMessage.kind == OutboxKind.EVENT, OutboxMessage.topic == "comment.rejected"
            )
        ).one()
        assert event.payload["ground"] == "personal_data"


def test_approving_needs_no_ground(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    comment_id = int(post_comment(client).get_json()["id"])
    assert post(mod, f"/moderate/comments/{comment_id}/approve").status_code == 302
    assert events_of(app, comment_id)[-1].ground is None


def test_bulk_rejection_needs_a_ground(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    first = int(post_comment(client, body="Eins").get_json()["id"])
    second = int(post_comment(client, body="Zwei").get_json()["id"])
    ids = [str(first), str(second)]
    before = snapshot(app)
    assert post(mod, "/moderate/bulk", {"ids": ids, "decision": "reject"}).status_code == 400
    assert (
        post(
            mod, "/moderate/bulk", {"ids": ids, "decision": "reject", "ground": "nope"}
        ).status_code
        == 400
    )
    assert snapshot(app) == before
    response = post(mod, "/moderate/bulk", {"ids": ids, "decision": "reject", "ground": "spam"})
    assert response.status_code == 302
    assert [events_of(app, i)[-1].ground for i in (first, second)] == ["spam", "spam"]


def test_removing_a_published_comment_from_its_page(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    comment_id = published(client)
    html = mod.get(f"/moderate/comments/{comment_id}").get_data(as_text=True)
    assert f"/moderate/comments/{comment_id}/reject" in html and 'name="ground"' in html
    assert (
        post(mod, f"/moderate/comments/{comment_id}/reject", {"ground": "off_topic"}).status_code
        == 302
    )
    assert comment_of(app, comment_id).status == CommentStatus.REJECTED
    assert events_of(app, comment_id)[-1].ground == "off_topic"


def test_a_sites_own_grounds_are_offered_and_enforced(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    set_site(app, removal_grounds=["netiquette", "other"])
    comment_id = int(post_comment(client).get_json()["id"])
    html = mod.get(f"/moderate/comments/{comment_id}").get_data(as_text=True)
    assert 'value="netiquette"' in html and 'value="hate_speech"' not in html
    with app.app_context():
        with pytest.raises(InvalidInput):
            review.decide(comment_id, "reject", Actor("cli"), ground="insult")
        review.decide(comment_id, "reject", Actor("cli"), ground="netiquette")
    assert events_of(app, comment_id)[-1].ground == "netiquette"


def test_the_cli_rejects_with_a_ground_defaulting_to_other(app: Flask, client: FlaskClient) -> None:
    first = int(post_comment(client, body="Eins").get_json()["id"])
    second = int(post_comment(client, body="Zwei").get_json()["id"])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["comments", "reject", str(first), "--ground", "insult"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["comments", "reject", str(second)])
    assert result.exit_code == 0, result.output
    assert events_of(app, first)[-1].ground == "insult"
    assert events_of(app, second)[-1].ground == "other"
    third = int(post_comment(client, body="Drei").get_json()["id"])
    before = snapshot(app)
    result = runner.invoke(args=["comments", "reject", str(third), "--ground", "boring"])
    assert result.exit_code != 0
    assert "ground" in result.output.lower()
    assert snapshot(app) == before


# --- 3. the author's statement of reasons and objection --------------------------------------

PUBLIC = "https://kommentare.example"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": PUBLIC}
AUTHOR = "autorin@example.org"


@pytest.fixture
def mails(app: Flask, mail_server: Any) -> Any:
    """The real SMTP server, with links in mails under PUBLIC."""
    app.config["PUBLIC_URL"] = PUBLIC
    return mail_server


def text_of(message: Any) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def html_of(message: Any) -> str:
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())


def path_in(message: Any, kind: str) -> str:
    found = re.search(rf"{re.escape(PUBLIC)}(/notifications/{kind}/[\w.\-]+)", text_of(message))
    assert found, text_of(message)
    return found.group(1)


def confirmed_author(app: Flask, client: FlaskClient, mails: Any, **fields: Any) -> int:
    """A comment by AUTHOR, who asked for notices and confirmed the address."""
    comment_id = int(post_comment(client, email=AUTHOR, notify=True, **fields).get_json()["id"])
    deliver(app)
    response = client.post(path_in(mails.to(AUTHOR)[-1], "confirm"), headers=SAME_ORIGIN)
    assert response.status_code == 200
    return comment_id


GERMAN_GROUNDS = {
    "off_topic": "Themenfremd",
    "insult": "Beleidigung oder Belästigung",
    "hate_speech": "Hassrede",
    "spam": "Spam oder Werbung",
    "illegal": "Rechtswidriger Inhalt",
    "personal_data": "Personenbezogene Daten",
    "other": "Sonstiges",
}


def test_every_grounds_statement_reaches_the_author(
    app: Flask, client: FlaskClient, mod: FlaskClient, mails: Any
) -> None:
    assert set(GERMAN_GROUNDS) == set(rules.REMOVAL_GROUNDS)
    first = confirmed_author(app, client, mails)
    ids = [first] + [
        int(post_comment(client, email=AUTHOR, notify=True, body=f"Text {n}").get_json()["id"])
        for n in range(len(rules.REMOVAL_GROUNDS) - 1)
    ]
    for comment_id, ground in zip(ids, rules.REMOVAL_GROUNDS, strict=True):
        response = post(
            mod,
            f"/moderate/comments/{comment_id}/reject",
            {"ground": ground, "note": f"Begründung {ground}"},
        )
        assert response.status_code == 302
    deliver(app)
    statements = mails.to(AUTHOR)[1:]
    assert len(statements) == len(rules.REMOVAL_GROUNDS)
    for message, comment_id, ground in zip(statements, ids, rules.REMOVAL_GROUNDS, strict=True):
        body = text_of(message)
        assert message["Subject"] == "Ihr Kommentar auf Demo-Zeitung wurde nicht veröffentlicht"
        assert f"Grund: {GERMAN_GROUNDS[ground]}" in body
        assert f"> Begründung {ground}" in body
        assert re.search(r"Entschieden am: \d\d\.\d\d\.\d{4}, \d\d:\d\d UTC", body)
        assert "Einspruch" in body and "/notifications/objection/" in body
        assert GERMAN_GROUNDS[ground] in html_of(message)
        # The link is for this comment.
        with app.app_context():
            link = readers.read_objection_token(path_in(message, "objection").rsplit("/", 1)[1])
        assert (link.comment_id, link.language) == (comment_id, "de")
        assert "antworten Sie an" not in body  # no OBJECTION_ADDRESS set


def test_a_removed_published_comment_says_removed_and_offers_the_reply_address(
    app: Flask, client: FlaskClient, mod: FlaskClient, mails: Any
) -> None:
    app.config["OBJECTION_ADDRESS"] = "einspruch@news.example"
    comment_id = confirmed_author(app, client, mails)
    approve(client, comment_id)
    report(client, comment_id)
    response = post(mod, f"/moderate/comments/{comment_id}/reports/remove", {"ground": "illegal"})
    assert response.status_code == 302
    deliver(app)
    statement = [m for m in mails.to(AUTHOR) if "entfernt" in m["Subject"]]
    assert len(statement) == 1
    body = text_of(statement[0])
    assert statement[0]["Subject"] == "Ihr Kommentar auf Demo-Zeitung wurde entfernt"
    assert "wurde entfernt." in body and "Grund: Rechtswidriger Inhalt" in body
    assert "oder antworten Sie an einspruch@news.example." in body
    # The reporter hears the decision; the author's mail names no reporter.
    assert "melder@example.org" not in statement[0].as_string()


def test_an_objection_is_recorded_and_put_before_the_moderators(
    app: Flask, client: FlaskClient, mod: FlaskClient, mails: Any
) -> None:
    comment_id = confirmed_author(app, client, mails)
    post(mod, f"/moderate/comments/{comment_id}/reject", {"ground": "off_topic"})
    deliver(app)
    path = path_in(mails.to(AUTHOR)[-1], "objection")

    before = snapshot(app)
    page = client.get(path)
    assert page.status_code == 200 and "Einspruch" in page.get_data(as_text=True)
    assert 'name="objection"' in page.get_data(as_text=True)
    assert page.headers["X-Frame-Options"] == "DENY"
    assert snapshot(app) == before  # a look changes nothing

    response = client.post(path, data={"objection": "Das war beim Thema."}, headers=SAME_ORIGIN)
    assert response.status_code == 200
    assert "Ihr Einspruch ist eingegangen" in response.get_data(as_text=True)
    last = events_of(app, comment_id)[-1]
    assert (last.actor_name, last.from_status, last.to_status, last.ground, last.note) == (
        "author",
        CommentStatus.REJECTED,
        CommentStatus.REJECTED,
        None,
        "Einspruch: Das war beim Thema.",
    )
    assert comment_of(app, comment_id).status == CommentStatus.REJECTED
    # A second objection waits for the first one's answer.
    before = snapshot(app)
    again = client.post(path, data={"objection": "Noch einmal."}, headers=SAME_ORIGIN)
    assert again.status_code == 400
    assert snapshot(app) == before

    # Moderators find it under "Reported", with the history, and answer it.
    queue = mod.get("/moderate/?status=reported", headers=EN).get_data(as_text=True)
    assert comment_id in card_ids(queue)
    assert "the author objects to the removal" in queue and "Publish again" in queue
    history = mod.get(f"/moderate/comments/{comment_id}", headers=EN).get_data(as_text=True)
    assert "Einspruch: Das war beim Thema." in history and "Ground: Off-topic" in history
    assert (
        post(
            mod, f"/moderate/comments/{comment_id}/reports/remove", {"ground": "off_topic"}
        ).status_code
        == 302
    )
    assert comment_of(app, comment_id).status == CommentStatus.REJECTED
    assert "objection" not in comment_of(app, comment_id).reasons
    assert events_of(app, comment_id)[-1].ground == "off_topic"
    queue = mod.get("/moderate/?status=reported").get_data(as_text=True)
    assert comment_id not in card_ids(queue)
    # Objecting again is possible; "keep" then publishes the comment.
    assert client.post(path, data={"objection": "Bitte."}, headers=SAME_ORIGIN).status_code == 200
    assert post(mod, f"/moderate/comments/{comment_id}/reports/keep").status_code == 302
    assert comment_of(app, comment_id).status == CommentStatus.APPROVED
    settled = client.get(path).get_data(as_text=True)
    assert 'name="objection"' not in settled


@pytest.mark.parametrize(
    ("data", "headers", "status"),
    [
        ({"objection": "Bitte."}, {"Sec-Fetch-Site": "cross-site"}, 403),
        ({"objection": "Bitte."}, {"Origin": "https://evil.example"}, 403),
        ({"objection": "   "}, SAME_ORIGIN, 400),
        ({}, SAME_ORIGIN, 400),
        ({"objection": "x" * 2001}, SAME_ORIGIN, 400),
    ],
)
def test_bad_objections_change_nothing(
    app: Flask,
    client: FlaskClient,
    mod: FlaskClient,
    mails: Any,
    data: dict[str, str],
    headers: dict[str, str],
    status: int,
) -> None:
    comment_id = confirmed_author(app, client, mails)
    post(mod, f"/moderate/comments/{comment_id}/reject", {"ground": "spam"})
    deliver(app)
    path = path_in(mails.to(AUTHOR)[-1], "objection")
    before = snapshot(app)
    assert client.post(path, data=data, headers=headers).status_code == status
    assert snapshot(app) == before


def test_forged_and_foreign_objection_links_change_nothing(
    app: Flask, client: FlaskClient, mails: Any
) -> None:
    comment_id = confirmed_author(app, client, mails)
    with app.app_context():
        review.decide(comment_id, "reject", Actor("cli"), ground="other")
        other = readers.objection_token(comment_id, "0" * 64, "de")  # not the author's hash
        valid = readers.objection_token(comment_id, privacy.address_hash(AUTHOR), "de")
        not_rejected = int(post_comment(client, body="Offen").get_json()["id"])
    before = snapshot(app)
    for token in ("garbage", valid[:-3] + "abc", other, "x" * 400):
        path = f"/notifications/objection/{token}"
        assert client.get(path).status_code in (400, 404)
        response = client.post(path, data={"objection": "Bitte."}, headers=SAME_ORIGIN)
        assert response.status_code in (400, 404)
    assert snapshot(app) == before
    # Erased: the link no longer finds the author's comment.
    with app.app_context():
        subject_requests.erase_data(AUTHOR)
    assert client.get(f"/notifications/objection/{valid}").status_code == 404
    assert not_rejected


# --- 4. the transparency report --------------------------------------------------------------


def seed_year(app: Flask, client: FlaskClient) -> None:
    """A known year on the demo site, and noise outside it (another year, another site)."""
    with app.app_context():
        site = db.session.scalars(db.select(Site).where(Site.slug == "demo")).one()
        other = Site(slug="andere", name="Andere", origins=[], language=site.language)
        db.session.add(other)
        db.session.commit()
        ids = []
        for n in range(6):
            ids.append(int(post_comment(client, body=f"Kommentar {n}").get_json()["id"]))
        for comment_id in ids:
            review.decide(comment_id, "approve", Actor("cli"))

        def at(month: int, day: int, hour: int = 12, year: int = 2026) -> datetime:
            return datetime(year, month, day, hour, tzinfo=UTC)

        def add(
            comment_id: int,
            category: str,
            created: datetime,
            status: ReportStatus,
            decided: datetime | None,
            site_id: int = site.id,
        ) -> None:
            db.session.add(
                Report(
                    comment_id=comment_id,
                    site_id=site_id,
                    category=category,
                    explanation="x",
                    status=status,
                    created_at=created,
                    decided_at=decided,
                )
            )

        # 2026: 3 illegal, 2 insult, 1 spam received; decided: 2 kept (1 h, 3 h), 2 removed
        # (2 h, 10 h) → median (2 h + 3 h) / 2 = 2.5 h = 9000 s; 2 still open.
        add(ids[0], "illegal", at(3, 1, 10), ReportStatus.UPHELD, at(3, 1, 12))
        add(ids[0], "illegal", at(3, 1, 2), ReportStatus.UPHELD, at(3, 1, 12))
        add(ids[1], "insult", at(4, 2, 9), ReportStatus.DISMISSED, at(4, 2, 10))
        add(ids[2], "insult", at(5, 5, 9), ReportStatus.DISMISSED, at(5, 5, 12))
        add(ids[3], "illegal", at(12, 31, 23), ReportStatus.OPEN, None)
        add(ids[4], "spam", at(6, 1), ReportStatus.OPEN, None)
        # Other years and another site: not counted.
        add(ids[5], "spam", at(12, 31, 23, 2025), ReportStatus.DISMISSED, at(1, 1, 1, 2027))
        add(ids[5], "other", at(6, 1), ReportStatus.UPHELD, at(6, 2), other.id)

        def event(
            comment_id: int,
            ground: str | None,
            when: datetime,
            before: CommentStatus = CommentStatus.APPROVED,
        ) -> None:
            db.session.add(
                ModerationEvent(
                    comment_id=comment_id,
                    actor_name="anna",
                    from_status=before,
                    to_status=CommentStatus.REJECTED,
                    ground=ground,
                    created_at=when,
                )
            )

        event(ids[0], "illegal", at(3, 1, 12))
        event(ids[3], "insult", at(7, 1))
        event(ids[4], "insult", at(8, 1))
        event(ids[5], "hate_speech", at(9, 1))
        event(ids[5], "insult", at(9, 2), before=CommentStatus.REJECTED)  # objection answered
        event(ids[1], None, at(9, 3))  # no ground: not counted
        event(ids[2], "spam", at(1, 1, 0, 2027))  # next year
        db.session.commit()
        db.session.remove()


EXPECTED_2026 = {
    "site": "demo",
    "year": 2026,
    "reports_received": {"illegal": 3, "insult": 2, "spam": 1, "off_topic": 0, "other": 0},
    "reports_received_total": 6,
    "decisions": {"kept": 2, "removed": 2},
    "median_seconds_to_decision": 9000,
    "removals_by_ground": {
        "off_topic": 0,
        "insult": 2,
        "hate_speech": 1,
        "spam": 0,
        "illegal": 1,
        "personal_data": 0,
        "other": 0,
    },
    "removals_total": 4,
}


def test_the_transparency_report_counts_a_known_year(app: Flask, client: FlaskClient) -> None:
    seed_year(app, client)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["transparency", "--site", "demo", "--year", "2026"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == EXPECTED_2026
    as_csv = runner.invoke(args=["transparency", "--site", "demo", "--year", "2026", "--csv"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.reader(io.StringIO(as_csv.output)))
    assert rows[0] == ["section", "key", "value"]
    assert ["reports_received", "illegal", "3"] in rows
    assert ["decisions", "kept", "2"] in rows and ["decisions", "removed", "2"] in rows
    assert ["median_seconds_to_decision", "", "9000"] in rows
    assert ["removals_by_ground", "insult", "2"] in rows
    empty = runner.invoke(args=["transparency", "--site", "demo", "--year", "2024"])
    assert json.loads(empty.output)["median_seconds_to_decision"] is None


def test_the_transparency_report_still_counts_removals_the_retention_job_took(
    app: Flask, client: FlaskClient
) -> None:
    """A year's report is drawn up after the year; by then the retention job has removed the
    rejected comments (30 days after their rejection), and their events kept their site."""
    seed_year(app, client)
    with app.app_context():
        for comment in db.session.scalars(db.select(Comment)):
            comment.status = CommentStatus.REJECTED
        db.session.commit()
        result = retention.purge(now=datetime(2027, 6, 1, tzinfo=UTC))
        assert result.removed == {"rejected": 6}
        assert db.session.scalar(db.select(db.func.count(Comment.id))) == 0
        db.session.remove()
    result = app.test_cli_runner().invoke(args=["transparency", "--site", "demo", "--year", "2026"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == EXPECTED_2026
    # Another site's report does not count them.
    other = app.test_cli_runner().invoke(
        args=["transparency", "--site", "andere", "--year", "2026"]
    )
    assert json.loads(other.output)["removals_total"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--site", "nowhere", "--year", "2026"], "There is no site 'nowhere'"),
        (["--site", "demo", "--year", "26"], "Not a year"),
        (["--site", "demo", "--year", "zwanzig"], "Not a year"),
        (["--site", "demo", "--year", "1900"], "Not a year"),
        (["--site", "demo", "--year", "２０２６"], "Not a year"),
        (["--site", "demo"], "Missing option '--year'"),
    ],
)
def test_bad_transparency_requests_exit_1(app: Flask, args: list[str], message: str) -> None:
    result = app.test_cli_runner().invoke(args=["transparency", *args])
    assert result.exit_code in (1, 2)
    assert message in result.output
    if "Missing" not in message:
        assert result.exit_code == 1


# --- 5. the reporters' data ------------------------------------------------------------------


def test_export_lists_and_erase_removes_the_reporters_address(
    app: Flask, client: FlaskClient
) -> None:
    comment_id = published(client)
    report(client, comment_id, email="Melder@Example.org")
    with app.app_context():
        exported = subject_requests.export_data("melder@example.org")
        (row,) = exported["reports"]
        assert (row["comment_id"], row["site"], row["category"], row["law"]) == (
            comment_id,
            "demo",
            "illegal",
            "§ 185 StGB",
        )
        assert row["status"] == "open"
        db.session.remove()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["privacy", "erase", "melder@example.org", "--yes"])
    assert result.exit_code == 0, result.output
    assert "removed it from 1 reports" in result.output
    with app.app_context():
        (kept,) = db.session.scalars(db.select(Report)).all()
        assert kept.email is None and kept.explanation == REPORT["explanation"]
        assert subject_requests.export_data("melder@example.org")["reports"] == []
        db.session.remove()


def test_purge_clears_old_report_source_hashes(app: Flask, client: FlaskClient) -> None:
    old = published(client)
    new = published(client, body="Neu")
    report(client, old)
    report(client, new)
    with app.app_context():
        first = db.session.scalars(db.select(Report).where(Report.comment_id == old)).one()
        first.created_at = first.created_at - timedelta(days=31)
        db.session.commit()
        db.session.remove()
    result = app.test_cli_runner().invoke(args=["privacy", "purge", "--source-hash-days", "30"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        hashes = dict(db.session.execute(db.select(Report.comment_id, Report.source_hash)).all())
        db.session.remove()
    assert hashes[old] is None and hashes[new] is not None


# --- the reported cards in a real browser ----------------------------------------------------


@pytest.mark.browser
def test_keep_and_remove_reported_cards_in_a_browser(
    app: Flask, client: FlaskClient, live_server: Any, page: Any
) -> None:
    kept = published(client, body="Bleibt stehen.")
    removed = published(client, body="Geht weg.")
    report(client, kept)
    report(client, removed, category="insult", law=None)
    add_moderator(app)
    page.goto(f"{live_server.url}/moderate/login")
    page.fill('input[name="username"]', "mona")
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/moderate/")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{live_server.url}/moderate/?status=reported")
    assert page.locator("#cards > .card").count() == 2
    card = page.locator(f"#c{removed}")
    assert "Beleidigung oder Belästigung" in card.locator(".reports").inner_text()
    # Without a ground the browser does not send the removal.
    card.locator("form.report-remove button").click()
    assert page.locator(f"#c{removed}").count() == 1
    assert comment_of(app, removed).status == CommentStatus.APPROVED
    card.locator("form.report-remove select.ground").select_option("insult")
    card.locator("form.report-remove input.note").fill("Beleidigt eine Leserin")
    card.locator("form.report-remove button").click()
    page.locator(f"#c{removed}").wait_for(state="detached")

    page.locator(f"#c{kept} form.report-keep button").click()
    page.locator(f"#c{kept}").wait_for(state="detached")
    assert page.locator("#cards > .card").count() == 0
    assert comment_of(app, kept).status == CommentStatus.APPROVED
    assert report_statuses(app, kept) == [ReportStatus.DISMISSED]
    gone = comment_of(app, removed)
    assert gone.status == CommentStatus.REJECTED
    last = events_of(app, removed)[-1]
    assert (last.ground, last.note) == ("insult", "Beleidigt eine Leserin")
    assert not errors, errors
