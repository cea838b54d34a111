"""Moderator login: sessions, throttling, logout, safe redirects, deactivation, headers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import snapshot
from flask import Flask
from flask.testing import FlaskClient
from moderator_ui import PASSWORD, add_moderator, csrf_token, log_in, logged_in, post

from moderation.auth import safe_next
from moderation.extensions import db
from moderation.models import LoginAttempt, Moderator
from moderation.moderators import set_active, set_password


def test_queue_needs_login(client: FlaskClient) -> None:
    response = client.get("/moderate/?status=spam")
    assert response.status_code == 302
    assert response.headers["Location"] == "/moderate/login?next=/moderate/?status%3Dspam"


def test_login_page_has_the_security_headers(client: FlaskClient) -> None:
    response = client.get("/moderate/login")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.get_data(as_text=True)


def test_headers_also_on_moderator_error_pages(client: FlaskClient) -> None:
    response = client.get("/moderate/no-such-page")
    assert response.status_code == 404
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_public_api_is_not_given_moderator_headers(client: FlaskClient) -> None:
    response = client.get("/api/v1/sites/demo/articles/a/comments")
    assert "Content-Security-Policy" not in response.headers


def test_login_and_logout(app: Flask, client: FlaskClient) -> None:
    add_moderator(app)
    response = log_in(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/moderate/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    page = client.get("/moderate/")
    assert page.status_code == 200
    assert "mona" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(db.select(Moderator)).one().last_login_at is not None

    response = post(client, "/moderate/logout")
    assert response.status_code == 302
    assert client.get("/moderate/").status_code == 302


def test_secure_cookie_when_configured(app: Flask) -> None:
    app.config["SESSION_COOKIE_SECURE"] = True
    add_moderator(app)
    response = log_in(app.test_client())
    assert "Secure" in response.headers["Set-Cookie"]


def test_logout_without_csrf_is_refused(app: Flask) -> None:
    client = logged_in(app)
    response = client.post("/moderate/logout")
    assert response.status_code == 400
    assert client.get("/moderate/").status_code == 200


def test_login_without_csrf_is_refused_and_counts_nothing(app: Flask, client: FlaskClient) -> None:
    add_moderator(app)
    before = snapshot(app)
    response = client.post("/moderate/login", data={"username": "mona", "password": PASSWORD})
    assert response.status_code == 400
    assert snapshot(app) == before
    assert client.get("/moderate/").status_code == 302


def test_session_is_renewed_at_login(app: Flask, client: FlaskClient) -> None:
    add_moderator(app)
    token_before = csrf_token(client)
    log_in(client)
    token_after = csrf_token(client, "/moderate/")
    assert token_before != token_after


@pytest.mark.parametrize(
    ("username", "password"), [("mona", "wrong password"), ("nobody", PASSWORD), ("", "")]
)
def test_wrong_credentials_get_one_generic_message(
    app: Flask, client: FlaskClient, username: str, password: str
) -> None:
    add_moderator(app)
    response = log_in(client, username, password)
    assert response.status_code in (400, 401)
    if username:
        assert response.status_code == 401
        assert "Unknown username or wrong password." in response.get_data(as_text=True)
    assert client.get("/moderate/").status_code == 302


def test_deactivated_moderator_cannot_log_in(app: Flask, client: FlaskClient) -> None:
    add_moderator(app)
    with app.app_context():
        set_active("mona", False)
    assert log_in(client).status_code == 401


def test_deactivation_ends_access_on_the_next_request(app: Flask) -> None:
    client = logged_in(app)
    assert client.get("/moderate/").status_code == 200
    with app.app_context():
        set_active("mona", False)
    assert client.get("/moderate/").status_code == 302


def test_password_reset_ends_old_sessions(app: Flask) -> None:
    client = logged_in(app)
    with app.app_context():
        set_password("mona", "another long password")
    assert client.get("/moderate/").status_code == 302


def test_throttling_after_five_failures(app: Flask, client: FlaskClient) -> None:
    add_moderator(app)
    for _ in range(5):
        assert log_in(client, password="wrong password").status_code == 401
    # Now even the right password is refused, with a clear message and Retry-After.
    response = log_in(client)
    assert response.status_code == 429
    assert "Too many failed logins" in response.get_data(as_text=True)
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60 + 1
    assert client.get("/moderate/").status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(LoginAttempt)) == 5


def test_throttling_by_source_across_usernames(app: Flask, client: FlaskClient) -> None:
    add_moderator(app)
    for n in range(5):
        log_in(client, username=f"guess{n}", password="wrong password")
    assert log_in(client).status_code == 429


def test_throttling_holds_across_workers(app: Flask) -> None:
    """The counter is in the database: a second client (another worker) sees it."""
    add_moderator(app)
    for _ in range(5):
        log_in(app.test_client(), password="wrong password")
    other = app.test_client()
    assert log_in(other).status_code == 429


def test_old_failures_leave_the_window(app: Flask, client: FlaskClient) -> None:
    add_moderator(app)
    for _ in range(5):
        log_in(client, password="wrong password")
    with app.app_context():
        for attempt in db.session.scalars(db.select(LoginAttempt)):
            attempt.created_at -= timedelta(minutes=16)
        db.session.commit()
    assert log_in(client).status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(LoginAttempt)) == 0


def test_success_clears_the_usernames_failures(app: Flask, client: FlaskClient) -> None:
    add_moderator(app)
    for _ in range(4):
        log_in(client, password="wrong password")
    assert log_in(client).status_code == 302
    client = app.test_client()
    for _ in range(4):
        assert log_in(client, password="wrong password").status_code == 401


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/moderate/?status=spam", "/moderate/?status=spam"),
        ("/moderate/comments/3", "/moderate/comments/3"),
        ("https://evil.example/", None),
        ("//evil.example/", None),
        ("/\\evil.example", None),
        ("\\\\evil.example", None),
        ("javascript:alert(1)", None),
        ("/moderate/\r\nSet-Cookie: x", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_next(target: str | None, expected: str | None) -> None:
    assert safe_next(target) == expected


def test_login_follows_a_safe_next_only(app: Flask) -> None:
    add_moderator(app)
    client = app.test_client()
    response = log_in(client, next="/moderate/?status=spam")
    assert response.headers["Location"] == "/moderate/?status=spam"
    client = app.test_client()
    response = log_in(client, next="https://evil.example/")
    assert response.headers["Location"] == "/moderate/"


def test_login_page_carries_next(client: FlaskClient) -> None:
    page = client.get("/moderate/login?next=/moderate/%3Fstatus%3Dspam").get_data(as_text=True)
    assert 'value="/moderate/?status=spam"' in page
    page = client.get("/moderate/login?next=//evil.example").get_data(as_text=True)
    assert "evil" not in page
