"""Database engine settings that the URL alone cannot express, and safe write transactions.

SQLite allows one writer at a time. A transaction that starts by reading (``BEGIN``) and later
writes must upgrade its lock; if another worker committed in between, SQLite answers
``database is locked`` at once, without waiting for the busy timeout, because the reader's
snapshot is already out of date. Under several gunicorn workers that would turn a valid comment
into a 500. :func:`writes` avoids it: the use case's transaction starts with
``BEGIN IMMEDIATE`` (the write lock is taken first, waiting up to the busy timeout), and the
whole use case is run again, a bounded number of times, if SQLite still reports a lock.
PostgreSQL needs none of this: its row locks wait, and the wrapper only runs the function.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

from flask import Flask, current_app
from sqlalchemy import event
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


def is_sqlite_lock(error: BaseException) -> bool:
    """Whether an error is SQLite saying another connection holds the lock it needs."""
    if not isinstance(error, OperationalError):
        return False
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text


def begin_write() -> None:
    """Make the session's next transaction a write transaction (``BEGIN IMMEDIATE`` on SQLite).

    A transaction the request already opened to read (a site lookup, say) is committed first:
    it has written nothing, and a write that followed it would have to upgrade its lock. What
    it loaded stays loaded (no expiry), as it was read a moment ago.
    """
    session = db.session()  # the request's own session behind the scoped proxy
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        session.commit()
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


def writes(func: Callable[P, R]) -> Callable[P, R]:
    """Run a use case that writes in its own write transaction, retrying it on an SQLite lock.

    The use case must commit or roll back itself (as every use case here does); a retry starts
    it again from the top, so it must not have done anything outside the database before
    failing. ``SQLITE_WRITE_ATTEMPTS`` bounds the attempts; the last error is raised as is.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        attempts = max(1, int(current_app.config["SQLITE_WRITE_ATTEMPTS"]))
        lock_path = _writer_lock_path()
        session = db.session()
        sqlite = db.engine.dialect.name == "sqlite"
        for attempt in range(1, attempts + 1):
            expire_on_commit = session.expire_on_commit
            try:
                with _writers.turn(lock_path):
                    # Objects the use case wrote keep their values after its commit, so the
                    # view can answer without reading them back.
                    session.expire_on_commit = False
                    begin_write()
                    return func(*args, **kwargs)
            except OperationalError as error:
                db.session.rollback()
                if attempt == attempts or not (sqlite and is_sqlite_lock(error)):
                    raise
                current_app.logger.warning(
                    "SQLite was locked in %s (attempt %d of %d); trying again",
                    func.__name__,
                    attempt,
                    attempts,
                )
                time.sleep(random.uniform(0.005, 0.05) * attempt)
            finally:
                session.expire_on_commit = expire_on_commit
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper
