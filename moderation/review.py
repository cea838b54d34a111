"""The moderation queue and decisions: pending → approved | rejected | spam, and revisions.

Every change of a comment's status goes through :func:`change_status`, which writes the audit
event and keeps the article's approved count and version (the list's ETag) in step. The CLI,
the moderator UI and the author's withdrawal all call it.
"""

from __future__ import annotations

import enum
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask_babel import format_date, format_time, gettext, to_user_timezone
from sqlalchemy import ColumnElement, Select, String, case, cast, func, or_, select, update
from sqlalchemy.orm import joinedload, selectinload

from . import database, grounds, rules, sanitize
from .errors import Conflict, InvalidInput, NotFound, enum_member
from .extensions import db
from .models import (
    Article,
    Comment,
    CommentStatus,
    ModerationEvent,
    Moderator,
    Report,
    ReportStatus,
    Site,
    utcnow,
)
from .notify import outbox


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
    if not rules.is_row_id(comment_id):
        raise NotFound(f"There is no comment {comment_id}.", code="unknown_comment")
    query = select(Comment).where(Comment.id == comment_id)
    if for_update:
        query = query.with_for_update()
    comment = db.session.scalars(query).first()
    if comment is None:
        raise NotFound(f"There is no comment {comment_id}.", code="unknown_comment")
    return comment


def change_status(
    comment: Comment,
    to: CommentStatus,
    actor: Actor,
    note: str | None = None,
    *,
    ground: str | None = None,
) -> ModerationEvent:
    """Move a comment to a status, with its audit event, in the caller's write transaction.

    When the approved list of the article changes (a comment enters or leaves it), the article's
    approved count and version change in the same transaction, with SQL arithmetic so that two
    workers deciding at once cannot lose an update. The change is an event in the outbox, in
    the same transaction: the author, moderators and webhooks hear of it from the worker.

    ``ground`` (a rejection's, see :mod:`moderation.grounds`; the caller checked it) is kept on
    the event and in the outbox event, from which the author's statement of reasons is made.
    """
    before = comment.status
    comment.status = to
    if actor.moderator_id is not None and OBJECTION in comment.reasons:
        # A moderator decided again: the author's objection is answered.
        comment.reasons = [r for r in comment.reasons if r != OBJECTION]
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
        ground=ground or None,
    )
    db.session.add(event)
    topic = f"comment.{to.value}"
    if topic in outbox.COMMENT_EVENTS:
        outbox.record_event(
            topic,
            site_id=comment.article.site_id,
            comment_id=comment.id,
            previous=before.value,
            actor=actor.name,
            note=note or None,
            ground=ground or None,
        )
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


def parse_decision(decision: Decision | str) -> Decision:
    """The decision named ``decision``; raises :class:`InvalidInput` for anything else."""
    message = f"Unknown decision {decision!r}; use approve, reject or spam."
    return enum_member(Decision, decision, message, "invalid_decision")


@database.writes
def decide(
    comment_id: int,
    decision: Decision | str,
    actor: Actor,
    note: str | None = None,
    *,
    expected: int | None = None,
    ground: str | None = None,
) -> ModerationEvent | None:
    """Approve, reject or mark a comment as spam, and commit.

    A rejection may carry a ``ground`` from the site's list (:mod:`moderation.grounds`;
    :class:`InvalidInput` for any other, and nothing changes); the moderator UI requires one,
    older callers may leave it out. Other decisions ignore it.

    Any decision can be revised later (spam → approved …); each revision is its own event.
    Deciding what the comment already is changes nothing and returns ``None``. A withdrawn
    comment has no text left to publish and cannot be decided (:class:`Conflict`).

    ``expected`` is the comment's version as the moderator saw it (:func:`versions`): in a
    shared queue someone else may have decided it since. Then the decision is refused with a
    :class:`Conflict` saying who did what and when, and nothing is recorded; deciding again
    from what is there now is an explicit act. ``None`` (the CLI) decides whatever is there.
    """
    decision = parse_decision(decision)
    comment = get_comment(comment_id, for_update=True)  # the lock orders deciders
    if expected is not None:
        latest = latest_event(comment_id)
        if (latest.id if latest else 0) != expected:
            raise Conflict(changed_meanwhile(latest), code="decided_meanwhile")
    if comment.status == CommentStatus.WITHDRAWN:
        raise Conflict(f"Comment {comment_id} was withdrawn by its author.", code="withdrawn")
    if decision is Decision.REJECT and ground is not None:
        ground = grounds.check(comment.article.site, ground)
    else:
        ground = None
    if comment.status == decision.status:
        return None
    return change_status(comment, decision.status, actor, note, ground=ground)


