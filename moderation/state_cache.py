"""Articles' list states and sites in each worker's memory, kept current by LISTEN/NOTIFY.

Every list request, every ``304`` and every counts request needs the article's state: its
version (the list's ETag) and its approved count. Reading it costs a round trip to the database
and a query on the database's CPU, which on PostgreSQL made those requests slower than a minimal
Flask app answering from memory. Yet the state changes only when a moderator decides (or a
comment is withdrawn, erased, purged): thousands of reads per change.

So each worker process keeps the states it has read (:class:`Watch`), and PostgreSQL tells it
of every change:

* Triggers on ``article`` and ``site`` (migrations 0005 and 0010; :func:`install_triggers`
  adds the same to ``create_all``) call ``pg_notify('moderation_lists', '<site id>:<article
  key>')`` in the transaction that changes an article's version, approved count, key or site,
  or removes it; ``'*'`` when a site changes in any way or is removed, or a table is truncated.
  A trigger rather than a call in the code: no path that changes an article or a site (the
  CLI, a migration, an operator's SQL) can forget it. PostgreSQL delivers a notification only
  if its transaction commits, to every connection listening on that database: every worker of
  every host.
* The sites are kept too (:meth:`Watch.get_site`): every submission, form and preflight
  starts by reading its site (:func:`moderation.sites.snapshot`), and a site changes when an
  administrator changes it, not in between. Any change of a site row forgets everything held
  (``'*'``): sites change rarely, and the states are read again as they are asked for.
* Each worker has one extra connection that ``LISTEN``\\s, and a thread that waits on its
  socket. Before a request uses the cache, it reads whatever has arrived on that socket itself
  (non-blocking, no round trip), so a notification already delivered is never left waiting
  for the thread to be scheduled.
* PostgreSQL signals every listening backend while it commits, before the deciding request
  even hears its ``COMMIT`` succeed; and the decision then waits for its own worker's listener
  to hear it (:meth:`Watch.barrier`). So by the time a reader's next request arrives, the
  notification is, in practice, on every worker's socket: the one window left is a listening
  backend that the operating system has not run yet (milliseconds under heavy load). The test
  suite checks it across two gunicorn "hosts".
* When the cache cannot be trusted it is not used: every request asks the database, as before.
  That is the case until the listener is connected and listening, after its connection is lost
  (until it has listened again; everything cached before is dropped), and whenever its last
  proof of life is older than 2.5 heartbeats. The proof is a notification the listener sends
  itself on a channel of its own every ``DATABASE_LISTEN_HEARTBEAT`` seconds and sees come back:
  the connection works and LISTEN delivers. A connection that silently stopped delivering (a
  network partition, a pooling proxy that moved the session) therefore costs at most those
  2.5 heartbeats of staleness, never more; and once it is heard from again, everything held
  before is dropped.
* A state read from the database is stored only if no notification arrived between the moment
  the request decided to read and the moment it stores (a generation counter): a state read
  just before a change must not outlive that change's notification.

SQLite needs none of this: its state query is a function call into the same process.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import secrets
import select
import threading
import time
import weakref
from typing import Any

from sqlalchemy import DDL, Engine, Table, event

from .database import table
from .models import Article, Site

log = logging.getLogger(__name__)

CHANNEL = "moderation_lists"
RESET = "*"  # payload: forget everything
MAX_ENTRIES = 100_000  # states per worker (about 150 bytes each); a full cache starts again

# The triggers, as migration 0005 creates them and 0010 changes them (keep them alike).
TRIGGER_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION moderation_list_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('{CHANNEL}', OLD.site_id || ':' || OLD.key);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('{CHANNEL}', NEW.site_id || ':' || NEW.key);
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION moderation_lists_reset() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '{RESET}');
    RETURN NULL;
END $$;
"""
ARTICLE_TRIGGERS = """
CREATE TRIGGER article_list_changed AFTER UPDATE ON article FOR EACH ROW
WHEN (OLD.version IS DISTINCT FROM NEW.version
      OR OLD.approved_count IS DISTINCT FROM NEW.approved_count
      OR OLD.key IS DISTINCT FROM NEW.key OR OLD.site_id IS DISTINCT FROM NEW.site_id)
EXECUTE FUNCTION moderation_list_changed();
CREATE TRIGGER article_list_added AFTER INSERT ON article FOR EACH ROW
WHEN (NEW.version <> 0 OR NEW.approved_count <> 0)
EXECUTE FUNCTION moderation_list_changed();
CREATE TRIGGER article_list_removed AFTER DELETE ON article FOR EACH ROW
EXECUTE FUNCTION moderation_list_changed();
CREATE TRIGGER article_lists_truncated AFTER TRUNCATE ON article FOR EACH STATEMENT
EXECUTE FUNCTION moderation_lists_reset();
"""
SITE_TRIGGERS = """
CREATE TRIGGER site_changed AFTER UPDATE OR DELETE ON site FOR EACH ROW
EXECUTE FUNCTION moderation_lists_reset();
CREATE TRIGGER site_lists_truncated AFTER TRUNCATE ON site FOR EACH STATEMENT
EXECUTE FUNCTION moderation_lists_reset();
"""
# A new article with version 0 and no approved comments needs no notification: its list is
# the empty one that a worker caches for a key nobody has commented on yet.


