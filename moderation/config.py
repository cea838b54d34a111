"""Configuration: defaults, then ``instance/config.py``, then ``MODERATION_*`` variables.

Environment values are parsed as JSON where they can be (``MODERATION_RATE_LIMIT_PER_MINUTE=0``
is the integer 0, ``MODERATION_SESSION_COOKIE_SECURE=true`` a boolean) and kept as strings
otherwise, which is what :meth:`flask.Config.from_prefixed_env` does.
"""

from __future__ import annotations

import os
import secrets
import stat
import time
from datetime import timedelta
from pathlib import Path

from flask import Flask


class Defaults:
    # --- storage -------------------------------------------------------------------------
    # DATABASE_URL: when unset, an SQLite file in the instance folder.
    DATABASE_URL: str | None = None
    SQLITE_BUSY_TIMEOUT_MS = 5000
    # FULL: every commit reaches the disk before the comment is acknowledged (power-cut safe).
    # NORMAL: survives a crashed process but not a power cut; far faster on slow-syncing disks.
    SQLITE_SYNCHRONOUS = "FULL"
    SQLITE_WRITE_ATTEMPTS = 5  # a write use case is run again while SQLite reports a lock
    # PostgreSQL connections per process. A sync gunicorn worker serves one request at a time,
    # which holds at most its session's connection and one read beside it: two kept open, more
    # opened only for a burst (threads of the development server) and closed again.
    DATABASE_POOL_SIZE = 2
    DATABASE_MAX_OVERFLOW = 8
    DATABASE_POOL_RECYCLE = 1800  # seconds; an older connection is replaced before use
    # A pooled connection unused for this many seconds is pinged before it is handed out (one
    # round trip), so a database restarted during a quiet spell costs no request. A busy
    # worker's connections are never that idle, and pay nothing; 0 pings on every checkout.
    DATABASE_PING_IDLE_SECONDS = 10
    # PostgreSQL: each worker keeps articles' list states (version, count) in memory and hears
    # of every change through LISTEN/NOTIFY on a connection of its own (moderation/state_cache.py),
    # so most list, 304 and counts requests need no query. False asks the database on every
    # request, as a proxy that pools by transaction (PgBouncer's pool_mode=transaction) needs:
    # it cannot carry LISTEN.
    DATABASE_LISTEN = True
    DATABASE_LISTEN_HEARTBEAT = 2.0  # seconds between the listener's proofs of life
    SQLALCHEMY_TRACK_MODIFICATIONS = False

    # --- secrets (never in code: generated into instance/ when unset) ----------------------
    SECRET_KEY: str | None = None
    # Key for hashing readers' addresses; derived from SECRET_KEY when unset.
    SOURCE_HASH_KEY: str | None = None

    # --- comments --------------------------------------------------------------------------
    MAX_BODY_LENGTH = 5000
    MAX_AUTHOR_LENGTH = 80
    MAX_CONTENT_LENGTH = 64 * 1024  # bytes per request; larger requests get 413
    LIST_DEFAULT_LIMIT = 50
    LIST_MAX_LIMIT = 200
    COUNTS_MAX_ARTICLES = 200
    # Seconds a reader's browser may reuse an approved list or counts; 0 (default): it asks
    # again every time, cheaply (ETag, 304), so a decision shows on the next load.
    LIST_MAX_AGE = 0
    # Seconds a shared cache in front (a CDN, nginx's proxy_cache) may answer for the service.
    LIST_SHARED_MAX_AGE = 10
    # Per-worker cache of serialized list pages, keyed by the article's version (never stale).
    LIST_CACHE_ENTRIES = 1000
    LIST_CACHE_BYTES = 8 * 1024 * 1024
    # Seconds a worker may reuse an article's state (version) without asking the database;
    # 0 (default) asks every time. Above 0, a decision shows up to this much later.
    LIST_STATE_TTL = 0
    FORM_TOKEN_MAX_AGE = 24 * 3600  # a comment form older than this asks the reader to reload
    MIN_SUBMIT_SECONDS = 3  # a form sent back sooner than this is a bot's
    MAX_LINKS = 2  # more links than this hold a comment with reason "links"

    # --- abuse checks (see moderation/checks.py; a site may override the rate limits) -------
    RATE_LIMIT_PER_MINUTE = 3  # comments per source and site in any 60 seconds; 0 is off
    RATE_LIMIT_PER_HOUR = 20  # … in any hour; 0 is off
    DUPLICATE_WINDOW_HOURS = 24  # the same text again within this is spam; 0 is off
    REPORT_RATE_LIMIT_PER_HOUR = 10  # readers' reports per source in any hour; 0 is off

    # --- retention (flask --app wsgi privacy purge) -----------------------------------------
    RETENTION_SPAM_DAYS = 7  # spam is removed this long after it became spam
    RETENTION_REJECTED_DAYS = 30  # rejected and withdrawn comments, likewise
    RETENTION_SOURCE_HASH_DAYS = 30  # then a comment's source hash is cleared; 0 keeps it

    RETENTION_OUTBOX_DAYS = 30  # delivered, failed and cancelled notifications

    # --- notifications (moderation/notify; sent by `flask --app wsgi outbox work`) ----------
    MAIL_BACKEND = "console"  # "smtp" sends; "console" prints each mail to standard output
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USE_TLS = False  # STARTTLS after connecting
    MAIL_USE_SSL = False  # TLS from the start (usually port 465)
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_FROM = "Kommentare <comments@localhost>"
    MAIL_TIMEOUT = 10  # seconds per SMTP connection step
    READER_MAILS_PER_DAY = 10  # mails to one reader's address in any 24 hours, at most
    # Where authors may also object to a removal by mail ("or reply to …" in the statement of
    # reasons); None: the statement offers the objection form only.
    OBJECTION_ADDRESS: str | None = None
    WEBHOOK_TIMEOUT = 5  # seconds; a slower answer is a failed delivery
    WEBHOOK_MAX_FAILURES = 20  # failed deliveries in a row pause a webhook (admins are mailed)
    OUTBOX_RETRY_HOURS = 24  # a failing delivery is retried with growing pauses this long
    OUTBOX_BATCH = 10  # rows a worker claims at once
    OUTBOX_LEASE_SECONDS = 120  # a claim runs out after this; another worker then takes over
    OUTBOX_POLL_SECONDS = 1.0  # how often an idle worker looks for due rows

    # --- moderator sessions ----------------------------------------------------------------
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # set true behind TLS
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # PERMANENT_SESSION_LIFETIME ends an idle session (the cookie is renewed on each request);
    # this ends any session this long after its login, however busy (seconds or a timedelta).
    SESSION_ABSOLUTE_LIFETIME = 12 * 3600
    WTF_CSRF_TIME_LIMIT = 12 * 3600
    # Login throttling (moderation/moderate/auth.py). Failures are counted within the window;
    # at a limit the next try waits LOGIN_FIRST_DELAY_SECONDS after the latest failure, and
    # each further failure doubles that wait, up to the window.
    LOGIN_WINDOW_SECONDS = 15 * 60
    LOGIN_FIRST_DELAY_SECONDS = 60
    LOGIN_MAX_ATTEMPTS = 5  # per username and source (or known device)
    # Per username from anywhere, and per source across usernames. Neither applies to a known
    # device (a browser that signed in to that username before) or to a source that did.
    LOGIN_MAX_ATTEMPTS_PER_USERNAME = 50
    LOGIN_MAX_ATTEMPTS_PER_SOURCE = 20
    LOGIN_KNOWN_DEVICE_DAYS = 180  # lifetime of the known-device cookie set at each login
    QUEUE_PAGE_SIZE = 25  # cards per page of the moderation queue
    QUEUE_CLAIM_SECONDS = 120  # "anna is looking at this" shows this long after a focus
    QUEUE_POLL_SECONDS = 5.0  # how often an open queue asks for news (while visible)

    # --- moderator UI language and time zone ------------------------------------------------
    BABEL_DEFAULT_LOCALE = "en"  # when the browser asks for neither German nor English
    BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"  # times are shown in this zone

    # --- proxies ---------------------------------------------------------------------------
    # The service's public address (https://comments.example.org). When set, it is the only
    # origin counted as the service's own (the Host header is the client's to choose).
    PUBLIC_URL: str | None = None
    TRUSTED_PROXIES = 0  # how many reverse proxies set X-Forwarded-For; 0 ignores the header