def latest_event(comment_id: int) -> ModerationEvent | None:
    """The comment's latest audit event; its id is the comment's version."""
    return db.session.scalars(
        select(ModerationEvent)
        .where(ModerationEvent.comment_id == comment_id)
        .order_by(ModerationEvent.id.desc())
        .limit(1)
    ).first()


def versions(comment_ids: Iterable[int]) -> dict[int, int]:
    """Each comment's version: the id of its latest audit event, 0 when it has none.

    A decision form carries the version its card was shown with, so a decision on a comment
    that changed since is refused instead of overwriting someone else's (optimistic
    concurrency without a column of its own: every change of status writes an event). One
    query, served by the index ``(comment_id, id)``.
    """
    ids = sorted({i for i in comment_ids if rules.is_row_id(i)})
    found: dict[int, int] = dict.fromkeys(ids, 0)
    if ids:
        rows = db.session.execute(
            select(ModerationEvent.comment_id, func.max(ModerationEvent.id))
            .where(ModerationEvent.comment_id.in_(ids))
            .group_by(ModerationEvent.comment_id)
        )
        found.update({comment_id: latest for comment_id, latest in rows if comment_id})
    return found


def _when(moment: datetime) -> str:
    """When, as a moderator reads it: "at 10:32" today, else "on 29.11.26 at 10:32"."""
    if to_user_timezone(moment).date() == to_user_timezone(utcnow()).date():
        return gettext("at %(time)s", time=format_time(moment, "short"))
    return gettext(
        "on %(date)s at %(time)s",
        date=format_date(moment, "short"),
        time=format_time(moment, "short"),
    )


def changed_meanwhile(event: ModerationEvent | None) -> str:
    """Who changed a comment to what, and when: "bob approved this comment at 10:32."."""
    if event is None:
        return gettext("This comment has changed meanwhile. Please look at it again.")
    who, when = event.actor_name, _when(event.created_at)
    if event.to_status == CommentStatus.APPROVED:
        return gettext("%(who)s approved this comment %(when)s.", who=who, when=when)
    if event.to_status == CommentStatus.REJECTED:
        return gettext("%(who)s rejected this comment %(when)s.", who=who, when=when)
    if event.to_status == CommentStatus.SPAM:
        return gettext("%(who)s marked this comment as spam %(when)s.", who=who, when=when)
    if event.to_status == CommentStatus.WITHDRAWN:
        return gettext("The author withdrew this comment %(when)s.", when=when)
    return gettext("%(who)s put this comment back in the queue %(when)s.", who=who, when=when)


def history(comment_id: int) -> Sequence[ModerationEvent]:
    """A comment's audit events, oldest first."""
    return db.session.scalars(
        select(ModerationEvent)
        .where(ModerationEvent.comment_id == comment_id)
        .order_by(ModerationEvent.id)
    ).all()


# --- the moderator UI's queue: filters, keyset paging, bulk decisions ------------------------

MAX_BULK = 200  # comments per bulk decision
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class QueueSort(enum.StrEnum):
    """The queue's orders. Only ``TIME`` is paged (by keyset); the others show one bounded page,
    since their keys (a rank, an article's count) change under the moderators' hands."""

    TIME = "oldest"  # pending: oldest first (the default); other statuses newest first
    ATTENTION = "attention"  # banned, blocked-word and reported comments first, then by time
    ARTICLE = "article"  # the articles with the most comments of that status first


