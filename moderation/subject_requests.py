"""Data subject requests (GDPR Art. 15 and 17): export and erase what is stored for an e-mail.

The e-mail address is the only thing that ties comments to a person the newsroom can verify
(by writing to it); comments sent without one can be taken back by their author with the
withdrawal token, but cannot be found by person.

* :func:`export_data` gathers every comment written with the address (any status), its audit
  history, and bans on the address. Moderators appear in it as ``moderator``, not by name.
* :func:`erase_data` removes it: comments that are not published are deleted (an anonymous
  audit event remains); published comments keep their place in the thread, so replies stay
  readable, with name and text replaced by "[gelöscht]" / "[deleted]" (the site's language)
  and their e-mail, source hash and withdrawal token removed. An e-mail ban stays in force,
  its address replaced by a keyed hash. The articles' versions change so cached lists update.

Readers' mail settings count too (:mod:`moderation.notify.readers`): the export shows the
address's record (confirmed, unsubscribed, when) and the mails queued or sent to it; erasing
removes the record, or, for an address that unsubscribed, keeps only its keyed hash (the
suppression list, which must go on working), and deletes the mails to it, sent or not.

Reader keys (:mod:`moderation.trust`) are erased with the address. The export says when each
was made, not its hash: the hash identifies nothing to the reader, the key itself is stored
nowhere but in their browser, and a hash handed out is one more copy of a credential's
fingerprint to leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import force_locale, gettext
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import joinedload

from . import database, privacy, sanitize
from .errors import InvalidInput
from .extensions import db
from .models import (
    Article,
    Ban,
    BanKind,
    Comment,
    CommentStatus,
    Language,
    ModerationEvent,
    OutboxKind,
    OutboxMessage,
    ReaderAddress,
    ReaderKey,
    Report,
    Site,
    utcnow,
)
from .review import bump_article
from .rules import EMAIL, MAX_EMAIL_LENGTH

ERASED_NOTE = "erased at the author's request"


def deleted_text(language: Language) -> str:
    """What an erased published comment says instead of name and text, in its site's language
    ("[gelöscht]", "[deleted]")."""
    with force_locale(language.value):
        return gettext("[deleted]")


def _address(email: str) -> str:

    address = (email or "").strip()
    if len(address) > MAX_EMAIL_LENGTH or not EMAIL.fullmatch(address):
        raise InvalidInput(f"{email!r} is not a valid e-mail address.", code="invalid_email")
    return address.lower()


def _comments(address: str) -> list[Comment]:
    return list(
        db.session.scalars(
            select(Comment)
            .where(func.lower(Comment.email) == address)
            .options(joinedload(Comment.article).joinedload(Article.site))
            .order_by(Comment.id)
        )
    )


def _bans(address: str) -> list[Ban]:
    return list(
        db.session.scalars(
            select(Ban)
            .where(
                Ban.kind == BanKind.EMAIL,
                Ban.value.in_([address, privacy.email_hash(address)]),
            )
            .order_by(Ban.id)
        )
    )


def _reader_address(address: str) -> ReaderAddress | None:
    return db.session.scalar(
        select(ReaderAddress).where(ReaderAddress.email_hash == privacy.address_hash(address))
    )


def _reader_keys(address: str) -> list[ReaderKey]:
    return list(
        db.session.scalars(
            select(ReaderKey)
            .where(ReaderKey.email_hash == privacy.address_hash(address))
            .order_by(ReaderKey.created_at)
        )
    )


def _mails(address: str) -> list[OutboxMessage]:
    """Readers' mails to the address (each carries its keyed hash), queued or sent."""
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.kind == OutboxKind.MAIL,
                OutboxMessage.recipient_hash == privacy.address_hash(address),
            )
            .order_by(OutboxMessage.id)
        )
    )


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def export_data(email: str) -> dict[str, Any]:
    """Everything stored for an e-mail address, as JSON-ready data.

    Raises :class:`InvalidInput` for something that is not an e-mail address.
    """
    address = _address(email)
    comments = _comments(address)
    events: dict[int, list[ModerationEvent]] = {}
    if comments:
        for event in db.session.scalars(
            select(ModerationEvent)
            .where(ModerationEvent.comment_id.in_([c.id for c in comments]))
            .order_by(ModerationEvent.id)
        ):
            events.setdefault(event.comment_id or 0, []).append(event)
    data = {
        "email": address,
        "exported_at": _time(utcnow()),
        "comments": [
            {
                "id": comment.id,
                "site": comment.article.site.slug,
                "article": {
                    "key": comment.article.key,
                    "title": comment.article.title,
                    "url": comment.article.url,
                },
                "parent_id": comment.parent_id,
                "author": comment.author,
                "email": comment.email,
                "body": comment.body_raw,
                "status": comment.status.value,
                "reasons": list(comment.reasons or []),
                "source_hash": comment.source_hash,
                "created_at": _time(comment.created_at),
                "decided_at": _time(comment.decided_at),
                "history": [
                    {
                        "at": _time(event.created_at),
                        "from": event.from_status.value if event.from_status else None,
                        "to": event.to_status.value if event.to_status else None,
                        "by": "moderator" if event.actor_id else event.actor_name,
                        "note": event.note,
                    }
                    for event in events.get(comment.id, [])
                ],
            }
            for comment in comments
        ],
        "bans": [
            {
                "value": ban.value,
                "reason": ban.reason,
                "created_at": _time(ban.created_at),
                "expires_at": _time(ban.expires_at),
                "lifted_at": _time(ban.lifted_at),
            }
            for ban in _bans(address)
        ],
        "notifications": _notifications(address),
        # Reports the address was given with: what was reported and what became of it.
        "reports": [
            {
                "id": row.id,
                "comment_id": row.comment_id,
                "site": _site_slug(row.site_id),
                "category": row.category,
                "law": row.law,
                "explanation": row.explanation,
                "email": row.email,
                "status": row.status.value,
                "created_at": _time(row.created_at),
                "decided_at": _time(row.decided_at),
            }
            for row in _reports(address)
        ],
    }
    database.discard()
    return data


