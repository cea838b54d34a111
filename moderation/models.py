"""The data: sites, their articles, comments, moderators and the audit trail.

Models hold data; what happens to it lives in the module for that step of the flow
(``submission``, ``review``, ``approved`` …).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import Model


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps.

    SQLite has no time zones and hands back naive values; PostgreSQL's ``timestamptz`` keeps
    them. Storing naive UTC everywhere and attaching UTC on the way out makes both alike.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    """Store an enum by its value, as a plain string column on every database."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=20,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class CommentStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SPAM = "spam"
    WITHDRAWN = "withdrawn"


class Role(enum.StrEnum):
    MODERATOR = "moderator"
    ADMIN = "admin"


class Language(enum.StrEnum):
    DE = "de"
    EN = "en"


class NotifyMode(enum.StrEnum):
    """How a moderator hears about new comments: a mail for each, a digest, or not at all."""

    OFF = "off"
    EACH = "each"
    DIGEST = "digest"


class WebhookFormat(enum.StrEnum):
    JSON = "json"  # our signed JSON document
    SLACK = "slack"  # {"text": …}, for Slack's and Mattermost's incoming webhooks


class OutboxKind(enum.StrEnum):
    EVENT = "event"  # something happened; the worker turns it into mails and webhook calls
    MAIL = "mail"
    WEBHOOK = "webhook"


class OutboxState(enum.StrEnum):
    PENDING = "pending"  # due at ``next_attempt_at``
    DELIVERED = "delivered"
    FAILED = "failed"  # given up on (a permanent error, or retried for too long)
    CANCELLED = "cancelled"  # no longer to be sent (an erased address, a removed webhook)


class ReportStatus(enum.StrEnum):
    OPEN = "open"
    DISMISSED = "dismissed"  # the comment stays
    UPHELD = "upheld"  # the comment was removed


class BanKind(enum.StrEnum):
    SOURCE = "source"  # a keyed hash of a reader's address
    EMAIL = "email"


