"""Each worker's list states in memory, kept current by PostgreSQL's LISTEN/NOTIFY.

A worker answers list, ``304`` and counts requests from the states it holds while its listener
connection is listening and proves itself alive; a decision anywhere reaches it as a
notification from the database's triggers; and whenever the listener cannot be trusted (lost,
silent), every request asks the database again, as on SQLite. Mostly PostgreSQL: SQLite has no
such cache.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import THREAD, approve, make_app, post_comment
from sqlalchemy import bindparam, select, text, update

from moderation import approved, database, sites, state_cache
from moderation.extensions import db
from moderation.models import Article, Language, SiteSnapshot
from moderation.sites import update_policy

LIST = f"{THREAD}/comments"
KEY = THREAD.split("/articles/", 1)[1]
COUNTS = f"/api/v1/sites/demo/counts?article={KEY}&article=noch-leer"

postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def watch_of(app: Flask) -> state_cache.Watch:
    found = app.extensions["moderation.watch"]
    assert isinstance(found, state_cache.Watch)
    return found


def listening(client: FlaskClient, timeout: float = 10) -> state_cache.Watch:
    """Start the app's listener (any list request does) and wait until its cache is trusted."""
    client.get(LIST)
    watch = watch_of(client.application)
    wait_for(lambda: watch.listening, timeout, "the listener never started listening")
    return watch


def wait_for(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.01)


def count(client: FlaskClient) -> int:
    return int(client.get(LIST).get_json()["count"])


@pytest.fixture
def no_queries(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Call it, and any read of the state or the counts from the database fails the request."""

    def forbid() -> None:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("asked the database")

        monkeypatch.setattr(database, "read_all", refuse)

    return forbid


@pytest.fixture
def other_worker(app: Flask, database_url: str, tmp_path: Path) -> Iterator[FlaskClient]:
    """A second app on the same database: another gunicorn worker, or another host."""
    other = make_app(database_url, tmp_path / "other")
    yield other.test_client()
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def pg_session(app: Flask) -> psycopg.Connection:
    """A plain autocommit connection to the test database, beside the app's."""
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True)


# --- served from memory ------------------------------------------------------------------------