def load_config(app: Flask, test_config: dict | None = None) -> None:
    """Fill ``app.config`` in order: defaults, instance/config.py, environment, test overrides."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env(prefix="MODERATION")
    if test_config:
        app.config.from_mapping(test_config)

    _private_folder(app, Path(app.instance_path))
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path) / "secret_key")
    url = app.config.get("DATABASE_URL") or (
        f"sqlite:///{Path(app.instance_path) / 'moderation.sqlite3'}"
    )
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    if not url.startswith("sqlite"):
        app.config.setdefault(
            "SQLALCHEMY_ENGINE_OPTIONS",
            {
                "pool_size": int(app.config["DATABASE_POOL_SIZE"]),
                "max_overflow": int(app.config["DATABASE_MAX_OVERFLOW"]),
                "pool_recycle": int(app.config["DATABASE_POOL_RECYCLE"]),
                # Not pool_pre_ping: a round trip on every checkout, which doubled the cost of
                # the hottest reads. database.init_app pings only connections that sat idle
                # (DATABASE_PING_IDLE_SECONDS), and reads on the driver retry a dropped one.
                "pool_pre_ping": False,
                # The connection used last is handed out first: it has the statements psycopg
                # prepared (per connection, after five runs of one).
                "pool_use_lifo": True,
            },
        )


def _private_folder(app: Flask, path: Path) -> None:
    """Create the instance folder 0700, and take other users' access away from an existing one.

    It holds the secret key and the SQLite database (readers' e-mail addresses, every comment),
    so nobody else on the host has any business in it. A fresh clone has it 0755 (git creates
    it for its README), hence the repair. A folder the service does not own, or a shared one
    (sticky bit, as ``/tmp``), is left as it is, with a warning.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = path.stat()
    mode = stat.S_IMODE(status.st_mode)
    if not mode & 0o077:
        return
    if status.st_uid == os.geteuid() and not mode & stat.S_ISVTX:
        try:
            path.chmod(mode & 0o700)
        except OSError:
            pass
        else:
            app.logger.warning(
                "The instance folder %s was open to other users (mode %o); it is now %o",
                path,
                mode,
                mode & 0o700,
            )
            return
    app.logger.warning(
        "The instance folder %s is open to other users (mode %o); run chmod 700 on it",
        path,
        mode,
    )


def _instance_secret(path: Path) -> str:
    """Read the installation's secret, creating it once.

    Several gunicorn workers may start at the same moment: ``O_EXCL`` lets exactly one of them
    write the file, and the others read what it wrote.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            value = path.read_text().strip()
            if value:
                return value
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty; delete it or set MODERATION_SECRET_KEY") from None
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value