def _site_slug(site_id: int) -> str | None:
    site = db.session.get(Site, site_id)
    return site.slug if site else None


def _reports(address: str) -> list[Report]:
    """The reports made with this address (:mod:`moderation.reports`), oldest first."""
    return list(
        db.session.scalars(
            select(Report).where(func.lower(Report.email) == address).order_by(Report.id)
        )
    )


def _notifications(address: str) -> dict[str, Any]:
    """The address's mail settings and the mails to it, for :func:`export_data`."""
    record = _reader_address(address)
    return {
        "address": None
        if record is None
        else {
            "email": record.email,
            "email_hash": record.email_hash,
            "confirmed": record.confirmed,
            "confirmed_at": _time(record.confirmed_at),
            "unsubscribed_at": _time(record.unsubscribed_at),
            "confirmation_sent_at": _time(record.confirm_sent_at),
            "created_at": _time(record.created_at),
        },
        "mails": [
            {
                "kind": mail.topic,
                "to": mail.recipient,
                "state": mail.state.value,
                "subject": mail.payload.get("subject"),
                "text": mail.payload.get("text"),
                "comment_id": mail.comment_id,
                "created_at": _time(mail.created_at),
                "delivered_at": _time(mail.delivered_at),
            }
            for mail in _mails(address)
        ],
        # When each browser got its reader key; the keys' hashes are not handed out.
        "reader_keys": [{"created_at": _time(key.created_at)} for key in _reader_keys(address)],
    }


def erasable(email: str) -> tuple[int, int]:
    """How many comments and plain-address bans :func:`erase_data` would touch."""
    address = _address(email)
    counts = len(_comments(address)), sum(ban.value == address for ban in _bans(address))
    database.discard()
    return counts


def erasable_mail_records(email: str) -> int:
    """How many mail records :func:`erase_data` would touch: the address's mail settings (1 or
    0; an unsubscribed one without its address counts as nothing, it stays) and mails to it."""
    address = _address(email)
    record = _reader_address(address)
    count = len(_mails(address)) + int(record is not None and not _suppression_only(record))
    count += len(_reader_keys(address))
    database.discard()
    return count


def erasable_reports(email: str) -> int:
    """How many reports :func:`erase_data` would take the address out of."""
    count = len(_reports(_address(email)))
    database.discard()
    return count


def _suppression_only(record: ReaderAddress) -> bool:
    """Nothing left but the hash of an unsubscribed address: the suppression list's entry."""
    return (
        record.email is None
        and record.unsubscribed_at is not None
        and not record.confirmed
        and record.confirmed_at is None
    )


