"""Database engine settings that the URL alone cannot express, and the one way to write.

Every write goes through :func:`writes`. It wraps a use case (a plain function a view, a CLI
command and a test all call) in one transaction: it begins it, commits when the function
returns, rolls back when it raises anything at all (and raises it on), and runs the whole
function again, a bounded number of times, while SQLite reports ``database is locked``. Use
cases never call ``commit()`` or ``rollback()`` themselves: a check that fails after a read
just raises. A use case called by another joins its caller's transaction. A batch job runs each
batch as one call, so what one batch did stays done if a later one fails.

Why SQLite needs this: it allows one writer at a time. A transaction that starts by reading
(``BEGIN``) and later writes must upgrade its lock; if another worker committed in between,
SQLite answers ``database is locked`` at once, without waiting for the busy timeout, because
the reader's snapshot is already out of date. Under several gunicorn workers that would turn a
valid comment into a 500. So the transaction starts with ``BEGIN IMMEDIATE`` (the write lock is
taken first, waiting up to the busy timeout), and a lock that outlasts the timeout runs the use
case again. PostgreSQL needs none of this: its row locks wait, and the helper only begins,
commits and rolls back.

:func:`writes_on_driver` is the same for the one write on the hot path, a reader's submission,
with the same retries: its transaction runs straight on the database driver (:class:`Driver`),
without the ORM session, because on SQLite every writer waits for the one before it, so each
microsecond spent inside a write transaction is paid by every submission queued behind it.

What only reads ends its transaction with :func:`end_reading` or :func:`discard`.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import operator
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from flask import Flask, current_app
from sqlalchemy import (
    BindParameter,
    ClauseElement,
    Column,
    ColumnDefault,
    Engine,
    Insert,
    Table,
    bindparam,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

from .extensions import db

P = ParamSpec("P")
R = TypeVar("R")

# Called with the app after a use case of :func:`writes` has committed, outside its
# transaction, and after one of :func:`writes_on_driver` that updated an article or a site
# (moderation.approved waits there until the workers' caches have heard of it).
after_write: list[Callable[[Flask], None]] = []
# The tables the approved lists and counts are read from (an UPDATE of them on the Driver
# counts as a change of a list).
_LISTED = ("article", "site")

# Execution option that makes the next SQLite transaction on a connection BEGIN IMMEDIATE.
IMMEDIATE = "moderation_sqlite_immediate"
# Key in the session's ``info`` while a transaction of :func:`writes` is open.
_WRITING = "moderation_writing"


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        _ping_idle_connections(engine, float(app.config["DATABASE_PING_IDLE_SECONDS"]))
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


def _ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection before handing it out only if it sat unused ``idle_seconds``.

    ``pool_pre_ping`` pings on every checkout: a round trip as long as the hot path's one query,
    on every request. A connection the worker used a moment ago is as alive as a ping would
    show; one that sat idle may have been closed by a database restart or a firewall in the
    meantime. So only those are pinged, and a dead one is replaced before the request sees it
    (SQLAlchemy's ``DisconnectionError``: the pool opens a fresh connection instead). A
    connection that dies while in use fails its request as it would with pre-ping; the reads
    on the driver (:func:`read_all`) try once more on a fresh one.
    """

    @event.listens_for(engine, "checkin")
    def note_last_use(dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["moderation_used"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        used = record.info.get("moderation_used")
        if used is None or time.monotonic() - used < idle_seconds:
            return  # new (just connected) or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            if engine.dialect.is_disconnect(cast(Any, error), dbapi_connection, None):
                raise DisconnectionError(str(error)) from error
            raise


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
    cause = error.orig if isinstance(error, OperationalError) else error
    if not isinstance(cause, sqlite3.OperationalError):
        return False
    text = str(cause).lower()
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
        # The lock file of the last database written, as ((pid, path), fd): opened anew after a
        # fork (a forked copy would share the parent's lock), and closed when another database
        # is written, so a process that writes many (the test suite) holds one, not one each.
        self._file: tuple[tuple[int, str], int] | None = None

    @contextlib.contextmanager
    def turn(self, path: str | None) -> Iterator[None]:
        if path is None:
            yield
            return
        with self._threads:
            key = (os.getpid(), path)
            if self._file is None or self._file[0] != key:
                if self._file is not None:
                    with contextlib.suppress(OSError):  # no lock is held on it: we hold _threads
                        os.close(self._file[1])
                self._file = (key, os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            fd = self._file[1]
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
    """Run a use case as one write transaction: commit when it returns, roll back when it raises.

    The transaction begins with ``BEGIN IMMEDIATE`` on SQLite, after the read transaction the
    request may have open (:func:`begin_write`). Any exception rolls everything back and is
    raised on; an SQLite lock runs the use case again from the top (``SQLITE_WRITE_ATTEMPTS``
    times at most), so it must not have done anything outside the database before failing.
    Objects the use case wrote keep their values after the commit, so the caller can answer
    without reading them back. Called inside another use case's transaction, it joins it.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        session = db.session()
        if session.info.get(_WRITING):
            return func(*args, **kwargs)  # part of the caller's transaction

        def attempt() -> R:
            expire_on_commit = session.expire_on_commit
            session.info[_WRITING] = True
            try:
                session.expire_on_commit = False
                begin_write()
                result = func(*args, **kwargs)
                session.commit()
                return result
            except BaseException:
                session.rollback()
                raise
            finally:
                del session.info[_WRITING]
                session.expire_on_commit = expire_on_commit

        result = _attempts(func.__name__, attempt)
        _after_write()
        return result

    return wrapper


def _after_write() -> None:
    if after_write:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        for hook in after_write:
            hook(app)


def clock() -> datetime:
    """The database's time (UTC), read in the session's transaction: what times that several
    hosts compare are measured by (the outbox's leases), so that hosts whose clocks disagree
    still agree on when a lease runs out. PostgreSQL's ``now()`` is the transaction's start;
    SQLite's is this host's clock, which every process on the file shares."""
    if db.engine.dialect.name == "sqlite":
        said = db.session.scalar(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"))
    else:
        said = db.session.scalar(text("SELECT timezone('UTC', now())"))
    return Driver.moment(said)


def discard() -> None:
    """Roll back whatever the request's session has open, writing nothing.

    For reads, so the next one sees newer data and loaded objects are read again; and after a
    failed statement, which PostgreSQL answers by refusing every later one until the
    transaction is rolled back.
    """
    db.session.rollback()


@contextlib.contextmanager
def reading(engine: Engine | None = None) -> Iterator[Driver]:
    """A :class:`Driver` on a pooled connection, outside any transaction of the session: no
    ORM, and each statement compiled once per process. In autocommit mode on both databases,
    so each SELECT is its own snapshot (as each statement of a READ COMMITTED transaction is
    on PostgreSQL) and a read costs one round trip: no ``BEGIN`` before it, no ``ROLLBACK``
    after it. That also keeps psycopg's prepared statements, which it drops at every rollback.
    For the reads that every article view or comment makes. ``engine`` defaults to the current
    app's (:mod:`moderation.public.fast_path` passes it, as it runs outside any Flask
    context)."""
    engine = engine or db.engine
    with _autocommit(engine.raw_connection(), engine) as connection:
        yield Driver(connection, engine.dialect)


@contextlib.contextmanager
def _autocommit(connection: Any, engine: Engine) -> Iterator[Any]:
    """A pooled connection in autocommit mode (SQLite's already are), given back to the pool
    as it was handed out; one that cannot be is invalidated (the pool replaces it)."""
    postgres = engine.dialect.name == "postgresql"
    try:
        if postgres:
            connection.driver_connection.autocommit = True
        yield connection
        if postgres:
            connection.driver_connection.autocommit = False  # only possible outside a transaction
    except BaseException:
        if postgres and not _autocommit_off(connection):
            connection.invalidate()
        raise
    finally:
        connection.close()  # back to the pool


def _autocommit_off(connection: Any) -> bool:
    """Try to set a connection back to what the pool expects; False if it cannot be."""
    try:
        connection.driver_connection.autocommit = False
    except Exception:
        return False
    return True


def read_all(
    statement: Statement, params: Mapping[str, Any] | None = None, engine: Engine | None = None
) -> list[tuple]:
    """Rows of one query, read as :func:`reading` does.

    A connection the database dropped (a restart, an idle timeout) is replaced and the query
    sent once more on a fresh one: the pool hands out connections without pinging them first
    (see :func:`_ping_idle_connections`).
    """
    engine = engine or db.engine
    for attempt in (1, 2):
        connection = engine.raw_connection()
        dbapi_connection = connection.driver_connection
        try:
            with _autocommit(connection, engine):
                return Driver(connection, engine.dialect).all(statement, params)
        except Exception as error:
            if attempt == 2 or not engine.dialect.is_disconnect(
                cast(Any, error), dbapi_connection, None
            ):
                raise
            engine.pool.dispose()  # its other idle connections are likely gone too
    raise AssertionError("unreachable")  # pragma: no cover


def read_one(
    statement: Statement, params: Mapping[str, Any] | None = None, engine: Engine | None = None
) -> tuple | None:
    """The first row of :func:`read_all`, or None."""
    rows = read_all(statement, params, engine)
    return rows[0] if rows else None


def table(model: type[Any]) -> Table:
    """A model's table, to build statements from (``table(Comment).c.status``). The mapping
    types ``__table__`` as any FROM clause; a model's is always a :class:`~sqlalchemy.Table`."""
    found = model.__table__
    assert isinstance(found, Table)
    return found


def parameters(*names: str) -> dict[str, BindParameter[Any]]:
    """Named parameters for the columns an INSERT or UPDATE sets: ``.values(**parameters("a"))``
    takes column ``a`` from the parameter ``a`` given at run time."""
    return {name: bindparam(name) for name in names}


@dataclass(frozen=True, eq=False)
class ByDialect:
    """One statement written for each database, where SQLAlchemy has a construct per dialect
    (``INSERT … ON CONFLICT DO NOTHING``); the :class:`Driver` runs its database's."""

    statements: Mapping[str, ClauseElement]


def insert_or_ignore(table: Table, index_elements: Sequence[Column], **values: Any) -> ByDialect:
    """``INSERT … ON CONFLICT (index_elements) DO NOTHING`` on SQLite and PostgreSQL: a row
    that would break that unique index is left out, and the cursor's ``rowcount`` says 0."""
    return ByDialect(
        {
            dialect: module.insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=index_elements)
            for dialect, module in (("sqlite", sqlite), ("postgresql", postgresql))
        }
    )


# What a Driver runs: SQLAlchemy Core (compiled once per dialect), or SQL text sent as it is.
Statement = ClauseElement | ByDialect | str


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement as one driver takes it: the SQL, and how to lay out its parameters."""

    sql: str
    fixed: dict[str, Any]  # values the statement brings itself, ready for the driver
    # The parameters by name → what the driver takes: them in placeholder order, or the names.
    arrange: Callable[[Mapping[str, Any]], Any]


# Compiled statements per dialect name. The hot path's statements are module constants, so
# this stays small; it is emptied if something keeps compiling new ones.
_compiled: dict[str, dict[Any, _Compiled]] = {}
_MAX_COMPILED = 1000


def _compile(statement: ClauseElement | ByDialect, dialect: Dialect) -> _Compiled:
    """Compile a statement for a dialect, once: the driver then runs the SQL string straight.

    Values the statement carries (``Comment.status == CommentStatus.APPROVED``) and the
    models' plain defaults for columns an INSERT leaves out (``Article.version``) are turned
    into the driver's values here, through the columns' types, so each is written in one place:
    the model. Parameters given at run time go to the driver as they are (see
    :meth:`Driver.timestamp`). An INSERT returns only what its ``RETURNING`` asks for.
    """
    chosen = statement.statements[dialect.name] if isinstance(statement, ByDialect) else statement
    compiled = cast(SQLCompiler, chosen.compile(dialect=dialect))
    if isinstance(chosen, Insert) and compiled.implicit_returning:
        # Without this, SQLAlchemy would add RETURNING for the primary key, as the ORM wants it.
        compiled = chosen.inline().compile(dialect=dialect)
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("the driver cannot run statements with expanding parameters")
    fixed: dict[str, Any] = {}
    for bind, name in compiled.bind_names.items():
        if not bind.required and bind.callable is None:
            fixed[name] = _driver_value(bind.type, bind.value, dialect)
    for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
        default = column.default if compiled.isinsert else column.onupdate
        if not (isinstance(default, ColumnDefault) and default.is_scalar):
            raise ValueError(f"the driver cannot compute the default of {column}; pass a value")
        fixed[column.key] = _driver_value(column.type, default.arg, dialect)
    found = _Compiled(compiled.string, fixed, _arrangement(compiled))
    cache = _compiled.setdefault(dialect.name, {})
    if len(cache) >= _MAX_COMPILED:
        cache.clear()
    cache[statement] = found
    return found


def _arrangement(compiled: SQLCompiler) -> Callable[[Mapping[str, Any]], Any]:
    if not compiled.positional:
        return _as_named
    order = compiled.positiontup or []
    if len(order) > 1:
        return operator.itemgetter(*order)  # a tuple, in placeholder order
    return lambda values: tuple([values[name] for name in order])


def _as_named(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return values


def _driver_value(type_: Any, value: Any, dialect: Dialect) -> Any:
    process = type_.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process is not None else value


class Driver:
    """A transaction straight on the database driver: statements in, plain rows out.

    Statements are SQLAlchemy Core, built from the models' tables with named parameters
    (``bindparam("key")``); each is compiled once per dialect (:func:`_compile`) and from then
    on costs a dictionary lookup. Parameters are passed by name, as the driver takes them:
    JSON as text (``json.dumps``; PostgreSQL gets it cast to JSON, as SQLAlchemy compiles it),
    timestamps through :meth:`timestamp`. Timestamps go in and come out as SQLAlchemy keeps
    them (naive UTC; text on SQLite), so rows written here read the same through the models.
    A plain string is sent as it is (``BEGIN IMMEDIATE``).

    With ``pipeline`` (psycopg's, see :func:`writes_on_driver`) a statement is queued, not
    sent: the queue goes to the server in one round trip when a result is needed. What
    :meth:`execute` returns sends the queue as soon as anything of it is used (``rowcount``,
    say), so a caller sees the same cursor either way. :meth:`later` asks several queries at
    once: each waits in the queue on a cursor of its own, and the first one read sends them
    all, so they cost one round trip together.
    """

    def __init__(self, connection: Any, dialect: Dialect, pipeline: Any = None) -> None:
        self.connection = connection
        self.cursor = connection.cursor()
        self.dialect = dialect
        self.sqlite = dialect.name == "sqlite"
        self.pipeline = pipeline
        self.changed_lists = False  # it wrote to a table the approved lists are read from
        self._compiled = _compiled.setdefault(dialect.name, {})

    def render(self, statement: Statement, params: Mapping[str, Any] | None = None) -> tuple:
        """The SQL and the parameters the driver gets for a statement (for EXPLAIN, say)."""
        if isinstance(statement, str):
            return statement, params or ()
        compiled = self._compiled.get(statement) or _compile(statement, self.dialect)
        fixed = compiled.fixed
        values = ({**fixed, **params} if fixed else params) if params else fixed
        # Named parameters go as a mapping even when there are none: the driver then reads %%.
        return compiled.sql, compiled.arrange(values)

    def execute(self, statement: Statement, params: Mapping[str, Any] | None = None) -> Any:
        self._send(self.cursor, statement, params)
        if self.pipeline is not None:
            return _Queued(self.cursor, self.pipeline)
        return self.cursor

    def _send(self, cursor: Any, statement: Statement, params: Mapping[str, Any] | None) -> None:
        cursor.execute(*self.render(statement, params))
        if isinstance(statement, UpdateBase) and getattr(statement.table, "name", "") in _LISTED:
            self.changed_lists = True  # an approved list may have changed: see after_write

    def later(self, statement: Statement, params: Mapping[str, Any] | None = None) -> Any:
        """Send a statement whose outcome is read later (``fetchone``, ``fetchall``,
        ``rowcount``): in a pipeline it waits in the queue on a cursor of its own, so the
        statements a use case asks for before it reads any of them travel to the server in
        one round trip, and run there in the order they were asked. Without a pipeline
        (SQLite, or a read outside a transaction) it runs at once and its rows are kept.
        """
        cursor = self.connection.cursor()
        self._send(cursor, statement, params)
        if self.pipeline is not None:
            return _Later(cursor, self.pipeline)
        rows = cursor.fetchall() if cursor.description is not None else []
        return _Fetched(rows, cursor.rowcount)

    def one(self, statement: Statement, params: Mapping[str, Any] | None = None) -> tuple | None:
        return self.execute(statement, params).fetchone()

    def all(self, statement: Statement, params: Mapping[str, Any] | None = None) -> list[tuple]:
        return self.execute(statement, params).fetchall()

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


class _Queued:
    """A cursor whose statement may still wait in psycopg's pipeline: using it (its
    ``rowcount``, a fetch) first sends whatever is queued and waits for the results."""

    __slots__ = ("_cursor", "_pipeline")

    def __init__(self, cursor: Any, pipeline: Any) -> None:
        self._cursor = cursor
        self._pipeline = pipeline

    def __getattr__(self, name: str) -> Any:
        self._pipeline.sync()
        return getattr(self._cursor, name)


def _pipelined(
    connection: Any, dialect: Dialect, use_case: Callable[[Driver], R]
) -> tuple[R, Driver]:
    """Run a use case as one PostgreSQL transaction in psycopg's pipeline mode; its result and
    its driver once the transaction is committed and durable.

    The connection is switched to autocommit (a Python attribute, no round trip), and the
    transaction is opened and closed by statements of its own, ``BEGIN`` and ``COMMIT``,
    queued like any other. psycopg's own transaction handling in a pipeline would send its
    ``BEGIN`` and wait for the answer before the first statement, and wait once more after its
    ``COMMIT`` for the pipeline's end: two round trips that carry nothing. Here the ``BEGIN``
    travels with the first statements and the ``COMMIT`` with the last; the end of the pipeline
    sends them and waits until PostgreSQL has answered everything, the ``COMMIT`` last, which
    it answers once the commit is on disk (``synchronous_commit``, on by default). Only then
    does the use case count as done, so an acknowledged comment is durable as before. A
    ``COMMIT`` that ends anything but a healthy transaction (PostgreSQL answers ``ROLLBACK``
    to the ``COMMIT`` of a failed one) is raised as an error, so nothing is acknowledged that
    was not stored. The caller rolls back after an error and sets autocommit off again.
    """
    dbapi_connection = connection.driver_connection
    dbapi_connection.autocommit = True
    with dbapi_connection.pipeline() as pipeline:
        driver = Driver(connection, dialect, pipeline)
        driver.execute("BEGIN")
        result = use_case(driver)
        commit = connection.cursor()
        commit.execute("COMMIT")
    # The pipeline's end sent what was queued and waited for every answer.
    if commit.statusmessage != "COMMIT":
        raise RuntimeError(f"the transaction ended with {commit.statusmessage!r}, not COMMIT")
    return result, driver


class _Later:
    """A statement queued in psycopg's pipeline on a cursor of its own (:meth:`Driver.later`):
    the first use sends the queue and waits for it, unless an earlier read already brought
    this statement's outcome (``pgresult`` is set then), which costs no further round trip."""

    __slots__ = ("_cursor", "_pipeline")

    def __init__(self, cursor: Any, pipeline: Any) -> None:
        self._cursor = cursor
        self._pipeline = pipeline

    def __getattr__(self, name: str) -> Any:
        if self._cursor.pgresult is None:
            self._pipeline.sync()
        return getattr(self._cursor, name)


class _Fetched:
    """A statement's outcome read at once (:meth:`Driver.later` without a pipeline)."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[tuple], rowcount: int) -> None:
        self._rows = iter(rows)
        self.rowcount = rowcount

    def fetchone(self) -> tuple | None:
        return next(self._rows, None)

    def fetchall(self) -> list[tuple]:
        return list(self._rows)


def writes_on_driver(func: Callable[Concatenate[Driver, P], R]) -> Callable[P, R]:
    """Like :func:`writes`, for a use case that takes a :class:`Driver` as first argument.

    Its transaction is on a pooled connection of its own, begun with ``BEGIN IMMEDIATE`` on
    SQLite, committed when the use case returns and rolled back when it raises; SQLite locks
    are retried as :func:`writes` retries them. It cannot join another transaction.

    On PostgreSQL the transaction runs in psycopg's pipeline mode (:func:`_pipelined`): a
    statement whose result the use case does not read (``BEGIN``, an advisory lock, an INSERT
    without RETURNING, the ``COMMIT``) travels with the next one that it does read, and the
    reads it asks for together (:meth:`Driver.later`) travel together, instead of each costing
    a round trip of its own. An error in a queued statement is raised where the queue is next
    sent, still inside the use case (or at its end, with the ``COMMIT``), and rolls everything
    back as any error does.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        engine = db.engine
        if db.session().info.get(_WRITING):
            # It would commit that transaction half done (end_reading) and then, on SQLite,
            # wait forever for the writer queue its own thread holds.
            raise RuntimeError(f"{func.__name__} cannot run inside a use case's transaction")
        end_reading()

        changed_lists = False
        postgres = engine.dialect.name == "postgresql"

        def attempt() -> R:
            nonlocal changed_lists
            connection = engine.raw_connection()
            try:
                if postgres:
                    result, driver = _pipelined(
                        connection, engine.dialect, lambda driver: func(driver, *args, **kwargs)
                    )
                else:
                    driver = Driver(connection, engine.dialect)
                    driver.execute("BEGIN IMMEDIATE")
                    result = func(driver, *args, **kwargs)
                    connection.commit()
                changed_lists = driver.changed_lists
                return result
            except BaseException:
                connection.rollback()  # whatever is still open (nothing after a failed COMMIT)
                raise
            finally:
                if postgres and not _autocommit_off(connection):
                    connection.invalidate()  # the pool must not hand it out as it is
                connection.close()  # back to the pool

        result = _attempts(func.__name__, attempt)
        if changed_lists:  # a comment published at once, say: as after any decision
            _after_write()
        return result

    return wrapper
