"""Bans: a reader's source (the keyed hash of their address) or e-mail barred from commenting.

A banned reader's comments are still taken in, stored as spam with reason ``banned`` and shown
to moderators, and the reader gets the same answer as everyone: nothing is dropped silently,
and a ban made by mistake costs nothing that cannot be undone. A ban lasts for a period or
forever and can be lifted; lifted and expired bans stay listed until the retention job removes
them.

E-mail bans are stored lower-cased. When a reader has their data erased, an e-mail ban on them
is kept (the newsroom's interest in keeping an abuser out) but its address is replaced by a
keyed hash (:func:`moderation.privacy.email_hash`), which still matches and reveals nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import BindParameter, and_, bindparam, or_, select

from . import database, privacy, rules
from .errors import Conflict, InvalidInput, NotFound, enum_member
from .extensions import db
from .models import Ban, BanKind, Comment, utcnow
from .rules import EMAIL, MAX_EMAIL_LENGTH, MAX_NOTE_LENGTH, SOURCE_HASH

_DURATION = re.compile(r"(\d{1,6})\s*(min|m|h|d|w)")
_UNITS = {"min": "minutes", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
FOREVER = ("", "forever", "permanent", "never")
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str | None) -> timedelta | None:
    """``30m``, ``12h``, ``7d``, ``2w`` → a period; ``forever`` (or nothing) → ``None``.

    Raises :class:`InvalidInput` for anything else.
    """
    value = (text or "").strip().lower()
    if value in FOREVER:
        return None
    match = _DURATION.fullmatch(value)
    if not match or int(match[1]) == 0:
        raise InvalidInput(
            f"{text!r} is not a period; use e.g. 30m, 12h, 7d, 2w or forever.",
            code="invalid_duration",
        )
    duration = timedelta(**{_UNITS[match[2]]: int(match[1])})
    if duration > MAX_DURATION:
        raise InvalidInput(
            "A ban period may be at most 10 years; use forever.", code="invalid_duration"
        )
    return duration


def _kind(kind: BanKind | str) -> BanKind:
    message = f"Unknown ban kind {kind!r}; use source or email."
    return enum_member(BanKind, kind, message, "invalid_ban_kind")


def _value(kind: BanKind, value: str) -> str:
    value = (value or "").strip()
    if kind is BanKind.SOURCE:
        value = value.lower()
        if not SOURCE_HASH.fullmatch(value):
            raise InvalidInput(
                "A source is the 64-character hash shown with a comment; "
                "to ban the source of a comment, ban it by the comment's number.",
                code="invalid_source",
            )
        return value

    if len(value) > MAX_EMAIL_LENGTH or not EMAIL.fullmatch(value):
        raise InvalidInput(f"{value!r} is not a valid e-mail address.", code="invalid_email")
    return value.lower()


def is_active(ban: Ban, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return ban.lifted_at is None and (ban.expires_at is None or ban.expires_at > now)


def _active_clause(now: datetime | BindParameter[datetime]) -> list:
    return [Ban.lifted_at.is_(None), or_(Ban.expires_at.is_(None), Ban.expires_at > now)]


@database.writes
def add_ban(
    kind: BanKind | str,
    value: str,
    *,
    duration: timedelta | None = None,
    reason: str | None = None,
    actor: str = "cli",
) -> Ban:
    """Ban a source hash or an e-mail address for ``duration`` (``None``: forever) and commit.

    A new ban replaces an active one on the same source or address (it is lifted), so banning
    again extends or shortens a ban. Raises :class:`InvalidInput` for a bad kind, value, period
    or reason.
    """
    kind = _kind(kind)
    value = _value(kind, value)
    reason = " ".join((reason or "").split()) or None
    if reason is not None and len(reason) > MAX_NOTE_LENGTH:
        raise InvalidInput(
            f"The reason may have at most {MAX_NOTE_LENGTH} characters.",
            code="invalid_reason",
        )
    if duration is not None and (duration <= timedelta(0) or duration > MAX_DURATION):
        raise InvalidInput(
            "A ban period must be positive and at most 10 years.", code="invalid_duration"
        )
    now = utcnow()
    for previous in db.session.scalars(
        select(Ban).where(Ban.kind == kind, Ban.value == value, *_active_clause(now))
    ):
        previous.lifted_at = now
    ban = Ban(
        kind=kind,
        value=value,
        reason=reason,
        created_by=actor,
        created_at=now,
        expires_at=None if duration is None else now + duration,
    )
    db.session.add(ban)
    return ban


@database.writes
def ban_comment_author(
    comment_id: int,
    kind: BanKind | str,
    *,
    duration: timedelta | None = None,
    reason: str | None = None,
    actor: str = "cli",
) -> Ban:
    """Ban the source or the e-mail of a comment's author, as the moderator sees it on a card.

    Raises :class:`NotFound` for an unknown comment and :class:`Conflict` when the comment has
    no such value (no e-mail given, or its source hash removed by retention).
    """
    kind = _kind(kind)
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        raise NotFound(f"There is no comment {comment_id}.", code="unknown_comment")
    value = comment.source_hash if kind is BanKind.SOURCE else comment.email
    if not value:
        what = "source" if kind is BanKind.SOURCE else "e-mail address"
        raise Conflict(f"Comment {comment_id} has no {what} to ban.", code="nothing_to_ban")
    return add_ban(kind, value, duration=duration, reason=reason, actor=actor)


@database.writes
def lift_ban(ban_id: int) -> Ban:
    """End a ban now and commit; lifting a ban that has ended already changes nothing.

    Raises :class:`NotFound` for an unknown ban.
    """
    ban = db.session.get(Ban, ban_id) if rules.is_row_id(ban_id) else None
    if ban is None:
        raise NotFound(f"There is no ban {ban_id}.", code="unknown_ban")
    if is_active(ban):
        ban.lifted_at = utcnow()
    return ban


def list_bans(*, include_ended: bool = False) -> Sequence[Ban]:
    """Bans, newest first: the active ones, or all of them."""
    query = select(Ban).order_by(Ban.created_at.desc(), Ban.id.desc())
    if not include_ended:
        query = query.where(*_active_clause(utcnow()))
    return db.session.scalars(query).all()


# Run on every submission, inside its write transaction (see checks.banned).
_ACTIVE_BAN = (
    select(Ban.id)
    .where(
        or_(
            and_(Ban.kind == BanKind.SOURCE, Ban.value == bindparam("source_hash")),
            and_(
                Ban.kind == BanKind.EMAIL, Ban.value.in_([bindparam("email"), bindparam("erased")])
            ),
        ),
        *_active_clause(bindparam("now")),
    )
    .limit(1)
)


def active_ban_id(
    driver: database.Driver, source_hash: str | None, email: str | None, now: datetime
) -> int | None:
    """The active ban, if any, on this source or e-mail address (plain or erased form).

    A missing source or e-mail is passed as NULL, which equals nothing.
    """
    return ask_active_ban(driver, source_hash, email, now)()


def ask_active_ban(
    driver: database.Driver, source_hash: str | None, email: str | None, now: datetime
) -> Callable[[], int | None]:
    """:func:`active_ban_id` in two steps: the query is sent now (:meth:`Driver.later
    <moderation.database.Driver.later>`) and read when the function returned is called, so
    it can travel to the server with other queries (the submission's history checks)."""
    if not (source_hash or email):
        return lambda: None
    address = email.strip().lower() if email else None
    erased = privacy.email_hash(address) if address else None
    found = driver.later(
        _ACTIVE_BAN,
        {
            "source_hash": source_hash or None,
            "email": address,
            "erased": erased,
            "now": driver.timestamp(now),
        },
    )

    def ban_id() -> int | None:
        row = found.fetchone()
        return row[0] if row else None

    return ban_id
