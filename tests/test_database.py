"""Engine settings and write transactions (moderation/database.py)."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from helpers import make_app
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError

from moderation import database
from moderation.errors import InvalidInput
from moderation.extensions import db
from moderation.models import Site


def _pragma(app: Flask, name: str) -> int:
    with app.app_context():
        value = db.session.execute(text(f"PRAGMA {name}")).scalar_one()
        db.session.remove()
    return value


def test_sqlite_syncs_every_commit_by_default(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path)
    assert _pragma(app, "synchronous") == 2  # FULL
    assert _pragma(app, "journal_mode") == "wal"
    assert _pragma(app, "foreign_keys") == 1


def test_sqlite_synchronous_can_be_normal(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, SQLITE_SYNCHRONOUS="normal")
    assert _pragma(app, "synchronous") == 1


def test_a_bad_synchronous_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SQLITE_SYNCHRONOUS"):
        make_app(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, SQLITE_SYNCHRONOUS="OFF")


def test_a_write_use_case_begins_immediate(app: Flask, ctx: None) -> None:
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))

    @database.writes
    def use_case() -> None:
        db.session.execute(text("SELECT 1"))

    db.session.execute(text("SELECT 2"))  # a read the request did before
    use_case()
    if db.engine.dialect.name == "sqlite":
        assert seen[seen.index("SELECT 2") + 1 :][:2] == ["BEGIN IMMEDIATE", "SELECT 1"]
    else:
        assert "BEGIN IMMEDIATE" not in seen


def test_a_locked_database_is_retried(app: Flask, ctx: None) -> None:
    calls: list[int] = []

    @database.writes
    def use_case() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
        return "stored"

    if db.engine.dialect.name != "sqlite":
        with pytest.raises(OperationalError):  # PostgreSQL: no such error to retry
            use_case()
        assert len(calls) == 1
        return
    assert use_case() == "stored"
    assert len(calls) == 3


def test_retries_are_bounded(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, SQLITE_WRITE_ATTEMPTS=2)
    calls: list[int] = []

    @database.writes
    def use_case() -> None:
        calls.append(1)
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

    with app.app_context(), pytest.raises(OperationalError):
        use_case()
    assert len(calls) == 2


def test_other_errors_are_not_retried(app: Flask, ctx: None) -> None:
    calls: list[int] = []

    @database.writes
    def use_case() -> None:
        calls.append(1)
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error"))

    with pytest.raises(OperationalError):
        use_case()
    assert len(calls) == 1


def test_a_real_lock_held_by_another_connection_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    app = make_app(f"sqlite:///{path}", tmp_path, SQLITE_BUSY_TIMEOUT_MS=50)
    with app.app_context():
        db.create_all()
        db.session.remove()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is writing
    released = []

    @database.writes
    def use_case() -> None:
        db.session.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))

    def release(*args: object) -> None:
        if not released:
            released.append(1)
            other.execute("COMMIT")

    with app.app_context():
        # The first attempt times out on the lock; the retry finds it free.
        event.listen(db.engine, "handle_error", release)
        use_case()
        assert released
        db.session.remove()
    other.close()


def _sites(app: Flask) -> list[str]:
    """The site slugs as another connection sees them: only what was committed."""
    with app.app_context():
        with db.engine.connect() as connection:
            return list(connection.scalars(text("SELECT slug FROM site ORDER BY slug")))


def test_the_helper_commits_what_the_use_case_wrote(app: Flask) -> None:
    @database.writes
    def use_case() -> Site:
        site = Site(slug="neu", name="Neu", origins=[])
        db.session.add(site)
        return site

    with app.app_context():
        assert use_case().slug == "neu"  # still readable: nothing expired on the commit
        assert not db.session().in_transaction()
        db.session.remove()
    assert _sites(app) == ["demo", "neu"]


class Interrupted(BaseException):
    """Not an Exception: as KeyboardInterrupt or a worker's shutdown would be."""


@pytest.mark.parametrize(
    "error", [ValueError("a bug"), InvalidInput("refused late"), Interrupted()], ids=repr
)
def test_any_exception_rolls_the_use_case_back(app: Flask, error: BaseException) -> None:
    @database.writes
    def use_case() -> None:
        db.session.add(Site(slug="halb", name="Halb", origins=[]))
        db.session.flush()  # the row is in the database's transaction, not only in the session
        raise error

    with app.app_context():
        with pytest.raises(type(error)):
            use_case()
        assert not db.session().in_transaction()
        assert db.session.scalars(select(Site.slug).order_by(Site.slug)).all() == ["demo"]
        db.session.remove()
    assert _sites(app) == ["demo"]


