"""Serving what was approved: an article's approved list and the counts for many articles.

This is the hot path: every article view reads it. The list costs one indexed query for the
article's state (site, article, version, count) in the database driver's own terms, without an
ORM session; its ETag comes from the article's version, which :mod:`moderation.review` bumps
whenever the approved list changes. A ``304`` is answered from that state alone. The JSON of a
page is built once per version and kept in a small per-worker cache (:class:`PageCache`) keyed
by (article, version, limit, after, sort): a new version is a new key, so the cache is never stale
and needs no invalidation across workers or hosts. Counts for many articles are one query.

On PostgreSQL the states themselves are kept in each worker's memory and PostgreSQL tells every
worker of each change (:mod:`moderation.state_cache`): a ``304``, a cached page and counts then
need no query at all.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from flask import Flask, current_app
from sqlalchemy import Engine, Select, and_, bindparam, or_, select

from . import database, state_cache
from .errors import NotFound
from .extensions import db
from .models import Article, Comment, CommentStatus, Site


@dataclass(frozen=True)
class ThreadState:
    """Where an article's approved list stands; enough to answer a conditional request."""

    site_id: int
    article_id: int | None  # None: nobody has commented yet
    version: int
    count: int

    def etag(self, limit: int, after: int | None, sort: str = "oldest") -> str:
        # An ETag is compared only with earlier answers for the same URL, so the article's
        # version and the page parameters are enough; the order is named all the same, so
        # that each order has an ETag of its own wherever answers are compared.
        return f"{self.version}.{limit}.{after or 0}.{sort}"


# The list's orders (``?sort=``): by id, oldest or newest first, or the editors' picks first
# and then oldest first. Paging is by cursor (``after``), opaque to clients: the id of the
# page's last comment, and for ``featured`` while still among the picks, that id negated.
SORTS = ("oldest", "newest", "featured")


# The state of one thread: site by slug, article by its (site_id, key) unique index.
_site = database.table(Site)
_article = database.table(Article)
_STATE = (
    select(_site.c.id, _article.c.id, _article.c.version, _article.c.approved_count)
    .select_from(
        _site.outerjoin(
            _article,
            and_(_article.c.site_id == _site.c.id, _article.c.key == bindparam("key")),
        )
    )
    .where(_site.c.slug == bindparam("slug"))
)


def _app(app: Flask | None) -> Flask:
    # current_app is typed as the app itself, not as the proxy that it is.
    return app or current_app._get_current_object()  # type: ignore[attr-defined]


def engine(app: Flask) -> Engine:
    """The app's engine, looked up once: Flask-SQLAlchemy hands it out only in an app context,
    and :mod:`moderation.public.fast_path` answers before Flask opens one."""
    found = app.extensions.get("moderation.engine")
    if found is None:
        with app.app_context():
            found = app.extensions["moderation.engine"] = db.engine
    return found


def thread_state(site_slug: str, article_key: str, app: Flask | None = None) -> ThreadState:
    """The site and article in one query; raises :class:`NotFound` for an unknown site.

    This runs on every list request, including every ``304``, so it goes straight to the
    driver: no session, no ORM, a statement compiled once. On SQLite the connection is in
    autocommit mode and the single SELECT is its own snapshot. ``app`` defaults to the current
    app; :mod:`moderation.public.fast_path` passes it, since it runs outside any Flask context.

    With ``LIST_STATE_TTL`` above 0, a worker reuses a state it read less than that many
    seconds ago: a decision then shows up to that much later (on top of the ``max-age`` that
    clients and proxies may already wait). The default, 0, reads the state every time.
    """
    app = _app(app)
    watch = watch_of(app)
    generation = watch.generation() if watch is not None else None
    if generation is not None:
        assert watch is not None
        found = watch.get(site_slug, article_key)
        if found is not None:
            return cast(ThreadState, found)
    ttl = float(app.config["LIST_STATE_TTL"])
    if ttl > 0:
        states = _state_cache(app)
        key = (site_slug, article_key)
        now = time.monotonic()
        hit = states.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    row = database.read_one(_STATE, {"key": article_key, "slug": site_slug}, engine(app))
    if row is None:
        raise NotFound(f"There is no site {site_slug!r}.", code="unknown_site")
    site_id, article_id, version, count = row
    state = ThreadState(site_id, article_id, version or 0, count or 0)
    if generation is not None:
        assert watch is not None
        watch.put(generation, site_slug, site_id, article_key, state)
    if ttl > 0:
        if len(states) >= int(app.config["LIST_CACHE_ENTRIES"]):
            states.clear()  # bounded; a full cache simply starts again
        states[key] = (now + ttl, state)
    return state


