"""Database engine settings that the URL alone cannot express, and safe write transactions.

SQLite allows one writer at a time. A transaction that starts by reading (``BEGIN``) and later
writes must upgrade its lock; if another worker committed in between, SQLite answers
``database is locked`` at once, without waiting for the busy timeout, because the reader's
snapshot is already out of date. Under several gunicorn workers that would turn a valid comment
into a 500. :func:`writes` avoids it: the use case's transaction starts with
``BEGIN IMMEDIATE`` (the write lock is taken first, waiting up to the busy timeout), and the
whole use case is run again, a bounded number of times, if SQLite still reports a lock.
PostgreSQL needs none of this: its row locks wait, and the wrapper only runs the function.

:func:`writes_on_driver` is the same for the one write on the hot path, a reader's submission:
its transaction runs straight on the database driver (:class:`Driver`), without the ORM
session, because on SQLite every writer waits for the one before it, so each microsecond spent
inside a write transaction is paid by every submission queued behind it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from flask import Flask, current_app
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from .extensions import db

P = ParamSpec("P")
R = TypeVar("R")

# Execution option that makes the next SQLite transaction on a connection BEGIN IMMEDIATE.
IMMEDIATE = "moderation_sqlite_immediate"


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return
    _keep_sqlite_files_private(app, engine)
    busy_timeout = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])
    synchronous = str(app.config["SQLITE_SYNCHRONOUS"]).upper()
    if synchronous not in ("FULL", "EXTRA", "NORMAL"):
        raise ValueError(f"SQLITE_SYNCHRONOUS must be FULL, EXTRA or NORMAL, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
        """WAL lets readers go on while one writer writes; the busy timeout makes a writer wait
        for another instead of failing at once; SQLite enforces foreign keys only when asked.
        ``synchronous=FULL`` (the default) makes every commit wait for the disk: an acknowledged
        comment survives a power cut. ``NORMAL`` skips that wait in WAL mode: still safe when a
        process dies, but the last commits can be lost if the machine loses power; it is many
        times faster where the disk is slow to sync (see docs/performance.md)."""
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()
        # Python's sqlite3 module (before 3.12) opens transactions on its own, late, and not
        # around SAVEPOINTs; hand transaction control to SQLAlchemy so savepoints and
        # rollbacks mean what they say.
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def sqlite_begin(connection: Any) -> None:
        if connection.get_execution_options().get(IMMEDIATE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def sqlite_file(engine: Engine) -> str | None:
    """The path of an engine's SQLite database file, or None for a database in memory or one
    named by a ``file:`` URI (whose options the service does not interpret)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.query.get("uri") or url.database.startswith("file:"):
        return None
    return url.database


def create_private_file(path: str) -> None:
    """Create ``path`` empty and readable by its owner only, unless it exists already.

    SQLite creates a database with mode 0644 (less the umask) and gives its ``-wal``, ``-shm``
    and ``-journal`` files the database file's mode. The database holds readers' e-mail
    addresses and every comment, so it is created here first, 0600, before SQLite opens it:
    an empty file is a valid empty database, and all the files SQLite adds then inherit 0600.
    ``O_CREAT`` without ``O_EXCL`` leaves a file that exists (another worker's, or one made
    before) as it is, so workers starting together cannot race.
    """
    # No folder, or a file this user may not write: SQLite then does what it always did.
    with contextlib.suppress(FileNotFoundError, PermissionError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))


def _keep_sqlite_files_private(app: Flask, engine: Engine) -> None:
    """Create the database file 0600 before every new connection (it may have been removed
    since the last one), and warn once if an existing file can be read by other users."""
    path = sqlite_file(engine)
    if path is None:
        return
    with contextlib.suppress(FileNotFoundError):
        mode = os.stat(path).st_mode & 0o777
        if mode & 0o077:
            app.logger.warning(
                "The database %s can be read by other users (mode %o); "
                "run chmod 600 on it and its -wal and -shm files",
                path,
                mode,
            )

    @event.listens_for(engine, "do_connect")
    def sqlite_private_file(*args: Any) -> None:
        create_private_file(path)


