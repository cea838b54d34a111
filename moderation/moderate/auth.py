"""Moderator sessions: log in (throttled), log out, and who is asking on every request.

The session is Flask's signed cookie: HttpOnly, SameSite=Lax, Secure when configured, and
permanent with ``PERMANENT_SESSION_LIFETIME``. Flask reissues that cookie on every request, so
its own expiry only ends an *idle* session; the session therefore also carries its login time,
and :func:`load_moderator` refuses it ``SESSION_ABSOLUTE_LIFETIME`` after the login, however
busy it was.

Every moderator page loads the moderator from the database (:func:`load_moderator`), and a
session is honoured only while it matches the account: the account is active, the session's
generation is the moderator's ``session_generation`` (logging out, deactivation and a new
password bump it, which ends every session opened before, on every device, including a cookie
copied before the logout), and the session carries a fingerprint of the current password hash.

Failed logins are rows in ``LoginAttempt``: the counters hold across workers and hosts. Three
counters, each over ``LOGIN_WINDOW_SECONDS``, each with a growing delay once its limit is
reached (``LOGIN_FIRST_DELAY_SECONDS``, doubled with every further failure, at most the window):

* per username and source (``LOGIN_MAX_ATTEMPTS``); a browser with a valid *known device*
  cookie (set at every successful login, bound to the username) counts as a source of its own;
* per username (``LOGIN_MAX_ATTEMPTS_PER_USERNAME``) and per source across usernames
  (``LOGIN_MAX_ATTEMPTS_PER_SOURCE``): these two do not apply to a known device or to a source
  that signed in to this username before, so guesses from elsewhere cannot lock a moderator out.

The attempt is admitted and recorded in one write transaction *before* the password is checked
(:func:`_admit`), so parallel guesses cannot all pass the count before any of them is stored.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext, ngettext
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import ColumnElement, and_, delete, func, not_, or_, select, text
from werkzeug.wrappers import Response as HTTPResponse

from .. import database, moderators
from ..errors import Forbidden, RateLimited, ServiceError
from ..extensions import db
from ..models import LoginAttempt, Moderator, utcnow
from ..privacy import request_source
from .forms import LoginForm

bp = Blueprint("auth", __name__)

P = ParamSpec("P")
R = TypeVar("R")
PREFIX = "/moderate"

# ``LoginAttempt.source_hash`` holds an address hash (64 hex digits) for a failure, or one of
# these (64 characters at most, never hex only):
KNOWN_SOURCE = "ok:"  # a successful login to the row's username from this source (a marker)
DEVICE = "dev:"  # a failure from a known device: the device, not the address, is the key
DEVICE_COOKIE = "moderation_device"


class LoginFailed(ServiceError):
    status, code = 401, "invalid_credentials"


# --- known devices -----------------------------------------------------------------------------


def _devices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="moderation.known-device")


def _device_lifetime() -> int:
    return int(current_app.config["LOGIN_KNOWN_DEVICE_DAYS"]) * 24 * 3600


def device_key(cookie: str | None, username: str) -> str | None:
    """The throttling key of a known device, when ``cookie`` is a valid one for ``username``.

    The cookie only proves that this browser signed in to this account before; it opens no
    session, so it may live far longer than one.
    """
    if not cookie:
        return None
    try:
        data = _devices().loads(cookie, max_age=_device_lifetime())
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("u") != username or not data.get("d"):
        return None
    return DEVICE + hashlib.sha256(str(data["d"]).encode()).hexdigest()[: 64 - len(DEVICE)]


def remember_device(response: HTTPResponse, username: str) -> None:
    """Mark the browser that just signed in as a known device of ``username``."""
    value = _devices().dumps({"u": username, "d": secrets.token_urlsafe(16)})
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=_device_lifetime(),
        path=PREFIX,
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        httponly=True,
        samesite="Lax",
    )


# --- login throttling ----------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """Who is trying to log in, as far as throttling cares."""

    username: str
    source: str | None  # the keyed hash of the address
    device: str | None = None  # the key of a known device of this username, if any

    @property
    def key(self) -> str | None:
        """The narrow counter's key beside the username: the device if known, else the source."""
        return self.device or self.source

    @property
    def known_source(self) -> str | None:
        """The marker row's ``source_hash`` for a login from this source."""
        return KNOWN_SOURCE + self.source[: 64 - len(KNOWN_SOURCE)] if self.source else None


def _window() -> timedelta:
    return timedelta(seconds=int(current_app.config["LOGIN_WINDOW_SECONDS"]))


def _delay(failures: int, limit: int) -> float:
    """Seconds to wait after the latest failure: none below the limit, then growing.

    At the limit the first delay; each further failure doubles it, up to the window.
    """
    if failures < limit:
        return 0.0
    first = float(current_app.config["LOGIN_FIRST_DELAY_SECONDS"])
    window = _window().total_seconds()
    return min(window, first * 2 ** min(failures - limit, 32))


