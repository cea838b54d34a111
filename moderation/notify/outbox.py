"""The transactional outbox: what is to be told, stored with its cause, claimed by one worker.

Whatever causes a notification (a submission, a decision) writes an *event* row in its own
write transaction (:func:`record_event`, or :data:`NEW_EVENT` on the submission's driver), so a
comment is never stored without its event, nor an event without its comment. The worker
(:mod:`.worker`) expands each event into ``mail`` and ``webhook`` rows in one transaction, and
sends those.

Exactly once, in effect: a worker claims due rows by writing a lease (:func:`claim`; on
PostgreSQL the rows are picked with ``FOR UPDATE SKIP LOCKED``, on SQLite the write lock
serializes claims), and records the outcome only while its lease holds (:func:`finish`). A
worker that dies mid-batch leaves its rows to expire and be claimed again; the one message that
was on the wire when it died may then go out twice, with the same delivery id, which receivers
use to tell a repeat.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, delete, func, or_, select, update

from .. import database
from ..errors import Conflict, NotFound
from ..extensions import db
from ..models import OutboxKind, OutboxMessage, OutboxState, utcnow

# The events of a comment's life, as webhooks name them.
COMMENT_EVENTS = (
    "comment.created",
    "comment.approved",
    "comment.rejected",
    "comment.spam",
    "comment.withdrawn",
)


def new_delivery_id() -> str:
    return str(uuid.uuid4())


def _queue(kind: OutboxKind, topic: str, payload: dict[str, Any], **columns: Any) -> OutboxMessage:
    """Add a row to the caller's write transaction (the session's), with a new delivery id."""
    row = OutboxMessage(
        kind=kind, topic=topic, payload=payload, delivery_id=new_delivery_id(), **columns
    )
    db.session.add(row)
    return row


def record_event(
    topic: str, *, site_id: int | None, comment_id: int | None, **facts: Any
) -> OutboxMessage:
    """Add an event to the caller's write transaction (the session's)."""
    return _queue(OutboxKind.EVENT, topic, facts, site_id=site_id, comment_id=comment_id)


# The submission's event, on its driver transaction (see moderation.submission._store).
_outbox = database.table(OutboxMessage)
NEW_EVENT = _outbox.insert().values(
    kind=OutboxKind.EVENT.value,
    **database.parameters(
        "topic", "site_id", "comment_id", "payload", "delivery_id", "next_attempt_at", "created_at"
    ),
)


def event_on_driver(
    driver: database.Driver,
    topic: str,
    *,
    site_id: int,
    comment_id: int,
    now: datetime,
    **facts: Any,
) -> None:
    """:func:`record_event` inside a :func:`~moderation.database.writes_on_driver` use case."""
    moment = driver.timestamp(now)
    driver.execute(
        NEW_EVENT,
        {
            "topic": topic,
            "site_id": site_id,
            "comment_id": comment_id,
            "payload": json.dumps(facts),
            "delivery_id": new_delivery_id(),
            "next_attempt_at": moment,
            "created_at": moment,
        },
    )


def add_mail(
    topic: str,
    recipient: str,
    content: dict[str, Any],
    *,
    site_id: int | None = None,
    comment_id: int | None = None,
    recipient_hash: str | None = None,
) -> OutboxMessage:
    """Queue a composed mail (see :func:`moderation.notify.mail.compose`) in the session."""
    return _queue(
        OutboxKind.MAIL,
        topic,
        content,
        site_id=site_id,
        comment_id=comment_id,
        recipient=recipient,
        recipient_hash=recipient_hash,
    )


def add_webhook_call(
    topic: str, webhook_id: int, body: str, *, site_id: int, comment_id: int | None
) -> OutboxMessage:
    """Queue a webhook call whose body is already serialized: every attempt sends these bytes."""
    return _queue(
        OutboxKind.WEBHOOK,
        topic,
        {"body": body},
        site_id=site_id,
        comment_id=comment_id,
        webhook_id=webhook_id,
    )


# --- claiming and finishing ------------------------------------------------------------------


def _due(now: datetime) -> Any:
    return (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.state == OutboxState.PENDING,
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
        )
        .order_by(OutboxMessage.id)
    )


def any_due(now: datetime | None = None) -> bool:
    """Whether a row is waiting to be claimed: a read, so an idle worker that looks every
    second does not take SQLite's write lock each time."""
    found = db.session.scalar(_due(now or utcnow()).limit(1)) is not None
    database.discard()
    return found


@database.writes
def claim(owner: str, limit: int, now: datetime | None = None) -> list[int]:
    """Lease up to ``limit`` due rows to ``owner``, oldest first; returns their ids.

    Due: pending, ``next_attempt_at`` reached, and not leased (or the lease ran out). Leases are
    given and judged by the database's clock (:func:`moderation.database.clock`): a host whose
    clock runs ahead would otherwise see every other host's leases as run out, and send their
    rows a second time.
    """
    now = now or database.clock()
    lease = timedelta(seconds=int(current_app.config["OUTBOX_LEASE_SECONDS"]))
    # SKIP LOCKED on PostgreSQL: rows another worker is claiming are passed over, not waited
    # for. SQLite renders no FOR UPDATE; its write lock (BEGIN IMMEDIATE) serializes claims.
    due = _due(now).limit(limit).with_for_update(skip_locked=True)
    ids = list(db.session.scalars(due))
    if ids:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(lease_owner=owner, lease_until=now + lease)
        )
    return ids


