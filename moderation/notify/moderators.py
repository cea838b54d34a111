"""Moderators' mails: one per new comment, digests, and overdue alerts.

A moderator chooses how they hear about the queue (:func:`moderation.moderators.set_notifications`):

* ``each`` — :func:`on_event` queues one mail per comment that lands in the queue, with its
  text, the reasons the checks raised and a link to its card. Spam is not mailed: it waits in
  its own list, and a spam wave would otherwise become a mail wave.
* ``digest`` — :func:`tick` queues one mail every ``digest_hours``: how many comments wait per
  site, the oldest wait, and the reasons by count.
* every mode but ``off`` also gets a site's *overdue alert*: once the oldest pending comment of
  a site has waited longer than its ``overdue_minutes``. ``Site.overdue_alerted_at`` marks the
  episode, so the alert goes out once; the mark is cleared when the queue is back in time.

The worker calls :func:`tick` every minute, and several workers may run at once (on several
hosts). So each digest and each alert is decided in a write transaction by a conditional
UPDATE (``… WHERE digest_sent_at <= cutoff``, ``… WHERE overdue_alerted_at IS NULL``) that
queues the mail in the same transaction: PostgreSQL makes a second worker's UPDATE wait for
the first one's row lock and then re-check its condition against the committed row, which no
longer matches; SQLite runs write transactions one at a time. Exactly one worker wins.

Mails are in the moderator's own UI language when they chose one, else in the site's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext, ngettext
from sqlalchemy import func, or_, select, update

from .. import database
from ..extensions import db
from ..i18n import reason_label, waiting
from ..models import (
    Article,
    Comment,
    CommentStatus,
    Moderator,
    NotifyMode,
    OutboxMessage,
    Site,
    utcnow,
)
from ..rules import LANGUAGES
from . import mail, outbox

# The moderator UI's pages a mail links to, by endpoint: the links follow the routes.
CARD_ENDPOINT = "moderate.queue.comment"
QUEUE_ENDPOINT = "moderate.queue.queue"


def ui_link(endpoint: str, **values: Any) -> str:
    """An absolute link to a moderator page (:func:`mail.link`). The worker has no request to
    build URLs from, so the path comes from the app's URL map directly."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return mail.link(path)


def _language(moderator: Moderator, fallback: str) -> str:
    return moderator.locale if moderator.locale in LANGUAGES else fallback


def _recipients(*where: Any) -> list[Moderator]:
    """Active moderators with an address, matching ``where``, in a stable order."""
    return list(
        db.session.scalars(
            select(Moderator)
            .where(
                Moderator.active.is_(True),
                Moderator.notify_email.is_not(None),
                Moderator.notify_email != "",
                *where,
            )
            .order_by(Moderator.id)
        )
    )


# --- each new comment ------------------------------------------------------------------------


def on_event(event: OutboxMessage) -> None:
    """Queue the moderators' mails an event calls for (in the worker's transaction).

    Only a new comment that went to the queue (``comment.created`` with status ``pending``)
    is mailed, and only while it still waits: one decided (or erased) before the worker came
    to it needs nobody any more.
    """
    if event.topic != "comment.created" or event.comment_id is None:
        return
    if (event.payload or {}).get("status") != CommentStatus.PENDING.value:
        return
    recipients = _recipients(Moderator.notify_mode == NotifyMode.EACH)
    if not recipients:
        return
    comment = db.session.get(Comment, event.comment_id)
    if comment is None or comment.status != CommentStatus.PENDING:
        return
    article = comment.article
    site = article.site
    card = ui_link(CARD_ENDPOINT, comment_id=comment.id)
    for moderator in recipients:
        assert moderator.notify_email is not None  # _recipients asked for one
        with mail.language(_language(moderator, site.language.value)):
            content = mail.compose(
                "moderator/comment",
                subject=gettext("New comment to moderate on %(site)s", site=site.name),
                site=site,
                article=article,
                # A title is the first commenter's claim until a moderator confirms it.
                title=article.title if article.title_confirmed else None,
                comment=comment,
                reasons=[reason_label(code) for code in comment.reasons or []],
                card_url=card,
            )
        outbox.add_mail(
            "moderator.comment",
            moderator.notify_email,
            content,
            site_id=site.id,
            comment_id=comment.id,
        )


