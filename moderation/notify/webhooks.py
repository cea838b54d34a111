"""Sites' webhooks: signed JSON (or Slack-style) calls for the comment events they chose.

An admin adds a webhook to a site (:func:`add`, from the CLI or the admin page) and gets its
secret once. When the worker expands an event (:func:`on_event`), each of the site's webhooks
that wants it gets a ``webhook`` outbox row holding the serialized body, so every attempt sends
the same bytes with the same delivery id. :func:`call` makes one attempt: a POST signed with
HMAC-SHA256 over ``"{t}.{body}"``; the outbox retries failures with backoff for a day.
:func:`count_attempt` pauses a webhook after too many failures in a row and mails the admins,
so a dead receiver stops costing the worker a timeout per event.

A body carries what the public API shows of a comment plus its status and the checks'
reasons; never an e-mail address, a source hash or anything else only moderators see.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext
from sqlalchemy import delete, select, update

from .. import database, rules, sites
from ..errors import InvalidInput, NotFound, enum_member
from ..extensions import db
from ..i18n import status_label
from ..models import (
    Comment,
    Moderator,
    OutboxMessage,
    OutboxState,
    Role,
    Site,
    Webhook,
    WebhookFormat,
    utcnow,
)
from . import mail, outbox
from .outbox import Outcome

MAX_URL_LENGTH = 2000  # the column's size
FORMATS = tuple(member.value for member in WebhookFormat)
USER_AGENT = "moderation-webhooks/1"
# What of a receiver's answer is kept as the attempt's error, for the admin page.
ERROR_EXCERPT = 200
_READ_LIMIT = 64 * 1024  # an answer is read (so the connection ends cleanly) up to this much


# --- managing webhooks -------------------------------------------------------------------------


def check_url(url: str) -> str:
    """An http(s) address with a host, at most :data:`MAX_URL_LENGTH` long; raises
    :class:`InvalidInput` otherwise."""
    url = (url or "").strip()
    invalid = InvalidInput(
        gettext("A webhook's address is an http:// or https:// URL with a host."),
        code="invalid_webhook_url",
    )
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(
            gettext("A webhook's address is at most %(n)s characters long.", n=MAX_URL_LENGTH),
            code="invalid_webhook_url",
        )
    # No spaces or control characters: urllib would refuse them at sending time, not now.
    if not url or any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise invalid
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises for a port that is no number or out of range
    except ValueError:
        raise invalid from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise invalid
    return url


def check_events(events: Iterable[str]) -> list[str]:
    """The chosen events in their canonical order, all of them when none is named; raises
    :class:`InvalidInput` naming an unknown one."""
    chosen = {event.strip() for event in events if event.strip()}
    unknown = sorted(chosen - set(outbox.COMMENT_EVENTS))
    if unknown:
        raise InvalidInput(
            gettext(
                "Unknown event %(name)s; the events are: %(events)s.",
                name=unknown[0],
                events=", ".join(outbox.COMMENT_EVENTS),
            ),
            code="invalid_webhook_event",
        )
    return [event for event in outbox.COMMENT_EVENTS if event in chosen or not chosen]


def _format(value: str) -> WebhookFormat:
    return enum_member(
        WebhookFormat,
        (value or "").strip().lower(),
        gettext("The format must be json or slack."),
        "invalid_webhook_format",
    )


@database.writes
def add(
    site_slug: str, url: str, events: Iterable[str] = (), format: str = "json"
) -> tuple[Webhook, str]:
    """Add a webhook to a site; returns it and its secret, which is shown this once.

    Raises :class:`NotFound` for an unknown site and :class:`InvalidInput` for a bad address,
    event or format; then nothing is stored.
    """
    site = sites.get_site(site_slug)
    hook = Webhook(
        site_id=site.id,
        site=site,
        url=check_url(url),
        events=check_events(events),
        format=_format(format),
        secret=secrets.token_urlsafe(32),
    )
    db.session.add(hook)
    db.session.flush()
    return hook, hook.secret


def list_webhooks(site_slug: str | None = None) -> Sequence[Webhook]:
    """All webhooks (or one site's), oldest first; raises :class:`NotFound` for an unknown site."""
    query = select(Webhook).join(Site).order_by(Webhook.id)
    if site_slug is not None:
        query = query.where(Webhook.site_id == sites.get_site(site_slug).id)
    return db.session.scalars(query).all()


def get(webhook_id: int) -> Webhook:
    """The webhook with this id; raises :class:`NotFound`."""
    hook = db.session.get(Webhook, webhook_id) if rules.is_row_id(webhook_id) else None
    if hook is None:
        raise NotFound(
            gettext("There is no webhook %(id)s.", id=webhook_id), code="unknown_webhook"
        )
    return hook


@database.writes
def remove(webhook_id: int) -> int:
    """Remove a webhook with its calls, sent or not; returns how many were still pending.

    Raises :class:`NotFound`. A worker holding one of its calls right now finds its lease gone
    and records nothing.
    """
    hook = get(webhook_id)
    pending = len(
        db.session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.webhook_id == hook.id, OutboxMessage.state == OutboxState.PENDING
            )
        ).all()
    )
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.webhook_id == hook.id))
    db.session.delete(hook)
    return pending


@database.writes
def resume(webhook_id: int) -> Webhook:
    """Unpause a webhook and forget its failures; its waiting calls are due at once.

    Raises :class:`NotFound`. Calls that were given up on stay failed (``outbox retry`` sends
    one again).
    """
    hook = get(webhook_id)
    hook.paused = False
    hook.failures_in_row = 0
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.webhook_id == hook.id, OutboxMessage.state == OutboxState.PENDING)
        .values(next_attempt_at=utcnow())
    )
    return hook


def recent_attempts(webhook_id: int, limit: int = 10) -> Sequence[OutboxMessage]:
    """A webhook's latest calls, newest first: what the admin page shows."""
    return outbox.recent(limit, webhook_id=webhook_id)


# --- what is sent ------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _status(event: OutboxMessage) -> str:
    """The comment's status as the event left it (not as it is by the time it is sent)."""
    return str(event.payload.get("status") or event.topic.partition(".")[2])


def document(event: OutboxMessage, comment: Comment, delivery_id: str) -> dict[str, Any]:
    """The JSON body of one call: the public fields, status and reasons, nothing private.

    The article's title is the reader's claim until a moderator confirms it, so it is sent
    only then; its address only when it is on the site's own origins.
    """
    article = comment.article
    site = article.site
    return {
        "id": delivery_id,
        "event": event.topic,
        "created_at": _iso(event.created_at),
        "site": site.slug,
        "article": {
            "key": article.key,
            "title": article.title if article.title_confirmed else None,
            "url": article.url if article.url and sites.url_on_site(site, article.url) else None,
        },
        "comment": {
            "id": comment.id,
            "parent_id": comment.parent_id,
            "author": comment.author,
            "html": comment.body_html,
            "created_at": _iso(comment.created_at),
            "status": _status(event),
            "reasons": list(comment.reasons or []),
        },
    }


def _slack_escape(text: str) -> str:
    """Slack's three control characters, and the line made one line."""
    text = mail.header_text(text, 200)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(event: OutboxMessage, comment: Comment) -> str:
    """One line for a chat channel, in the site's language (call it inside mail.language)."""
    article = comment.article
    status = status_label(_status(event))
    what = {
        "comment.created": gettext("New comment (%(status)s)", status=status),
        "comment.approved": gettext("Comment approved"),
        "comment.rejected": gettext("Comment rejected"),
        "comment.spam": gettext("Comment marked as spam"),
        "comment.withdrawn": gettext("Comment withdrawn"),
    }.get(event.topic, event.topic)
    name = article.title if article.title and article.title_confirmed else article.key
    return gettext(
        "%(site)s: %(what)s – %(author)s on “%(article)s” %(link)s",
        site=_slack_escape(article.site.name),
        what=what,
        author=_slack_escape(comment.author),
        article=_slack_escape(name),
        link=mail.link(f"/moderate/comments/{comment.id}"),
    )


def on_event(event: OutboxMessage) -> None:
    """Queue a call for each of the site's webhooks that wants this event (not paused ones).

    Runs in the worker's transaction that marks the event expanded. An event whose comment is
    gone by now (purged, erased) has nothing left to tell.
    """
    if event.site_id is None or event.comment_id is None:
        return
    hooks = [
        hook
        for hook in db.session.scalars(
            select(Webhook)
            .where(Webhook.site_id == event.site_id, Webhook.paused.is_(False))
            .order_by(Webhook.id)
        )
        if event.topic in (hook.events or outbox.COMMENT_EVENTS)
    ]
    if not hooks:
        return
    comment = db.session.get(Comment, event.comment_id)
    if comment is None:
        return
    text = None
    for hook in hooks:
        row = outbox.add_webhook_call(
            event.topic, hook.id, "", site_id=event.site_id, comment_id=event.comment_id
        )
        if hook.format == WebhookFormat.SLACK:
            if text is None:
                with mail.language(comment.article.site.language.value):
                    text = slack_text(event, comment)
            body: dict[str, Any] = {"text": text}
        else:
            # The body names its own delivery id, which add_webhook_call has just made.
            body = document(event, comment, row.delivery_id)
        row.payload = {"body": json.dumps(body, ensure_ascii=False, separators=(",", ":"))}