def test_a_use_case_called_by_another_joins_its_transaction(app: Flask) -> None:
    @database.writes
    def inner(slug: str) -> None:
        db.session.add(Site(slug=slug, name=slug, origins=[]))

    @database.writes
    def outer(fail: bool) -> None:
        inner("eins")
        assert db.session().in_transaction()  # the inner call committed nothing on its own
        inner("zwei")
        if fail:
            raise ValueError("after both")

    with app.app_context():
        with pytest.raises(ValueError):
            outer(True)
        db.session.remove()
    assert _sites(app) == ["demo"]  # neither inner write stayed
    with app.app_context():
        outer(False)
        inner("drei")  # on its own again: its own transaction, committed
        db.session.remove()
    assert _sites(app) == ["demo", "drei", "eins", "zwei"]


def test_a_driver_write_cannot_run_inside_a_use_cases_transaction(app: Flask) -> None:
    @database.writes_on_driver
    def on_driver(driver: database.Driver) -> None:
        raise AssertionError("not reached")

    @database.writes
    def use_case() -> None:
        db.session.add(Site(slug="vorher", name="Vorher", origins=[]))
        on_driver()

    with app.app_context(), pytest.raises(RuntimeError, match="on_driver cannot run inside"):
        use_case()
    assert _sites(app) == ["demo"]


def test_a_use_case_waits_for_a_real_lock_and_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "a.sqlite3"
    app = make_app(f"sqlite:///{path}", tmp_path, SQLITE_BUSY_TIMEOUT_MS=50)
    with app.app_context():
        db.create_all()
        db.session.remove()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process is writing …
    release = threading.Timer(0.15, other.execute, ["COMMIT"])  # … for longer than 50 ms
    calls: list[int] = []

    @database.writes
    def use_case() -> None:
        calls.append(1)
        db.session.add(Site(slug="wartet", name="Wartet", origins=[]))

    release.start()
    try:
        with app.app_context():
            db.session.execute(text("SELECT count(*) FROM site"))  # a read the request did before
            use_case()
            db.session.remove()
    finally:
        release.join()
        other.close()
    assert "SQLite was locked in use_case" in caplog.text  # the first BEGIN IMMEDIATE timed out
    assert calls == [1]  # the use case ran once, in the attempt that got the lock
    assert _sites(app) == ["wartet"]


# Where a transaction may end: the helpers here. (Tests may commit their own set-up.)
_ENDS_A_TRANSACTION = re.compile(r"\.\s*(commit|rollback)\s*\(")


def test_no_code_outside_the_helper_commits_or_rolls_back() -> None:
    package = Path(database.__file__).parent
    found = [
        f"{path.relative_to(package.parent)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        if path != Path(database.__file__)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _ENDS_A_TRANSACTION.search(line)
    ]
    assert found == [], "write through moderation.database.writes instead:\n" + "\n".join(found)


# --- writes_on_driver: the submission's write transaction straight on the driver -------------


def _probe_rows(app: Flask) -> list[tuple]:
    with app.app_context():
        with db.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text("SELECT x FROM probe"))]


