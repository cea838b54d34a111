"""Webhooks: signed calls to a real HTTP receiver, retried with the same delivery id, paused
after too many failures (admins mailed over real SMTP); their CLI and admin page."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from helpers import approve, deliver, outbox_rows, post_comment, snapshot
from moderator_ui import add_moderator, logged_in, post
from servers import MailServer, ReceivedCall, WebhookReceiver
from sqlalchemy import update

from moderation.extensions import db
from moderation.models import (
    Article,
    Comment,
    Moderator,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Webhook,
    utcnow,
)
from moderation.notify import webhooks

ROOT = Path(__file__).resolve().parent.parent
EMAIL = "anna.secret@example.org"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.stop()


def add_hook(app: Flask, url: str, **options: Any) -> tuple[int, str]:
    with app.app_context():
        hook, secret = webhooks.add("demo", url, **options)
        hook_id = hook.id
        db.session.remove()
    return hook_id, secret


def calls(app: Flask) -> list[OutboxMessage]:
    return outbox_rows(app, kind=OutboxKind.WEBHOOK)


def make_due(app: Flask) -> None:
    """Time moves on: every waiting row is due now (instead of in 30 s, 1 min …)."""
    with app.app_context():
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == OutboxState.PENDING)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
        db.session.remove()


def signed_by(secret: str, call: ReceivedCall) -> bool:
    header = call.header("X-Moderation-Signature") or ""
    match = re.fullmatch(r"t=([0-9]+),v1=([0-9a-f]{64})", header)
    assert match, header
    expected = hmac.new(
        secret.encode(), match[1].encode() + b"." + call.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, match[2])


# --- what is sent --------------------------------------------------------------------------


def test_a_call_is_signed_and_carries_public_fields_only(
    app: Flask, client: FlaskClient, receiver: WebhookReceiver
) -> None:
    hook_id, secret = add_hook(app, receiver.url + "/hooks/comments")
    response = post_comment(
        client,
        email=EMAIL,
        title="Russland und die USA",
        url="https://news.example/politik/2026/russland-usa",
    )
    comment_id = response.get_json()["id"]
    assert deliver(app).delivered == 1
    (call,) = receiver.requests
    (row,) = calls(app)
    assert (call.method, call.path) == ("POST", "/hooks/comments")
    assert call.header("Content-Type") == "application/json"
    assert call.header("User-Agent") == webhooks.USER_AGENT
    assert call.header("X-Moderation-Event") == "comment.created"
    assert call.header("X-Moderation-Delivery") == row.delivery_id
    assert signed_by(secret, call)
    assert not signed_by("another secret", call)
    body = json.loads(call.body)
    assert body["id"] == row.delivery_id
    assert body["event"] == "comment.created"
    assert body["site"] == "demo"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["created_at"])
    # The title is the reader's claim until a moderator confirms it.
    assert body["article"] == {
        "key": "politik/2026/russland-usa",
        "title": None,
        "url": "https://news.example/politik/2026/russland-usa",
    }
    assert body["comment"] == {
        "id": comment_id,
        "parent_id": None,
        "author": "Anna",
        "html": body["comment"]["html"],
        "created_at": body["comment"]["created_at"],
        "status": "pending",
        "reasons": ["no_token"],  # posted to the API without a form token
    }
    assert "Ein guter Artikel." in body["comment"]["html"]
    with app.app_context():
        source_hash = db.session.get(Comment, comment_id).source_hash
        db.session.execute(update(Article).values(title_confirmed=True))
        db.session.commit()
    assert source_hash and source_hash not in call.body.decode()
    assert EMAIL not in call.body.decode() and "@" not in call.body.decode()
    assert row.state == OutboxState.DELIVERED and row.webhook_id == hook_id
    approve(client, comment_id)
    deliver(app)
    body = json.loads(receiver.requests[-1].body)
    assert body["event"] == "comment.approved"
    assert body["comment"]["status"] == "approved"
    assert body["article"]["title"] == "Russland und die USA"
    assert body["id"] != row.delivery_id  # each call its own delivery id


def test_three_attempts_with_one_delivery_id_when_the_receiver_fails_twice(
    app: Flask, client: FlaskClient, receiver: WebhookReceiver
) -> None:
    _, secret = add_hook(app, receiver.url)
    receiver.fail = 2
    post_comment(client)
    deliver(app)
    (row,) = calls(app)
    assert (row.state, row.attempts, row.last_status) == (OutboxState.PENDING, 1, 500)
    assert "receiver broke" in (row.last_error or "")
    assert deliver(app).delivered == 0  # not due yet: the first pause is 30 s
    assert len(receiver.requests) == 1
    make_due(app)
    deliver(app)
    make_due(app)
    assert deliver(app).delivered == 1
    (row,) = calls(app)
    assert (row.state, row.attempts, row.last_status) == (OutboxState.DELIVERED, 3, 200)
    assert len(receiver.requests) == 3
    ids = {call.header("X-Moderation-Delivery") for call in receiver.requests}
    assert ids == {row.delivery_id}
    assert {json.loads(call.body)["id"] for call in receiver.requests} == {row.delivery_id}
    assert len({call.body for call in receiver.requests}) == 1  # the same bytes each time
    assert all(signed_by(secret, call) for call in receiver.requests)
    with app.app_context():
        assert db.session.get(Webhook, row.webhook_id).failures_in_row == 0


def test_a_slow_receiver_times_out_and_a_redirect_is_not_followed(
    app: Flask, client: FlaskClient, receiver: WebhookReceiver
) -> None:
    app.config["WEBHOOK_TIMEOUT"] = 0.5
    add_hook(app, receiver.url)
    receiver.delay = 2
    post_comment(client)
    deliver(app)
    (row,) = calls(app)
    assert row.state == OutboxState.PENDING and row.last_status is None
    assert row.last_error == "no answer within 0.5 s"
    receiver.delay = 0
    receiver.redirect_to = "http://127.0.0.1:9/elsewhere"
    make_due(app)
    deliver(app)
    (row,) = calls(app)
    assert (row.state, row.last_status) == (OutboxState.PENDING, 302)
    assert len(receiver.requests) == 2  # the redirect was not followed


def test_an_unreachable_receiver_fails_the_attempt(app: Flask, client: FlaskClient) -> None:
    add_hook(app, "http://127.0.0.1:9/nobody")
    post_comment(client)
    deliver(app)
    (row,) = calls(app)
    assert row.state == OutboxState.PENDING and row.attempts == 1
    assert "Connection" in (row.last_error or "")


def test_slack_format_posts_one_line_of_text(
    app: Flask, client: FlaskClient, receiver: WebhookReceiver
) -> None:
    _, secret = add_hook(app, receiver.url, format="slack")
    comment_id = post_comment(client, author="<b>Anna</b> & Co", email=EMAIL).get_json()["id"]
    deliver(app)
    (call,) = receiver.requests
    body = json.loads(call.body)
    assert list(body) == ["text"]
    text = body["text"]
    assert "\n" not in text
    assert text.startswith(
        "Demo-Zeitung: Neuer Kommentar (wartend) – &lt;b&gt;Anna&lt;/b&gt; &amp; Co zu „"
    )
    assert "„politik/2026/russland-usa“" in text
    assert text.endswith(f"/moderate/comments/{comment_id}")
    assert EMAIL not in text
    assert signed_by(secret, call)
    assert call.header("X-Moderation-Event") == "comment.created"


def test_only_the_chosen_events_are_sent(
    app: Flask, client: FlaskClient, receiver: WebhookReceiver
) -> None:
    add_hook(app, receiver.url, events=["comment.approved", "comment.spam"])
    comment_id = post_comment(client).get_json()["id"]
    deliver(app)
    assert receiver.requests == [] and calls(app) == []
    approve(client, comment_id)
    deliver(app)
    (call,) = receiver.requests
    assert call.header("X-Moderation-Event") == "comment.approved"
    assert json.loads(call.body)["comment"]["status"] == "approved"


def test_a_webhook_of_another_site_hears_nothing(
    app: Flask, client: FlaskClient, receiver: WebhookReceiver
) -> None:
    from moderation.sites import create_site

    with app.app_context():
        create_site("andere", "Andere Zeitung", ["https://andere.example"], "en")
        webhooks.add("andere", receiver.url)
        db.session.remove()
    post_comment(client)
    deliver(app)
    assert receiver.requests == []


def test_too_many_failures_pause_the_webhook_and_mail_the_admins(
    app: Flask, client: FlaskClient, receiver: WebhookReceiver, mail_server: MailServer
) -> None:
    app.config["WEBHOOK_MAX_FAILURES"] = 3
    add_moderator(app, "ada", admin=True)
    add_moderator(app, "bert", admin=True)  # an admin without an address
    add_moderator(app, "mona")  # not an admin
    add_moderator(app, "olga", admin=True)  # deactivated
    with app.app_context():
        for name, address, active in (
            ("ada", "ada@example.org", True),
            ("mona", "mona@example.org", True),
            ("olga", "olga@example.org", False),
        ):
            db.session.execute(
                update(Moderator)
                .where(Moderator.username == name)
                .values(notify_email=address, active=active)
            )
        db.session.commit()
    hook_id, _ = add_hook(app, receiver.url + "/private-token-path")
    receiver.fail = 1000
    for n in range(3):
        post_comment(client, body=f"Kommentar {n}")
    deliver(app)
    assert len(receiver.requests) == 3
    with app.app_context():
        hook = db.session.get(Webhook, hook_id)
        assert hook.paused and hook.failures_in_row == 3
    (paused_mail,) = mail_server.messages
    assert paused_mail["To"] == "ada@example.org"
    assert paused_mail["Subject"] == "Webhook pausiert: Demo-Zeitung"
    text = paused_mail.get_body(("plain",)).get_content()
    assert f"#{hook_id}" in text and "/moderate/admin/sites/demo/webhooks" in text
    assert "HTTP 500" in text
    assert "private-token-path" not in paused_mail.as_string()
    # Paused: new events make no calls, and the waiting ones are not sent.
    post_comment(client, body="Noch einer")
    make_due(app)
    deliver(app)
    assert len(receiver.requests) == 3 and len(calls(app)) == 3
    assert {row.last_error for row in calls(app)} == {"the webhook is paused"}
    with app.app_context():
        assert db.session.get(Webhook, hook_id).failures_in_row == 3
    # Resumed: the waiting calls go out at once.
    receiver.fail = 0
    with app.app_context():
        webhooks.resume(hook_id)
        db.session.remove()
    assert deliver(app).delivered == 3
    assert len(receiver.requests) == 6
    assert {row.state for row in calls(app)} == {OutboxState.DELIVERED}
    assert len(mail_server.messages) == 1


def test_a_removed_webhooks_waiting_calls_go_with_it(
    app: Flask, client: FlaskClient, receiver: WebhookReceiver
) -> None:
    hook_id, _ = add_hook(app, receiver.url)
    receiver.fail = 1
    post_comment(client)
    deliver(app)
    assert len(calls(app)) == 1
    with app.app_context():
        assert webhooks.remove(hook_id) == 1
        db.session.remove()
    assert calls(app) == []
    make_due(app)
    deliver(app)
    assert len(receiver.requests) == 1


# --- managing: the use cases and the CLI ---------------------------------------------------


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("ftp://example.org/hook", {}),
        ("https://", {}),
        ("example.org/hook", {}),
        ("https://exa mple.org/", {}),
        ("https://example.org:99999/", {}),
        ("https://example.org/" + "x" * 2000, {}),
        ("", {}),
        ("https://example.org/", {"events": ["comment.deleted"]}),
        ("https://example.org/", {"format": "xml"}),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    app: Flask, runner: FlaskCliRunner, url: str, options: dict[str, Any]
) -> None:
    before = snapshot(app)
    args = ["webhooks", "add", "demo", url]
    for event in options.get("events", []):
        args += ["--event", event]
    if "format" in options:
        args += ["--format", options["format"]]
    result = runner.invoke(args=args)
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output and "Traceback" not in result.output
    assert snapshot(app) == before


def test_cli_add_list_remove_resume(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=[
            "webhooks",
            "add",
            "demo",
            "https://cms.example/hook",
            "--event",
            "comment.spam",
            "--event",
            "comment.created",
            "--format",
            "slack",
        ]
    )
    assert result.exit_code == 0, result.output
    secret = re.search(r"Secret: (\S+)", result.output)
    assert secret and len(secret[1]) >= 40
    assert "shown only now" in result.output
    with app.app_context():
        (hook,) = db.session.scalars(db.select(Webhook)).all()
        assert hook.secret == secret[1]
        assert hook.events == ["comment.created", "comment.spam"]  # canonical order
        hook.paused, hook.failures_in_row = True, 20
        db.session.commit()
        hook_id = hook.id
    listing = runner.invoke(args=["webhooks", "list"]).output
    assert (
        f"#{hook_id}\tdemo\thttps://cms.example/hook\tcomment.created,comment.spam\tslack\t"
        "paused\t20 failures"
    ) in listing
    assert secret[1] not in listing
    assert runner.invoke(args=["webhooks", "list", "--site", "nowhere"]).exit_code == 1
    result = runner.invoke(args=["webhooks", "resume", str(hook_id)])
    assert result.exit_code == 0, result.output
    assert "active\t0 failures" in runner.invoke(args=["webhooks", "list"]).output
    result = runner.invoke(args=["webhooks", "add", "demo", "http://127.0.0.1:8080/"])
    assert result.exit_code == 0
    assert "comment.created, comment.approved, comment.rejected" in result.output  # all
    result = runner.invoke(args=["webhooks", "remove", str(hook_id)])
    assert result.exit_code == 0, result.output
    assert "https://cms.example/hook" not in runner.invoke(args=["webhooks", "list"]).output


def test_cli_refuses_unknown_sites_and_ids(app: Flask, runner: FlaskCliRunner) -> None:
    before = snapshot(app)
    for args, code in (
        (["webhooks", "add", "nowhere", "https://example.org/"], 1),
        (["webhooks", "remove", "4711"], 1),
        (["webhooks", "resume", "4711"], 1),
        (["webhooks", "remove", "99999999999999"], 1),
        (["webhooks", "remove", "drei"], 2),
        (["webhooks", "add", "demo"], 2),
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == code, (args, result.output)
        assert "Traceback" not in result.output
    assert (
        "There is no site 'nowhere'"
        in runner.invoke(args=["webhooks", "add", "nowhere", "https://example.org/"]).output
    )
    assert "There is no webhook 4711" in runner.invoke(args=["webhooks", "remove", "4711"]).output
    assert runner.invoke(args=["webhooks", "list"]).output == "No webhooks.\n"
    assert snapshot(app) == before


# --- the admin page --------------------------------------------------------------------------

PAGE = "/moderate/admin/sites/demo/webhooks"


def test_admin_adds_a_webhook_and_sees_the_secret_once(
    app: Flask, client: FlaskClient, receiver: WebhookReceiver
) -> None:
    admin = logged_in(app, "ada", admin=True)
    site_page = admin.get("/moderate/admin/sites/demo").get_data(as_text=True)
    assert PAGE in site_page
    page = admin.get(PAGE)
    assert page.status_code == 200 and "Webhooks" in page.get_data(as_text=True)
    response = post(
        admin,
        PAGE,
        {"url": receiver.url + "/in", "events": ["comment.created"], "format": "json"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        (hook,) = db.session.scalars(db.select(Webhook)).all()
        secret, hook_id = hook.secret, hook.id
        assert hook.events == ["comment.created"]
    html = response.get_data(as_text=True)
    assert secret in html
    assert secret not in admin.get(PAGE).get_data(as_text=True)  # shown once
    # The page shows the last attempts with their state, HTTP status and error.
    receiver.fail = 1
    post_comment(client)
    deliver(app)
    html = admin.get(PAGE).get_data(as_text=True)
    assert f"#{hook_id}" in html and receiver.url + "/in" in html
    assert "HTTP 500" in html and "receiver broke" in html and ">500<" in html
    # English for a moderator who asks for it.
    english = admin.get(PAGE, headers={"Accept-Language": "en"}).get_data(as_text=True)
    german = admin.get(PAGE, headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Last attempts" in english and "Letzte Versuche" in german


def test_admin_removes_and_resumes(app: Flask) -> None:
    admin = logged_in(app, "ada", admin=True)
    hook_id, _ = add_hook(app, "https://cms.example/hook")
    with app.app_context():
        db.session.execute(update(Webhook).values(paused=True, failures_in_row=20))
        db.session.commit()
    html = admin.get(PAGE).get_data(as_text=True)
    assert f"/moderate/admin/webhooks/{hook_id}/resume" in html
    response = post(admin, f"/moderate/admin/webhooks/{hook_id}/resume")
    assert response.status_code == 302 and response.headers["Location"].endswith(PAGE)
    with app.app_context():
        hook = db.session.get(Webhook, hook_id)
        assert not hook.paused and hook.failures_in_row == 0
    response = post(admin, f"/moderate/admin/webhooks/{hook_id}/remove")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Webhook, hook_id) is None
    for action in ("remove", "resume"):
        assert post(admin, f"/moderate/admin/webhooks/{hook_id}/{action}").status_code == 404
        assert post(admin, f"/moderate/admin/webhooks/99999999999/{action}").status_code == 404


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "ftp://example.org/", "format": "json"}, "http://"),
        ({"url": "", "format": "json"}, "required"),
        ({"url": "https://example.org/", "format": "xml"}, "Format"),
        ({"url": "https://example.org/", "format": "json", "events": ["x.y"]}, "Unknown event x.y"),
        ({"url": "https://example.org/" + "x" * 2000, "format": "json"}, "URL"),
    ],
)
def test_the_admin_page_refuses_bad_input(app: Flask, data: dict, message: str) -> None:
    admin = logged_in(app, "ada", admin=True)
    before = snapshot(app)
    response = post(admin, PAGE, data, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert snapshot(app) == before


def test_forms_without_csrf_and_non_admins_are_refused(app: Flask) -> None:
    hook_id, _ = add_hook(app, "https://cms.example/hook")
    admin = logged_in(app, "ada", admin=True)
    moderator = logged_in(app, "mona")
    before = snapshot(app)
    new = {"url": "https://example.org/", "format": "json"}
    for path, data in (
        (PAGE, new),
        (f"/moderate/admin/webhooks/{hook_id}/remove", {}),
        (f"/moderate/admin/webhooks/{hook_id}/resume", {}),
    ):
        assert admin.post(path, data=data).status_code == 400  # no CSRF token
        assert post(moderator, path, data).status_code == 403
        assert app.test_client().post(path, data=data).status_code in (302, 400)
    assert moderator.get(PAGE).status_code == 403
    assert app.test_client().get(PAGE).status_code == 302  # to the login page
    assert admin.get("/moderate/admin/sites/nowhere/webhooks").status_code == 404
    assert post(admin, "/moderate/admin/sites/nowhere/webhooks", new).status_code == 404
    assert snapshot(app) == before


# --- the documentation ------------------------------------------------------------------------


def documented_verify() -> Any:
    """The Python snippet of docs/webhooks.md's "Verifying the signature", as a function."""
    page = (ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")
    section = page.split("## Verifying the signature", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "docs/webhooks.md shows no Python snippet for verifying"
    namespace: dict[str, Any] = {}
    exec(compile(found[1], "docs/webhooks.md", "exec"), namespace)
    return namespace["verify"]


def test_the_documented_snippet_verifies_a_real_delivery(
    app: Flask, client: FlaskClient, receiver: WebhookReceiver
) -> None:
    verify = documented_verify()
    _, secret = add_hook(app, receiver.url)
    post_comment(client)
    deliver(app)
    (call,) = receiver.requests
    header = call.header("X-Moderation-Signature") or ""
    assert verify(secret, header, call.body)
    assert not verify(secret, header, call.body.replace(b"Anna", b"Anne"))
    assert not verify("wrong", header, call.body)
    assert not verify(secret, "nonsense", call.body)
    timestamp = int(header.split(",")[0][2:])
    old = webhooks.signature(secret, timestamp - 3600, call.body)
    assert not verify(secret, old, call.body)  # a replay an hour later
    assert verify(secret, webhooks.signature(secret, timestamp, call.body), call.body)


def test_the_readme_shows_the_same_snippet() -> None:
    """The README's copy of the snippet is the one the test above runs, character for character."""
    page = (ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")
    section = page.split("## Verifying the signature", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```python\n{found[1]}```" in readme