def install_triggers(article: Table, site: Table) -> None:
    """Create the triggers wherever ``create_all`` creates the tables on PostgreSQL (the
    tests' schema); migration 0005 creates them for a migrated database."""
    for found, triggers in ((site, SITE_TRIGGERS), (article, ARTICLE_TRIGGERS)):
        event.listen(
            found,
            "after_create",
            DDL(TRIGGER_FUNCTIONS + triggers).execute_if(dialect="postgresql"),
        )


install_triggers(table(Article), table(Site))


def _readable(fds: list[int], timeout: float) -> set[int]:
    """Which of ``fds`` can be read (or have hung up) within ``timeout`` seconds.

    ``poll``, not ``select``: select refuses descriptors past 1023, which a worker with many
    open files (or a long test run) reaches, and the listener would then never listen.
    """
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return {fd for fd, _ in poller.poll(max(0, math.ceil(timeout * 1000)))}


class Watch:
    """One process's cached states for one database, and the listener that keeps them current.

    Keys are (site slug, article key); values are whatever the caller stores for them
    (:class:`moderation.approved.ThreadState`), with the site's id, which is what
    notifications name. The listener thread starts with the first :meth:`generation` call, in
    the process that serves requests (a gunicorn worker, after the fork).
    """

    def __init__(self, engine: Engine, heartbeat: float = 2.0) -> None:
        self.engine = engine
        self.heartbeat = heartbeat
        self._lock = threading.Lock()  # the connection, the entries and the counters
        self._entries: dict[tuple[int, str], Any] = {}
        self._sites: dict[str, int] = {}  # slug -> id, for the sites of the entries
        self._site_values: dict[str, Any] = {}  # slug -> the site (see get_site)
        self._generation = 0
        self._conn: Any = None  # the listening psycopg connection, while it is trusted
        self._trusted_until = 0.0  # monotonic time; the last proof of life + 2.5 heartbeats
        self._beat_channel = ""
        self._beat_payload = ""
        self._echoed = ""  # the last of its own beats the listener heard back
        self._next_beat = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._pid = os.getpid()
        self._inherited: list[Any] = []  # connections of a parent process, never touched
        self._connection_ok: Any = None  # psycopg's CONNECTION_OK, once psycopg is loaded
        _watches.add(self)
        # Disposing of the engine (an app's end, in tests) ends the listener; held weakly.
        event.listen(engine, "engine_disposed", functools.partial(_stop_watch, weakref.ref(self)))

    # --- what requests call ---------------------------------------------------------------

    def generation(self) -> int | None:
        """Read what the listener's socket holds, then: the cache's generation if the cache
        can be trusted now, else None (ask the database, and do not :meth:`put`)."""
        if self._thread is None:
            self._start()
        with self._lock:
            if self._conn is None:
                return None
            try:
                self._drain()
            except Exception:
                log.warning("the list listener's connection failed; asking the database")
                self._lose()
                return None
            if time.monotonic() > self._trusted_until:
                return None
            return self._generation

    def get(self, site_slug: str, key: str) -> Any | None:
        """The state stored for an article, or None. Call after :meth:`generation` said the
        cache can be trusted."""
        site_id = self._sites.get(site_slug)
        return None if site_id is None else self._entries.get((site_id, key))

    def put(self, generation: int, site_slug: str, site_id: int, key: str, value: Any) -> None:
        """Store a state read from the database after :meth:`generation` returned
        ``generation``; dropped if anything was heard (or lost) in between."""
        with self._lock:
            if generation != self._generation or self._conn is None:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            if self._sites.get(site_slug, site_id) != site_id:
                self._forget_all()  # a slug now names another site (renamed while unheard)
                return
            self._sites[site_slug] = site_id
            self._entries[(site_id, key)] = value

    def get_site(self, slug: str) -> Any | None:
        """What was stored for a site (:class:`moderation.models.SiteSnapshot`), or None. Call
        after :meth:`generation` said the cache can be trusted."""
        return self._site_values.get(slug)

    def put_site(self, generation: int, slug: str, value: Any) -> None:
        """Store a site read from the database after :meth:`generation` returned
        ``generation``; dropped if anything was heard (or lost) in between. Any change of a
        site row notifies ``'*'``, which forgets it (:meth:`_forget_all`)."""
        with self._lock:
            if generation != self._generation or self._conn is None:
                return
            if len(self._site_values) >= MAX_ENTRIES:
                self._site_values.clear()
            self._site_values[slug] = value

    def barrier(self, timeout: float = 0.5) -> bool:
        """Wait until this process has heard every notification committed before the call.

        The listener sends itself a notification and waits for it to come back: PostgreSQL
        queues notifications in commit order and delivers a connection's in that order, so
        once it is back, everything committed earlier has arrived too. A write use case calls
        this after its commit (through :data:`moderation.database.after_write`), so that the
        answer to a decision leaves only once the listeners were told of it: PostgreSQL
        signals every listening connection at once, so theirs have been sent by then, in
        practice, as ours has. False (not waited) without a listening connection or after
        ``timeout`` seconds.
        """
        with self._lock:
            if self._conn is None:
                return False
            try:
                self._beat()
                deadline = time.monotonic() + timeout
                while self._echoed != self._beat_payload:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    _readable([self._conn.fileno()], remaining)
                    self._drain()
            except Exception:
                log.warning("the list listener's connection failed; asking the database")
                self._lose()
                return False
            return True

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def listening(self) -> bool:
        """Whether the cache is in use (connected, listening, recently proven alive)."""
        return self._conn is not None and time.monotonic() <= self._trusted_until

    def stop(self) -> None:
        """End the listener thread and close its connection (the engine is being disposed)."""
        self._stop.set()
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    # --- the listener ---------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._wake_r, self._wake_w = os.pipe()
            # When the watch is dropped, not at exit (the thread may still wait on them then).
            weakref.finalize(self, _close_all, self._wake_r, self._wake_w).atexit = False
            self._thread = threading.Thread(
                target=_listen, args=(weakref.ref(self),), name="moderation-list-listener"
            )
            self._thread.daemon = True  # never keeps a stopping worker alive
            self._thread.start()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _connect(self) -> Any:
        """A connection of its own (not the pool's), listening for changes and for its own
        heartbeat. TCP keepalives let the kernel notice a peer that vanished."""
        import psycopg
        from psycopg import sql

        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        cparams = {name: value for name, value in cparams.items() if name != "context"}
        for name, value in (
            ("application_name", "moderation list listener"),
            ("connect_timeout", 10),
            ("keepalives", 1),
            ("keepalives_idle", 30),
            ("keepalives_interval", 10),
            ("keepalives_count", 3),
        ):
            cparams.setdefault(name, value)
        conn = psycopg.connect(*cargs, autocommit=True, **cparams)
        self._connection_ok = psycopg.pq.ConnStatus.OK
        try:
            beat_channel = f"moderation_beat_{os.getpid()}_{secrets.token_hex(4)}"
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(beat_channel)))
            conn.add_notify_handler(self._on_notify)
        except BaseException:
            conn.close()
            raise
        self._beat_channel = beat_channel
        return conn

    def _listening(self, conn: Any) -> None:
        """The connection listens: start trusting the cache once its first beat comes back."""
        with self._lock:
            self._forget_all()  # whatever was cached may have changed unheard
            self._conn = conn
            self._beat()

    def _beat(self) -> None:
        """Send the connection's proof of life; :meth:`_on_notify` sees it come back."""
        self._beat_payload = secrets.token_hex(8)
        self._next_beat = time.monotonic() + self.heartbeat
        self._conn.execute("SELECT pg_notify(%s, %s)", (self._beat_channel, self._beat_payload))

    def _step(self, conn: Any) -> bool:
        """After the socket woke the thread (or the heartbeat is due): read, maybe beat.
        False when the connection is no longer the one in use."""
        with self._lock:
            if self._conn is not conn:
                return False
            self._drain()
            if time.monotonic() >= self._next_beat:
                self._beat()
            return True

    def _drain(self) -> None:
        """Handle every notification that has reached the socket, without waiting for more.

        libpq keeps its socket non-blocking: ``consume_input`` reads what is there and returns.
        A connection that has failed raises (the caller drops the cache).
        """
        pgconn = self._conn.pgconn
        pgconn.consume_input()
        while (notify := pgconn.notifies()) is not None:
            self._heard(notify.relname.decode(), notify.extra.decode())
        if pgconn.status != self._connection_ok:
            raise ConnectionError("the listener's connection is closed")

    def _on_notify(self, notify: Any) -> None:
        """psycopg's handler for notifications that arrive while the listener runs a
        statement (its heartbeat); called with the lock held, like :meth:`_drain`."""
        self._heard(notify.channel, notify.payload)

    def _heard(self, channel: str, payload: str) -> None:
        if channel == self._beat_channel:
            if payload == self._beat_payload:
                now = time.monotonic()
                if now > self._trusted_until:
                    # Silent for too long (or just connected): whatever was heard meanwhile
                    # may have gone elsewhere, so nothing held before is kept.
                    self._forget_all()
                self._echoed = payload
                self._trusted_until = now + 2.5 * self.heartbeat
            return
        self._generation += 1
        site_id, sep, key = payload.partition(":")
        if payload == RESET or not sep or not site_id.isdigit():
            self._forget_all()
        else:
            self._entries.pop((int(site_id), key), None)

    def _forget_all(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._sites.clear()
        self._site_values.clear()

    def _lose(self) -> None:
        """Stop trusting the cache; the thread notices and connects again."""
        self._forget_all()
        self._conn = None
        self._trusted_until = 0.0
        self._wake()

    def _after_fork(self) -> None:
        """In a child process: the thread did not come along, and the connection belongs to
        the parent (closing it here would end the parent's session). Start afresh."""
        self._inherited.append(self._conn)
        self._lock = threading.Lock()
        self._conn = None
        self._trusted_until = 0.0
        self._thread = None
        self._forget_all()
        self._pid = os.getpid()


def _listen(ref: weakref.ReferenceType[Watch]) -> None:
    """The listener thread: connect, listen, wait on the socket; again after any failure.

    It holds its :class:`Watch` only weakly between steps, so an app that is thrown away
    (tests make many) takes its listener with it.
    """
    delay = 0.5
    while (watch := ref()) is not None and not watch._stop.is_set():
        wake_r, heartbeat = watch._wake_r, watch.heartbeat
        try:
            conn = watch._connect()
        except Exception as error:
            log.warning("cannot listen for list changes (%s); retrying in %.1f s", error, delay)
            del watch
            _sleep(ref, delay)
            delay = min(delay * 2, 30.0)
            continue
        delay = 0.5
        try:
            watch._listening(conn)
            fd = conn.fileno()
            del watch
            while True:
                readable = _readable([fd, wake_r], heartbeat / 2)
                watch = ref()
                if watch is None or watch._stop.is_set():
                    break
                if wake_r in readable:
                    with contextlib.suppress(OSError):
                        os.read(wake_r, 64)
                if not watch._step(conn):
                    break  # a request found the connection broken
                del watch
        except Exception as error:
            if (watch := ref()) is not None:
                log.warning("lost the list listener's connection (%s); reconnecting", error)
                with watch._lock:
                    if watch._conn is conn:
                        watch._lose()
        finally:
            watch = None
            with contextlib.suppress(Exception):
                conn.close()
        _sleep(ref, 0.1)  # a connection that fails at once must not make this a busy loop
    if watch is not None:
        with watch._lock:
            watch._conn = None


def _sleep(ref: weakref.ReferenceType[Watch], seconds: float) -> None:
    watch = ref()
    if watch is not None:
        stop = watch._stop
        del watch
        stop.wait(seconds)


def _stop_watch(ref: weakref.ReferenceType[Watch], engine: Engine) -> None:
    watch = ref()
    if watch is not None:
        watch.stop()


def _close_all(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


_watches: weakref.WeakSet[Watch] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for watch in list(_watches):
        watch._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
