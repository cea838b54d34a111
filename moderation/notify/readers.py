"""Readers' mails: double opt-in, published / not published / reply mails, unsubscribe.

A reader who ticks "notify me" and gives an address gets nothing but a confirmation mail until
they confirm it (double opt-in): anyone can type anyone's address into a comment form, so the
first mail says no more than "someone asked for this here" and carries none of the reader's
text. Once confirmed, the address hears about its own comments only: published (with a link),
not published (with the moderator's reason), and approved replies to them. Nothing about
unapproved content goes to anyone but the comment's own address, and no mail names another
reader's address.

Addresses are known by a keyed hash (:func:`moderation.privacy.address_hash`). Unsubscribing
clears the stored address and keeps the hash with ``unsubscribed_at``: the suppression list.
Such an address gets a confirmation mail again only when a new comment asks for one, at most
once in 30 days, and nothing else until it confirms anew.

Limits, all per address: one confirmation mail per 24 hours, and ``READER_MAILS_PER_DAY``
reader mails in any 24 hours (counted from the outbox by ``recipient_hash``). The worker runs
:func:`on_event` in its transaction; the address's row is locked first, so two workers count
and set these limits one after the other.

The links are signed tokens (itsdangerous, from ``SECRET_KEY``, a salt per purpose) holding the
address's hash and the page's language, never the address: a confirmation link expires after
:data:`CONFIRM_MAX_AGE`, an unsubscribe link never does (RFC 8058 mail clients may use it late).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from babel.dates import format_datetime
from flask import current_app
from flask_babel import gettext
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from .. import database, grounds, privacy, rules
from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..models import (
    Comment,
    CommentStatus,
    OutboxKind,
    OutboxMessage,
    ReaderAddress,
    ReaderKey,
    utcnow,
)
from . import mail, outbox

log = logging.getLogger(__name__)

CONFIRM_MAX_AGE = timedelta(days=7)
CONFIRM_INTERVAL = timedelta(hours=24)  # between two confirmation mails to one address
SUPPRESSED_CONFIRM_INTERVAL = timedelta(days=30)  # the same, for an unsubscribed address
DAY = timedelta(hours=24)

_CONFIRM_SALT = "reader-confirm"
_UNSUBSCRIBE_SALT = "reader-unsubscribe"
_OBJECTION_SALT = "reader-objection"
# How long an author may object to a removal with the link in its statement of reasons (the
# DSA asks platforms to take complaints for at least six months, Art. 20).
OBJECTION_MAX_AGE = timedelta(days=183)

# The mails, by template (templates/mail/<topic>.txt|.html); the outbox row's topic too.
CONFIRM = "reader/confirm"
PUBLISHED = "reader/published"
REJECTED = "reader/rejected"
REPLY = "reader/reply"


# --- tokens ----------------------------------------------------------------------------------


def _confirm_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_CONFIRM_SALT)


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT)


def confirm_token(email_hash: str, language: str, comment_id: int | None = None) -> str:
    """The confirmation link's token; ``comment_id``, the comment that asked for it, lets the
    page lead back to its article (with the browser's reader key, see :func:`confirm`)."""
    payload: list[Any] = [email_hash, language]
    if comment_id is not None:
        payload.append(comment_id)
    return _confirm_serializer().dumps(payload)


def unsubscribe_token(email_hash: str, language: str) -> str:
    return _unsubscribe_serializer().dumps([email_hash, language])


@dataclass(frozen=True)
class Token:
    """What a valid link says: whose address (its hash), in which language, issued when."""

    email_hash: str
    language: str
    issued_at: datetime | None = None  # confirmation links only
    comment_id: int | None = None  # the comment that asked for the confirmation link


class BadToken(InvalidInput):
    """A link that is forged, garbled or expired; ``expired`` tells the last apart."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message, code="expired_token" if expired else "invalid_token")
        self.expired = expired


class ExpiredToken(BadToken):
    """An expired link; ``language`` is the one it was made for (its payload is still ours)."""

    def __init__(self, language: str) -> None:
        super().__init__("This link has expired.", expired=True)
        self.language = language


# Longer than any token we make: a longer one is refused before it is decoded.
MAX_TOKEN_LENGTH = 300


def _payload(value: Any) -> tuple[str, str]:
    if (
        isinstance(value, list)
        and len(value) in (2, 3)
        and all(isinstance(part, str) for part in value[:2])
        and len(value[0]) == 64
        and value[1] in rules.LANGUAGES
    ):
        return value[0], value[1]
    raise BadToken("This link is not valid.")


def _comment_of(value: Any) -> int | None:
    """The comment id a confirmation link carries (links made before issue 13 carry none)."""
    found = value[2] if len(value) == 3 else None
    if isinstance(found, int) and not isinstance(found, bool) and rules.is_row_id(found):
        return found
    return None


def _load_timed(
    serializer: URLSafeTimedSerializer, token: str, max_age: timedelta
) -> tuple[Any, datetime]:
    """A timed link's payload and when it was made; raises :class:`BadToken`, or
    :class:`ExpiredToken` in the link's own language (its signature held, so its payload is
    still ours: the page can say so in the reader's language)."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise BadToken("This link is not valid.")
    try:
        return serializer.loads(token, max_age=int(max_age.total_seconds()), return_timestamp=True)
    except SignatureExpired as error:
        try:
            language = _payload(serializer.loads_unsafe(token)[1])[1]
        except BadToken:
            language = ""
        raise ExpiredToken(language) from error
    except BadSignature:
        raise BadToken("This link is not valid.") from None


def read_confirm_token(token: str) -> Token:
    """The confirmation link's content; raises :class:`BadToken` (``expired`` after 7 days)."""
    value, issued = _load_timed(_confirm_serializer(), token, CONFIRM_MAX_AGE)
    email_hash, language = _payload(value)
    return Token(email_hash, language, issued, _comment_of(value))


def read_unsubscribe_token(token: str) -> Token:
    """The unsubscribe link's content; raises :class:`BadToken`. It does not expire."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise BadToken("This link is not valid.")
    try:
        value = _unsubscribe_serializer().loads(token)
    except BadSignature:
        raise BadToken("This link is not valid.") from None
    return Token(*_payload(value))


def confirm_url(email_hash: str, language: str, comment_id: int | None = None) -> str:
    return mail.link(f"/notifications/confirm/{confirm_token(email_hash, language, comment_id)}")


def unsubscribe_url(email_hash: str, language: str) -> str:
    return mail.link(f"/notifications/unsubscribe/{unsubscribe_token(email_hash, language)}")


@dataclass(frozen=True)
class ObjectionLink:
    """What a valid objection link says: which comment, whose address (its hash), which
    language."""

    comment_id: int
    email_hash: str
    language: str


def _objection_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_OBJECTION_SALT)


def objection_token(comment_id: int, email_hash: str, language: str) -> str:
    return _objection_serializer().dumps([email_hash, language, comment_id])


def objection_url(comment_id: int, email_hash: str, language: str) -> str:
    """The statement of reasons' link to object (``/notifications/objection/<token>``)."""
    token = objection_token(comment_id, email_hash, language)
    return mail.link(f"/notifications/objection/{token}")


def read_objection_token(token: str) -> ObjectionLink:
    """The objection link's content; raises :class:`BadToken` (``expired`` after
    :data:`OBJECTION_MAX_AGE`) for a link we did not make or that carries no comment."""
    value, _ = _load_timed(_objection_serializer(), token, OBJECTION_MAX_AGE)
    email_hash, language = _payload(value)
    comment_id = _comment_of(value)
    if comment_id is None:
        raise BadToken("This link is not valid.")
    return ObjectionLink(comment_id, email_hash, language)


# --- what the pages do -----------------------------------------------------------------------


def address_state(token: Token) -> str | None:
    """Where the link's address stands, for the page a GET shows (which changes nothing):
    ``confirmed``, ``unsubscribed``, ``waiting`` (for its confirmation), or None (unknown)."""
    row = db.session.scalar(
        select(ReaderAddress).where(ReaderAddress.email_hash == token.email_hash)
    )
    state = None
    if row is not None:
        if row.confirmed:
            state = "confirmed"
        elif row.unsubscribed_at is not None:
            state = "unsubscribed"
        else:
            state = "waiting"
    database.discard()
    return state


# Reader keys kept per address: one per browser that confirmed it; older ones are dropped.
MAX_READER_KEYS = 10
KEY_FRAGMENT = "cm-key"  # the article link's fragment: #cm-key=KEY (read by static/embed.js)


@dataclass(frozen=True)
class Confirmed:
    """What the confirmation page shows: the address, and where this browser may go on to.

    ``article_url`` is the commented article's address with a fresh reader key in its fragment
    (``#cm-key=…``), or None when the article has no known address (or the comment is gone):
    then no key is made, as no browser could receive it.
    """

    address: ReaderAddress
    article_url: str | None = None


@database.writes
def confirm(token: Token) -> Confirmed:
    """Confirm the address (the confirmation page's POST): it may be mailed from now on.

    The browser that confirms also gets a reader key (see :mod:`moderation.trust`): only its
    SHA-256 is stored, bound to the address's hash, and the key itself goes into the fragment
    of the link back to the article, where the widget picks it up. Only the mailbox's owner
    reaches this POST, so only their browser holds a key for the address.

    Raises :class:`NotFound` when the address is no longer known (erased meanwhile), and
    :class:`BadToken` for a link sent before the address unsubscribed: confirming anew takes a
    new link, which only a new comment asks for.
    """
    row = db.session.scalar(
        select(ReaderAddress).where(ReaderAddress.email_hash == token.email_hash).with_for_update()
    )
    if row is None:
        raise NotFound("This address is not known (any more).", code="unknown_address")
    # A link's time is in whole seconds: one made in the second of the unsubscription counts
    # as later (the confirmation mail that followed a new comment at once, say).
    if row.unsubscribed_at is not None and (
        token.issued_at is None or token.issued_at < row.unsubscribed_at.replace(microsecond=0)
    ):
        raise BadToken("This link was sent before the address unsubscribed.")
    if not row.confirmed:
        row.confirmed_at = utcnow()
    article_url = _article_of(token)
    if article_url is None:
        return Confirmed(row)
    key = secrets.token_urlsafe(32)
    _keep_newest_keys(token.email_hash, MAX_READER_KEYS - 1)
    db.session.add(
        ReaderKey(key_hash=hashlib.sha256(key.encode()).hexdigest(), email_hash=token.email_hash)
    )
    return Confirmed(row, f"{article_url.split('#', 1)[0]}#{KEY_FRAGMENT}={key}")


def _article_of(token: Token) -> str | None:
    """The address of the article whose comment asked for this link, if the comment is still
    there with this address (the link's hash must be its address's)."""
    if token.comment_id is None:
        return None
    comment = db.session.get(Comment, token.comment_id)
    if comment is None or not comment.email or not comment.article.url:
        return None
    if privacy.address_hash(comment.email) != token.email_hash:
        return None
    return comment.article.url


def _keep_newest_keys(email_hash: str, keep: int) -> None:
    """Drop the address's reader keys but the ``keep`` newest: confirming again and again
    (the link works for a week) cannot pile up rows."""
    newest = (
        select(ReaderKey.key_hash)
        .where(ReaderKey.email_hash == email_hash)
        .order_by(ReaderKey.created_at.desc(), ReaderKey.key_hash)
        .limit(keep)
    )
    db.session.execute(
        delete(ReaderKey).where(
            ReaderKey.email_hash == email_hash, ReaderKey.key_hash.not_in(newest.scalar_subquery())
        )
    )


def forget_keys(email_hash: str) -> int:
    """Delete the address's reader keys (unsubscribing, erasure); how many there were."""
    result = db.session.execute(delete(ReaderKey).where(ReaderKey.email_hash == email_hash))
    return int(getattr(result, "rowcount", 0) or 0)


@database.writes
def unsubscribe(token: Token) -> ReaderAddress:
    """Unsubscribe the address at once (one click, RFC 8058): clear the address and keep its
    hash, so it is never mailed again unless it confirms anew.

    An address unknown here (erased meanwhile) is put on the suppression list all the same:
    the link says its owner wants no mail.
    """
    row = _lock_or_create(token.email_hash)
    row.email = None
    row.unsubscribed_at = utcnow()
    # Trust needs a confirmed address: confirming anew gives the browser a new key.
    forget_keys(token.email_hash)
    return row


def _lock_or_create(email_hash: str) -> ReaderAddress:
    """The address's row, locked for this transaction; created when it is new. Two workers
    (or a worker and a page) creating it at once: one INSERT wins, the other reads it."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    db.session.execute(
        dialect.insert(ReaderAddress)
        .values(email_hash=email_hash, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["email_hash"])
    )
    return db.session.scalars(
        select(ReaderAddress)
        .where(ReaderAddress.email_hash == email_hash)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


# --- the worker's part -----------------------------------------------------------------------


def on_event(event: OutboxMessage) -> None:
    """Queue the readers' mails an event calls for (in the worker's transaction)."""
    if event.kind != OutboxKind.EVENT or event.comment_id is None:
        return
    handler = _HANDLERS.get(event.topic)
    if handler is None:
        return
    comment = db.session.get(Comment, event.comment_id)
    if comment is None:  # erased before the worker came to it
        return
    handler(event, comment)


def _on_created(event: OutboxMessage, comment: Comment) -> None:
    """A new comment that asks for notices: a confirmation mail, unless confirmed already."""
    if event.payload.get("status") != CommentStatus.PENDING.value:
        return  # spam is never answered
    if not comment.notify or not comment.email:
        return
    if comment.status not in (CommentStatus.PENDING, CommentStatus.APPROVED):
        return  # marked spam, rejected or withdrawn before the worker came to it
    email_hash = privacy.address_hash(comment.email)
    address = _lock_or_create(email_hash)
    if address.confirmed:
        return
    now = utcnow()
    suppressed = address.unsubscribed_at is not None
    interval = SUPPRESSED_CONFIRM_INTERVAL if suppressed else CONFIRM_INTERVAL
    if address.confirm_sent_at is not None and now - address.confirm_sent_at < interval:
        return
    if _over_daily_limit(email_hash, now):
        return
    # Known by its address again while it waits for the confirmation (erasure clears it).
    address.email = comment.email.strip()
    address.confirm_sent_at = now
    site = comment.article.site
    language = site.language.value
    with mail.language(language):
        content = mail.compose(
            CONFIRM,
            subject=gettext(
                "Please confirm: notices about your comment on %(site)s", site=site.name
            ),
            unsubscribe_url=unsubscribe_url(email_hash, language),
            site=site.name,
            confirm_url=confirm_url(email_hash, language, comment.id),
            days=CONFIRM_MAX_AGE.days,
        )
    _queue(CONFIRM, address.email, email_hash, content, comment)


def _on_approved(event: OutboxMessage, comment: Comment) -> None:
    """Published: tell the author; a published reply: tell the comment's author too."""
    if comment.status != CommentStatus.APPROVED:
        return  # revised again before the worker came to it
    site = comment.article.site
    language = site.language.value
    author = _confirmed_author(comment)
    if author is not None and not _already_sent(PUBLISHED, comment.id, author):
        with mail.language(language):
            content = mail.compose(
                PUBLISHED,
                subject=gettext("Your comment on %(site)s is published", site=site.name),
                unsubscribe_url=unsubscribe_url(author, language),
                site=site.name,
                title=_title(comment),
                comment_url=comment_link(comment),
                body=comment.body_raw,
                body_html=comment.body_html,
            )
        _queue(PUBLISHED, _recipient(comment), author, content, comment)
    parent = comment.parent
    if parent is None or parent.status != CommentStatus.APPROVED:
        return
    parent_author = _confirmed_author(parent)
    if parent_author is None or _own_reply(comment, parent_author):
        return
    if _already_sent(REPLY, comment.id, parent_author):
        return
    with mail.language(language):
        content = mail.compose(
            REPLY,
            subject=gettext(
                "%(name)s replied to your comment on %(site)s",
                name=mail.header_text(comment.author, 60),
                site=site.name,
            ),
            unsubscribe_url=unsubscribe_url(parent_author, language),
            site=site.name,
            title=_title(comment),
            comment_url=comment_link(comment),
            author=comment.author,
            body=comment.body_raw,
            body_html=comment.body_html,
        )
    _queue(REPLY, _recipient(parent), parent_author, content, comment)


