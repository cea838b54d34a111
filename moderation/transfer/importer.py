"""Importing: a format's stream of threads and posts becomes articles and comments of one site.

The rules every import shares live here, once:

* **Idempotent.** A comment keeps its source (``disqus`` …) and its id there; a post whose
  pair is already on the site is skipped as a duplicate. Running an import twice adds
  nothing; a later, bigger export adds only what is new; a rerun after Ctrl-C continues.
* **Batched.** One write transaction per :data:`BATCH` posts. An interrupted import leaves
  whole batches, never half of one, and the run's report as of its last batch.
* **Faithful.** Authors, e-mails (never public), times in UTC, titles, addresses and closed
  threads are kept; a raw IP is never stored, only its keyed hash. Statuses map as the
  source's (unapproved as ``--unapproved`` says); deleted posts are counted, not imported.
* **Sanitized.** Every body passes :mod:`moderation.sanitize`: foreign HTML through
  :func:`~moderation.sanitize.render_foreign_html`, Markdown and text as a reader's text.
  The source's text is kept as the raw body.
* **Threaded as we thread.** A reply is linked to its parent once both are written; a parent
  that comes later in the file is found at the end (the reply keeps ``source_parent_id``, so
  a rerun links what an interrupted run could not). Then every reply goes under its
  top-level comment, and the report counts those moved up.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask_babel import force_locale, gettext
from sqlalchemy import and_, bindparam, insert, select, update

from .. import database, privacy, review, rules, sanitize, sites
from ..extensions import db
from ..models import Article, Comment, CommentStatus, ImportRun, utcnow
from .records import Item, Markup, Post, SkipReason, SourceStatus, Thread

BATCH = 2000  # posts per write transaction
MAX_ERRORS = 20  # errors kept in the report, with the source's ids
MAX_MAPPINGS = 5  # thread → article key examples in the report


class ArticleKey(enum.StrEnum):
    """How a source's thread becomes our article key (``--article-key``)."""

    PATH = "path"  # the URL's path without leading or trailing slashes: "politik/2026/wahl"
    URL = "url"  # host and path: "www.example.org/politik/2026/wahl"
    ID = "id"  # the source's own identifier (Disqus <id>, a WordPress post id, Isso's uri)


UNAPPROVED_CHOICES = (CommentStatus.PENDING, CommentStatus.REJECTED)
# Skips that are no fault of the file: counted in the report, not listed among its errors.
_ROUTINE = frozenset({SkipReason.DUPLICATE, SkipReason.DELETED, SkipReason.PINGBACK})


@dataclass(frozen=True)
class Options:
    article_key: ArticleKey = ArticleKey.PATH
    unapproved: CommentStatus = CommentStatus.PENDING  # or REJECTED
    dry_run: bool = False


@dataclass
class Report:
    """What an import did (or, in a dry run, would do)."""

    source: str
    dry_run: bool = False
    threads: int = 0  # threads that became (or matched) an article
    imported: Counter[str] = field(default_factory=Counter)  # by status
    replies: int = 0
    moved_up: int = 0  # replies deeper than ours, put under their top-level comment
    skipped: Counter[str] = field(default_factory=Counter)  # by reason
    errors: list[str] = field(default_factory=list)  # "reason: source id (detail)"
    mappings: list[tuple[str, str]] = field(default_factory=list)  # (source URL or id, key)
    run_id: int | None = None

    @property
    def total_imported(self) -> int:
        return sum(self.imported.values())

    def skip(self, source_id: str, reason: SkipReason, detail: str = "") -> None:
        self.skipped[reason.value] += 1
        if reason not in _ROUTINE and len(self.errors) < MAX_ERRORS:
            self.errors.append(f"{reason.value}: {source_id}" + (f" ({detail})" if detail else ""))

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "threads": self.threads,
            "imported": dict(sorted(self.imported.items())),
            "replies": self.replies,
            "moved_up": self.moved_up,
            "skipped": dict(sorted(self.skipped.items())),
            "errors": list(self.errors),
            "mappings": [list(pair) for pair in self.mappings],
        }


