"""Reading a Remark42 backup: JSON lines, gzipped (as Remark42 writes them) or not.

The first line is the backup's head (``{"version": 1, "users": [...], "posts": [...]}``), whose
posts say which pages were closed to new comments (``read_only``); every further line is one
comment. The file is read a line at a time, so a backup of any size is read in constant memory;
only the page URLs already seen are kept, to name each page once.

Remark42 has no threads of its own: a comment names its page by URL (``locator.url``), which
serves as the thread's id. ``orig`` is what the reader wrote, in Markdown, passed on as a
reader's text; Remark42 stores it with the HTML special characters written as entities
(``don&#39;t``), which are turned back into characters (``don't``). A comment without ``orig``
gives its rendered HTML (``text``) instead. The user's ``ip`` is already a keyed hash; it is
hashed again on import. Remark42 keeps no e-mail addresses with comments.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

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

NAME = "remark42"

_VERSIONS = (0, 1)  # Remark42 reads version 0 as 1


def read(path: str) -> Iterator[Item]:
    """Each comment of the backup, after the thread of its page the first time it is named."""
    lines = files.lines(path)
    first = next(lines, None)
    if first is None:
        raise UnreadableFile("Not a Remark42 backup: the file is empty.")
    number, line = first
    head, error = _parse(line)
    if error is not None:
        raise UnreadableFile(f"Not a Remark42 backup: line {number} is not JSON ({error}).")
    if not isinstance(head, dict):
        raise UnreadableFile(f"Not a Remark42 backup: line {number} is not a JSON object.")
    seen: set[str] = set()
    closed: set[str] = set()
    if "id" in head:  # a backup cut short of its head
        yield from _comment(number, head, seen, closed)
    else:
        closed = _closed_pages(head)
    for number, line in lines:
        record, error = _parse(line)
        if error is not None:
            yield Skip(f"line {number}", SkipReason.INVALID, f"not JSON: {error}")
        else:
            yield from _comment(number, record, seen, closed)


def _parse(line: str) -> tuple[Any, str | None]:
    """A line's JSON value, or the reason it is not JSON."""
    try:
        return json.loads(line), None
    except (ValueError, RecursionError) as error:
        return None, str(error) or type(error).__name__


def _closed_pages(head: dict[str, Any]) -> set[str]:
    """The URLs of pages closed to comments, from the backup's head; UnreadableFile for a head
    that is not Remark42's."""
    if "version" not in head or "comments" in head:
        raise UnreadableFile(
            "Not a Remark42 backup: its first line is neither the backup's head nor a comment."
        )
    if head["version"] not in _VERSIONS:
        raise UnreadableFile(
            f"Remark42 backup version {head['version']!r} is not supported (only version 1)."
        )
    posts = head.get("posts")
    return {
        post["url"]
        for post in (posts if isinstance(posts, list) else [])
        if isinstance(post, dict) and post.get("read_only") is True and _text(post.get("url"))
    }


def _comment(number: int, record: Any, seen: set[str], closed: set[str]) -> Iterator[Item]:
    """The page's thread the first time it is named, then the comment (or a Skip)."""
    if not isinstance(record, dict):
        yield Skip(f"line {number}", SkipReason.INVALID, "not a JSON object")
        return
    source_id = _text(record.get("id"))
    if source_id is None:
        yield Skip(f"line {number}", SkipReason.INVALID, "the comment has no id")
        return
    locator = record.get("locator")
    url = _text(locator.get("url")) if isinstance(locator, dict) else None
    if url is None:
        yield Skip(source_id, SkipReason.INVALID, "the comment names no page (locator.url)")
        return
    if url not in seen:
        seen.add(url)
        yield Thread(
            source_id=url,
            url=url,
            identifier=url,
            title=_text(record.get("title")),
            closed=url in closed,
        )
    yield _post(source_id, url, record)


def _post(source_id: str, url: str, record: dict[str, Any]) -> Post:
    user = record.get("user")
    if not isinstance(user, dict):
        user = {}
    orig = _text(record.get("orig"))
    if orig is not None:
        text, markup = html.unescape(orig), Markup.TEXT
    else:
        text, markup = _text(record.get("text")) or "", Markup.HTML
    return Post(
        source_id=source_id,
        thread_id=url,
        parent_id=_text(record.get("pid")),
        author=html.unescape(_text(user.get("name")) or ""),
        email=None,
        text=text,
        markup=markup,
        created_at=_time(record.get("time")),
        status=SourceStatus.DELETED if record.get("delete") is True else SourceStatus.APPROVED,
        ip=_text(user.get("ip")),
        featured=record.get("pin") is True,
    )


def _time(value: Any) -> datetime | None:
    """Remark42's time (RFC 3339) as aware UTC; None for a missing one (Go's zero time)."""
    moment = parse_time(value) if isinstance(value, str) else None
    return None if moment is None or moment.year == 1 else moment


def _text(value: Any) -> str | None:
    """A non-empty string field, else None."""
    return value if isinstance(value, str) and value else None