# Reason codes that put a comment first in the "needs attention" order; watched words next.
ATTENTION_REASONS = ("banned", "blocked_word", "reported", "objection")
OBJECTION = "objection"  # the reason an author's objection puts on a removed comment
WATCH_REASONS = ("watched_word",)
_REASON_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


def parse_sort(value: str | None) -> QueueSort:
    """The order named ``value`` (empty: by time); raises :class:`InvalidInput`."""
    message = gettext("Unknown order; sort by oldest, attention or article.")
    return enum_member(QueueSort, value or QueueSort.TIME.value, message, "bad_sort")


def parse_reason(value: str | None) -> str | None:
    """A reason code to filter by (``blocked_word``, ``links`` …), or None; raises
    :class:`InvalidInput` for anything that cannot be one."""
    if not value:
        return None
    if not _REASON_CODE.fullmatch(value):
        raise InvalidInput(gettext("Unknown reason."), code="bad_reason")
    return value


@dataclass(frozen=True)
class QueueFilter:
    """Which comments a moderator looks at. Pending is oldest first; the rest newest first."""

    status: CommentStatus | None = CommentStatus.PENDING  # None: every status
    site: str | None = None  # a site's slug
    article_id: int | None = None
    text: str | None = None  # searched in author, e-mail and the text as submitted
    source: str | None = None  # a source hash: everything one sender wrote
    reason: str | None = None  # a reason code (the part before a colon: ``blocked_word``)
    sort: QueueSort = QueueSort.TIME
    # "Gemeldet": comments with open reports or an author's open objection, of any status
    reported: bool = False

    @property
    def oldest_first(self) -> bool:
        return self.status == CommentStatus.PENDING

    @property
    def paged(self) -> bool:
        return self.sort is QueueSort.TIME


# What Cursor.encode writes: microseconds since 1970 and an id, in ASCII digits. int() alone
# would also take "+1", " 1", "1_0" and digits of any script ("١٢").
_CURSOR = re.compile(r"(-?[0-9]{1,19})\.([0-9]{1,10})")


@dataclass(frozen=True)
class Cursor:
    """A place in the queue: the last comment shown, by (created_at, id).

    Paging by the last row seen (keyset) costs the same on page 1 and page 4000; OFFSET would
    read and skip every earlier row. The index ``(status, created_at, id)`` serves it.
    """

    created_at: datetime
    id: int

    def encode(self) -> str:
        micros = (self.created_at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id}"

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """Raises :class:`InvalidInput` for anything :meth:`encode` did not make."""
        match = _CURSOR.fullmatch(value)
        if match is None or not rules.is_row_id(int(match[2])):
            raise InvalidInput(gettext("This place in the queue is not valid."), code="bad_cursor")
        try:
            moment = EPOCH + timedelta(microseconds=int(match[1]))
        except OverflowError:
            raise InvalidInput(
                gettext("This place in the queue is not valid."), code="bad_cursor"
            ) from None
        return cls(moment, int(match[2]))


@dataclass
class QueuePage:
    comments: list[Comment]
    next: str | None  # cursor of the following page, or None on the last page
    # source_hash → how many *other* comments came from that source (at most
    # SOURCE_COUNT_CAP), for each card's marker
    others_from_source: dict[str, int] = field(default_factory=dict)
    # comment id → its version (see versions()), which each card's decision forms carry
    comment_versions: dict[int, int] = field(default_factory=dict)
    more: bool = False  # an order without paging (QueueSort) has more than this page

    def others(self, comment: Comment) -> int:
        return self.others_from_source.get(comment.source_hash or "", 0)

    def version(self, comment: Comment) -> int:
        return self.comment_versions.get(comment.id, 0)

    @property
    def others_cap(self) -> int:
        return SOURCE_COUNT_CAP


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def has_reason(code: str) -> ColumnElement[bool]:
    """Whether a comment's reasons hold ``code``, alone or with a detail (``blocked_word:x``).

    The reasons are a JSON list of strings; its text holds ``"code"`` or ``"code:`` exactly
    when one of them is that code, on SQLite and PostgreSQL alike.
    """
    as_text = cast(Comment.reasons, String)
    code = _escape_like(code)
    return or_(as_text.like(f'%"{code}"%', escape="\\"), as_text.like(f'%"{code}:%', escape="\\"))