def leased(row_id: int, owner: str) -> OutboxMessage | None:
    """The row, if ``owner`` still holds its lease (read in the current transaction)."""
    row = db.session.get(OutboxMessage, row_id, populate_existing=True)
    if row is None or row.lease_owner != owner or row.state != OutboxState.PENDING:
        return None
    return row


def retry_delay(attempts: int) -> timedelta:
    """The pause after the ``attempts``-th failure: 30 s, 1 min, 2 min … at most 6 hours."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    delivered: bool
    error: str | None = None
    status: int | None = None  # an HTTP status or SMTP reply code
    permanent: bool = False  # retrying cannot help (a refused address, say)


@database.writes
def finish(row_id: int, owner: str, outcome: Outcome) -> OutboxMessage | None:
    """Record an attempt, if ``owner`` still holds the lease; returns the row, or None.

    A failure is retried after :func:`retry_delay`, until ``OUTBOX_RETRY_HOURS`` after the row
    was written; then (or at once, for a permanent failure) the row is ``failed``.
    """
    row = db.session.get(OutboxMessage, row_id, with_for_update=True, populate_existing=True)
    if row is None or row.lease_owner != owner or row.state != OutboxState.PENDING:
        return None
    now = utcnow()
    row.attempts += 1
    row.last_attempt_at = now
    row.last_status = outcome.status
    row.last_error = outcome.error[:2000] if outcome.error else None
    row.lease_owner = None
    row.lease_until = None
    if outcome.delivered:
        row.state = OutboxState.DELIVERED
        row.delivered_at = now
        return row
    give_up_at = row.created_at + timedelta(hours=float(current_app.config["OUTBOX_RETRY_HOURS"]))
    following = now + retry_delay(row.attempts)
    if outcome.permanent or following > give_up_at:
        row.state = OutboxState.FAILED
    else:
        row.next_attempt_at = following
    return row


@database.writes
def release(owner: str) -> None:
    """Give back the leases ``owner`` still holds (a worker stopping early), for others now."""
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.lease_owner == owner, OutboxMessage.state == OutboxState.PENDING)
        .values(lease_owner=None, lease_until=None)
    )


# --- for operators: status, retry, purge ----------------------------------------------------


def status_counts() -> dict[tuple[str, str], int]:
    """How many rows there are by (kind, state)."""
    rows = db.session.execute(
        select(OutboxMessage.kind, OutboxMessage.state, func.count()).group_by(
            OutboxMessage.kind, OutboxMessage.state
        )
    )
    return {(kind.value, state.value): count for kind, state, count in rows}


def oldest_due(now: datetime | None = None) -> datetime | None:
    """When the longest-waiting due row became due: how far behind the workers are."""
    return db.session.scalar(
        select(func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.state == OutboxState.PENDING,
            OutboxMessage.next_attempt_at <= (now or utcnow()),
        )
    )


def recent(limit: int = 20, *, webhook_id: int | None = None) -> Sequence[OutboxMessage]:
    """The latest rows, newest first (a webhook's recent deliveries, say)."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if webhook_id is not None:
        query = query.where(OutboxMessage.webhook_id == webhook_id)
    return db.session.scalars(query).all()


@database.writes
def retry(row_id: int) -> OutboxMessage:
    """Send a failed (or waiting) row again now. Raises :class:`NotFound`, and
    :class:`Conflict` for a row that was delivered or cancelled."""
    row = db.session.get(OutboxMessage, row_id, with_for_update=True)
    if row is None:
        raise NotFound(f"There is no outbox message {row_id}.", code="unknown_message")
    if row.state in (OutboxState.DELIVERED, OutboxState.CANCELLED):
        raise Conflict(f"Outbox message {row_id} is {row.state.value}.", code="not_retryable")
    row.state = OutboxState.PENDING
    row.next_attempt_at = utcnow()
    # A retry by hand gets a day of its own before it is given up on again.
    row.created_at = utcnow()
    row.lease_owner = None
    row.lease_until = None
    return row


@database.writes
def purge(older_than_days: int, now: datetime | None = None) -> int:
    """Remove rows that were delivered, failed or cancelled more than this many days ago."""
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    done = (OutboxState.DELIVERED, OutboxState.FAILED, OutboxState.CANCELLED)
    result = db.session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.state.in_(done),
            or_(
                and_(OutboxMessage.delivered_at.is_not(None), OutboxMessage.delivered_at < cutoff),
                and_(OutboxMessage.delivered_at.is_(None), OutboxMessage.created_at < cutoff),
            ),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