# --- what the queue holds --------------------------------------------------------------------


@dataclass
class SiteQueue:
    """One site's pending comments, as a digest reports them (plain values, no ORM rows)."""

    site_id: int
    name: str
    slug: str
    language: str
    count: int
    oldest: datetime
    reasons: Counter[str] = field(default_factory=Counter)  # by reason code (no detail)


def waiting_queues() -> list[SiteQueue]:
    """Every site with pending comments: how many, the oldest, and their reasons by count.

    A reason's detail (``blocked_word:idiot``) is left out, so that the counts add up by kind.
    """
    pending = Comment.status == CommentStatus.PENDING
    queues = {
        site_id: SiteQueue(site_id, name, slug, language.value, count, oldest)
        for site_id, name, slug, language, count, oldest in db.session.execute(
            select(
                Site.id,
                Site.name,
                Site.slug,
                Site.language,
                func.count(Comment.id),
                func.min(Comment.created_at),
            )
            .join(Article, Article.site_id == Site.id)
            .join(Comment, Comment.article_id == Article.id)
            .where(pending)
            .group_by(Site.id, Site.name, Site.slug, Site.language)
        )
    }
    reasons = select(Article.site_id, Comment.reasons).join(Comment.article).where(pending)
    for site_id, codes in db.session.execute(reasons):
        if site_id in queues:
            queues[site_id].reasons.update({code.partition(":")[0] for code in codes or []})
    return sorted(queues.values(), key=lambda queue: queue.oldest)


# --- digests ---------------------------------------------------------------------------------


def _digest_due(moderator: Moderator, now: datetime) -> bool:
    sent = moderator.digest_sent_at
    return sent is None or sent <= now - timedelta(hours=moderator.digest_hours)