def _failures(where: ColumnElement[bool], since: datetime) -> tuple[int, datetime | None]:
    """How many failures match ``where`` within the window, and when the latest was."""
    query = select(func.count(), func.max(LoginAttempt.created_at)).where(
        where, LoginAttempt.created_at > since
    )
    count, latest = db.session.execute(query).one()
    return int(count), latest


def _is_failure() -> ColumnElement[bool]:
    return or_(
        LoginAttempt.source_hash.is_(None), not_(LoginAttempt.source_hash.startswith(KNOWN_SOURCE))
    )


def _is_trusted(attempt: Attempt) -> bool:
    """A known device, or a source that signed in to this username before (its marker row)."""
    if attempt.device:
        return True
    if not attempt.known_source:
        return False
    marker = select(LoginAttempt.id).where(
        LoginAttempt.username == attempt.username,
        LoginAttempt.source_hash == attempt.known_source,
    )
    return db.session.scalar(marker.limit(1)) is not None


def _counters(attempt: Attempt) -> list[tuple[int, ColumnElement[bool]]]:
    """The (limit, rows) pairs that apply to this attempt."""
    config = current_app.config
    narrow = and_(LoginAttempt.username == attempt.username, _same_key(attempt.key))
    counters = [(int(config["LOGIN_MAX_ATTEMPTS"]), narrow)]
    if not _is_trusted(attempt):
        username = and_(LoginAttempt.username == attempt.username, _is_failure())
        counters.append((int(config["LOGIN_MAX_ATTEMPTS_PER_USERNAME"]), username))
        if attempt.source:
            source = LoginAttempt.source_hash == attempt.source
            counters.append((int(config["LOGIN_MAX_ATTEMPTS_PER_SOURCE"]), source))
    return counters


def _same_key(key: str | None) -> ColumnElement[bool]:
    return LoginAttempt.source_hash.is_(None) if key is None else LoginAttempt.source_hash == key


def seconds_until_allowed(attempt: Attempt) -> int:
    """0 when a login may be tried now; otherwise how long this attempt must wait."""
    now = utcnow()
    since = now - _window()
    wait = 0.0
    for limit, where in _counters(attempt):
        count, latest = _failures(where, since)
        if latest is not None:
            wait = max(wait, (latest - now).total_seconds() + _delay(count, limit))
    return math.ceil(wait) if wait > 0 else 0


def _lock(attempt: Attempt) -> None:
    """Let one transaction at a time count and record attempts for this username and source.

    On PostgreSQL transaction-scoped advisory locks, always the username's first, then the
    source's (so two transactions never wait for each other in a circle). SQLite needs nothing:
    :func:`moderation.database.writes` begins with ``BEGIN IMMEDIATE``, the only writer.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    names = [f"login-username:{attempt.username}"]
    if attempt.source:
        names.append(f"login-source:{attempt.source}")
    for name in names:
        digest = hashlib.sha256(name.encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _throttled(wait: int) -> RateLimited:
    minutes = max(1, math.ceil(wait / 60))
    return RateLimited(
        ngettext(
            "Too many failed logins. Please try again in %(num)d minute.",
            "Too many failed logins. Please try again in %(num)d minutes.",
            minutes,
        ),
        retry_after=wait,
        code="login_throttled",
    )


@database.writes
def _admit(attempt: Attempt) -> None:
    """Count, decide and record the attempt as a failure, in one write transaction.

    Raises :class:`RateLimited` (recording nothing) while a counter makes it wait. The row is
    written before the password is checked, so a parallel guess already counts it; a success
    deletes it again (:func:`_record_success`).
    """
    _lock(attempt)
    wait = seconds_until_allowed(attempt)
    if wait:
        raise _throttled(wait)
    db.session.add(LoginAttempt(username=attempt.username, source_hash=attempt.key))
    # Keep the table small: failures that left the window count for nothing.
    old = LoginAttempt.created_at < utcnow() - _window()
    mine = and_(LoginAttempt.username == attempt.username, _is_failure())
    theirs = LoginAttempt.source_hash == attempt.source if attempt.source else mine
    db.session.execute(delete(LoginAttempt).where(old, or_(mine, theirs)))


@database.writes
def _record_success(moderator: Moderator, attempt: Attempt) -> None:
    """Forget this username's failures from this source and device; remember the source."""
    keys = [key for key in (attempt.source, attempt.device, attempt.known_source) if key]
    mine = LoginAttempt.source_hash.in_(keys) if keys else _same_key(None)
    db.session.execute(
        delete(LoginAttempt).where(LoginAttempt.username == moderator.username, mine)
    )
    if attempt.known_source:
        db.session.add(LoginAttempt(username=moderator.username, source_hash=attempt.known_source))
    moderator.last_login_at = utcnow()


