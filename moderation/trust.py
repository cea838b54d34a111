"""Trusted readers: a reader with a good record on a site is published at once.

A site may switch this on (``Site.trust_readers``; off by default). A comment is then approved
when it is stored, without waiting for a moderator, if all of these hold:

* the other checks raised nothing at all (a held or spam reason keeps it in the queue as
  usual: a trusted reader's comment with a blocked word is still spam);
* it carries an e-mail address, and the **reader key** sent with it is bound to that address;
* the address is confirmed (double opt-in, :mod:`moderation.notify.readers`) and has not
  unsubscribed since;
* that address wrote at least ``trust_min_approved`` approved comments on the site in the last
  ``trust_days`` days, and none of its comments there was rejected or marked spam in that time
  (written or decided then): one rejection revokes the trust for ``trust_days``.

Why a key: anyone can type anyone's address into a comment form. Trust bound to the address
alone would publish a stranger's text under a good reader's name. The key is made when the
reader confirms their address (the confirmation page's POST, which only the owner of the
mailbox can reach), handed to that browser in the URL fragment of the link back to the article
(fragments are sent to no server and in no ``Referer``), kept in the browser's storage for the
site, and sent with that reader's later comments. Only its SHA-256 is stored here
(``ReaderKey``), bound to the address's keyed hash: a leaked database holds no usable key.
Typing a trusted reader's address without their key gets the comment the same queue as
anyone's.

:func:`is_trusted` runs inside the submission's write transaction (:func:`moderation.submission
._store`), on its driver, so a rejection committed before it is seen, and what it counts cannot
change before the comment is stored. Its statements are compiled Core, as the other history
checks' are. The reads are few and indexed, and only a submission that brings a key and an
address pays for them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, case, func, or_, select, update

from . import database, privacy
from .models import (
    Article,
    Comment,
    CommentStatus,
    ModerationEvent,
    ReaderAddress,
    ReaderKey,
    Site,
)
from .notify import outbox

# The reason stored on a comment published at once, and the note of its audit event.
TRUSTED = "trusted"
# Who publishes it, in the audit trail.
ACTOR = "system"


def key_hash(key: str) -> str:
    """What is stored of a reader key: its SHA-256, in hex. The key is random (256 bits), so
    an unsalted hash is enough: nobody can try keys until one matches."""
    return hashlib.sha256(key.encode()).hexdigest()


_site = database.table(Site)
_key = database.table(ReaderKey)
_address = database.table(ReaderAddress)
_comment = database.table(Comment)
_article = database.table(Article)
_event = database.table(ModerationEvent)

_SETTINGS = select(_site.c.trust_readers, _site.c.trust_min_approved, _site.c.trust_days).where(
    _site.c.id == bindparam("site_id")
)
# The key bound to this address, and where the address stands.
_HOLDER = (
    select(_address.c.confirmed_at, _address.c.unsubscribed_at)
    .select_from(_key.join(_address, _address.c.email_hash == _key.c.email_hash))
    .where(_key.c.key_hash == bindparam("key_hash"), _key.c.email_hash == bindparam("email_hash"))
)
# The address's record on the site in the window: approved comments written in it, and
# rejections or spam written or decided in it. Comments keep the address as it was typed, so it
# is compared lower-cased, in any spelling, through the index ix_comment_email_lower (whose
# condition, "lower(email) IS NOT NULL", both databases see this comparison imply).
_approved = _comment.c.status == CommentStatus.APPROVED
# (No IN: the driver runs no expanding parameters.)
_bad = or_(_comment.c.status == CommentStatus.REJECTED, _comment.c.status == CommentStatus.SPAM)
_RECORD = (
    select(
        func.coalesce(func.sum(case((_approved, 1), else_=0)), 0),
        func.coalesce(func.sum(case((_bad, 1), else_=0)), 0),
    )
    .select_from(_comment.join(_article, _article.c.id == _comment.c.article_id))
    .where(
        func.lower(_comment.c.email) == bindparam("lowered"),
        _article.c.site_id == bindparam("site_id"),
        or_(
            _comment.c.created_at > bindparam("since"),
            and_(_bad, _comment.c.decided_at > bindparam("since")),
        ),
    )
)


def is_trusted(
    driver: database.Driver,
    *,
    site_id: int,
    email: str | None,
    reader_key: str | None,
    now: datetime,
) -> bool:
    """Is the author of a comment about to be stored a trusted reader of the site?

    See the module docstring for the rules; call it only when the checks raised nothing.
    Its reads stop at the first rule that fails, cheapest first.
    """
    if not email or not reader_key:
        return False
    settings = driver.one(_SETTINGS, {"site_id": site_id})
    if settings is None or not settings[0]:
        return False
    min_approved, days = int(settings[1]), int(settings[2])
    holder = driver.one(
        _HOLDER, {"key_hash": key_hash(reader_key), "email_hash": privacy.address_hash(email)}
    )
    if holder is None:
        return False
    confirmed_at, unsubscribed_at = holder
    if confirmed_at is None or (
        unsubscribed_at is not None
        and driver.moment(confirmed_at) <= driver.moment(unsubscribed_at)
    ):
        return False
    record = driver.one(
        _RECORD,
        {
            "lowered": email.strip().lower(),
            "site_id": site_id,
            "since": driver.timestamp(now - timedelta(days=days)),
        },
    )
    approved, bad = (int(value) for value in record) if record is not None else (0, 0)
    return bad == 0 and approved >= min_approved


_BUMP_ARTICLE = (
    update(_article)
    .where(_article.c.id == bindparam("article_id"))
    .values(version=_article.c.version + 1, approved_count=_article.c.approved_count + 1)
)
_NEW_EVENT = _event.insert().values(
    actor_name=ACTOR,
    from_status=CommentStatus.PENDING,
    to_status=CommentStatus.APPROVED,
    note=TRUSTED,
    **database.parameters("comment_id", "created_at"),
)


def publish(
    driver: database.Driver, *, site_id: int, article_id: int, comment_id: int, now: datetime
) -> None:
    """What a moderator's approval does (:func:`moderation.review.change_status`), for a
    trusted reader's comment just stored as approved, in the submission's transaction: the
    article's approved count and version (the list's ETag) go up, the audit trail records the
    system's approval with the note ``trusted``, and ``comment.approved`` goes to the outbox
    (the author's "published" mail, the webhooks)."""
    driver.execute(_BUMP_ARTICLE, {"article_id": article_id})
    driver.execute(_NEW_EVENT, {"comment_id": comment_id, "created_at": driver.timestamp(now)})
    outbox.event_on_driver(
        driver,
        "comment.approved",
        site_id=site_id,
        comment_id=comment_id,
        now=now,
        previous=CommentStatus.PENDING.value,
        actor=ACTOR,
        note=TRUSTED,
    )