class Site(Model):
    """A host site that embeds the comments, e.g. a newspaper."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Origins (scheme://host[:port]) whose pages may post comments and frame the embed page.
    origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[Language] = mapped_column(_enum(Language, "language"), default=Language.DE)
    # Pause all commenting on the site ("Kommentare sind vorübergehend geschlossen").
    paused: Mapped[bool] = mapped_column(default=False)
    # Policy knobs; None means "use the service-wide default from config".
    max_links: Mapped[int | None]
    rate_limit_per_minute: Mapped[int | None]
    rate_limit_per_hour: Mapped[int | None]
    blocked_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    watched_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Moderators are alerted once the oldest pending comment has waited this long; None: never.
    overdue_minutes: Mapped[int | None]
    # When the current overdue episode was alerted; cleared once the queue is back in time.
    overdue_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Trusted readers (moderation/trust.py): off by default; a reader with a confirmed address,
    # ``trust_min_approved`` approved comments in ``trust_days`` and no rejection or spam in
    # that time is published at once, if the other checks let the comment through.
    trust_readers: Mapped[bool] = mapped_column(default=False, server_default=false())
    trust_min_approved: Mapped[int] = mapped_column(default=3, server_default="3")
    trust_days: Mapped[int] = mapped_column(default=180, server_default="180")
    # Readers' reports (moderation/reports.py): after this many open reports a published
    # comment goes back to the queue; None (default): never on its own.
    report_hold_after: Mapped[int | None]
    # The grounds a moderator chooses from when rejecting or removing (statement of reasons);
    # None: the service's defaults (moderation/rules.py).
    removal_grounds: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    articles: Mapped[list[Article]] = relationship(back_populates="site")

    def __repr__(self) -> str:
        return f"<Site {self.slug}>"


@dataclass(frozen=True)
class SiteSnapshot:
    """A :class:`Site`'s values as the reader-facing endpoints read them for one request
    (:func:`moderation.sites.snapshot`): plain values, belonging to no session, read-only."""

    id: int
    slug: str
    name: str
    origins: tuple[str, ...]
    language: Language
    paused: bool
    max_links: int | None
    rate_limit_per_minute: int | None
    rate_limit_per_hour: int | None
    blocked_words: tuple[str, ...]
    watched_words: tuple[str, ...]


class Article(Model):
    """A comment thread: one article page of a site, named by the key the page gives."""

    __table_args__ = (UniqueConstraint("site_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    # Title and address come from the first comment that brings them: the reader's claim until
    # a moderator confirms the title (``title_confirmed``); the address must be on the site's
    # own origins (see moderation.submission).
    title: Mapped[str | None] = mapped_column(String(300))
    title_confirmed: Mapped[bool] = mapped_column(default=False, server_default=false())
    url: Mapped[str | None] = mapped_column(String(2000))
    closed: Mapped[bool] = mapped_column(default=False)
    # Bumped whenever the approved list changes: the list's ETag, and a cache key.
    version: Mapped[int] = mapped_column(default=0)
    # Kept equal to the number of approved comments, so counts need no aggregate.
    approved_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship(back_populates="articles")

    def __repr__(self) -> str:
        return f"<Article {self.site_id}/{self.key}>"


class Comment(Model):
    __table_args__ = (
        # The approved list of an article, oldest first, paged by id.
        Index("ix_comment_article_status_id", "article_id", "status", "id"),
        # The moderation queue, oldest first, per status.
        Index("ix_comment_status_created", "status", "created_at", "id"),
        # Rate limits, duplicates and "other comments from this source".
        Index("ix_comment_source_created", "source_hash", "created_at"),
        # Imported comments by their origin: an import run twice adds nothing (transfer.importer).
        Index("ix_comment_source_id", "source_id", "source"),
        # Replies of a comment: deleting one (the retention purge) sets its replies' parent to
        # NULL, which without it reads the whole table.
        Index("ix_comment_parent", "parent_id"),
        # The duplicate check and privacy requests by address; most comments have none.
        Index(
            "ix_comment_email_created",
            "email",
            "created_at",
            sqlite_where=text("email IS NOT NULL"),
            postgresql_where=text("email IS NOT NULL"),
        ),
        # A reader's record by address in any spelling (moderation.trust); migration 0013.
        Index(
            "ix_comment_email_lower",
            text("lower(email)"),
            "created_at",
            sqlite_where=text("lower(email) IS NOT NULL"),
            postgresql_where=text("lower(email) IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comment.id", ondelete="SET NULL"))
    author: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))  # never public
    body_raw: Mapped[str] = mapped_column(Text)  # exactly as submitted; never marked safe
    body_html: Mapped[str] = mapped_column(Text)  # sanitized; the only part rendered as HTML
    policy_version: Mapped[int] = mapped_column(default=0)
    status: Mapped[CommentStatus] = mapped_column(
        _enum(CommentStatus, "comment_status"), default=CommentStatus.PENDING
    )
    # Reason codes raised by the abuse checks, shown to moderators ("links", "no_token" …).
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Keyed hash of the sender's address (HMAC); the address itself is never stored.
    source_hash: Mapped[str | None] = mapped_column(String(64))
    # SHA-256 of the withdrawal token handed to the author; the token itself is not stored.
    token_hash: Mapped[str | None] = mapped_column(String(64))
    # The author asked to be told when it is published or answered (once the address is
    # confirmed; see moderation.notify.readers).
    notify: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Written by a moderator as the newsroom ("Redaktion"), published at once.
    staff: Mapped[bool] = mapped_column(default=False, server_default=false())
    # An editors' pick ("Redaktionsempfehlung"), listed first with ?sort=featured.
    featured: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Where an imported comment came from: the format ("disqus" …), its id there, and its
    # parent's id there (kept until the parent is found, which may come later in the file).
    source: Mapped[str | None] = mapped_column(String(20))
    source_id: Mapped[str | None] = mapped_column(String(120))
    source_parent_id: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("moderator.id", ondelete="SET NULL")
    )

    article: Mapped[Article] = relationship()
    parent: Mapped[Comment | None] = relationship(remote_side=[id])
    decided_by: Mapped[Moderator | None] = relationship()

    def __repr__(self) -> str:
        return f"<Comment {self.id} {self.status}>"


class Moderator(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), default=Role.MODERATOR)
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(10))  # UI language override
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Sessions carry the generation they were opened in; logging out bumps it, which ends
    # every session opened before, server-side (a copied cookie is worthless afterwards).
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # Where and how the moderator hears about new comments (moderation.notify.moderators).
    notify_email: Mapped[str | None] = mapped_column(String(320))
    notify_mode: Mapped[NotifyMode] = mapped_column(
        _enum(NotifyMode, "notify_mode"), default=NotifyMode.OFF, server_default="off"
    )
    digest_hours: Mapped[int] = mapped_column(default=24, server_default="24")
    digest_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def __repr__(self) -> str:
        return f"<Moderator {self.username}>"


class ModerationEvent(Model):
    """Append-only audit trail: who moved which comment from what to what, when and why.

    ``comment_id`` becomes NULL when the retention job purges a comment; the event stays as
    an anonymous record that something was removed.
    """

    __table_args__ = (
        Index("ix_event_comment", "comment_id", "id"),
        # The decisions of a period (statistics, the transparency report); migration 0011.
        Index("ix_event_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comment.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("moderator.id", ondelete="SET NULL"))
    # Who acted, as text that survives the moderator's removal: "anna", "cli", "author", "system".
    actor_name: Mapped[str] = mapped_column(String(80))
    from_status: Mapped[CommentStatus | None] = mapped_column(_enum(CommentStatus, "from_status"))
    to_status: Mapped[CommentStatus | None] = mapped_column(_enum(CommentStatus, "to_status"))
    note: Mapped[str | None] = mapped_column(Text)
    # The ground of a rejection or removal (statement of reasons, DSA Art. 17): "off_topic" …
    ground: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The site of a comment since removed by the retention job (see moderation.retention);
    # NULL while the comment exists: its article says. No foreign key, as for actor_name.
    site_id: Mapped[int | None] = mapped_column()

    comment: Mapped[Comment | None] = relationship()
    actor: Mapped[Moderator | None] = relationship()


class Ban(Model):
    """A reader's source (address hash) or e-mail barred from commenting, for a time or for good."""

    __table_args__ = (Index("ix_ban_kind_value", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[BanKind] = mapped_column(_enum(BanKind, "ban_kind"))
    value: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: forever
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginAttempt(Model):
    """Failed moderator logins, counted in the database so throttling holds across workers."""

    __table_args__ = (
        Index("ix_login_attempt_username", "username", "created_at"),
        Index("ix_login_attempt_source", "source_hash", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    source_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FormTokenUse(Model):
    """A spent comment-form token (its SHA-256): each token is accepted once.

    Kept until the token would have expired anyway; after that the signature check refuses it.
    """

    __table_args__ = (Index("ix_form_token_use_expires", "expires_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReaderAddress(Model):
    """A reader's e-mail address as far as mail goes: confirmed or not, unsubscribed or not.

    Known by a keyed hash (``email_hash``). Unsubscribing removes the address and keeps the
    hash: a suppression list that cannot be read back into addresses. The address counts as
    confirmed while its latest confirmation is newer than its latest unsubscription.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirm_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None and (
            self.unsubscribed_at is None or self.confirmed_at > self.unsubscribed_at
        )


class Webhook(Model):
    """A site's subscriber over HTTP: its URL gets a signed POST for each event it chose."""

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    format: Mapped[WebhookFormat] = mapped_column(
        _enum(WebhookFormat, "webhook_format"), default=WebhookFormat.JSON
    )
    # Paused after too many failures in a row; an admin resumes it.
    paused: Mapped[bool] = mapped_column(default=False)
    failures_in_row: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()


class OutboxMessage(Model):
    """Something to tell someone, written in the transaction of its cause (the transactional
    outbox), and sent by the worker (``flask --app wsgi outbox work``), never by a request.

    An ``event`` row records what happened; the worker expands it into ``mail`` and
    ``webhook`` rows. A worker claims a row by writing its ``lease_owner`` and ``lease_until``;
    a crashed worker's lease runs out and another worker takes the row over. ``delivery_id``
    goes out with the message (``X-Moderation-Delivery``, the mail's Message-ID), the same on
    every attempt, so a receiver can tell a repeat.
    """

    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at", "id"),
        Index("ix_outbox_webhook", "webhook_id", "id"),
        Index("ix_outbox_recipient", "recipient_hash", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OutboxKind] = mapped_column(_enum(OutboxKind, "outbox_kind"))
    # The event's name (comment.approved …) or the mail's template (reader/published …).
    topic: Mapped[str] = mapped_column(String(40))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comment.id", ondelete="SET NULL"))
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhook.id", ondelete="CASCADE"))
    # A mail's address, and for readers' mails its keyed hash (daily limit, erasure).
    recipient: Mapped[str | None] = mapped_column(String(320))
    recipient_hash: Mapped[str | None] = mapped_column(String(64))
    # An event's facts; a mail's subject, text, HTML and headers; a webhook call's body.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    state: Mapped[OutboxState] = mapped_column(
        _enum(OutboxState, "outbox_state"), default=OutboxState.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None]  # a webhook's HTTP status, an SMTP reply code
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    webhook: Mapped[Webhook | None] = relationship()


class CommentClaim(Model):
    """A moderator looking at a card: the others see "anna is looking at this" until ``until``.

    One row per comment; a later focus by anyone replaces it. Only a hint against double work:
    a decision is guarded by the comment's latest event (see moderation.review), not by this.
    """

    comment_id: Mapped[int] = mapped_column(
        ForeignKey("comment.id", ondelete="CASCADE"), primary_key=True
    )
    moderator_id: Mapped[int] = mapped_column(ForeignKey("moderator.id", ondelete="CASCADE"))
    until: Mapped[datetime] = mapped_column(UTCDateTime)

    moderator: Mapped[Moderator] = relationship()


class ReaderKey(Model):
    """A key held by one reader's browser, bound to their confirmed address (its keyed hash).

    Given to the browser that confirmed the address, and sent with that reader's later
    submissions: trust needs the key, so typing someone else's address is not enough. Only the
    key's SHA-256 is stored.
    """

    __table_args__ = (Index("ix_reader_key_email", "email_hash"),)

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Report(Model):
    """A reader's notice that a published comment is illegal or breaks the rules (DSA Art. 16).

    The reporter's address is optional and never public; it gets the receipt and the decision
    through the outbox, and is erased with the reporter's other data.
    """

    __table_args__ = (
        Index("ix_report_comment", "comment_id", "status"),
        Index("ix_report_status_created", "status", "created_at"),
        Index("ix_report_source_created", "source_hash", "created_at"),  # the rate limit
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comment.id", ondelete="SET NULL"))
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(40))
    law: Mapped[str | None] = mapped_column(String(500))  # for illegal content: which law or ground
    explanation: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(320))
    source_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[ReportStatus] = mapped_column(
        _enum(ReportStatus, "report_status"), default=ReportStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("moderator.id", ondelete="SET NULL")
    )

    comment: Mapped[Comment | None] = relationship()


class ImportRun(Model):
    """One ``flask --app wsgi import …`` into a site: what, from which file, by whom, and what
    came of it. ``finished_at`` stays empty while it runs, and for good if it was interrupted
    (a rerun continues: the comments it wrote are skipped as duplicates)."""

    __table_args__ = (Index("ix_import_run_site", "site_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(20))
    file_name: Mapped[str] = mapped_column(String(300))
    actor_name: Mapped[str] = mapped_column(String(80))
    # The report: threads, comments by status, replies, skips by reason, first errors.
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    site: Mapped[Site] = relationship()
