"""Our own archive format: everything of one site, as JSON, and back.

``{"format": "moderation-export", "version": 1, …}`` with the site, its articles, its comments
(every status, raw and rendered bodies, parent links, times) and their moderation events;
docs/transfer.md describes each field. Written one record per line, so that a site of any size
is written in constant memory and read back the same way; a file that was re-indented since is
still read, whole (:func:`json.load`).

``import json`` reads it back as any other source (source ``json``, a comment's id as its
source id): a round trip gives the same public lists and statuses. The events stay behind, as
the exporting installation's history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from sqlalchemy import select

from ..extensions import db
from ..models import Article, Comment, CommentStatus, ModerationEvent, Moderator, Site, utcnow
from . import files
from .records import (
    Item,
    Markup,
    Post,
    Skip,
    SkipReason,
    SourceStatus,
    Thread,
    UnreadableFile,
    parse_time,
)

NAME = "json"
FORMAT = "moderation-export"
VERSION = 1
SECTIONS = ("articles", "comments", "events")
# Sources whose raw bodies are HTML: re-imported, they pass the HTML side of the policy again.
HTML_SOURCES = frozenset({"disqus", "wordpress"})


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


# --- export ----------------------------------------------------------------------------------


def _article(article: Article) -> dict[str, Any]:
    return {
        "key": article.key,
        "title": article.title,
        "url": article.url,
        "closed": article.closed,
        "created_at": _time(article.created_at),
    }


def _comment(comment: Comment, key: str, moderators: dict[int, str]) -> dict[str, Any]:
    return {
        "id": comment.id,
        "article": key,
        "parent_id": comment.parent_id,
        "author": comment.author,
        "email": comment.email,
        "body_raw": comment.body_raw,
        "body_html": comment.body_html,
        "markup": "html" if comment.source in HTML_SOURCES else "text",
        "status": comment.status.value,
        "reasons": comment.reasons,
        "staff": comment.staff,
        "featured": comment.featured,
        "created_at": _time(comment.created_at),
        "decided_at": _time(comment.decided_at),
        "decided_by": moderators.get(comment.decided_by_id or 0),
        "source": comment.source,
        "source_id": comment.source_id,
    }


def _event(event: ModerationEvent) -> dict[str, Any]:
    return {
        "comment_id": event.comment_id,
        "actor": event.actor_name,
        "from": event.from_status.value if event.from_status else None,
        "to": event.to_status.value if event.to_status else None,
        "note": event.note,
        "ground": event.ground,
        "created_at": _time(event.created_at),
    }


def export_lines(site: Site) -> Iterator[str]:
    """The site's archive as lines of text (each ending in a newline), read from the database
    a few hundred rows at a time."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": _time(utcnow()),
        "site": {
            "slug": site.slug,
            "name": site.name,
            "language": site.language.value,
            "origins": site.origins,
        },
    }
    yield _dump(header)[:-1] + ",\n"
    moderators = {
        moderator_id: username
        for moderator_id, username in db.session.execute(select(Moderator.id, Moderator.username))
    }

    def articles() -> Iterator[str]:
        query = select(Article).where(Article.site_id == site.id).order_by(Article.id)
        for article in db.session.scalars(query.execution_options(yield_per=500)):
            yield _dump(_article(article))

    def comments() -> Iterator[str]:
        # Each comment with its article's key from the same row: on PostgreSQL every query
        # sees what was committed meanwhile, an article as well as its first comment.
        query = (
            select(Comment, Article.key)
            .join(Article, Article.id == Comment.article_id)
            .where(Article.site_id == site.id)
            .order_by(Comment.id)
        )
        for comment, key in db.session.execute(query.execution_options(yield_per=500)):
            yield _dump(_comment(comment, key, moderators))

    def events() -> Iterator[str]:
        query = (
            select(ModerationEvent)
            .join(Comment, Comment.id == ModerationEvent.comment_id)
            .join(Article, Article.id == Comment.article_id)
            .where(Article.site_id == site.id)
            .order_by(ModerationEvent.id)
        )
        for event in db.session.scalars(query.execution_options(yield_per=500)):
            yield _dump(_event(event))

    for number, (name, records) in enumerate(
        (("articles", articles()), ("comments", comments()), ("events", events()))
    ):
        yield f'"{name}": [\n'
        first = True
        for record in records:
            yield ("" if first else ",\n") + record
            first = False
        yield ("\n" if not first else "") + ("]}\n" if number == len(SECTIONS) - 1 else "],\n")