def is_sqlite_lock(error: BaseException) -> bool:
    """Whether an error is SQLite saying another connection holds the lock it needs (raised
    through SQLAlchemy or straight from the driver)."""
    if isinstance(error, OperationalError):
        error = error.orig
    if not isinstance(error, sqlite3.OperationalError):
        return False
    text = str(error).lower()
    return "database is locked" in text or "database is busy" in text


def end_reading() -> None:
    """Commit the read transaction the request's session has open (a site lookup, say).

    It has written nothing; what it loaded stays loaded (no expiry), as it was read a moment
    ago. On SQLite a write must not follow it on the same connection (it would have to upgrade
    its lock), and a reader left open while writes commit keeps SQLite from ever resetting its
    write-ahead log: every commit then tries to checkpoint and waits for the disk.
    """
    session = db.session()  # the request's own session behind the scoped proxy
    if session.in_transaction():
        expire_on_commit = session.expire_on_commit
        session.expire_on_commit = False
        try:
            session.commit()
        finally:
            session.expire_on_commit = expire_on_commit


def begin_write() -> None:
    """Make the session's next transaction a write transaction (``BEGIN IMMEDIATE`` on SQLite),
    after :func:`end_reading`."""
    session = db.session()
    if session.get_bind().dialect.name != "sqlite":
        return
    end_reading()
    session.connection(execution_options={IMMEDIATE: True})


class _WriterQueue:
    """Writers of one SQLite file wait in line on a lock file instead of polling SQLite.

    SQLite's busy handler sleeps in growing steps (1, 2, 5, 10 … 100 ms) while another writer
    holds the lock, so two workers that take turns writing lose much of their time asleep. An
    ``flock`` on a file next to the database wakes the next writer as soon as the lock is free.
    The kernel drops the lock when a process dies, so a killed worker cannot wedge the others.
    It is only an optimisation: ``BEGIN IMMEDIATE`` and the busy timeout still guard writers
    that do not take it (the CLI, say).
    """

    def __init__(self) -> None:
        self._threads = threading.Lock()  # flock does not exclude threads of one process
        self._files: dict[tuple[int, str], int] = {}  # (pid, path) → fd, opened after fork

    @contextlib.contextmanager
    def turn(self, path: str | None) -> Iterator[None]:
        if path is None:
            yield
            return
        with self._threads:
            key = (os.getpid(), path)
            fd = self._files.get(key)
            if fd is None:
                fd = self._files[key] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)


_writers = _WriterQueue()


def _writer_lock_path() -> str | None:
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return f"{url.database}-writers"


def _attempts(name: str, attempt: Callable[[], R]) -> R:
    """Run one write transaction, in the writer queue, again while SQLite reports a lock.

    ``SQLITE_WRITE_ATTEMPTS`` bounds the attempts; the last error is raised as is.
    """
    attempts = max(1, int(current_app.config["SQLITE_WRITE_ATTEMPTS"]))
    lock_path = _writer_lock_path()
    sqlite = db.engine.dialect.name == "sqlite"
    for number in range(1, attempts + 1):
        try:
            with _writers.turn(lock_path):
                return attempt()
        except (OperationalError, sqlite3.OperationalError) as error:
            if number == attempts or not (sqlite and is_sqlite_lock(error)):
                raise
            current_app.logger.warning(
                "SQLite was locked in %s (attempt %d of %d); trying again", name, number, attempts
            )
            time.sleep(random.uniform(0.005, 0.05) * number)
    raise AssertionError("unreachable")  # pragma: no cover