@pytest.fixture
def probe(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        db.session.execute(text("CREATE TABLE probe (x INTEGER)"))
        db.session.commit()
        db.session.remove()
    yield app
    with app.app_context():
        db.session.execute(text("DROP TABLE probe"))
        db.session.commit()
        db.session.remove()


# A Core statement with a named parameter, as the driver runs them.
INSERT_PROBE = text("INSERT INTO probe (x) VALUES (:x)")


def test_a_driver_write_commits_what_it_wrote(probe: Flask) -> None:
    @database.writes_on_driver
    def use_case(driver: database.Driver, value: int) -> int:
        if driver.sqlite:  # its own transaction, and the only writer from the start
            assert driver.one("SELECT 1")  # inside the transaction BEGIN IMMEDIATE opened
        driver.execute(INSERT_PROBE, {"x": value})
        return value

    with probe.app_context():
        assert use_case(7) == 7
    assert _probe_rows(probe) == [(7,)]


def test_a_driver_write_that_raises_leaves_nothing(probe: Flask) -> None:
    @database.writes_on_driver
    def use_case(driver: database.Driver) -> None:
        driver.execute(INSERT_PROBE, {"x": 1})
        raise InvalidInput("refused after the insert")

    with probe.app_context(), pytest.raises(InvalidInput):
        use_case()
    assert _probe_rows(probe) == []


class _CountingSyncs:
    """psycopg's pipeline, counting how often the queue is sent and waited for."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.syncs = 0

    def sync(self) -> None:
        self.syncs += 1
        self.pipeline.sync()


def test_statements_asked_together_travel_together(probe: Flask) -> None:
    counting: list[_CountingSyncs] = []

    @database.writes_on_driver
    def use_case(driver: database.Driver) -> tuple:
        if driver.pipeline is not None:
            driver.pipeline = _CountingSyncs(driver.pipeline)
            counting.append(driver.pipeline)
        inserted = driver.later(INSERT_PROBE, {"x": 5})
        total = driver.later("SELECT count(*) FROM probe")
        rows = driver.later("SELECT x FROM probe")
        # Read in any order: the first read sends them all, the others find their rows.
        return rows.fetchall(), total.fetchone(), inserted.rowcount

    with probe.app_context():
        assert use_case() == ([(5,)], (1,), 1)
    assert _probe_rows(probe) == [(5,)]
    if counting:  # PostgreSQL: one round trip for the three (and the BEGIN before them)
        assert counting[0].syncs == 1


def test_a_statement_never_read_still_fails_the_transaction(probe: Flask) -> None:
    @database.writes_on_driver
    def use_case(driver: database.Driver) -> None:
        driver.execute(INSERT_PROBE, {"x": 6})
        driver.later("INSERT INTO no_such_table (x) VALUES (1)")  # nobody reads it

    # At once on SQLite; on PostgreSQL with the COMMIT, which it keeps from committing.
    with probe.app_context(), pytest.raises(Exception, match="no_such_table"):
        use_case()
    assert _probe_rows(probe) == []
    with probe.app_context():  # and the pooled connection is as the pool expects it
        assert db.session.scalar(text("SELECT count(*) FROM probe")) == 0
        db.session.remove()


def test_a_postgresql_transaction_that_failed_is_never_taken_for_committed(probe: Flask) -> None:
    """A use case that swallows an error leaves PostgreSQL's transaction failed: its COMMIT
    is answered ROLLBACK, without an error of its own; writes_on_driver raises all the same."""

    @database.writes_on_driver
    def use_case(driver: database.Driver) -> None:
        driver.execute(INSERT_PROBE, {"x": 7})
        try:
            driver.later("SELECT * FROM no_such_table").fetchall()
        except Exception:
            pass  # as no use case may

    with probe.app_context():
        if db.engine.dialect.name != "postgresql":
            return  # SQLite's transaction goes on after a failed statement
        with pytest.raises(RuntimeError, match="'ROLLBACK', not COMMIT"):
            use_case()
    assert _probe_rows(probe) == []


def test_a_driver_write_ends_the_requests_read_transaction_first(probe: Flask) -> None:
    @database.writes_on_driver
    def use_case(driver: database.Driver) -> None:
        driver.execute(INSERT_PROBE, {"x": 2})

    with probe.app_context():
        db.session.execute(text("SELECT count(*) FROM probe"))  # a read the request did before
        assert db.session().in_transaction()
        use_case()
        assert not db.session().in_transaction()
        db.session.remove()


def test_a_driver_write_waits_for_a_real_lock_and_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "a.sqlite3"
    app = make_app(f"sqlite:///{path}", tmp_path, SQLITE_BUSY_TIMEOUT_MS=50)
    with app.app_context():
        db.session.execute(text("CREATE TABLE probe (x INTEGER)"))
        db.session.commit()
        db.session.remove()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process is writing …
    release = threading.Timer(0.15, other.execute, ["COMMIT"])  # … for longer than 50 ms
    calls: list[int] = []

    @database.writes_on_driver
    def use_case(driver: database.Driver) -> None:
        calls.append(1)
        driver.execute("INSERT INTO probe (x) VALUES (3)")

    release.start()
    try:
        with app.app_context():
            use_case()
    finally:
        release.join()
        other.close()
    assert "SQLite was locked in use_case" in caplog.text  # the first BEGIN IMMEDIATE timed out
    assert calls == [1]  # the use case ran once, in the attempt that got the lock
    assert _probe_rows(app) == [(3,)]


def test_a_process_that_writes_many_sqlite_files_holds_one_writer_lock_file(
    tmp_path: Path,
) -> None:
    """The writer queue's lock file is opened per database and closed when the process writes
    another (the test suite writes hundreds; it once ran out of descriptors)."""
    from moderation.sites import create_site

    def lock_files() -> list[str]:
        fds = Path("/proc/self/fd")
        return [
            target
            for fd in fds.iterdir()
            if (target := _link(fd)).endswith(".sqlite3-writers")
            and target.startswith(str(tmp_path))
        ]

    for number in range(3):
        app = make_app(f"sqlite:///{tmp_path / f'db{number}.sqlite3'}", tmp_path / str(number))
        with app.app_context():
            db.create_all()
            create_site(f"site{number}", "Blatt")
            assert lock_files() == [str(tmp_path / f"db{number}.sqlite3-writers")]
            db.engine.dispose()


def _link(fd: Path) -> str:
    try:
        return str(fd.readlink())
    except OSError:  # closed since it was listed
        return ""