def _on_rejected(event: OutboxMessage, comment: Comment) -> None:
    """Not published, or removed: the author's statement of reasons (DSA Art. 17).

    What was decided and when, the ground (its label) and the moderator's reason when one was
    given, and how to object: a signed link to the objection page, and the
    ``OBJECTION_ADDRESS`` to reply to when one is set. The mail does not quote the comment:
    the address in it may not be the writer's own."""
    if comment.status != CommentStatus.REJECTED:
        return
    author = _confirmed_author(comment)
    if author is None or _already_sent(REJECTED, comment.id, author):
        return
    site = comment.article.site
    language = site.language.value
    note = event.payload.get("note")
    ground = event.payload.get("ground")
    removed = event.payload.get("previous") == CommentStatus.APPROVED.value
    with mail.language(language):
        if removed:
            subject = gettext("Your comment on %(site)s was removed", site=site.name)
        else:
            subject = gettext("Your comment on %(site)s was not published", site=site.name)
        content = mail.compose(
            REJECTED,
            subject=subject,
            unsubscribe_url=unsubscribe_url(author, language),
            site=site.name,
            title=_title(comment),
            written_at=format_datetime(
                comment.created_at,
                gettext("dd MMM yyyy, HH:mm 'UTC'"),
                tzinfo=UTC,
                locale=language,
            ),
            article_url=comment.article.url,
            reason=note.strip() if isinstance(note, str) and note.strip() else None,
            removed=removed,
            decided_at=format_datetime(
                event.created_at,
                gettext("dd MMM yyyy, HH:mm 'UTC'"),
                tzinfo=UTC,
                locale=language,
            ),
            ground=grounds.label(ground) if isinstance(ground, str) and ground else None,
            objection_url=objection_url(comment.id, author, language),
            objection_address=current_app.config.get("OBJECTION_ADDRESS") or None,
            objection_days=OBJECTION_MAX_AGE.days,
        )
    _queue(REJECTED, _recipient(comment), author, content, comment)