def _state_cache(app: Flask) -> dict[tuple[str, str], tuple[float, ThreadState]]:
    return app.extensions.setdefault("moderation.state_cache", {})


def watch_of(app: Flask) -> state_cache.Watch | None:
    """This app's :class:`~moderation.state_cache.Watch` on PostgreSQL (unless
    ``DATABASE_LISTEN`` is off), made on first use; None on SQLite. The lists' states and
    :func:`moderation.sites.snapshot` share it."""
    found = app.extensions.get("moderation.watch", _NO_WATCH)
    if found is _NO_WATCH:
        found = None
        bound = engine(app)
        if bound.dialect.name == "postgresql" and app.config["DATABASE_LISTEN"]:
            found = state_cache.Watch(bound, float(app.config["DATABASE_LISTEN_HEARTBEAT"]))
        app.extensions["moderation.watch"] = found
    return cast("state_cache.Watch | None", found)


_NO_WATCH = object()


def _heard_by_the_workers(app: Flask) -> None:
    """After a write use case commits: return once this worker's listener has heard of it
    (:meth:`~moderation.state_cache.Watch.barrier`). PostgreSQL signals all listeners at once,
    so the answer to a decision leaves when, in practice, every worker has been told. Nothing
    where no list was served yet (no listener), and nothing on SQLite."""
    watch = app.extensions.get("moderation.watch")
    if isinstance(watch, state_cache.Watch):
        watch.barrier()


database.after_write.append(_heard_by_the_workers)


@dataclass(frozen=True)
class Page:
    """One page of an approved list, serialized once: the body and the ETag that names it."""

    etag: str | None  # None: the list changed while it was read; not cacheable
    body: bytes


class PageCache:
    """A worker's least-recently-used pages, bounded by entries and by bytes.

    Keys contain the article's version, so a page is only ever served for the version it was
    built from; an outdated entry is simply never asked for again and ages out.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size = 0
        self._pages: OrderedDict[tuple, Page] = OrderedDict()
        self._lock = threading.Lock()  # the development server and tests serve from threads

    def get(self, key: tuple) -> Page | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: tuple, page: Page) -> None:
        if len(page.body) > self.max_bytes or self.max_entries < 1:
            return
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self.size -= len(old.body)
            self._pages[key] = page
            self.size += len(page.body)
            while len(self._pages) > self.max_entries or self.size > self.max_bytes:
                _, evicted = self._pages.popitem(last=False)
                self.size -= len(evicted.body)

    def __len__(self) -> int:
        return len(self._pages)


def page_cache(app: Flask | None = None) -> PageCache:
    """This app's page cache (one per app and process, so tests never share one)."""
    app = _app(app)
    cache = app.extensions.get("moderation.page_cache")
    if cache is None:
        cache = app.extensions["moderation.page_cache"] = PageCache(
            int(app.config["LIST_CACHE_ENTRIES"]), int(app.config["LIST_CACHE_BYTES"])
        )
    return cache


def page_key(state: ThreadState, limit: int, after: int | None, sort: str = "oldest") -> tuple:
    """Where a page lives in the cache; the view and :mod:`moderation.public.fast_path` use it."""
    return (state.site_id, state.article_id, state.version, limit, after, sort)


def page(state: ThreadState, limit: int, after: int | None, sort: str = "oldest") -> Page:
    """The page for this state, from the cache or built (one indexed query) and cached.

    A page is only ever labelled with the version it was read at: after reading the comments,
    the article's version is read again, and if a decision came in between, the page is built
    again for the new version (a few times at most; failing that, it goes out without an ETag
    and is not cached). Every list change bumps the version in the same transaction, so an
    unchanged version proves the comments belong to it.
    """
    cache = page_cache()
    for _ in range(3):
        key = page_key(state, limit, after, sort)
        found = cache.get(key)
        if found is not None:
            return found
        data = approved_page(state, limit, after, sort)
        body = json.dumps(data, separators=(",", ":")).encode()
        if state.article_id is None:
            now = None  # no article yet: an empty list, whatever happens next
        else:
            # In the same transaction as the comments: on SQLite the same snapshot; on
            # PostgreSQL a later one, so an unchanged version proves nothing changed between.
            row = db.session.execute(
                select(Article.version, Article.approved_count).where(
                    Article.id == state.article_id
                )
            ).first()
            now = ThreadState(state.site_id, state.article_id, *row) if row else None
        if now is None or now.version == state.version:
            built = Page(state.etag(limit, after, sort), body)
            cache.put(key, built)
            return built
        state = now
        database.discard()  # a read-only transaction; the next read sees the newest data
    return Page(None, body)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as the API promises."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _ordered(query: Select, after: int | None, sort: str) -> Select:
    """The list's query in the order ``sort``, from the cursor ``after`` on (see :data:`SORTS`).

    Every order is by the index (article, status, id); ``featured`` reads the few picks and
    then the rest, both by id. A reply may so come before its parent (``newest``, or a pick
    answering a comment that is none): the widget holds it until its parent has come.
    """
    if sort == "newest":
        query = query.order_by(Comment.id.desc())
        return query if after is None else query.where(Comment.id < after)
    if sort == "featured":
        query = query.order_by(Comment.featured.desc(), Comment.id)
        if after is None:
            return query
        if after < 0:  # still among the picks: the picks after it, then every other comment
            return query.where(or_(and_(Comment.featured, Comment.id > -after), ~Comment.featured))
        return query.where(~Comment.featured, Comment.id > after)
    query = query.order_by(Comment.id)
    return query if after is None else query.where(Comment.id > after)