def article_key(thread: Thread, how: ArticleKey) -> str | None:
    """The article key for a thread, or None if it has none that our keys allow.

    Without a URL (or with an empty path, a site's home page), ``path`` and ``url`` fall back
    to the source's identifier; without an identifier, ``id`` falls back to the path.
    """
    parts = urlsplit(thread.url or "")
    path = parts.path.strip("/")
    by_path = path or None
    by_url = f"{parts.netloc}/{path}".strip("/") if parts.netloc else by_path
    by_id = (thread.identifier or "").strip().strip("/") or None
    candidates = {
        ArticleKey.PATH: (by_path, by_id),
        ArticleKey.URL: (by_url, by_id),
        ArticleKey.ID: (by_id, by_path),
    }[how]
    for key in candidates:
        if key and rules.is_article_key(key):
            return key
    return None


@dataclass
class _Article:
    thread: Thread
    key: str
    id: int | None = None  # found or made when its first comment is written


@dataclass
class _Batch:
    """Threads and posts read since the last write, in file order."""

    threads: list[Thread] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)


class Importer:
    """Reads one stream into one site. Use :func:`run_import`."""

    def __init__(
        self,
        site_slug: str,
        source: str,
        options: Options,
        *,
        file_name: str = "",
        actor_name: str = "cli",
    ) -> None:
        site = sites.get_site(site_slug)
        self.site_id = site.id
        with force_locale(site.language.value):
            self.anonymous = gettext("Anonymous")
        self.source = source
        self.options = options
        self.file_name = file_name[-300:]
        self.actor_name = actor_name[:80]
        self.report = Report(source, dry_run=options.dry_run)
        self.articles: dict[str, _Article | None] = {}  # thread source id → article (None: no key)
        # Post ids not yet in the database: of the batch being written, or (a dry run) all.
        self.seen: set[str] = set()
        self.replies_seen: set[str] = set()  # in a dry run: post ids that are replies

    # --- the run ---------------------------------------------------------------------------

    def run(self, items: Iterable[Item], progress: Callable[[int], None] | None = None) -> Report:
        database.end_reading()
        stream = iter(items)
        # The run is recorded once the file has given its first batch: a file refused at its
        # head (not the format, a DTD) leaves no trace.
        batch, read = self._next_batch(stream)
        if not self.options.dry_run:
            self.report.run_id = self._start()
        while read:
            if self.options.dry_run:
                self._preview(batch)
            else:
                self._write(batch)
            if progress:
                progress(read)
            batch, read = self._next_batch(stream)
        if not self.options.dry_run:
            self._finish()
        return self.report

    def _next_batch(self, stream: Iterator[Item]) -> tuple[_Batch, int]:
        batch = _Batch()
        read = 0
        for item in stream:
            read += 1
            if isinstance(item, Thread):
                batch.threads.append(item)
            elif isinstance(item, Post):
                batch.posts.append(item)
                if len(batch.posts) >= BATCH:
                    break
            else:
                self.report.skip(item.source_id, item.reason, item.detail)
        return batch, read

    @database.writes
    def _start(self) -> int:
        run = ImportRun(
            site_id=self.site_id,
            source=self.source,
            file_name=self.file_name,
            actor_name=self.actor_name,
            counts=self.report.as_dict(),
        )
        db.session.add(run)
        db.session.flush()
        return run.id

    # --- threads ---------------------------------------------------------------------------

    def _thread(self, thread: Thread) -> None:
        if thread.source_id in self.articles:
            return
        key = article_key(thread, self.options.article_key)
        if key is None:
            self.articles[thread.source_id] = None
            return
        self.report.threads += 1
        if len(self.report.mappings) < MAX_MAPPINGS:
            self.report.mappings.append((thread.url or thread.identifier or thread.source_id, key))
        self.articles[thread.source_id] = _Article(thread, key)

    def _article_id(self, thread_id: str) -> int:
        """The id of the thread's article, made on its first comment: a thread with nothing
        to import (all deleted, say) leaves no empty article behind."""
        article = self.articles[thread_id]
        assert article is not None
        if article.id is not None:
            return article.id
        made = self._article(article.thread, article.key)
        # A new object, not a changed one: the copy of the map that a rolled-back batch worked
        # on must not leak into the next attempt.
        self.articles[thread_id] = _Article(article.thread, article.key, made)
        return made

    def _article(self, thread: Thread, key: str) -> int:
        """Our article for the thread: found by key, or made. Title and address fill gaps
        only; a closed thread closes the article, an open one leaves it as it is."""
        article = db.session.scalars(
            select(Article).where(Article.site_id == self.site_id, Article.key == key)
        ).first()
        if article is None:
            article = Article(site_id=self.site_id, key=key)
            db.session.add(article)
        if article.title is None and thread.title:
            article.title = review.clean_title(thread.title)
        if article.url is None and _is_web_address(thread.url):
            article.url = thread.url
        if thread.closed:
            article.closed = True
        db.session.flush()
        return article.id

    # --- posts -----------------------------------------------------------------------------

    def _refuse(self, post: Post, article: _Article | None) -> SkipReason | None:
        """Why a post cannot be imported (before looking at the database), or None."""
        if post.status is SourceStatus.DELETED:
            return SkipReason.DELETED
        if post.thread_id not in self.articles:
            return SkipReason.UNKNOWN_THREAD
        if article is None:
            return SkipReason.NO_ARTICLE_KEY
        if post.created_at is None:
            return SkipReason.INVALID_DATE
        if not post.source_id or len(post.source_id) > 120:
            return SkipReason.INVALID
        if post.source_id in self.seen:
            return SkipReason.DUPLICATE
        return None

    def _status(self, post: Post) -> CommentStatus:
        return {
            SourceStatus.APPROVED: CommentStatus.APPROVED,
            SourceStatus.UNAPPROVED: self.options.unapproved,
            SourceStatus.REJECTED: CommentStatus.REJECTED,
            SourceStatus.SPAM: CommentStatus.SPAM,
        }[post.status]

    @staticmethod
    def _html(post: Post) -> str:
        """The post's body through our policy; empty when nothing is left."""
        if post.markup is Markup.HTML:
            return sanitize.render_foreign_html(post.text)
        return sanitize.render(post.text)

    def _row(self, post: Post, html: str, article_id: int) -> dict[str, Any]:
        """The comment row for a post."""
        author = sanitize.normalize_text(post.author or "")[:200] or self.anonymous
        email = (post.email or "").strip()
        return {
            "article_id": article_id,
            "parent_id": None,
            "author": author,
            "email": email if "@" in email and len(email) <= rules.MAX_EMAIL_LENGTH else None,
            "body_raw": post.text,
            "body_html": html,
            "policy_version": sanitize.POLICY_VERSION,
            "status": self._status(post),
            "reasons": [],
            "source_hash": privacy.source_hash(post.ip),
            "notify": False,
            "staff": post.staff,
            "featured": post.featured,
            "source": self.source,
            "source_id": post.source_id,
            "source_parent_id": post.parent_id,
            "created_at": post.created_at,
        }

    def _known(self, source_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
        """This site's comments from this source among these ids: id → (comment id, article
        id). Found by the (source_id, source) index alone, the site checked on the articles
        found: joined to the article table, PostgreSQL's plan (from statistics taken while
        the import fills the table) read every comment of the site for each lookup."""
        ids = list(set(source_ids))
        found: list[tuple[str, int, int]] = []
        for start in range(0, len(ids), 500):
            rows = db.session.execute(
                select(Comment.source_id, Comment.id, Comment.article_id).where(
                    Comment.source_id.in_(ids[start : start + 500]),
                    Comment.source == self.source,
                )
            )
            found.extend((str(source_id), id_, article) for source_id, id_, article in rows)
        articles = {article_id for _, _, article_id in found}
        ours = set()
        if articles:
            ours = set(
                db.session.scalars(
                    select(Article.id).where(
                        Article.id.in_(articles), Article.site_id == self.site_id
                    )
                )
            )
        return {
            str(source_id): (comment_id, article_id)
            for source_id, comment_id, article_id in found
            if article_id in ours
        }

    def _preview(self, batch: _Batch) -> None:
        """A dry run's batch: everything :meth:`_write` would decide, without writing."""
        for thread in batch.threads:
            self._thread(thread)
        known = self._known(post.source_id for post in batch.posts)
        for post in batch.posts:
            article = self.articles.get(post.thread_id)
            reason = self._refuse(post, article)
            if reason is None and post.source_id in known:
                reason = SkipReason.DUPLICATE
            if reason is None:
                if not self._html(post):
                    reason = SkipReason.EMPTY
                else:
                    self.seen.add(post.source_id)
                    self.report.imported[self._status(post).value] += 1
                    if post.parent_id:
                        self.report.replies += 1
                        self.replies_seen.add(post.source_id)
                        if post.parent_id in self.replies_seen:
                            self.report.moved_up += 1
                    continue
            self.report.skip(post.source_id, reason or SkipReason.INVALID)

    @database.writes
    def _write_batch(self, batch: _Batch) -> tuple[Report, dict[str, _Article | None]]:
        """One transaction: the batch's articles and comments, and the run's report so far.

        Works on copies of the importer's state and hands them back, so that a transaction
        that is rolled back (and tried again on an SQLite lock) leaves no trace in them.
        """
        saved = (self.report, self.articles)
        self.seen = set()  # the batch's own, from the top on every attempt
        self.report = _copy_report(self.report)
        self.articles = dict(self.articles)
        try:
            for thread in batch.threads:
                self._thread(thread)
            self._insert(batch.posts)
            self._save_report()
            return self.report, self.articles
        finally:
            self.report, self.articles = saved

    def _write(self, batch: _Batch) -> None:
        self.report, self.articles = self._write_batch(batch)
        self.seen.clear()  # committed: from now on the database knows them

    def _insert(self, posts: list[Post]) -> None:
        known = self._known(
            [post.source_id for post in posts]
            + [post.parent_id for post in posts if post.parent_id]
        )
        rows: list[dict[str, Any]] = []
        for post in posts:
            article = self.articles.get(post.thread_id)
            reason = self._refuse(post, article)
            if reason is None and post.source_id in known:
                reason = SkipReason.DUPLICATE
            html = self._html(post) if reason is None else ""
            if not html:
                self.report.skip(post.source_id, reason or SkipReason.EMPTY)
                continue
            self.seen.add(post.source_id)
            rows.append(self._row(post, html, self._article_id(post.thread_id)))
        if not rows:
            return
        # Lists are served oldest first by id: within a batch, ids follow the comments' times
        # (sources list most comments in time order, Disqus not always).
        rows.sort(key=lambda row: row["created_at"])
        # Core, not the ORM's bulk insert: that sends one statement for each run of rows that
        # leave out the same columns (no e-mail, no parent …), thousands per batch.
        inserted = db.session.execute(
            insert(_comment).returning(_comment.c.source_id, _comment.c.id), rows
        ).all()
        ids: dict[str, int] = {str(source_id): comment_id for source_id, comment_id in inserted}
        approved: Counter[int] = Counter()
        for row in rows:
            known[row["source_id"]] = (ids[row["source_id"]], row["article_id"])
            self.report.imported[row["status"].value] += 1
            if row["status"] is CommentStatus.APPROVED:
                approved[row["article_id"]] += 1
        self._link_parents(rows, ids, known)
        if approved:
            # One statement for the batch's articles (a batch of an interleaved export touches
            # thousands): each gets a new version (its list's ETag) and its approved count.
            db.session.execute(
                _BUMP, [{"article": key, "delta": count} for key, count in approved.items()]
            )

    def _link_parents(
        self, rows: list[dict[str, Any]], ids: dict[str, int], known: dict[str, tuple[int, int]]
    ) -> None:
        """Point the new replies at their parents found so far, in this batch or earlier ones.
        A parent still to come is linked at the end, when every reply also goes under its
        top-level comment (:func:`_flatten`)."""
        links: list[dict[str, Any]] = []
        for row in rows:
            parent_source = row["source_parent_id"]
            if not parent_source:
                continue
            self.report.replies += 1
            parent = known.get(parent_source)
            if parent is not None and parent[1] == row["article_id"]:
                links.append({"comment": ids[row["source_id"]], "parent": parent[0]})
        if links:
            db.session.execute(_SET_PARENT, links)

    def _save_report(self) -> None:
        if self.report.run_id is not None:
            db.session.execute(
                update(ImportRun)
                .where(ImportRun.id == self.report.run_id)
                .values(counts=self.report.as_dict())
            )

    # --- the end ---------------------------------------------------------------------------

    @database.writes
    def _finish(self) -> None:
        """Link the replies whose parents came later in the file (or in an earlier run), put
        every reply under its top-level comment, and record the run as finished."""
        _link_late_parents(self.site_id, self.source)
        self.report.moved_up += _flatten(self.site_id, self.source)
        self._save_report()
        db.session.execute(
            update(ImportRun).where(ImportRun.id == self.report.run_id).values(finished_at=utcnow())
        )


_comment = database.table(Comment)
_article = database.table(Article)
_BUMP = (
    update(_article)
    .where(_article.c.id == bindparam("article"))
    .values(
        version=_article.c.version + 1,
        approved_count=_article.c.approved_count + bindparam("delta"),
    )
)
_SET_PARENT = (
    update(_comment)
    .where(_comment.c.id == bindparam("comment"))
    .values(parent_id=bindparam("parent"))
)


def _is_web_address(url: str | None) -> bool:
    """Whether a source's URL can be kept as an article's address: http(s) with a host (Isso
    knows only paths)."""
    if not url or len(url) > 2000:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _copy_report(report: Report) -> Report:
    return Report(
        source=report.source,
        dry_run=report.dry_run,
        threads=report.threads,
        imported=Counter(report.imported),
        replies=report.replies,
        moved_up=report.moved_up,
        skipped=Counter(report.skipped),
        errors=list(report.errors),
        mappings=list(report.mappings),
        run_id=report.run_id,
    )


def _link_late_parents(site_id: int, source: str) -> None:
    """Link this site's unlinked replies from ``source`` to their parents, now there."""
    child = _comment.alias("child")
    parent = _comment.alias("parent")
    links = (
        db.session.execute(
            select(child.c.id.label("comment"), parent.c.id.label("parent"))
            .join(_article, _article.c.id == child.c.article_id)
            .join(
                parent,
                and_(
                    parent.c.article_id == child.c.article_id,
                    parent.c.source == child.c.source,
                    parent.c.source_id == child.c.source_parent_id,
                    parent.c.id != child.c.id,
                ),
            )
            .where(
                _article.c.site_id == site_id,
                child.c.source == source,
                child.c.parent_id.is_(None),
                child.c.source_parent_id.is_not(None),
            )
        )
        .mappings()
        .all()
    )
    if links:
        db.session.execute(_SET_PARENT, [dict(link) for link in links])


def _flatten(site_id: int, source: str) -> int:
    """Put this site's replies from ``source`` that answer a reply under the top-level comment
    above them; returns how many moved. A loop in the source's parent links (a reply to its
    own reply) is cut at one member, which becomes top-level."""
    child = _comment.alias("child")
    parent = _comment.alias("parent")
    deeper = (
        select(child.c.id.label("comment"), parent.c.parent_id.label("parent"))
        .join(_article, _article.c.id == child.c.article_id)
        .join(parent, parent.c.id == child.c.parent_id)
        .where(
            _article.c.site_id == site_id,
            child.c.source == source,
            parent.c.parent_id.is_not(None),
        )
    )
    moved: set[int] = set()
    for _ in range(100):  # each pass moves every deeper reply up one level
        links = [dict(link) for link in db.session.execute(deeper).mappings()]
        if not links:
            break
        loops = [link for link in links if link["parent"] == link["comment"]]
        if loops:
            # A loop shows as a reply that would become its own parent, once for each
            # member; the first becomes top-level, the others follow in the next pass.
            loops[0]["parent"] = None
            links = [link for link in links if link["parent"] != link["comment"]]
        moved.update(link["comment"] for link in links)
        db.session.execute(_SET_PARENT, links)
    return len(moved)


def run_import(
    site_slug: str,
    source: str,
    items: Iterable[Item],
    options: Options | None = None,
    *,
    file_name: str = "",
    actor_name: str = "cli",
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Import ``items`` (a format's :func:`read`) into the site; see the module docstring.

    ``progress`` is called after each batch with the number of items read in it. Raises
    :class:`~moderation.errors.NotFound` for an unknown site, and whatever the reader raises
    (:class:`~.records.UnreadableFile`) with the batches before it kept.
    """
    importer = Importer(
        site_slug, source, options or Options(), file_name=file_name, actor_name=actor_name
    )
    return importer.run(items, progress)


def recent_runs(site_slug: str, limit: int = 50) -> list[ImportRun]:
    """The site's imports, newest first, for the Import/Export page."""
    site = sites.get_site(site_slug)
    return list(
        db.session.scalars(
            select(ImportRun)
            .where(ImportRun.site_id == site.id)
            .order_by(ImportRun.id.desc())
            .limit(limit)
        )
    )
