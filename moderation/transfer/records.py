"""What every importer reads a foreign archive into: threads, posts and skips, in file order.

A format module (``disqus``, ``wordpress``, ``isso``, ``remark42``, ``commento``, ``archive``)
turns its file into a stream of these and knows nothing of our database; :mod:`.importer`
turns the stream into articles and comments. So a parser is tested on its own, with the
awkward cases of its format, and the rules every import shares (idempotency, sanitizing,
statuses, threading, skips) are written once.

A thread comes before the posts that name it, as in every format we read; a post may come
before its parent (Disqus lists them in any order).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime


class Markup(enum.StrEnum):
    HTML = "html"  # Disqus messages, WordPress comment content: their tags pass our policy
    TEXT = "text"  # Markdown or plain text (Isso, Remark42, Commento, ours): read as a reader's


class SourceStatus(enum.StrEnum):
    """A post's state in the source, before ``--unapproved`` chooses what unapproved becomes."""

    APPROVED = "approved"
    UNAPPROVED = "unapproved"  # held in the source's queue: pending here, or rejected
    REJECTED = "rejected"  # only our own archive has it
    SPAM = "spam"
    DELETED = "deleted"  # deleted or trashed in the source: not imported, counted


class SkipReason(enum.StrEnum):
    DELETED = "deleted"
    PINGBACK = "pingback"  # pingbacks and trackbacks are not readers' comments
    EMPTY = "empty"
    DUPLICATE = "duplicate"  # imported before (same source and source id on this site)
    UNKNOWN_THREAD = "unknown_thread"
    NO_ARTICLE_KEY = "no_article_key"  # the thread's URL and identifier make no article key
    INVALID_DATE = "invalid_date"
    INVALID = "invalid"  # a record without the fields a comment needs


@dataclass(frozen=True, slots=True)
class Thread:
    """An article page as the source knows it."""

    source_id: str  # how the source's posts name the thread
    url: str | None = None
    identifier: str | None = None  # the source's own key for the page (Disqus <id>, Isso's uri)
    title: str | None = None
    closed: bool = False


@dataclass(frozen=True, slots=True)
class Post:
    """One comment as the source has it."""

    source_id: str
    thread_id: str  # a Thread.source_id seen earlier in the stream
    parent_id: str | None  # the parent's source id; None for a top-level comment
    author: str
    email: str | None
    text: str  # exactly as in the source: kept as the raw body
    markup: Markup
    created_at: datetime | None  # aware; None when the source's date could not be read
    status: SourceStatus
    ip: str | None = None  # hashed with our key on the way in, never stored as is
    featured: bool = False  # pinned in the source (Remark42)
    staff: bool = False  # written by the site's staff (our own archive)


@dataclass(frozen=True, slots=True)
class Skip:
    """A record the parser recognised and refused: counted in the report, with the source's id."""

    source_id: str
    reason: SkipReason
    detail: str = ""


Item = Thread | Post | Skip


class UnreadableFile(Exception):
    """The file is not what its format promises, or is unsafe to read (entities, DTDs).

    Raised before anything is written where the fault is in the file's head (a DTD, a wrong
    root element); the CLI shows the message and exits 1.
    """


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time (``2019-05-01T10:00:00Z``, with or without offset, or a plain
    ``2019-05-01 10:00:00``) as aware UTC; a time without offset is taken as UTC. None when
    it cannot be read."""
    if not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
