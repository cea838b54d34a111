"""Reading a Commento or Comentario export (version 1), gzipped as it is mailed or not.

The export is one JSON document: ``{"version": 1, "comments": [...], "commenters": [...]}``.
It is read whole (a JSON document has no end before its last byte); a site's export is small
next to the memory of the server importing it. Every page is named before any comment.

A comment names its page by domain and path. Commento writes the path under ``url`` and the
domain under ``domain``; Comentario 2 writes ``path`` and ``host``; both spellings are read.

Comments are written in Markdown, passed on as a reader's text. ``state`` is the moderation
state: ``approved``, ``unapproved`` (held for a moderator) or ``flagged`` (found to be spam).
A deleted comment stays in the export for its replies: Commento blanks it to ``[deleted]`` and
leaves ``deleted`` false (its export does not carry that column), Comentario sets ``deleted``.
``parentHex`` is ``"root"`` for a top-level comment. The anonymous commenter (``"anonymous"``,
in Comentario also 64 zeros) has no entry among the commenters, and no name or address.
Commento keeps no IP addresses.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

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

NAME = "commento"

_VERSION = 1
_ROOT = "root"
_ANONYMOUS = frozenset({"anonymous", "0" * 64})
_DELETED_TEXT = "[deleted]"
_STATUSES = {
    "approved": SourceStatus.APPROVED,
    "unapproved": SourceStatus.UNAPPROVED,
    "flagged": SourceStatus.SPAM,
}

Author = tuple[str, str | None]  # name, e-mail address
_NOBODY: Author = ("", None)


def read(path: str) -> Iterator[Item]:
    """Every page of the export, then every comment in the export's order."""
    comments, commenters = _load(path)
    authors = _authors(commenters)
    named: set[str] = set()
    for comment in comments:
        thread = _thread(comment)
        if thread is not None and thread.source_id not in named:
            named.add(thread.source_id)
            yield thread
    for index, comment in enumerate(comments, start=1):
        yield _post(index, comment, authors)


def _load(path: str) -> tuple[list[Any], list[Any]]:
    """The export's comments and commenters; UnreadableFile for anything but a version 1 export."""
    try:
        with files.open_binary(path) as file:
            export = json.load(file)
    except (OSError, EOFError, zlib.error) as error:
        raise UnreadableFile(f"Cannot read the Commento export: {error}") from None
    except (ValueError, RecursionError) as error:
        raise UnreadableFile(f"Not a Commento export: the file is not JSON ({error}).") from None
    if not isinstance(export, dict):
        raise UnreadableFile("Not a Commento export: the file holds no JSON object.")
    version = export.get("version")
    if type(version) is not int or version != _VERSION:
        raise UnreadableFile(
            f"Commento export version {version!r} is not supported (only version 1)."
        )
    comments = export.get("comments")
    commenters = export.get("commenters") or []
    if not isinstance(comments, list) or not isinstance(commenters, list):
        raise UnreadableFile(
            "Not a Commento export: it lacks the lists of comments and commenters."
        )
    return comments, commenters


def _authors(commenters: list[Any]) -> dict[str, Author]:
    """Each commenter's name and address by their commenterHex."""
    authors: dict[str, Author] = {}
    for commenter in commenters:
        if isinstance(commenter, dict):
            key = _text(commenter.get("commenterHex"))
            if key is not None and key not in _ANONYMOUS:
                authors[key] = (_text(commenter.get("name")) or "", _text(commenter.get("email")))
    return authors


def _thread(comment: Any) -> Thread | None:
    """The page a comment names; None when it names none."""
    if not isinstance(comment, dict):
        return None
    path = _text(comment.get("path")) or _text(comment.get("url"))
    if path is None:
        return None
    domain = _text(comment.get("domain")) or _text(comment.get("host"))
    parts = urlsplit(path)
    if parts.scheme in ("http", "https") and parts.netloc:  # a whole address, not a path
        return Thread(source_id=parts.netloc + parts.path, url=path, identifier=parts.path)
    if domain is None:
        return Thread(source_id=path, identifier=path)
    page = domain + ("" if path.startswith("/") else "/") + path
    return Thread(source_id=page, url=f"https://{page}", identifier=path)


def _post(index: int, comment: Any, authors: dict[str, Author]) -> Post | Skip:
    if not isinstance(comment, dict):
        return Skip(f"comment {index}", SkipReason.INVALID, "not a JSON object")
    source_id = _text(comment.get("commentHex"))
    if source_id is None:
        return Skip(f"comment {index}", SkipReason.INVALID, "the comment has no commentHex")
    thread = _thread(comment)
    if thread is None:
        return Skip(source_id, SkipReason.INVALID, "the comment names no page")
    state = comment.get("state")
    markdown = comment.get("markdown")
    deleted = comment.get("deleted") is True or markdown == _DELETED_TEXT
    status = SourceStatus.DELETED if deleted else _STATUSES.get(_text(state) or "")
    if status is None:
        return Skip(source_id, SkipReason.INVALID, f"unknown state {state!r}")
    parent = _text(comment.get("parentHex"))
    author, email = authors.get(_text(comment.get("commenterHex")) or "", _NOBODY)
    return Post(
        source_id=source_id,
        thread_id=thread.source_id,
        parent_id=None if parent == _ROOT else parent,
        author=author,
        email=email,
        text=markdown if isinstance(markdown, str) else "",
        markup=Markup.TEXT,
        created_at=_time(comment.get("creationDate")),
        status=status,
    )


def _time(value: Any) -> datetime | None:
    """Commento's time (RFC 3339) as aware UTC; None for a missing one (Go's zero time)."""
    moment = parse_time(value) if isinstance(value, str) else None
    return None if moment is None or moment.year == 1 else moment


def _text(value: Any) -> str | None:
    """A non-empty string field, else None."""
    return value if isinstance(value, str) and value else None
