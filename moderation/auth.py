"""Moderator sessions: log in (throttled), log out, and who is asking on every request.

The session is Flask's signed cookie: HttpOnly, SameSite=Lax, Secure when configured, and
permanent with ``PERMANENT_SESSION_LIFETIME``, which Flask also enforces when it reads the
signature, so a stolen cookie stops working after that time.

Every moderator page loads the moderator from the database (:func:`load_moderator`), so a
deactivated account loses access on its next request, and a password reset ends the sessions
opened with the old password (the session carries a fingerprint of the password hash).

Failed logins are rows in ``LoginAttempt``: the counter holds across workers and hosts. After
``LOGIN_MAX_ATTEMPTS`` failures for a username, or from one source, within
``LOGIN_WINDOW_SECONDS``, logins are refused until the oldest failure leaves the window.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from sqlalchemy import delete, or_, select

from . import database, moderators
from .errors import Forbidden, RateLimited, ServiceError
from .extensions import db
from .forms import LoginForm
from .models import LoginAttempt, Moderator, utcnow
from .privacy import request_source

bp = Blueprint("auth", __name__, url_prefix="/moderate")

F = TypeVar("F", bound=Callable[..., Any])
PREFIX = "/moderate"


class LoginFailed(ServiceError):
    status, code = 401, "invalid_credentials"


# --- use cases -------------------------------------------------------------------------------


def _window() -> timedelta:
    return timedelta(seconds=int(current_app.config["LOGIN_WINDOW_SECONDS"]))


def seconds_until_allowed(username: str, source: str | None) -> int:
    """0 when a login may be tried; otherwise how long the username or source must wait."""
    limit = int(current_app.config["LOGIN_MAX_ATTEMPTS"])
    now = utcnow()
    since = now - _window()
    wait = 0
    keys = [LoginAttempt.username == username]
    if source:
        keys.append(LoginAttempt.source_hash == source)
    for key in keys:
        recent = (
            select(LoginAttempt.created_at)
            .where(key, LoginAttempt.created_at > since)
            .order_by(LoginAttempt.created_at.desc())
            .limit(limit)
        )
        times = db.session.scalars(recent).all()
        if len(times) >= limit:
            # The limit-th most recent failure must leave the window before one more try.
            wait = max(wait, int((times[-1] + _window() - now).total_seconds()) + 1)
    return wait


def log_in(username: str, password: str, source: str | None) -> Moderator:
    """The moderator with these credentials; every failure is counted.

    Raises :class:`RateLimited` while the username or source is throttled (without even
    checking the password) and :class:`LoginFailed` with one generic message otherwise.
    """
    username = username.strip()[:80]
    wait = seconds_until_allowed(username, source)
    if wait:
        raise RateLimited(
            gettext(
                "Too many failed logins. Please try again in %(minutes)d minutes.",
                minutes=max(1, -(-wait // 60)),
            ),
            retry_after=wait,
            code="login_throttled",
        )
    # The slow password check runs outside any write transaction: it must not hold SQLite's
    # write lock (and with it every reader's comment) for a third of a second.
    moderator = moderators.authenticate(username, password)
    if moderator is None:
        _record_failure(username, source)
        raise LoginFailed(gettext("Unknown username or wrong password."))
    _record_success(moderator)
    return moderator


@database.writes
def _record_failure(username: str, source: str | None) -> None:
    db.session.add(LoginAttempt(username=username, source_hash=source))
    # Keep the table small: failures that left the window count for nothing.
    db.session.execute(
        delete(LoginAttempt).where(
            or_(LoginAttempt.username == username, LoginAttempt.source_hash == source),
            LoginAttempt.created_at < utcnow() - _window(),
        )
    )
    db.session.commit()


@database.writes
def _record_success(moderator: Moderator) -> None:
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.username == moderator.username))
    moderator.last_login_at = utcnow()
    db.session.commit()


def _fingerprint(moderator: Moderator) -> str:
    """Ties a session to the password it was opened with: a reset ends old sessions."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, moderator.password_hash.encode(), hashlib.sha256).hexdigest()[:32]


def start_session(moderator: Moderator) -> None:
    """A fresh session for this moderator: nothing from before the login survives it.

    Clearing also drops the CSRF token, so a token seen before the login is useless after it.
    """
    session.clear()
    session.permanent = True
    session["moderator_id"] = moderator.id
    session["auth"] = _fingerprint(moderator)


def end_session() -> None:
    session.clear()


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this service, else None (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(char) < 32 or char == "\\" for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def is_moderator_page() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def load_moderator() -> None:
    """``g.moderator``: the signed-in, active moderator, or None; re-read on every request."""
    g.moderator = None
    moderator_id = session.get("moderator_id")
    if moderator_id is None:
        return
    moderator = db.session.get(Moderator, moderator_id)
    if (
        moderator is None
        or not moderator.active
        or not hmac.compare_digest(session.get("auth", ""), _fingerprint(moderator))
    ):
        end_session()
        return
    g.moderator = moderator


def login_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("moderator") is None:
            target = request.full_path if request.method == "GET" else request.path
            return redirect(url_for("auth.login", next=target.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def admin_required(view: F) -> F:
    @functools.wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not g.moderator.is_admin:
            raise Forbidden(gettext("Only administrators may do this."))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def secure_headers(response: Response) -> Response:
    """Moderator pages are private, never cached, never framed, and run only our own JS."""
    if is_moderator_page():
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.before_app_request
def _load() -> None:
    if is_moderator_page():
        load_moderator()


bp.after_app_request(secure_headers)


# --- views -----------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
        if g.moderator is not None:
            return redirect(form.next.data or url_for("moderate.queue"))
        return render_template("moderate/login.html", form=form)
    if not form.validate_on_submit():
        return render_template("moderate/login.html", form=form), 400
    try:
        moderator = log_in(form.username.data, form.password.data, request_source())
    except (LoginFailed, RateLimited) as error:
        response = Response(
            render_template("moderate/login.html", form=form, error=error.message),
            status=error.status,
        )
        response.headers.update(error.headers)
        return response
    start_session(moderator)
    return redirect(safe_next(form.next.data) or url_for("moderate.queue"))


@bp.post("/logout")
def logout() -> Any:
    # CSRFProtect checked the token before we got here: no one logs you out from another site.
    end_session()
    return redirect(url_for("auth.login"))
