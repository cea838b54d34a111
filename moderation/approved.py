"""Serving what was approved: an article's approved list and the counts for many articles.

This is the hot path: every article view reads it. Each function is one indexed query written
in SQLAlchemy Core (no ORM objects are built), and the list's ETag comes from the article's
version, which :mod:`moderation.review` bumps whenever the approved list changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, select

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

    def etag(self, limit: int, after: int | None) -> str:
        # An ETag is compared only with earlier answers for the same URL, so the article's
        # version and the page parameters are enough.
        return f"{self.version}.{limit}.{after or 0}"


def thread_state(site_slug: str, article_key: str) -> ThreadState:
    """The site and article in one query; raises :class:`NotFound` for an unknown site."""
    row = db.session.execute(
        select(Site.id, Article.id, Article.version, Article.approved_count)
        .select_from(Site)
        .outerjoin(Article, and_(Article.site_id == Site.id, Article.key == article_key))
        .where(Site.slug == site_slug)
    ).first()
    if row is None:
        raise NotFound(f"There is no site {site_slug!r}.", code="unknown_site")
    site_id, article_id, version, count = row
    return ThreadState(site_id, article_id, version or 0, count or 0)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as the API promises."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def approved_page(state: ThreadState, limit: int, after: int | None) -> dict:
    """One page of the approved list, oldest first, as the API's JSON body."""
    comments: list[dict] = []
    next_cursor = None
    if state.article_id is not None:
        query = (
            select(
                Comment.id, Comment.parent_id, Comment.author, Comment.body_html, Comment.created_at
            )
            .where(Comment.article_id == state.article_id)
            .where(Comment.status == CommentStatus.APPROVED)
            .order_by(Comment.id)
            .limit(limit + 1)
        )
        if after is not None:
            query = query.where(Comment.id > after)
        rows = db.session.execute(query).all()
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = str(rows[-1].id)
        comments = [
            {
                "id": row.id,
                "parent_id": row.parent_id,
                "author": row.author,
                "html": row.body_html,
                "created_at": iso(row.created_at),
            }
            for row in rows
        ]
    return {"comments": comments, "count": state.count, "next": next_cursor}


def counts(site_slug: str, article_keys: Iterable[str]) -> dict[str, int]:
    """Approved comments per article key, all in one query; unknown articles count 0."""
    keys = list(dict.fromkeys(article_keys))
    rows = db.session.execute(
        select(Site.id, Article.key, Article.approved_count)
        .select_from(Site)
        .outerjoin(Article, and_(Article.site_id == Site.id, Article.key.in_(keys)))
        .where(Site.slug == site_slug)
    ).all()
    if not rows:
        raise NotFound(f"There is no site {site_slug!r}.", code="unknown_site")
    found = {key: count for _, key, count in rows if key is not None}
    return {key: found.get(key, 0) for key in keys}