def write(out: IO[str], site: Site) -> None:
    for line in export_lines(site):
        out.write(line)


# --- import ----------------------------------------------------------------------------------


def _records(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(section, record) pairs in file order: line by line when the file is laid out as
    :func:`export_lines` writes it (its first line is the header), else from the whole
    document."""
    first = next(files.lines(path), (0, ""))[1]
    if first.startswith("{") and first.endswith(","):
        yield from _streamed(path)
        return
    with files.open_binary(path) as file:
        try:
            document = json.load(file)
        except (ValueError, UnicodeDecodeError) as error:
            raise UnreadableFile(f"Not JSON: {error}") from None
    _check_header(document)
    for section in SECTIONS:
        for record in document.get(section) or ():
            yield section, record


def _streamed(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    section = None
    for number, line in files.lines(path):
        try:
            if number == 1:
                _check_header(json.loads(line[:-1] + "}"))
            elif line.endswith(": ["):
                section = line[:-3].strip('"')
            elif line in ("],", "]}"):
                section = None
            elif section is not None:
                yield section, json.loads(line.removesuffix(","))
            else:
                raise ValueError("a record outside a section")
        except ValueError as error:
            raise UnreadableFile(f"Line {number} is not part of an export: {error}") from None


def _check_header(header: Any) -> None:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise UnreadableFile(f'Not an export of this service: no "format": "{FORMAT}".')
    if header.get("version") != VERSION:
        raise UnreadableFile(
            f"Export version {header.get('version')!r} is not one this service reads "
            f"(it reads version {VERSION})."
        )


_STATUSES = {
    CommentStatus.APPROVED.value: SourceStatus.APPROVED,
    CommentStatus.PENDING.value: SourceStatus.UNAPPROVED,
    CommentStatus.REJECTED.value: SourceStatus.REJECTED,
    CommentStatus.SPAM.value: SourceStatus.SPAM,
    CommentStatus.WITHDRAWN.value: SourceStatus.DELETED,
}


def _post(record: dict[str, Any]) -> Post | Skip:
    source_id = str(record.get("id", ""))
    status = _STATUSES.get(record.get("status", ""))
    raw = record.get("body_raw")
    if not source_id or status is None or not isinstance(raw, str):
        return Skip(source_id or "?", SkipReason.INVALID, "no id, status or body_raw")
    parent = record.get("parent_id")
    return Post(
        source_id=source_id,
        thread_id=str(record.get("article", "")),
        parent_id=str(parent) if parent is not None else None,
        author=str(record.get("author") or ""),
        email=record.get("email") or None,
        text=raw,
        markup=Markup.HTML if record.get("markup") == "html" else Markup.TEXT,
        created_at=_parse_time(record.get("created_at")),
        status=status,
        featured=bool(record.get("featured")),
        staff=bool(record.get("staff")),
    )


def _parse_time(value: Any) -> datetime | None:
    return parse_time(value) if isinstance(value, str) else None


def read(path: str) -> Iterator[Item]:
    """An archive's articles and comments, as an import reads them. Its article keys are the
    threads' identifiers (``--article-key id``, the default for this format)."""
    for section, record in _records(path):
        if section == "articles" and isinstance(record, dict) and record.get("key"):
            key = str(record["key"])
            yield Thread(
                source_id=key,
                url=record.get("url"),
                identifier=key,
                title=record.get("title"),
                closed=bool(record.get("closed")),
            )
        elif section == "comments" and isinstance(record, dict):
            yield _post(record)