@postgres_only
def test_lists_304s_and_counts_need_no_query_while_listening(
    client: FlaskClient, no_queries: Callable[[], None]
) -> None:
    approve(client, post_comment(client).get_json()["id"])
    listening(client)
    first = client.get(LIST)  # read once, and the page built
    counts = client.get(COUNTS)
    no_queries()
    assert client.get(LIST).data == first.data
    assert client.get(LIST, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    again = client.get(COUNTS)
    assert again.status_code == 200 and again.data == counts.data
    assert again.get_json() == {"counts": {KEY: 1, "noch-leer": 0}}


@postgres_only
def test_counts_fill_the_cache_for_the_lists_and_ask_only_for_what_is_missing(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    approve(client, post_comment(client).get_json()["id"])
    listening(client)
    client.get(f"/api/v1/sites/demo/counts?article={KEY}")
    asked: list[dict] = []
    original = database.read_all

    def recording(statement: Any, params: Any = None, engine: Any = None) -> list[tuple]:
        asked.append(dict(params))
        return original(statement, params, engine)

    monkeypatch.setattr(database, "read_all", recording)
    assert client.get(COUNTS).get_json() == {"counts": {KEY: 1, "noch-leer": 0}}
    assert asked == [{"key0": "noch-leer", "slug": "demo"}]
    assert client.get("/api/v1/sites/demo/articles/noch-leer/comments").get_json()["count"] == 0
    assert client.get(LIST).get_json()["count"] == 1
    assert len(asked) == 1  # both states came from the counts


# --- told of every change ----------------------------------------------------------------------


@postgres_only
def test_a_decision_in_this_worker_shows_on_its_next_request(client: FlaskClient) -> None:
    first = post_comment(client).get_json()["id"]
    approve(client, first)
    listening(client)
    etag = client.get(LIST).headers["ETag"]
    assert client.get(COUNTS).get_json()["counts"][KEY] == 1

    # The decision returns only once this worker's listener has heard of it (its barrier), so
    # the very next request sees it: no waiting here.
    approve(client, post_comment(client).get_json()["id"])

    fresh = client.get(LIST, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.get_json()["count"] == 2
    assert client.get(COUNTS).get_json()["counts"][KEY] == 2


_BUMP = (
    update(database.table(Article))
    .where(database.table(Article).c.key == bindparam("key"))
    .values(
        version=database.table(Article).c.version + 1,
        approved_count=database.table(Article).c.approved_count + 1,
    )
)


@database.writes_on_driver
def _publish_at_once(driver: database.Driver, key: str) -> None:
    """What a submission that publishes a comment at once does to its article."""
    driver.execute(_BUMP, {"key": key})


@database.writes_on_driver
def _read_only(driver: database.Driver, key: str) -> None:
    driver.execute(select(database.table(Article).c.id).where(Article.key == key))


@postgres_only
def test_a_submission_that_changes_a_list_waits_for_the_listener_too(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    approve(client, post_comment(client).get_json()["id"])
    listening(client)
    assert count(client) == 1
    waited: list[Flask] = []
    monkeypatch.setattr(database, "after_write", [*database.after_write, waited.append])
    with app.app_context():
        _read_only(KEY)
        assert waited == []  # nothing changed: no wait
        _publish_at_once(KEY)
        assert waited == [app]
    assert count(client) == 2  # the very next request


@postgres_only
def test_a_decision_in_another_worker_reaches_this_workers_cache(
    client: FlaskClient, other_worker: FlaskClient, no_queries: Callable[[], None]
) -> None:
    approve(client, post_comment(client).get_json()["id"])
    mine = listening(client)
    listening(other_worker)
    etag = client.get(LIST).headers["ETag"]
    client.get(COUNTS)
    generation = mine.generation()

    approve(other_worker, post_comment(other_worker).get_json()["id"])

    # PostgreSQL passes the notification on while the other worker commits; it is on this
    # worker's socket within milliseconds (how soon is a matter of scheduling, hence a wait).
    wait_for(lambda: mine.generation() != generation, 5, "the notification never arrived")
    assert count(client) == 2
    assert client.get(LIST, headers={"If-None-Match": etag}).status_code == 200
    assert client.get(COUNTS).get_json()["counts"][KEY] == 2
    no_queries()  # and the new state is held again
    assert count(client) == 2


@postgres_only
def test_sites_are_held_and_every_change_of_one_reaches_every_worker(
    app: Flask,
    client: FlaskClient,
    other_worker: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mine = listening(client)
    asked: list[dict] = []
    original = database.read_all

    def recording(statement: Any, params: Any = None, engine: Any = None) -> list[tuple]:
        asked.append(dict(params or {}))
        return original(statement, params, engine)

    monkeypatch.setattr(database, "read_all", recording)

    def demo() -> SiteSnapshot:
        with app.test_request_context():
            return sites.snapshot("demo")

    first = demo()
    assert demo() is first and asked == [{"slug": "demo"}]  # read once, then held
    assert post_comment(client).status_code == 202
    assert {"slug": "demo"} not in asked[1:]  # the submission asked for its site no more

    generation = mine.generation()
    with other_worker.application.app_context():
        update_policy("demo", paused=True)  # in another worker, or on another host
    # As a decision: on this worker's socket within milliseconds (hence a wait).
    wait_for(lambda: mine.generation() != generation, 5, "the notification never arrived")
    assert demo().paused
    assert post_comment(client).get_json()["error"] == "paused"
    with pg_session(app) as other:  # an operator's own SQL, any column of the site
        other.execute("UPDATE site SET paused = false, language = 'en'")
    wait_for(lambda: not demo().paused, 5, "the operator's change never arrived")
    assert demo().language == Language.EN
    assert post_comment(client).status_code == 202


@postgres_only
def test_the_triggers_announce_every_change_of_a_list_and_nothing_else(
    app: Flask, client: FlaskClient
) -> None:
    comment = post_comment(client).get_json()["id"]  # creates the article: no notification
    with pg_session(app) as listener, pg_session(app) as other:
        listener.execute("LISTEN moderation_lists")
        site_id = other.execute("SELECT id FROM site WHERE slug = 'demo'").fetchone()[0]

        def heard() -> list[str]:
            return [n.payload for n in listener.notifies(timeout=0.3)]

        assert heard() == []
        approve(client, comment)
        assert heard() == [f"{site_id}:{KEY}"]
        other.execute("UPDATE article SET title = 'Nur der Titel'")
        assert heard() == []  # the list is the same
        other.execute("UPDATE article SET version = version + 1")  # an operator's own SQL
        assert heard() == [f"{site_id}:{KEY}"]
        other.execute("UPDATE article SET key = 'umbenannt'")
        assert sorted(heard()) == sorted([f"{site_id}:{KEY}", f"{site_id}:umbenannt"])
        other.execute(
            "INSERT INTO article (site_id, key, closed, version, approved_count, created_at) "
            "VALUES (%s, 'importiert', false, 3, 2, now())",
            (site_id,),
        )
        assert heard() == [f"{site_id}:importiert"]
        other.execute("DELETE FROM article WHERE key = 'importiert'")
        assert heard() == [f"{site_id}:importiert"]
        other.execute("UPDATE site SET name = 'Andere Zeitung'")  # the sites are held too
        assert heard() == ["*"]
        other.execute("UPDATE site SET slug = 'neu'")
        assert heard() == ["*"]


# --- when the listener cannot be trusted -------------------------------------------------------


@postgres_only
def test_a_lost_listener_means_asking_the_database_until_it_listens_again(
    app: Flask, client: FlaskClient, other_worker: FlaskClient, no_queries: Callable[[], None]
) -> None:
    approve(client, post_comment(client).get_json()["id"])
    mine = listening(client)
    assert count(client) == 1  # held
    with pg_session(app) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (mine._conn.info.backend_pid,))
    # Changed while this worker's listener is gone: it cannot hear of it.
    approve(other_worker, post_comment(other_worker).get_json()["id"])

    assert count(client) == 2  # asked the database: the lost connection was noticed
    wait_for(lambda: mine.listening, 10, "the listener never listened again")
    assert count(client) == 2  # read again (everything was forgotten), and held
    no_queries()
    assert count(client) == 2


@postgres_only
def test_a_silent_listener_stops_being_trusted_within_its_heartbeats(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config["DATABASE_LISTEN_HEARTBEAT"] = 0.5
    approve(client, post_comment(client).get_json()["id"])
    mine = listening(client)
    assert count(client) == 1
    with pg_session(app) as other, other.transaction():
        # A change nobody is told of (its trigger off for this transaction only).
        other.execute("ALTER TABLE article DISABLE TRIGGER article_list_changed")
        other.execute("UPDATE article SET approved_count = 7, version = version + 1")
        other.execute("ALTER TABLE article ENABLE TRIGGER article_list_changed")
    assert count(client) == 1  # from memory, which shows it is used
    # The listener's proofs of life stop (a partition, a proxy that moved the session) …
    monkeypatch.setattr(state_cache.Watch, "_beat", lambda self: None)
    # … so within 2.5 heartbeats (1.25 s) the cache is no longer used.
    wait_for(lambda: count(client) == 7, 3, "a silent listener was trusted too long")
    assert not mine.listening


@postgres_only
def test_a_state_read_before_a_change_is_not_kept_after_hearing_of_it(
    client: FlaskClient,
) -> None:
    watch = listening(client)
    site_id = approved.thread_state("demo", KEY, client.application).site_id
    state = approved.ThreadState(site_id, None, 0, 0)
    generation = watch.generation()
    assert generation is not None
    with watch._lock:
        watch._heard(state_cache.CHANNEL, f"{site_id}:{KEY}")  # arrives while reading
    watch.put(generation, "demo", site_id, KEY, state)
    assert watch.get("demo", KEY) is None

    generation = watch.generation()
    assert generation is not None
    watch.put(generation, "demo", site_id, KEY, state)
    assert watch.get("demo", KEY) is state
    with watch._lock:
        watch._heard(state_cache.CHANNEL, f"{site_id}:anderer-artikel")
    assert watch.get("demo", KEY) is state  # another article's change leaves it
    with watch._lock:
        watch._heard(state_cache.CHANNEL, "*")
    assert watch.get("demo", KEY) is None


@postgres_only
def test_listening_can_be_switched_off(app: Flask, client: FlaskClient) -> None:
    app.config["DATABASE_LISTEN"] = False
    assert client.get(LIST).status_code == 200
    assert app.extensions["moderation.watch"] is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_needs_no_listener(app: Flask, client: FlaskClient) -> None:
    assert client.get(LIST).status_code == 200
    assert app.extensions["moderation.watch"] is None


@postgres_only
def test_disposing_of_the_engine_ends_the_listener(app: Flask, client: FlaskClient) -> None:
    watch = listening(client)
    thread = watch._thread
    assert thread is not None and thread.is_alive()
    with app.app_context():
        db.engine.dispose()
    assert not thread.is_alive() and not watch.listening


# --- the pool: no ping per request, and no failure after a restart -----------------------------


@postgres_only
def test_reads_survive_connections_the_database_dropped(app: Flask, client: FlaskClient) -> None:
    app.config["DATABASE_LISTEN"] = False  # every list request reads
    assert client.get(LIST).status_code == 200
    with app.app_context():
        engine = db.engine
    with pg_session(app) as admin:  # what a database restart does to the pool
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert engine.pool.checkedin() >= 1  # the dead connections still wait in the pool
    assert client.get(LIST).status_code == 200  # the read was sent again on a new one
    assert client.get(COUNTS).status_code == 200


@postgres_only
def test_a_connection_idle_for_long_is_pinged_before_use(app: Flask, client: FlaskClient) -> None:
    assert client.get(LIST).status_code == 200
    with app.app_context():
        engine = db.engine
        db.session.execute(text("SELECT 1"))  # an ORM session's connection, given back
        db.session.remove()
    with pg_session(app) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    # Pretend the pooled connections have been idle longer than DATABASE_PING_IDLE_SECONDS.
    for record in list(engine.pool._pool.queue):  # type: ignore[attr-defined]
        record.info["moderation_used"] = time.monotonic() - 3600
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM article")) == 0
        db.session.remove()


def _migration(name: str) -> Any:
    path = Path(__file__).parent.parent / "migrations/versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"migration_{name}", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return migration


def test_the_triggers_in_the_migrations_and_for_create_all_are_the_same() -> None:
    created, changed = _migration("0005_list_notifications"), _migration("0010_site_notifications")

    def normal(sql: str) -> list[str]:
        return sorted(" ".join(part.split()) for part in sql.split(";") if part.strip())

    assert normal(created.FUNCTIONS) == normal(state_cache.TRIGGER_FUNCTIONS)
    # 0010 replaced 0005's trigger on a site's new slug with one on any change of a site.
    assert set(normal(changed.BEFORE)) <= set(normal(created.TRIGGERS))
    migrated = sorted(
        {*normal(created.TRIGGERS), *normal(changed.SITE_CHANGED)} - set(normal(changed.BEFORE))
    )
    triggers = state_cache.SITE_TRIGGERS + state_cache.ARTICLE_TRIGGERS
    assert migrated == normal(triggers)


@postgres_only
def test_the_listener_listens_in_a_process_with_many_open_files(
    client: FlaskClient, tmp_path: Any
) -> None:
    """select() refuses descriptors past 1023; a worker with many files open must still listen."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this process may open only {hard} files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [open(tmp_path / "held", "w") for _ in range(1100)]  # noqa: SIM115
    try:
        watch = listening(client)
        assert watch.listening
    finally:
        for f in held:
            f.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
