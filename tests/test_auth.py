"""Moderator login: sessions, throttling, logout, safe redirects, deactivation, headers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import snapshot
from moderator_ui import PASSWORD, add_moderator, csrf_token, log_in, logged_in, post
from werkzeug.security import check_password_hash
from werkzeug.test import TestResponse

from moderation import moderators
from moderation.extensions import db
from moderation.models import LoginAttempt, Moderator
from moderation.moderate.auth import DEVICE_COOKIE, KNOWN_SOURCE, device_key, safe_next
from moderation.moderators import set_active, set_password


def _set_cookie(response: TestResponse, name: str) -> str:
    """The ``Set-Cookie`` header of one cookie (a login sets two)."""
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "="))


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
    cookie = _set_cookie(response, "session")
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
    assert "Secure" in _set_cookie(response, "session")


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


# --- login throttling (issue 16, finding 3) ----------------------------------------------------


def _client_at(app: Flask, address: str) -> FlaskClient:
    """A browser at ``address`` (the service sees it as the request's source)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _failures(app: Flask) -> int:
    """Failed attempts on record (not the markers of successful logins)."""
    with app.app_context():
        query = db.select(db.func.count()).select_from(LoginAttempt)
        query = query.where(
            db.or_(
                LoginAttempt.source_hash.is_(None),
                db.not_(LoginAttempt.source_hash.startswith(KNOWN_SOURCE)),
            )
        )
        count = db.session.scalar(query)
        db.session.remove()
    return count


def _age_attempts(app: Flask, seconds: float) -> None:
    """Move every recorded attempt ``seconds`` into the past, instead of waiting."""
    with app.app_context():
        for attempt in db.session.scalars(db.select(LoginAttempt)):
            attempt.created_at -= timedelta(seconds=seconds)
        db.session.commit()
        db.session.remove()


def test_throttling_after_five_failures(app: Flask, client: FlaskClient) -> None:
    add_moderator(app)
    for _ in range(5):
        assert log_in(client, password="wrong password").status_code == 401
    # Now even the right password is refused from here, with a clear message and Retry-After.
    response = log_in(client)
    assert response.status_code == 429
    message = "Too many failed logins. Please try again in 1 minute."
    assert message in response.get_data(as_text=True)
    assert 58 <= int(response.headers["Retry-After"]) <= 61
    assert client.get("/moderate/").status_code == 302
    assert _failures(app) == 5


def test_throttling_message_is_translated(app: Flask) -> None:
    add_moderator(app)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    for _ in range(5):
        log_in(client, password="wrong password")
    response = log_in(client)
    assert response.status_code == 429
    assert "Zu viele fehlgeschlagene Anmeldungen" in response.get_data(as_text=True)


def test_failures_from_other_sources_do_not_lock_out_a_clean_source(app: Flask) -> None:
    """Finding 3: five addresses guessing (five times each) used to lock everyone out."""
    add_moderator(app)
    for n in range(5):
        attacker = _client_at(app, f"203.0.113.{n + 1}")
        for _ in range(5):
            assert log_in(attacker, password="wrong password").status_code == 401
        assert log_in(attacker, password="wrong password").status_code == 429
    assert log_in(_client_at(app, "198.51.100.20")).status_code == 302


def test_per_source_delays_grow_and_are_capped_at_the_window(app: Flask) -> None:
    add_moderator(app)
    guesser = _client_at(app, "203.0.113.9")
    for _ in range(5):
        log_in(guesser, password="wrong password")
    for delay in (60, 120, 240):
        refused = log_in(guesser)  # the right password, too early
        assert refused.status_code == 429
        assert delay - 2 <= int(refused.headers["Retry-After"]) <= delay + 1
        _age_attempts(app, delay - 5)
        assert log_in(guesser).status_code == 429  # not yet
        _age_attempts(app, 6)
        assert log_in(guesser, password="wrong password").status_code == 401
    # Every further failure doubles the wait, up to the window (15 minutes).
    with app.app_context():
        source = db.session.scalars(db.select(LoginAttempt.source_hash)).first()
        for _ in range(4):
            db.session.add(LoginAttempt(username="mona", source_hash=source))
        db.session.commit()
        db.session.remove()
    refused = log_in(guesser)
    assert 15 * 60 - 2 <= int(refused.headers["Retry-After"]) <= 15 * 60 + 1
    assert "15 minutes" in refused.get_data(as_text=True)
    # Meanwhile the moderator signs in from her own address.
    assert log_in(_client_at(app, "198.51.100.20")).status_code == 302


def test_known_device_logs_in_while_the_username_is_under_attack(app: Flask) -> None:
    app.config["LOGIN_MAX_ATTEMPTS_PER_USERNAME"] = 10
    add_moderator(app)
    add_moderator(app, "bo")
    laptop = _client_at(app, "198.51.100.20")
    assert log_in(laptop).status_code == 302
    post(laptop, "/moderate/logout")
    for n in range(5):
        attacker = _client_at(app, f"203.0.113.{n + 1}")
        for _ in range(2):
            assert log_in(attacker, password="wrong password").status_code == 401
    # Ten failures from elsewhere: a browser never seen before now waits …
    refused = log_in(_client_at(app, "192.0.2.50"))
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 61
    # … but not the laptop, on the road at an address the service has never seen,
    laptop.environ_base["REMOTE_ADDR"] = "192.0.2.51"
    assert log_in(laptop).status_code == 302
    post(laptop, "/moderate/logout")
    # nor another browser at the address mona signed in from before,
    assert log_in(_client_at(app, "198.51.100.20")).status_code == 302
    # and the device cookie is mona's only: it does not help a guess at bo's account.
    laptop.environ_base["REMOTE_ADDR"] = "192.0.2.52"
    for _ in range(5):
        log_in(laptop, "bo", "wrong password")
    app.config["LOGIN_MAX_ATTEMPTS_PER_USERNAME"] = 5
    assert log_in(laptop, "bo").status_code == 429
    assert log_in(_client_at(app, "192.0.2.53"), "bo").status_code == 429


def test_known_device_still_has_its_own_limit(app: Flask) -> None:
    add_moderator(app)
    laptop = _client_at(app, "198.51.100.20")
    assert log_in(laptop).status_code == 302
    post(laptop, "/moderate/logout")
    laptop.environ_base["REMOTE_ADDR"] = "192.0.2.51"
    for _ in range(5):
        assert log_in(laptop, password="wrong password").status_code == 401
    assert log_in(laptop).status_code == 429
    # It is the device that waits, wherever it is; the address it used is not locked.
    laptop.environ_base["REMOTE_ADDR"] = "192.0.2.52"
    assert log_in(laptop).status_code == 429
    assert log_in(_client_at(app, "192.0.2.51")).status_code == 302


def test_known_device_cookie(app: Flask) -> None:
    app.config["SESSION_COOKIE_SECURE"] = True
    add_moderator(app)
    response = log_in(app.test_client())
    cookie = _set_cookie(response, DEVICE_COOKIE)
    for attribute in ("HttpOnly", "SameSite=Lax", "Secure", "Path=/moderate", "Expires="):
        assert attribute in cookie
    # Signed and bound to the username: edited or someone else's, it is worth nothing.
    value = cookie.split(";")[0].split("=", 1)[1]
    with app.test_request_context():
        assert device_key(value, "mona") is not None
        assert device_key(value, "bo") is None
        assert device_key(value[:-2] + "xx", "mona") is None


def test_throttling_by_source_across_usernames(app: Flask) -> None:
    add_moderator(app)
    limit = app.config["LOGIN_MAX_ATTEMPTS_PER_SOURCE"]
    sprayer = _client_at(app, "203.0.113.9")
    for n in range(limit):
        assert log_in(sprayer, username=f"guess{n}", password="wrong password").status_code == 401
    assert log_in(sprayer).status_code == 429
    assert log_in(_client_at(app, "198.51.100.20")).status_code == 302


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
    _age_attempts(app, 16 * 60)
    assert log_in(client).status_code == 302
    assert _failures(app) == 0


def test_success_clears_the_sources_failures(app: Flask, client: FlaskClient) -> None:
    add_moderator(app)
    for _ in range(4):
        log_in(client, password="wrong password")
    assert log_in(client).status_code == 302
    client = app.test_client()
    for _ in range(4):
        assert log_in(client, password="wrong password").status_code == 401


@pytest.mark.parametrize("spread", ["one source", "many sources"])
def test_parallel_guesses_get_at_most_the_limit_of_password_checks(
    app: Flask, monkeypatch: pytest.MonkeyPatch, spread: str
) -> None:
    """Finding 3: 12 parallel guesses got 6 password checks, with a limit of 5.

    Twelve browsers, each with its login form loaded, send a wrong password at the same moment;
    from one address, or from twelve with a username-wide limit of 5.
    """
    app.config["LOGIN_MAX_ATTEMPTS_PER_USERNAME"] = 5
    add_moderator(app)
    checks: list[str] = []

    def counting_check(pwhash: str, password: str) -> bool:
        checks.append(password)
        return check_password_hash(pwhash, password)

    monkeypatch.setattr(moderators, "check_password_hash", counting_check)
    browsers = []
    for n in range(12):
        browser = _client_at(app, "203.0.113.9" if spread == "one source" else f"203.0.113.{n}")
        browsers.append((browser, csrf_token(browser)))
    start = threading.Barrier(len(browsers))
    statuses: list[int] = []

    def guess(browser: FlaskClient, token: str) -> None:
        data = {"username": "mona", "password": "wrong password", "csrf_token": token}
        start.wait()
        statuses.append(browser.post("/moderate/login", data=data).status_code)

    threads = [threading.Thread(target=guess, args=pair) for pair in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [401] * 5 + [429] * 7
    assert len(checks) == 5
    assert _failures(app) == 5


# --- sessions (issue 16, finding 4) ------------------------------------------------------------


def _session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_a_cookie_copied_before_logout_is_refused_after_it(app: Flask) -> None:
    """Finding 4: a session cookie saved before logging out used to keep working."""
    client = logged_in(app)
    thief = app.test_client()
    thief.set_cookie("session", _session_cookie(client))
    assert thief.get("/moderate/").status_code == 200
    assert post(client, "/moderate/logout").status_code == 302
    assert thief.get("/moderate/").status_code == 302
    assert client.get("/moderate/").status_code == 302


def test_logout_ends_the_sessions_on_other_devices(app: Flask) -> None:
    laptop = logged_in(app)
    phone = app.test_client()
    assert log_in(phone).status_code == 302
    post(laptop, "/moderate/logout")
    assert phone.get("/moderate/").status_code == 302
    # A new login works as before.
    assert log_in(phone).status_code == 302
    assert phone.get("/moderate/").status_code == 200


def test_sessions_end_at_the_absolute_lifetime_however_busy(app: Flask) -> None:
    """Finding 4: every request renewed the cookie, so a session used every 12 h never ended."""
    app.config["SESSION_ABSOLUTE_LIFETIME"] = 3600
    client = logged_in(app)
    for _ in range(3):  # busy: each request renews the cookie's own expiry
        with client.session_transaction() as session:
            session["login_at"] -= 1000
        assert client.get("/moderate/").status_code == 200
    with client.session_transaction() as session:
        session["login_at"] -= 601
    assert client.get("/moderate/").status_code == 302


def test_the_default_absolute_lifetime_is_twelve_hours(app: Flask) -> None:
    client = logged_in(app)
    with client.session_transaction() as session:
        session["login_at"] -= 12 * 3600 - 60
    assert client.get("/moderate/").status_code == 200
    with client.session_transaction() as session:
        session["login_at"] -= 61
    assert client.get("/moderate/").status_code == 302


def test_a_session_without_login_time_or_generation_is_refused(app: Flask) -> None:
    """Sessions from before these checks existed carry neither: they must log in again."""
    for key in ("login_at", "generation"):
        client = logged_in(app, f"mona-{key.replace('_', '-')}")
        with client.session_transaction() as session:
            del session[key]
        assert client.get("/moderate/").status_code == 302


def test_reactivation_does_not_revive_old_sessions(app: Flask) -> None:
    client = logged_in(app)
    with app.app_context():
        set_active("mona", False)
        set_active("mona", True)
    assert client.get("/moderate/").status_code == 302
    assert log_in(client).status_code == 302


def test_a_csrf_token_from_before_logout_is_useless_after_it(app: Flask) -> None:
    client = logged_in(app)
    token = csrf_token(client, "/moderate/")
    post(client, "/moderate/logout")
    response = client.post(
        "/moderate/login", data={"username": "mona", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 400


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
