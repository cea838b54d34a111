"""Several moderators on one queue: who is looking at which card, and what changed since.

Moderators' browsers ask for news by short polling (``static/moderate.js``), not a stream:
production runs gunicorn's sync workers, and a stream would hold one of them per open queue,
taking them from the readers. Each poll is answered from the database alone (several hosts
share nothing else), and most polls are answered "nothing changed" (304) after one small
query: :func:`fingerprint` reads the highest event id, the highest comment id, the pending
count (capped), the number of comments above the screen's ``since`` and the claims on the
cards shown, each from an index.

A claim ("anna is looking at this") is only a hint against double work, kept in
``comment_claim`` until it runs out. What prevents a double decision is the version each
decision form carries (:func:`moderation.review.versions`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload

from . import database, review, rules
from .extensions import db
from .models import Comment, CommentClaim, CommentStatus, ModerationEvent, Moderator, utcnow

MAX_SHOWN = 200  # cards a poll may ask about (and new comments it may say it has heard of)
MAX_NEW = 20  # new comments a poll hands out at once; the rest come with the next polls
PENDING_CAP = 1000  # as in the navigation: "1000+"
# How long a comment's number may be drawn before its comment can be read. On PostgreSQL a
# submission draws its number early in its transaction (moderation.submission._store), so a
# lower number can become visible after a higher one; no submission's transaction stays open
# for anything like this long. (On SQLite, one writer at a time, numbers appear in order.)
SETTLE = timedelta(seconds=10)


@dataclass(frozen=True)
class Claim:
    comment_id: int
    moderator_id: int
    username: str
    until: datetime


@database.writes
def claim(comment_id: int, moderator: Moderator, seconds: int) -> datetime:
    """Mark a comment as looked at by ``moderator`` for ``seconds``; returns until when.

    One row per comment; a later focus by anyone replaces it (an upsert, so two moderators
    focusing at once cannot fail on the key). Expired claims are removed on the way. Raises
    :class:`moderation.errors.NotFound` for an unknown comment.
    """
    review.get_comment(comment_id)
    now = utcnow()
    until = now + timedelta(seconds=max(1, int(seconds)))
    values = {"comment_id": comment_id, "moderator_id": moderator.id, "until": until}
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    statement = insert(CommentClaim).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[CommentClaim.comment_id],
        set_={"moderator_id": moderator.id, "until": until},
    )
    db.session.execute(statement)
    db.session.execute(delete(CommentClaim).where(CommentClaim.until < now))
    return until


def active_claims(comment_ids: Iterable[int]) -> list[Claim]:
    """The claims on these comments that have not run out, by comment id."""
    ids = sorted({i for i in comment_ids if rules.is_row_id(i)})
    if not ids:
        return []
    rows = db.session.scalars(
        select(CommentClaim)
        .where(CommentClaim.comment_id.in_(ids), CommentClaim.until > utcnow())
        .options(joinedload(CommentClaim.moderator))
        .order_by(CommentClaim.comment_id)
    )
    return [Claim(r.comment_id, r.moderator_id, r.moderator.username, r.until) for r in rows]


def fingerprint(
    shown: Sequence[int], claims: Sequence[Claim], since: int = 0, extra: str = ""
) -> str:
    """An ETag for the queue's state as a poll sees it: it changes when anything a moderator's
    screen shows may have changed (a decision anywhere, a new comment, a claim), and costs one
    query beside the claims. ``extra`` names what the poll asked (filters, cards, since).

    New comments are counted above ``since`` (a few, by the primary key): a comment whose
    lower number became visible after a higher one changes neither the highest number nor,
    past the cap, the pending count, but it changes that.
    """
    pending = select(Comment.id).where(Comment.status == CommentStatus.PENDING).limit(PENDING_CAP)
    latest_event, latest_comment, count, above = db.session.execute(
        select(
            select(func.max(ModerationEvent.id)).scalar_subquery(),
            select(func.max(Comment.id)).scalar_subquery(),
            select(func.count()).select_from(pending.subquery()).scalar_subquery(),
            select(func.count()).where(Comment.id > since).scalar_subquery(),
        )
    ).one()
    parts = [str(latest_event or 0), str(latest_comment or 0), str(count), str(above), extra]
    parts += [f"{c.comment_id}:{c.moderator_id}:{c.until.timestamp()}" for c in claims]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


@dataclass
class QueueState:
    """What a poll answers: which shown cards still belong, which are new, who looks where."""

    still: list[int]  # shown comments that still match the view's status
    gone: dict[int, ModerationEvent | None]  # the others, with the change that took them
    new: list[Comment]  # matching comments above ``since`` not yet on the screen, oldest first
    more_new: bool  # more than MAX_NEW are new
    latest: int  # the next poll's ``since``: no comment at or below it can still turn up
    claims: list[Claim] = field(default_factory=list)


def queue_state(
    where: review.QueueFilter, shown: Sequence[int], since: int, heard: Sequence[int] = ()
) -> QueueState:
    """The state of a moderator's view of the queue: ``shown`` are the cards on the screen,
    ``since`` the number up to which the screen has heard of every comment, ``heard`` the
    new comments above it the screen was told of already.

    New comments are those matching the view with a higher number that the screen has neither
    shown nor heard of. Numbers grow with time, but a comment may become visible after a
    higher-numbered one (see :data:`SETTLE`), so the next ``since`` stays below the comments
    of the last few seconds (:func:`settled_comment_id`): a late one is still found, and
    those handed out meanwhile come back as ``heard``, not again as new. Raises
    :class:`moderation.errors.InvalidInput` for a bad filter.
    """
    ids = sorted({i for i in shown if rules.is_row_id(i)})
    still: list[int] = ids
    gone: dict[int, ModerationEvent | None] = {}
    if where.status is not None and ids:
        rows = db.session.execute(select(Comment.id, Comment.status).where(Comment.id.in_(ids)))
        current = {comment_id: status for comment_id, status in rows}
        still = [i for i in ids if current.get(i) == where.status]
        left = [i for i in ids if i not in still]
        latest = review.versions(left)
        events = {
            e.id: e
            for e in db.session.scalars(
                select(ModerationEvent).where(ModerationEvent.id.in_(list(latest.values())))
            )
        }
        gone = {i: events.get(latest.get(i, 0)) for i in left}
    query = review.filtered(
        select(Comment).options(joinedload(Comment.article), joinedload(Comment.parent)), where
    )
    known = sorted({*ids, *(i for i in heard if rules.is_row_id(i) and i > since)})
    if known:
        query = query.where(Comment.id.not_in(known))
    fresh = list(
        db.session.scalars(
            query.where(Comment.id > since).order_by(Comment.id).limit(MAX_NEW + 1)
        ).unique()
    )
    new = fresh[:MAX_NEW]
    latest_known = settled_comment_id(since)
    if len(fresh) > MAX_NEW:
        latest_known = min(latest_known, new[-1].id)
    return QueueState(
        still=still,
        gone=gone,
        new=new,
        more_new=len(fresh) > MAX_NEW,
        latest=latest_known,
        claims=active_claims([*ids, *(c.id for c in new)]),
    )


def settled_comment_id(since: int = 0) -> int:
    """The highest comment number at or below which no comment can still turn up: that of
    the newest comment older than :data:`SETTLE`, and at least ``since``. Where a freshly
    rendered queue starts listening (``since`` 0), and each poll's next ``since``.

    Read from the top of the primary key down, past the comments of the last few seconds.
    """
    settled = db.session.scalar(
        select(Comment.id)
        .where(Comment.id > since, Comment.created_at <= utcnow() - SETTLE)
        .order_by(Comment.id.desc())
        .limit(1)
    )
    return max(since, settled or 0)