@dataclass(frozen=True)
class Erased:
    anonymized: int  # published comments that keep their place
    deleted: int  # other comments, removed
    bans: int  # e-mail bans whose address was replaced by its hash
    mails: int = 0  # readers' mails to the address, queued or sent, deleted
    # What became of its mail settings: "deleted", "suppressed" (only the hash kept) or None.
    notifications: str | None = None
    reader_keys: int = 0  # browsers' keys of the address (moderation.trust), deleted
    reports: int = 0  # reports made with the address; they stay, without it


@database.writes
def erase_data(email: str, actor: str = "cli") -> Erased:
    """Erase what is stored for an e-mail address (see the module docstring) and commit.

    Raises :class:`InvalidInput` for something that is not an e-mail address.
    """
    address = _address(email)
    anonymized = deleted = 0
    touched: set[int] = set()
    comments = _comments(address)
    _erase_mails_about(address, [comment.id for comment in comments])
    for comment in comments:
        if comment.status == CommentStatus.APPROVED:
            placeholder = deleted_text(comment.article.site.language)
            comment.author = placeholder
            comment.body_raw = placeholder
            comment.body_html = sanitize.render(placeholder)
            comment.policy_version = sanitize.POLICY_VERSION
            comment.email = None
            comment.source_hash = None
            comment.token_hash = None
            db.session.add(
                ModerationEvent(
                    comment_id=comment.id,
                    actor_name=actor,
                    from_status=comment.status,
                    to_status=comment.status,
                    note=ERASED_NOTE,
                )
            )
            touched.add(comment.article_id)
            anonymized += 1
    db.session.flush()
    doomed = [c for c in comments if c.status != CommentStatus.APPROVED]
    if doomed:
        ids = [c.id for c in doomed]
        touched.update(
            db.session.scalars(
                select(Comment.article_id).where(
                    Comment.parent_id.in_(ids), Comment.status == CommentStatus.APPROVED
                )
            )
        )
        for comment in doomed:
            db.session.add(
                ModerationEvent(
                    comment_id=None,
                    actor_name=actor,
                    from_status=comment.status,
                    to_status=None,
                    note=ERASED_NOTE,
                )
            )
            db.session.delete(comment)
            deleted += 1
    bans = 0
    for ban in _bans(address):
        if ban.value == address:
            ban.value = privacy.email_hash(address)
            bans += 1
    for article_id in touched:
        bump_article(article_id)
    mails, notifications = _erase_mail_records(address)
    reader_keys = db.session.execute(
        delete(ReaderKey).where(ReaderKey.email_hash == privacy.address_hash(address))
    )
    # A report stays (it is the record of a notice and its decision), without its reporter.
    reports = db.session.execute(
        update(Report).where(func.lower(Report.email) == address).values(email=None)
    )
    return Erased(
        anonymized=anonymized,
        deleted=deleted,
        bans=bans,
        mails=mails,
        notifications=notifications,
        reader_keys=int(getattr(reader_keys, "rowcount", 0) or 0),
        reports=int(getattr(reports, "rowcount", 0) or 0),
    )


def _erase_mails_about(address: str, comment_ids: list[int]) -> None:
    """Delete the mails and webhook calls *about* the reader's comments: a moderator's mail or
    a ``comment.created`` call quotes the text and the name, queued or kept until the purge.
    Before the comments go, which would leave these rows without their ``comment_id``. Mails
    to the reader are left to :func:`_erase_mail_records`, which counts them."""
    if comment_ids:
        db.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.kind.in_((OutboxKind.MAIL, OutboxKind.WEBHOOK)),
                OutboxMessage.comment_id.in_(comment_ids),
                or_(
                    OutboxMessage.recipient_hash.is_(None),
                    OutboxMessage.recipient_hash != privacy.address_hash(address),
                ),
            )
        )


def _erase_mail_records(address: str) -> tuple[int, str | None]:
    """Delete the mails to the address (pending ones are so cancelled) and its mail settings;
    an address that unsubscribed keeps its hash, so it is still never mailed."""
    result = db.session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.kind == OutboxKind.MAIL,
            OutboxMessage.recipient_hash == privacy.address_hash(address),
        )
    )
    mails = int(getattr(result, "rowcount", 0) or 0)
    record = _reader_address(address)
    if record is None:
        return mails, None
    if record.unsubscribed_at is not None and not record.confirmed:
        record.email = None
        record.confirmed_at = None
        return mails, "suppressed"
    db.session.delete(record)
    return mails, "deleted"
