"""The newsroom's voice: staff replies and editors' picks (issue 14, section 3).

A moderator answers a published comment *as the newsroom*: the reply is stored approved at once
with ``staff=True``, under the site's name (the widget adds the "Redaktion" badge, so the
thread reads "Tagesblatt · Redaktion" rather than a moderator's login, which is private). The
reply goes through :func:`moderation.review.change_status` like any approval, so the audit
trail names the moderator, the article's count and version (the list's ETag) go up in the same
transaction, and ``comment.approved`` goes to the outbox: the reader who was answered gets the
reply mail (:mod:`moderation.notify.readers`) when they asked for one.

An editors' pick (``featured``) is a mark on a published comment. Setting or clearing it bumps
the article's version, since ``?sort=featured`` and the badges change, and is audited as an
event without a status change (``from_status``/``to_status`` empty), so statistics that count
decisions do not count picks.
"""

from __future__ import annotations

from flask_babel import gettext

from . import database, review, sanitize
from .errors import Conflict, InvalidInput
from .extensions import db
from .models import Comment, CommentStatus, ModerationEvent, Moderator

STAFF_NOTE = "staff reply"
PICK_NOTE = "editors' pick"
UNPICK_NOTE = "editors' pick removed"


def _published(comment_id: int) -> Comment:
    """The comment, locked; raises :class:`Conflict` unless it is published."""
    comment = review.get_comment(comment_id, for_update=True)
    if comment.status != CommentStatus.APPROVED:
        raise Conflict(
            gettext("Only published comments can be answered or picked."), code="not_published"
        )
    return comment


def parse_reply(body: str | None, max_length: int) -> str:
    """The reply's text, normalized; raises :class:`InvalidInput` when empty or too long."""
    text = sanitize.normalize_text(body or "")
    if not text:
        raise InvalidInput(gettext("Write the reply first."), fields={"body": "Missing."})
    if len(text) > max_length:
        raise InvalidInput(
            gettext("At most %(n)s characters, please.", n=max_length),
            fields={"body": "Too long."},
        )
    return text


@database.writes
def staff_reply(parent_id: int, body: str, moderator: Moderator) -> Comment:
    """Publish the newsroom's reply to a published comment, and commit.

    ``body`` must already have passed :func:`parse_reply`. Raises :class:`NotFound` for an
    unknown comment and :class:`Conflict` when it is not published (any more).
    """
    parent = _published(parent_id)
    site = parent.article.site
    reply = Comment(
        article_id=parent.article_id,
        parent_id=parent.id,
        author=site.name[:200],
        body_raw=body,
        body_html=sanitize.render(body),
        policy_version=sanitize.POLICY_VERSION,
        status=CommentStatus.PENDING,
        staff=True,
    )
    db.session.add(reply)
    db.session.flush()  # its id, for the event and the outbox
    review.change_status(reply, CommentStatus.APPROVED, review.Actor.of(moderator), STAFF_NOTE)
    return reply


@database.writes
def set_featured(comment_id: int, featured: bool, moderator: Moderator) -> bool:
    """Mark or unmark a published comment as an editors' pick, and commit.

    Returns whether anything changed (marking a pick again changes nothing and writes nothing).
    Raises :class:`NotFound` and :class:`Conflict` as :func:`staff_reply` does.
    """
    comment = _published(comment_id)
    if comment.featured == featured:
        return False
    comment.featured = featured
    review.bump_article(comment.article_id)
    db.session.add(
        ModerationEvent(
            comment_id=comment.id,
            actor_id=moderator.id,
            actor_name=moderator.username,
            note=PICK_NOTE if featured else UNPICK_NOTE,
        )
    )
    return True