def filtered(query: Select, where: QueueFilter) -> Select:
    """``query`` (over comments) narrowed to those matching ``where``; raises
    :class:`InvalidInput` for a bad article id or an overlong search text."""
    if where.status is not None:
        query = query.where(Comment.status == where.status)
    if where.reported:
        reported = select(Report.comment_id).where(Report.status == ReportStatus.OPEN)
        query = query.where(or_(Comment.id.in_(reported), has_reason(OBJECTION)))
    if where.source:
        query = query.where(Comment.source_hash == where.source)
    if where.site:
        query = query.join(Comment.article).join(Article.site).where(Site.slug == where.site)
    if where.article_id is not None:
        if not rules.is_row_id(where.article_id):
            raise InvalidInput(f"There is no article {where.article_id}.", code="bad_article")
        query = query.where(Comment.article_id == where.article_id)
    if where.text:
        if len(where.text) > rules.MAX_SEARCH_LENGTH:
            raise InvalidInput(
                f"Search for at most {rules.MAX_SEARCH_LENGTH} characters.", code="bad_search"
            )
        pattern = f"%{_escape_like(where.text)}%"
        query = query.where(
            or_(
                Comment.author.ilike(pattern, escape="\\"),
                Comment.email.ilike(pattern, escape="\\"),
                Comment.body_raw.ilike(pattern, escape="\\"),
            )
        )
    if where.reason:
        query = query.where(has_reason(where.reason))
    return query


def find_comments(where: QueueFilter, after: str | None = None, limit: int = 25) -> QueuePage:
    """One page of comments matching ``where``, after the cursor ``after``.

    Paged by keyset in the default order only; the other orders (:class:`QueueSort`) show the
    first ``limit`` comments and say whether there are more: deciding those brings the next
    ones up. Raises :class:`InvalidInput` for a bad cursor, a cursor with another order, or an
    overlong search text.
    """
    query = select(Comment).options(
        joinedload(Comment.article).joinedload(Article.site),
        joinedload(Comment.parent),
    )
    query = filtered(query, where)
    if not where.paged:
        if after:
            raise InvalidInput(gettext("This place in the queue is not valid."), code="bad_cursor")
        return _bounded_page(query, where, limit)
    if after:
        # The first condition alone is a range on the index; the OR only settles ties. Without
        # it, PostgreSQL scans the index from its start and filters (measured: 38 ms instead of
        # 0.3 ms for a page deep in a queue of 50 000).
        cursor = Cursor.decode(after)
        if where.oldest_first:
            query = query.where(
                Comment.created_at >= cursor.created_at,
                or_(Comment.created_at > cursor.created_at, Comment.id > cursor.id),
            )
        else:
            query = query.where(
                Comment.created_at <= cursor.created_at,
                or_(Comment.created_at < cursor.created_at, Comment.id < cursor.id),
            )
    if where.oldest_first:
        query = query.order_by(Comment.created_at, Comment.id)
    else:
        query = query.order_by(Comment.created_at.desc(), Comment.id.desc())
    rows = list(db.session.scalars(query.limit(limit + 1)).unique())
    comments = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = comments[-1]
        next_cursor = Cursor(last.created_at, last.id).encode()
    return queue_page(comments, next_cursor)