def _claim_digest(moderator_id: int, now: datetime) -> Moderator | None:
    """Mark this moderator's digest as sent now, if it is due; the moderator, if this call
    won. Runs in the transaction that queues the mail, so the mark and the mail are one."""
    moderator = db.session.get(Moderator, moderator_id, populate_existing=True)
    if moderator is None or not _digest_due(moderator, now):
        return None
    cutoff = now - timedelta(hours=moderator.digest_hours)
    result = db.session.execute(
        update(Moderator)
        .where(
            Moderator.id == moderator_id,
            Moderator.active.is_(True),
            Moderator.notify_mode == NotifyMode.DIGEST,
            # Re-checked against the committed row when another worker got there first.
            or_(Moderator.digest_sent_at.is_(None), Moderator.digest_sent_at <= cutoff),
        )
        .values(digest_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(result, "rowcount", 0) or 0) != 1:
        return None
    moderator.digest_sent_at = now
    return moderator


@database.writes
def _send_digest(moderator_id: int, now: datetime) -> bool:
    """One moderator's digest, if due and if anything waits; True if a mail was queued."""
    moderator = _claim_digest(moderator_id, now)
    if moderator is None or moderator.notify_email is None:
        return False
    queues = waiting_queues()
    if not queues:
        return False  # nothing waits: no mail, but the period starts anew
    languages = {queue.language for queue in queues}
    fallback = (
        languages.pop()
        if len(languages) == 1
        else str(current_app.config.get("BABEL_DEFAULT_LOCALE", "en"))
    )
    total = sum(queue.count for queue in queues)
    with mail.language(_language(moderator, fallback)):
        content = mail.compose(
            "moderator/digest",
            subject=ngettext(
                "%(num)d comment waits for moderation",
                "%(num)d comments wait for moderation",
                total,
            ),
            total=total,
            hours=moderator.digest_hours,
            queues=[
                {
                    "name": queue.name,
                    "count": queue.count,
                    "oldest": waiting(queue.oldest, now),
                    "reasons": [
                        (reason_label(code), count) for code, count in queue.reasons.most_common()
                    ],
                    "url": ui_link(QUEUE_ENDPOINT, site=queue.slug),
                }
                for queue in queues
            ],
            queue_url=ui_link(QUEUE_ENDPOINT),
        )
    outbox.add_mail("moderator.digest", moderator.notify_email, content)
    return True


def send_digests(now: datetime | None = None) -> int:
    """Queue the digests that are due; how many mails that made."""
    now = now or utcnow()
    candidates = [
        moderator.id
        for moderator in _recipients(Moderator.notify_mode == NotifyMode.DIGEST)
        if _digest_due(moderator, now)
    ]
    database.discard()  # end the read; each digest is a write transaction of its own
    return sum(_send_digest(moderator_id, now) for moderator_id in candidates)


# --- overdue alerts --------------------------------------------------------------------------


def _oldest_pending(site_id: int) -> tuple[datetime | None, int]:
    """The site's oldest pending comment's time and how many wait."""
    row = db.session.execute(
        select(func.min(Comment.created_at), func.count(Comment.id))
        .join(Comment.article)
        .where(Article.site_id == site_id, Comment.status == CommentStatus.PENDING)
    ).one()
    return row[0], int(row[1])


def _overdue(site: Site, oldest: datetime | None, now: datetime) -> bool:
    minutes = site.overdue_minutes
    return minutes is not None and oldest is not None and now - oldest > timedelta(minutes=minutes)


@database.writes
def _check_site(site_id: int, now: datetime) -> bool:
    """Start or end a site's overdue episode, as its queue stands now; True if alerted."""
    site = db.session.get(Site, site_id, populate_existing=True)
    if site is None:
        return False
    oldest, count = _oldest_pending(site_id)
    if not _overdue(site, oldest, now):
        if site.overdue_alerted_at is not None:
            site.overdue_alerted_at = None  # back in time: the next episode alerts again
        return False
    result = db.session.execute(
        update(Site)
        .where(Site.id == site_id, Site.overdue_alerted_at.is_(None))
        .values(overdue_alerted_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(result, "rowcount", 0) or 0) != 1:
        return False  # this episode was alerted already (by another worker, maybe)
    site.overdue_alerted_at = now
    assert oldest is not None  # _overdue needs one
    queue_url = ui_link(QUEUE_ENDPOINT, site=site.slug)
    for moderator in _recipients(Moderator.notify_mode != NotifyMode.OFF):
        assert moderator.notify_email is not None
        with mail.language(_language(moderator, site.language.value)):
            content = mail.compose(
                "moderator/overdue",
                subject=gettext("The queue of %(site)s is overdue", site=site.name),
                site=site,
                count=count,
                oldest=waiting(oldest, now),
                minutes=site.overdue_minutes,
                queue_url=queue_url,
            )
        outbox.add_mail("moderator.overdue", moderator.notify_email, content, site_id=site.id)
    return True


def check_overdue(now: datetime | None = None) -> int:
    """Alert the sites whose queue fell behind, clear the marks of those back in time; how
    many sites were alerted. Only sites whose state seems to change get a write transaction,
    which looks again."""
    now = now or utcnow()
    oldest = (
        select(Article.site_id, func.min(Comment.created_at).label("oldest"))
        .join(Comment, Comment.article_id == Article.id)
        .where(Comment.status == CommentStatus.PENDING)
        .group_by(Article.site_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Site, oldest.c.oldest)
        .outerjoin(oldest, oldest.c.site_id == Site.id)
        .where(or_(Site.overdue_minutes.is_not(None), Site.overdue_alerted_at.is_not(None)))
        .order_by(Site.id)
    ).all()
    changing = [
        site.id
        for site, since in rows
        if _overdue(site, since, now) != (site.overdue_alerted_at is not None)
    ]
    database.discard()
    return sum(_check_site(site_id, now) for site_id in changing)


def tick(now: datetime | None = None) -> None:
    """Queue the digests and overdue alerts that are due."""
    send_digests(now)
    check_overdue(now)