def log_in(
    username: str, password: str, source: str | None, device_cookie: str | None = None
) -> Moderator:
    """The moderator with these credentials; every failure is counted.

    ``device_cookie`` is the browser's known-device cookie, if it sent one. Raises
    :class:`RateLimited` while this attempt must wait (without checking the password) and
    :class:`LoginFailed` with one generic message otherwise.
    """
    username = username.strip()[:80]
    attempt = Attempt(username, source, device_key(device_cookie, username))
    _admit(attempt)
    # The slow password check runs outside any write transaction: it must not hold SQLite's
    # write lock (and with it every reader's comment) for a third of a second.
    moderator = moderators.authenticate(username, password)
    if moderator is None:
        raise LoginFailed(gettext("Unknown username or wrong password."))
    _record_success(moderator, attempt)
    return moderator


# --- sessions ------------------------------------------------------------------------------


def _fingerprint(moderator: Moderator) -> str:
    """Ties a session to the password it was opened with: a reset ends old sessions."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, moderator.password_hash.encode(), hashlib.sha256).hexdigest()[:32]


def _absolute_lifetime() -> float:
    value = current_app.config["SESSION_ABSOLUTE_LIFETIME"]
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def start_session(moderator: Moderator) -> None:
    """A fresh session for this moderator: nothing from before the login survives it.

    Clearing also drops the CSRF token, so a token seen before the login is useless after it.
    """
    session.clear()
    session.permanent = True
    session["moderator_id"] = moderator.id
    session["auth"] = _fingerprint(moderator)
    session["generation"] = moderator.session_generation
    session["login_at"] = int(time.time())


def end_session() -> None:
    """Forget the session in this browser (its CSRF token with it)."""
    session.clear()


def log_out(moderator: Moderator | None) -> None:
    """End every session of ``moderator`` server-side, then this browser's.

    A cookie copied before the logout carries the old generation and is refused afterwards.
    """
    if moderator is not None:
        moderators.end_sessions(moderator.id)
    end_session()


def _session_is_current(moderator: Moderator) -> bool:
    """Whether the session was opened with this account's password, in its current
    generation, and less than ``SESSION_ABSOLUTE_LIFETIME`` ago."""
    login_at = session.get("login_at")
    return (
        moderator.active
        and hmac.compare_digest(str(session.get("auth", "")), _fingerprint(moderator))
        and session.get("generation") == moderator.session_generation
        and isinstance(login_at, int)
        and time.time() - login_at < _absolute_lifetime()
    )


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
    """Whether the request is for a moderator page (False outside requests: mails, say)."""
    if not has_request_context():
        return False
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def load_moderator() -> None:
    """``g.moderator``: the signed-in, active moderator, or None; re-read on every request.

    A session that is no longer current (see :func:`_session_is_current`) is cleared.
    """
    g.moderator = None
    moderator_id = session.get("moderator_id")
    if moderator_id is None:
        return
    moderator = db.session.get(Moderator, moderator_id)
    if moderator is None or not _session_is_current(moderator):
        end_session()
        return
    g.moderator = moderator


def login_required(view: Callable[P, R]) -> Callable[P, R | HTTPResponse]:
    """The view for a logged-in moderator; anyone else is sent to the login page."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | HTTPResponse:
        if g.get("moderator") is None:
            target = request.full_path if request.method == "GET" else request.path
            return redirect(url_for("moderate.auth.login", next=target.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def admin_required(view: Callable[P, R]) -> Callable[P, R | HTTPResponse]:
    """The view for a logged-in admin; a moderator gets 403, anyone else the login page."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not g.moderator.is_admin:
            raise Forbidden(gettext("Only administrators may do this."))
        return view(*args, **kwargs)

    return wrapper


# --- views -----------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
        if g.moderator is not None:
            return redirect(form.next.data or url_for("moderate.queue.queue"))
        return render_template("moderate/login.html", form=form)
    if not form.validate_on_submit():
        return render_template("moderate/login.html", form=form), 400
    try:
        moderator = log_in(
            form.username.data or "",
            form.password.data or "",
            request_source(),
            request.cookies.get(DEVICE_COOKIE),
        )
    except (LoginFailed, RateLimited) as error:
        response: HTTPResponse = Response(
            render_template("moderate/login.html", form=form, error=error.message),
            status=error.status,
        )
        response.headers.update(error.headers)
        return response
    start_session(moderator)
    response = redirect(safe_next(form.next.data) or url_for("moderate.queue.queue"))
    remember_device(response, moderator.username)
    return response


@bp.post("/logout")
def logout() -> Any:
    # CSRFProtect checked the token before we got here: no one logs you out from another site.
    log_out(g.moderator)
    return redirect(url_for("moderate.auth.login"))