def queue_page(comments: list[Comment], next_cursor: str | None, more: bool = False) -> QueuePage:
    """A page of cards with what each card shows beside the comment: source counts, versions."""
    return QueuePage(
        comments,
        next_cursor,
        source_counts(c.source_hash for c in comments),
        versions(c.id for c in comments),
        more,
    )


def _bounded_page(query: Select, where: QueueFilter, limit: int) -> QueuePage:
    """The first ``limit`` comments in the order ``where.sort`` names (not ``TIME``)."""
    by_time = (
        (Comment.created_at, Comment.id)
        if where.oldest_first
        else (Comment.created_at.desc(), Comment.id.desc())
    )
    if where.sort is QueueSort.ATTENTION:
        rank = case(
            (or_(*map(has_reason, ATTENTION_REASONS)), 0),
            (or_(*map(has_reason, WATCH_REASONS)), 1),
            else_=2,
        )
        query = query.order_by(rank, *by_time)
    else:
        # Each article's count of comments in this status: the busiest article first.
        per_article = select(Comment.article_id, func.count().label("waiting")).group_by(
            Comment.article_id
        )
        if where.status is not None:
            per_article = per_article.where(Comment.status == where.status)
        counts = per_article.subquery()
        query = query.join(counts, counts.c.article_id == Comment.article_id).order_by(
            counts.c.waiting.desc(), Comment.article_id, *by_time
        )
    rows = list(db.session.scalars(query.limit(limit + 1)).unique())
    return queue_page(rows[:limit], None, more=len(rows) > limit)


# Reason codes offered by the queue's filter are those of this many comments of the status.
REASON_SAMPLE = 5000


def reason_codes(status: CommentStatus | None = CommentStatus.PENDING) -> list[str]:
    """The reason codes (before any colon) present among the comments of a status, sorted.

    Bounded: it reads the distinct reason lists of the :data:`REASON_SAMPLE` latest comments
    of that status, so a huge queue costs no more than a big one.
    """
    latest = select(cast(Comment.reasons, String).label("reasons"))
    if status is not None:
        latest = latest.where(Comment.status == status)
    sample = latest.order_by(Comment.created_at.desc()).limit(REASON_SAMPLE).subquery()
    codes: set[str] = set()
    for text in db.session.scalars(select(sample.c.reasons).distinct()):
        for code in _json_strings(text):
            codes.add(code.partition(":")[0])
    return sorted(c for c in codes if _REASON_CODE.fullmatch(c))


def _json_strings(text: str | None) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


# The card's "N other comments from the same source" counts this far and no further: a source
# that sent a flood would otherwise cost a count over all of its comments on every page.
SOURCE_COUNT_CAP = 1000


def source_counts(hashes: Iterable[str | None]) -> dict[str, int]:
    """For each source: how many other comments it sent, up to :data:`SOURCE_COUNT_CAP`.

    One query: a bounded count per source, each an index range of at most the cap.
    """
    wanted = sorted({h for h in hashes if h})
    if not wanted:
        return {}
    bounded = [
        select(func.count())
        .select_from(
            select(Comment.id)
            .where(Comment.source_hash == source)
            .limit(SOURCE_COUNT_CAP + 1)
            .subquery()
        )
        .scalar_subquery()
        for source in wanted
    ]
    counts = db.session.execute(select(*bounded)).one()
    return {source: count - 1 for source, count in zip(wanted, counts, strict=True)}


def count_pending(cap: int | None = None) -> int:
    """How many comments wait; at most ``cap``, so a huge queue is not counted on every page."""
    query = select(Comment.id).where(Comment.status == CommentStatus.PENDING)
    if cap is not None:
        query = query.limit(cap)
    return db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()


@dataclass
class BulkResult:
    changed: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)  # already had that status
    skipped: list[int] = field(default_factory=list)  # unknown or withdrawn
    stale: list[int] = field(default_factory=list)  # changed since the moderator saw them