# --- sending -----------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Moderation-Signature``: ``t=UNIX,v1=HEX``, HMAC-SHA256 of ``"{t}.{body}"``."""
    digest = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer like any other non-2xx: the call failed. Following it would
    send the signed body to an address nobody registered."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _excerpt(data: bytes) -> str:
    return mail.header_text(data.decode("utf-8", "replace"), ERROR_EXCERPT)


def call(row: OutboxMessage) -> Outcome:
    """Make one delivery attempt: POST the stored body, signed now.

    A 2xx answer within ``WEBHOOK_TIMEOUT`` seconds delivers it; anything else fails (and the
    outbox retries). A paused webhook's calls are not sent: they wait, and go out if it is
    resumed within the retry period.
    """
    hook = row.webhook
    if hook is None:
        return Outcome(False, "the webhook was removed", permanent=True)
    if hook.paused:
        return Outcome(False, "the webhook is paused")
    body = str(row.payload.get("body", "")).encode()
    request = urllib.request.Request(
        hook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Moderation-Event": row.topic,
            "X-Moderation-Delivery": row.delivery_id,
            "X-Moderation-Signature": signature(hook.secret, int(time.time()), body),
        },
    )
    timeout = float(current_app.config["WEBHOOK_TIMEOUT"])
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(_READ_LIMIT)
            status = int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            detail = _excerpt(error.read(_READ_LIMIT)) if error.fp else ""
        text = f"HTTP {error.code} {error.reason}" + (f": {detail}" if detail else "")
        return Outcome(False, text, error.code)
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            return Outcome(False, f"no answer within {timeout:g} s")
        return Outcome(False, f"{type(reason).__name__}: {reason}")
    except TimeoutError:
        return Outcome(False, f"no answer within {timeout:g} s")
    except (OSError, http.client.HTTPException, ValueError) as error:
        return Outcome(False, f"{type(error).__name__}: {error}")
    if not 200 <= status < 300:  # 1xx never reaches here; a 3xx or 2xx does
        return Outcome(False, f"HTTP {status}", status)
    return Outcome(True, status=status)


def count_attempt(row: OutboxMessage, outcome: Outcome) -> None:
    """Count a webhook's failures in a row; pause it after ``WEBHOOK_MAX_FAILURES``.

    Runs inside the transaction that records the attempt, so the count, the pause and the
    admins' mails are stored together or not at all. A paused webhook's calls made no attempt
    (see :func:`call`) and count for nothing.
    """
    if row.webhook_id is None:
        return
    hook = db.session.get(Webhook, row.webhook_id, with_for_update=True, populate_existing=True)
    if hook is None or hook.paused:
        return
    if outcome.delivered:
        hook.failures_in_row = 0
        return
    hook.failures_in_row += 1
    if hook.failures_in_row >= int(current_app.config["WEBHOOK_MAX_FAILURES"]):
        hook.paused = True
        _tell_admins(hook, outcome)


def _tell_admins(hook: Webhook, outcome: Outcome) -> None:
    """Mail every active admin with an address that the webhook was paused, in the site's
    language. The mail names the receiver's host only: a chat webhook's path is its secret."""
    admins = db.session.scalars(
        select(Moderator).where(
            Moderator.role == Role.ADMIN,
            Moderator.active.is_(True),
            Moderator.notify_email.is_not(None),
        )
    ).all()
    site = hook.site
    parts = urlsplit(hook.url)
    with mail.language(site.language.value):
        content = mail.compose(
            "admin/webhook_paused",
            subject=gettext("Webhook paused: %(site)s", site=site.name),
            site=site,
            webhook=hook,
            receiver=f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}",
            failures=hook.failures_in_row,
            last_error=outcome.error or "",
            page=mail.link(f"/moderate/admin/sites/{site.slug}/webhooks"),
        )
    for admin in admins:
        if admin.notify_email:
            outbox.add_mail("admin/webhook_paused", admin.notify_email, content, site_id=site.id)