def approved_page(state: ThreadState, limit: int, after: int | None, sort: str = "oldest") -> dict:
    """One page of the approved list in the order ``sort``, as the API's JSON body."""
    comments: list[dict] = []
    next_cursor = None
    if state.article_id is not None:
        query = (
            select(
                Comment.id,
                Comment.parent_id,
                Comment.author,
                Comment.body_html,
                Comment.created_at,
                Comment.staff,
                Comment.featured,
            )
            .where(Comment.article_id == state.article_id)
            .where(Comment.status == CommentStatus.APPROVED)
            .limit(limit + 1)
        )
        rows = db.session.execute(_ordered(query, after, sort)).all()
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = str(-last.id if sort == "featured" and last.featured else last.id)
        comments = [
            {
                "id": row.id,
                "parent_id": row.parent_id,
                "author": row.author,
                "html": row.body_html,
                "created_at": iso(row.created_at),
                "staff": bool(row.staff),
                "featured": bool(row.featured),
            }
            for row in rows
        ]
    return {"comments": comments, "count": state.count, "next": next_cursor}


@functools.lru_cache(maxsize=256)
def _counts_statement(keys: int) -> Select:
    """The counts query for this many article keys (parameters ``key0`` …, ``slug``): site by
    slug, each article by its (site_id, key) unique index, the count from the article's
    ``approved_count``, with the rest of each article's state for the worker's cache. One
    statement per number of keys, so each is compiled once."""
    wanted = _article.c.key.in_([bindparam(f"key{number}") for number in range(keys)])
    return (
        select(
            _site.c.id,
            _article.c.key,
            _article.c.approved_count,
            _article.c.id,
            _article.c.version,
        )
        .select_from(_site.outerjoin(_article, and_(_article.c.site_id == _site.c.id, wanted)))
        .where(_site.c.slug == bindparam("slug"))
    )


def counts(site_slug: str, article_keys: Iterable[str], app: Flask | None = None) -> dict[str, int]:
    """Approved comments per article key, all in one query; unknown articles count 0.

    Article pages ask for these on every view of a front page, so the query goes straight to
    the driver, like the list's state; on PostgreSQL the counts come from the states this
    worker already holds (:mod:`moderation.state_cache`), and only the articles it does not
    hold are asked for.
    """
    app = _app(app)
    keys = list(dict.fromkeys(article_keys))
    watch = watch_of(app)
    generation = watch.generation() if watch is not None else None
    held: dict[str, ThreadState] = {}
    if generation is not None:
        assert watch is not None
        for key in keys:
            found = watch.get(site_slug, key)
            if found is not None:
                held[key] = cast(ThreadState, found)
        if len(held) == len(keys):
            return {key: held[key].count for key in keys}
    missing = [key for key in keys if key not in held]
    params = {f"key{number}": key for number, key in enumerate(missing)}
    statement = _counts_statement(len(missing))
    rows = database.read_all(statement, params | {"slug": site_slug}, engine(app))
    if not rows:
        raise NotFound(f"There is no site {site_slug!r}.", code="unknown_site")
    site_id = rows[0][0]
    read = {
        key: ThreadState(site_id, article_id, version, count)
        for _, key, count, article_id, version in rows
        if key is not None
    }
    for key in missing:
        state = read.get(key) or ThreadState(site_id, None, 0, 0)
        held[key] = state
        if generation is not None:
            assert watch is not None
            watch.put(generation, site_slug, site_id, key, state)
    return {key: held[key].count for key in keys}