@database.writes
def decide_many(
    comment_ids: Iterable[int],
    decision: Decision | str,
    actor: Actor,
    note: str | None = None,
    *,
    expected: Mapping[int, int] | None = None,
    ground: str | None = None,
) -> BulkResult:
    """The same decision for several comments, in one transaction, one audit event each.

    A rejection's ``ground`` must be one of each comment's site's grounds; if it is not for
    any of them, :class:`InvalidInput` and nothing changes. Other decisions ignore it.

    Unknown and withdrawn comments are skipped and reported, not fatal: in a shared queue
    another moderator or the author may have got there first. So are comments whose version
    differs from the one in ``expected`` (comment id → version as shown, see :func:`versions`):
    they changed since the moderator saw them, and are left as they are now (``stale``). A
    number that cannot be an id (0, or beyond the database's integers) is unknown too, and
    never sent to the database.
    """
    decision = parse_decision(decision)
    ids = sorted(set(comment_ids))
    if not ids:
        raise InvalidInput(gettext("Select at least one comment."), code="nothing_selected")
    if len(ids) > MAX_BULK:
        raise InvalidInput(f"Decide at most {MAX_BULK} comments at once.", code="too_many")
    result = BulkResult()
    wanted = [comment_id for comment_id in ids if rules.is_row_id(comment_id)]
    # Locked in id order, so two bulk decisions over the same comments cannot deadlock.
    found = {
        c.id: c
        for c in db.session.scalars(
            select(Comment).where(Comment.id.in_(wanted)).order_by(Comment.id).with_for_update()
        )
    }
    if decision is not Decision.REJECT:
        ground = None
    elif ground is not None:
        for each in found.values():
            grounds.check(each.article.site, ground)
    now = versions(found) if expected else {}
    for comment_id in ids:
        comment = found.get(comment_id)
        shown = (expected or {}).get(comment_id)
        if comment is None or comment.status == CommentStatus.WITHDRAWN:
            result.skipped.append(comment_id)
        elif shown is not None and now.get(comment_id) != shown:
            result.stale.append(comment_id)
        elif comment.status == decision.status:
            result.unchanged.append(comment_id)
        else:
            change_status(comment, decision.status, actor, note, ground=ground)
            result.changed.append(comment_id)
    return result


# --- approve all matching: an admin's answer to a backlog ----------------------------------

APPROVE_BATCH = 200  # comments per transaction of approve_matching


def matching_pending(where: QueueFilter) -> tuple[int, int]:
    """How many pending comments match ``where``, and the highest id among them (0: none).

    What the confirmation shows; confirming approves those up to that id and no later ones,
    so nothing that arrived after the admin looked is approved unseen. Raises
    :class:`InvalidInput` for a filter on another status than pending.
    """
    _only_pending(where)
    matching = filtered(select(Comment.id), where).subquery()
    count, highest = db.session.execute(
        select(func.count(), func.max(matching.c.id)).select_from(matching)
    ).one()
    return count, highest or 0


def _only_pending(where: QueueFilter) -> None:
    if where.status != CommentStatus.PENDING:
        raise InvalidInput(
            gettext("Only pending comments can be approved all at once."), code="not_pending"
        )


@dataclass
class BulkApproval:
    bulk_id: str  # in each event's note: "bulk:<id> by <admin>"
    approved: int = 0


def approve_matching(
    where: QueueFilter, actor: Actor, upto: int, batch: int = APPROVE_BATCH
) -> BulkApproval:
    """Approve every pending comment that matches ``where`` with an id up to ``upto``.

    One bulk action in the audit: each comment gets its own event, all with the same note
    ``bulk:<id> by <name>``. It runs in batches of ``batch``, each its own transaction, so a
    backlog of 50 000 does not hold locks (or SQLite's one writer) for minutes, and a batch
    that fails leaves the earlier ones done. Comments decided by someone else meanwhile are no
    longer pending and are left alone. Raises :class:`InvalidInput` for a filter on another
    status or a bad ``upto``; then nothing changes.
    """
    _only_pending(where)
    if not (upto == 0 or rules.is_row_id(upto)):
        raise InvalidInput(gettext("This confirmation is not valid."), code="bad_upto")
    filtered(select(Comment.id), where)  # raises for a bad filter before anything is done
    result = BulkApproval(secrets.token_hex(4))
    note = f"bulk:{result.bulk_id} by {actor.name}"
    after = 0
    while after < upto:
        done = _approve_batch(where, actor, note, after, upto, batch)
        if done is None:
            break
        after, count = done
        result.approved += count
    return result


