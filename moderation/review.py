"""The moderation queue and decisions: pending → approved | rejected | spam, and revisions.

Every change of a comment's status goes through :func:`change_status`, which writes the audit
event and keeps the article's approved count and version (the list's ETag) in step. The CLI,
the moderator UI and the author's withdrawal all call it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from .errors import Conflict, InvalidInput, NotFound
from .extensions import db
from .models import Article, Comment, CommentStatus, ModerationEvent, Moderator, Site, utcnow


class Decision(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    SPAM = "spam"

    @property
    def status(self) -> CommentStatus:
        return _DECISION_STATUS[self]


_DECISION_STATUS = {
    Decision.APPROVE: CommentStatus.APPROVED,
    Decision.REJECT: CommentStatus.REJECTED,
    Decision.SPAM: CommentStatus.SPAM,
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a moderator, or a named non-person such as ``cli``, ``author`` or ``system``."""

    name: str
    moderator_id: int | None = None

    @classmethod
    def of(cls, moderator: Moderator) -> Actor:
        return cls(moderator.username, moderator.id)


def pending_queue(site: str | None = None, limit: int = 100) -> Sequence[Comment]:
    """Pending comments, oldest first, optionally for one site."""
    query = (
        select(Comment)
        .where(Comment.status == CommentStatus.PENDING)
        .order_by(Comment.created_at, Comment.id)
        .options(joinedload(Comment.article).joinedload(Article.site))
        .limit(limit)
    )
    if site is not None:
        query = query.join(Comment.article).join(Article.site).where(Site.slug == site)
    return db.session.scalars(query).all()


def get_comment(comment_id: int, *, for_update: bool = False) -> Comment:
    """The comment with this id; raises :class:`NotFound`."""
    query = select(Comment).where(Comment.id == comment_id)
    if for_update:
        query = query.with_for_update()
    comment = db.session.scalars(query).first()
    if comment is None:
        raise NotFound(f"There is no comment {comment_id}.", code="unknown_comment")
    return comment


def change_status(
    comment: Comment, to: CommentStatus, actor: Actor, note: str | None = None
) -> ModerationEvent:
    """Move a comment to a status, with its audit event; the caller commits.

    When the approved list of the article changes (a comment enters or leaves it), the article's
    approved count and version change in the same transaction, with SQL arithmetic so that two
    workers deciding at once cannot lose an update.
    """
    before = comment.status
    comment.status = to
    if to in (CommentStatus.APPROVED, CommentStatus.REJECTED, CommentStatus.SPAM):
        comment.decided_at = utcnow()
        comment.decided_by_id = actor.moderator_id
    delta = (to == CommentStatus.APPROVED) - (before == CommentStatus.APPROVED)
    if delta:
        bump_article(comment.article_id, approved_delta=delta)
    event = ModerationEvent(
        comment_id=comment.id,
        actor_id=actor.moderator_id,
        actor_name=actor.name,
        from_status=before,
        to_status=to,
        note=note or None,
    )
    db.session.add(event)
    return event


def bump_article(article_id: int, approved_delta: int = 0) -> None:
    """Mark an article's approved list as changed (new ETag), adjusting its approved count."""
    db.session.execute(
        update(Article)
        .where(Article.id == article_id)
        .values(
            version=Article.version + 1,
            approved_count=Article.approved_count + approved_delta,
        )
    )


def decide(
    comment_id: int, decision: Decision | str, actor: Actor, note: str | None = None
) -> ModerationEvent | None:
    """Approve, reject or mark a comment as spam, and commit.

    Any decision can be revised later (spam → approved …); each revision is its own event.
    Deciding what the comment already is changes nothing and returns ``None``. A withdrawn
    comment has no text left to publish and cannot be decided (:class:`Conflict`).
    """
    try:
        decision = Decision(decision)
    except ValueError:
        raise InvalidInput(
            f"Unknown decision {decision!r}; use approve, reject or spam.", code="invalid_decision"
        ) from None
    comment = get_comment(comment_id, for_update=True)
    if comment.status == CommentStatus.WITHDRAWN:
        db.session.rollback()
        raise Conflict(f"Comment {comment_id} was withdrawn by its author.", code="withdrawn")
    if comment.status == decision.status:
        db.session.rollback()
        return None
    event = change_status(comment, decision.status, actor, note)
    db.session.commit()
    return event


def history(comment_id: int) -> Sequence[ModerationEvent]:
    """A comment's audit events, oldest first."""
    return db.session.scalars(
        select(ModerationEvent)
        .where(ModerationEvent.comment_id == comment_id)
        .order_by(ModerationEvent.id)
    ).all()