def writes(func: Callable[P, R]) -> Callable[P, R]:
    """Run a use case that writes in its own write transaction, retrying it on an SQLite lock.

    The use case must commit or roll back itself (as every use case here does); a retry starts
    it again from the top, so it must not have done anything outside the database before
    failing.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        session = db.session()

        def attempt() -> R:
            expire_on_commit = session.expire_on_commit
            try:
                # Objects the use case wrote keep their values after its commit, so the
                # view can answer without reading them back.
                session.expire_on_commit = False
                begin_write()
                return func(*args, **kwargs)
            except OperationalError:
                db.session.rollback()
                raise
            finally:
                session.expire_on_commit = expire_on_commit

        return _attempts(func.__name__, attempt)

    return wrapper


@contextlib.contextmanager
def reading(engine: Engine | None = None) -> Iterator[Driver]:
    """A :class:`Driver` on a pooled connection, outside any transaction of the session: no
    ORM, no SQL compilation; on SQLite (autocommit) each SELECT is its own snapshot. For the
    reads that every article view or comment makes. ``engine`` defaults to the current app's
    (:mod:`moderation.public.fast_path` passes it, as it runs outside any Flask context)."""
    engine = engine or db.engine
    connection = engine.raw_connection()
    try:
        yield Driver(connection, engine.dialect)
    finally:
        connection.close()  # back to the pool, which ends any transaction the driver opened


def read_all(sql: str, params: Sequence[Any] = (), engine: Engine | None = None) -> list[tuple]:
    """Rows of one query, read as :func:`reading` does."""
    with reading(engine) as driver:
        return driver.all(sql, params)


def read_one(sql: str, params: Sequence[Any] = (), engine: Engine | None = None) -> tuple | None:
    """The first row of :func:`read_all`, or None."""
    rows = read_all(sql, params, engine)
    return rows[0] if rows else None


# Placeholders of the drivers' parameter styles, for SQL written with ``{p}``.
PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric": ":1"}


class Driver:
    """A transaction straight on the database driver: SQL text in, plain rows out.

    SQL is written once with ``{p}`` for each parameter and ``{json}`` for a JSON one, and
    becomes each driver's own placeholders here. Timestamps go in and come out as SQLAlchemy
    keeps them (naive UTC; text on SQLite), so rows written here read the same through the
    models.
    """

    def __init__(self, connection: Any, dialect: Any) -> None:
        self.cursor = connection.cursor()
        self.sqlite = dialect.name == "sqlite"
        placeholder = PLACEHOLDERS[dialect.paramstyle]
        self._marks = {
            "p": placeholder,
            "json": placeholder if self.sqlite else f"CAST({placeholder} AS JSON)",
        }

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self.cursor.execute(sql.format_map(self._marks), params)
        return self.cursor

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    def timestamp(self, moment: datetime) -> Any:
        """A parameter for a timestamp column (what :class:`~moderation.models.UTCDateTime`
        stores)."""
        naive = moment.astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(" ", "microseconds") if self.sqlite else naive

    @staticmethod
    def json(value: Any) -> Any:
        """A JSON column's value (text on SQLite, already parsed by psycopg)."""
        return json.loads(value) if isinstance(value, str) else value

    @staticmethod
    def moment(value: Any) -> datetime:
        """A timestamp column's value as an aware UTC datetime."""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


def writes_on_driver(func: Callable[Concatenate[Driver, P], R]) -> Callable[P, R]:
    """Like :func:`writes`, for a use case that takes a :class:`Driver` as first argument.

    Its transaction is on a pooled connection of its own, begun with ``BEGIN IMMEDIATE`` on
    SQLite, committed when the use case returns and rolled back when it raises.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        engine = db.engine
        end_reading()

        def attempt() -> R:
            connection = engine.raw_connection()
            try:
                driver = Driver(connection, engine.dialect)
                if driver.sqlite:
                    driver.execute("BEGIN IMMEDIATE")
                result = func(driver, *args, **kwargs)
                connection.commit()
                return result
            except BaseException:
                connection.rollback()
                raise
            finally:
                connection.close()  # back to the pool

        return _attempts(func.__name__, attempt)

    return wrapper