@database.writes
def _approve_batch(
    where: QueueFilter, actor: Actor, note: str, after: int, upto: int, batch: int
) -> tuple[int, int] | None:
    """One batch of :func:`approve_matching`: the highest id it saw and how many it approved."""
    query = (
        filtered(select(Comment), where)
        .where(Comment.id > after, Comment.id <= upto)
        .order_by(Comment.id)
        .limit(batch)
        .options(selectinload(Comment.article))
        .with_for_update(of=Comment)
    )
    comments = list(db.session.scalars(query).unique())
    if not comments:
        return None
    for comment in comments:
        change_status(comment, CommentStatus.APPROVED, actor, note)
    return comments[-1].id, len(comments)


def get_article(article_id: int) -> Article:
    """The article with this id; raises :class:`NotFound`."""
    article = db.session.get(Article, article_id) if rules.is_row_id(article_id) else None
    if article is None:
        raise NotFound(f"There is no article {article_id}.", code="unknown_article")
    return article


@database.writes
def set_article_closed(article_id: int, closed: bool) -> Article:
    """Close an article to new comments, or reopen it, and commit.

    While closed, the public API answers new submissions with 403 ``closed``. Comments already
    there stay as they are. The list's version changes so cached copies are refreshed.
    """
    article = get_article(article_id)
    if article.closed != closed:
        article.closed = closed
        bump_article(article.id)
    return article


def clean_title(title: str | None) -> str | None:
    """A title as a moderator confirms it: one line, without invisible characters; or None.

    Control and format characters (bidi overrides, zero-width spaces …) are dropped: a title
    the newsroom vouches for should read the same everywhere.
    """
    kept = " ".join(rules.strip_invisible(sanitize.normalize_text(title or "")).split())
    return kept if rules.has_visible_character(kept) else None


@database.writes
def set_article_title(article_id: int, title: str | None) -> Article:
    """Confirm an article's title as the moderator saw or edited it, or remove it; and commit.

    The first commenter names the article (see :mod:`moderation.submission`), so until a
    moderator confirms it, the title is a reader's claim and the moderator UI shows it as one.
    The title stored is the one the moderator sent, never whatever the row holds by then.
    ``None`` removes it: the next commenter's title is then a claim again. Raises
    :class:`NotFound`, and :class:`InvalidInput` for a title that is too long or has nothing
    visible; then nothing changes.
    """
    cleaned = clean_title(title)
    if title is not None and cleaned is None:
        raise InvalidInput("Give the title, or remove it.", code="invalid_title")
    if cleaned is not None and len(cleaned) > rules.MAX_TITLE_LENGTH:
        raise InvalidInput(
            f"A title may have at most {rules.MAX_TITLE_LENGTH} characters.",
            code="invalid_title",
        )
    article = get_article(article_id)
    article.title = cleaned
    article.title_confirmed = cleaned is not None
    return article


def article_thread(article_id: int, limit: int = 500) -> dict[CommentStatus, list[Comment]]:
    """An article's comments by status, oldest first (at most ``limit`` per status)."""
    thread: dict[CommentStatus, list[Comment]] = {}
    for status in CommentStatus:
        thread[status] = list(
            db.session.scalars(
                select(Comment)
                .where(Comment.article_id == article_id, Comment.status == status)
                .order_by(Comment.created_at, Comment.id)
                .limit(limit)
            )
        )
    return thread