_HANDLERS = {
    "comment.created": _on_created,
    "comment.approved": _on_approved,
    "comment.rejected": _on_rejected,
}


def _recipient(comment: Comment) -> str:
    assert comment.email is not None
    return comment.email.strip()


def _confirmed_author(comment: Comment) -> str | None:
    """The hash of the comment's address, if it asked for notices and is confirmed (locked)."""
    if not comment.notify or not comment.email:
        return None
    email_hash = privacy.address_hash(comment.email)
    address = db.session.scalars(
        select(ReaderAddress)
        .where(ReaderAddress.email_hash == email_hash)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    return email_hash if address is not None and address.confirmed else None


def _own_reply(reply: Comment, parent_hash: str) -> bool:
    return bool(reply.email) and privacy.address_hash(reply.email or "") == parent_hash


def _already_sent(topic: str, comment_id: int, email_hash: str) -> bool:
    """Was this mail queued before? A decision revised back and forth mails once."""
    return (
        db.session.scalar(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.kind == OutboxKind.MAIL,
                OutboxMessage.topic == topic,
                OutboxMessage.comment_id == comment_id,
                OutboxMessage.recipient_hash == email_hash,
            )
            .limit(1)
        )
        is not None
    )


def _over_daily_limit(email_hash: str, now: datetime) -> bool:
    limit = int(current_app.config["READER_MAILS_PER_DAY"])
    sent = db.session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.kind == OutboxKind.MAIL,
            OutboxMessage.recipient_hash == email_hash,
            OutboxMessage.created_at > now - DAY,
        )
    )
    if (sent or 0) >= limit:
        log.info("reader mail not sent: %s mails to one address in 24 hours", sent)
        return True
    return False


def _queue(
    topic: str, recipient: str, email_hash: str, content: dict[str, Any], comment: Comment
) -> None:
    if topic != CONFIRM and _over_daily_limit(email_hash, utcnow()):
        return
    outbox.add_mail(
        topic,
        recipient,
        content,
        site_id=comment.article.site_id,
        comment_id=comment.id,
        recipient_hash=email_hash,
    )


def _title(comment: Comment) -> str | None:
    """The article's title, once a moderator confirmed it (before, it is a reader's claim)."""
    article = comment.article
    return article.title if article.title and article.title_confirmed else None


def comment_link(comment: Comment) -> str:
    """Where a published comment is read: on the article's page, else on our no-JS page."""
    article = comment.article
    anchor = f"#comment-{comment.id}"
    if article.url:
        return article.url.split("#", 1)[0] + anchor
    return mail.link(f"/embed/{article.site.slug}/{article.key}{anchor}")
