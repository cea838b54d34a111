"""Retention: what the service forgets on purpose, and when (``flask --app wsgi privacy purge``).

Nothing a reader wrote disappears by accident, but nothing is kept longer than it serves its
purpose either. Run daily (cron or a systemd timer; see docs/data-protection.md),
:func:`purge` removes

* spam, ``RETENTION_SPAM_DAYS`` (7) days after it became spam,
* rejected and withdrawn comments, ``RETENTION_REJECTED_DAYS`` (30) days after that decision,
* bans that ended (lifted or expired) more than ``RETENTION_REJECTED_DAYS`` days ago,
* the record of spent comment-form tokens once they have expired,
* notifications (outbox rows) that were delivered, failed or cancelled more than
  ``RETENTION_OUTBOX_DAYS`` (30) days ago: a mail's row holds its address and text, and has
  done its job once sent (:func:`moderation.notify.outbox.purge`; pending rows stay),

and clears the source hash of comments and readers' reports older than
``RETENTION_SOURCE_HASH_DAYS`` (30; 0 keeps it), together with failed-login records of that
age. The time that counts for a comment is its
last status change (its newest audit event), so a comment that became spam yesterday is kept a
week from yesterday, however old it is.

For each removed comment an anonymous audit event remains (actor ``system``, no comment, the
status it had, its site), and its earlier events stay with their comment reference set to NULL
by the database and its site written on them, so that the year's transparency report still
counts the removal (:func:`moderation.reports.transparency`). Replies to a removed comment
lose their parent (``parent_id`` becomes NULL) and are shown at the top level; their article's
version is bumped so caches notice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Delete,
    Update,
    delete,
    func,
    or_,
    select,
    update,
)

from . import database
from .errors import InvalidInput
from .extensions import db
from .models import (
    Article,
    Ban,
    Comment,
    CommentStatus,
    FormTokenUse,
    LoginAttempt,
    ModerationEvent,
    Report,
    utcnow,
)
from .notify import outbox
from .review import bump_article

BATCH = 500


@dataclass
class PurgeResult:
    removed: dict[str, int] = field(default_factory=dict)  # status → comments removed
    bans: int = 0
    source_hashes: int = 0
    login_attempts: int = 0
    form_tokens: int = 0
    notifications: int = 0  # outbox rows: delivered, failed or cancelled

    @property
    def comments(self) -> int:
        return sum(self.removed.values())


def _days(value: int | None, setting: str, *, allow_zero: bool = False) -> int:
    days = int(current_app.config[setting]) if value is None else value
    if isinstance(days, bool) or days < (0 if allow_zero else 1):
        raise InvalidInput(
            f"{setting.lower()} must be at least {0 if allow_zero else 1} day(s).",
            code="invalid_retention",
        )
    return days


def purge(
    *,
    spam_days: int | None = None,
    rejected_days: int | None = None,
    source_hash_days: int | None = None,
    outbox_days: int | None = None,
    now: datetime | None = None,
) -> PurgeResult:
    """Remove what has outlived its purpose (see the module docstring) and commit in batches.

    Each batch of comments is one write transaction, and the rest (bans, tokens, hashes) is
    one more: what a batch removed stays removed if a later one fails, and no transaction keeps
    other writers waiting for long. ``None`` takes a period from the settings. Raises
    :class:`InvalidInput` for a period under one day (``source_hash_days`` may be 0: keep
    source hashes), before anything is removed.
    """
    now = now or utcnow()
    spam_days = _days(spam_days, "RETENTION_SPAM_DAYS")
    rejected_days = _days(rejected_days, "RETENTION_REJECTED_DAYS")
    source_hash_days = _days(source_hash_days, "RETENTION_SOURCE_HASH_DAYS", allow_zero=True)
    outbox_days = _days(outbox_days, "RETENTION_OUTBOX_DAYS")
    result = PurgeResult()

    last_change = (
        select(func.max(ModerationEvent.created_at))
        .where(ModerationEvent.comment_id == Comment.id)
        .scalar_subquery()
    )
    changed_at = func.coalesce(last_change, Comment.created_at)
    spam_cutoff = now - timedelta(days=spam_days)
    rejected_cutoff = now - timedelta(days=rejected_days)
    due = or_(
        (Comment.status == CommentStatus.SPAM) & (changed_at < spam_cutoff),
        Comment.status.in_([CommentStatus.REJECTED, CommentStatus.WITHDRAWN])
        & (changed_at < rejected_cutoff),
    )
    periods = {
        CommentStatus.SPAM: spam_days,
        CommentStatus.REJECTED: rejected_days,
        CommentStatus.WITHDRAWN: rejected_days,
    }
    while removed := _purge_batch(due, periods):
        for status, count in removed.items():
            result.removed[status] = result.removed.get(status, 0) + count
    _purge_the_rest(result, now, rejected_cutoff, source_hash_days, outbox_days)
    return result


@database.writes
def _purge_batch(due: ColumnElement[bool], periods: dict[CommentStatus, int]) -> dict[str, int]:
    """Remove up to :data:`BATCH` comments that are due; how many of each status."""
    batch = db.session.execute(
        select(Comment.id, Comment.status, Article.site_id)
        .join(Article, Article.id == Comment.article_id)
        .where(due)
        .order_by(Comment.id)
        .limit(BATCH)
    ).all()
    removed: dict[str, int] = {}
    if not batch:
        return removed
    ids = [row.id for row in batch]
    for _, status, site_id in batch:
        removed[status.value] = removed.get(status.value, 0) + 1
        db.session.add(
            ModerationEvent(
                comment_id=None,
                actor_name="system",
                from_status=status,
                to_status=None,
                note=f"retention: {status.value} for over {periods[status]} days",
                site_id=site_id,
            )
        )
    # The events outlive their comment; they keep its site (see the module docstring).
    site_of_comment = (
        select(Article.site_id)
        .join(Comment, Comment.article_id == Article.id)
        .where(Comment.id == ModerationEvent.comment_id)
        .scalar_subquery()
    )
    db.session.execute(
        update(ModerationEvent)
        .where(ModerationEvent.comment_id.in_(ids))
        .values(site_id=site_of_comment)
        .execution_options(synchronize_session=False)
    )
    orphans_in = db.session.scalars(
        select(Comment.article_id)
        .where(Comment.parent_id.in_(ids), Comment.status == CommentStatus.APPROVED)
        .distinct()
    ).all()
    db.session.execute(
        delete(Comment).where(Comment.id.in_(ids)).execution_options(synchronize_session=False)
    )
    for article_id in orphans_in:
        bump_article(article_id)
    return removed


@database.writes
def _purge_the_rest(
    result: PurgeResult,
    now: datetime,
    ban_cutoff: datetime,
    source_hash_days: int,
    outbox_days: int,
) -> None:
    """Ended bans, expired form tokens, old source hashes and login records, sent
    notifications; counted into ``result`` (set, not added to, so a retried attempt counts
    once)."""
    result.notifications = outbox.purge(outbox_days, now=now)  # joins this transaction
    result.bans = _rows_changed(
        delete(Ban)
        .where(or_(Ban.lifted_at < ban_cutoff, Ban.expires_at < ban_cutoff))
        .execution_options(synchronize_session=False)
    )
    # A spent form token past its expiry is refused by its signature alone.
    result.form_tokens = _rows_changed(
        delete(FormTokenUse)
        .where(FormTokenUse.expires_at < now)
        .execution_options(synchronize_session=False)
    )
    if source_hash_days:
        hash_cutoff = now - timedelta(days=source_hash_days)
        result.source_hashes = _rows_changed(
            update(Comment)
            .where(Comment.source_hash.is_not(None), Comment.created_at < hash_cutoff)
            .values(source_hash=None)
            .execution_options(synchronize_session=False)
        )
        # Reports keep theirs as long (it counts against the report rate limit), then no more.
        result.source_hashes += _rows_changed(
            update(Report)
            .where(Report.source_hash.is_not(None), Report.created_at < hash_cutoff)
            .values(source_hash=None)
            .execution_options(synchronize_session=False)
        )
        result.login_attempts = _rows_changed(
            delete(LoginAttempt)
            .where(LoginAttempt.created_at < hash_cutoff)
            .execution_options(synchronize_session=False)
        )


def _rows_changed(statement: Delete | Update) -> int:
    """Run an UPDATE or DELETE in the session; how many rows it changed."""
    result = db.session.execute(statement)
    # Session.execute is typed as giving a Result; for a DELETE or UPDATE it is a CursorResult,
    # the kind that knows its row count.
    assert isinstance(result, CursorResult)
    return result.rowcount
