"""Reading an Isso database: Isso has no export, its SQLite file is the archive.

The file is opened read-only, so a copy taken from a running server is never changed by the
import. Isso keeps one row per page (``threads``: its ``uri`` is the page's path) and one per
comment (``comments``); all threads are read first, then the comments one at a time in id
order, so a database of any size is read in constant memory.

Isso writes comments as Markdown, so the text is passed on as a reader's text, unchanged.
``mode`` is the comment's state: 1 published, 2 waiting for moderation, 4 deleted (Isso keeps a
deleted comment that has replies, with its text emptied). ``created`` is a Unix time, and
``remote_addr`` is already shortened by Isso (``192.168.1.0``); it is hashed again on import.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from .records import Item, Markup, Post, Skip, SkipReason, SourceStatus, Thread, UnreadableFile

NAME = "isso"

_STATUSES = {1: SourceStatus.APPROVED, 2: SourceStatus.UNAPPROVED, 4: SourceStatus.DELETED}
_COLUMNS = {
    "threads": {"id", "uri", "title"},
    "comments": {"id", "tid", "parent", "created", "mode", "remote_addr", "text", "author"},
}
_THREADS = "SELECT id, uri, title FROM threads ORDER BY id"
_COMMENTS = (
    "SELECT id, tid, parent, created, mode, remote_addr, text, author, email"
    " FROM comments ORDER BY id"
)


def read(path: str) -> Iterator[Item]:
    """The database's threads, then its comments in id order."""
    connection = _connect(path)
    try:
        for row in _rows(connection, _THREADS):
            yield _thread(row)
        for row in _rows(connection, _COMMENTS):
            yield _post(row)
    finally:
        connection.close()


def _connect(path: str) -> sqlite3.Connection:
    """A read-only connection to an Isso database, or UnreadableFile saying what is wrong."""
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as error:
        raise UnreadableFile(f"Cannot open the Isso database: {error}") from None
    try:
        _check_schema(connection)
    except sqlite3.DatabaseError as error:
        connection.close()
        raise UnreadableFile(
            f"Not an SQLite database ({error}); Isso keeps its comments in one, "
            "named by dbpath in isso.cfg."
        ) from None
    except UnreadableFile:
        connection.close()
        raise
    return connection


def _check_schema(connection: sqlite3.Connection) -> None:
    """UnreadableFile unless both of Isso's tables are there with the columns we read."""
    for table, wanted in _COLUMNS.items():
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if not columns:
            raise UnreadableFile(f"Not an Isso database: the SQLite file has no {table!r} table.")
        missing = wanted - columns
        if missing:
            raise UnreadableFile(
                f"Not an Isso database: table {table!r} lacks {', '.join(sorted(missing))}."
            )


def _rows(connection: sqlite3.Connection, query: str) -> Iterator[sqlite3.Row]:
    """The query's rows one at a time, never all at once."""
    connection.row_factory = sqlite3.Row
    try:
        yield from connection.execute(query)
    except sqlite3.DatabaseError as error:
        raise UnreadableFile(f"The Isso database is damaged: {error}") from None


def _thread(row: sqlite3.Row) -> Thread:
    uri = _text(row["uri"])
    return Thread(source_id=str(row["id"]), url=uri, identifier=uri, title=_text(row["title"]))


def _post(row: sqlite3.Row) -> Post | Skip:
    source_id = str(row["id"])
    status = _STATUSES.get(row["mode"])
    if status is None:
        return Skip(source_id, SkipReason.INVALID, f"unknown mode {row['mode']!r}")
    if row["tid"] is None:
        return Skip(source_id, SkipReason.INVALID, "the comment names no thread")
    parent = row["parent"]
    return Post(
        source_id=source_id,
        thread_id=str(row["tid"]),
        parent_id=None if parent is None else str(parent),
        author=row["author"] or "",
        email=_text(row["email"]),
        text=row["text"] or "",
        markup=Markup.TEXT,
        created_at=_unix_time(row["created"]),
        status=status,
        ip=_text(row["remote_addr"]),
    )


def _unix_time(value: object) -> datetime | None:
    """A Unix time (seconds, with fraction) as aware UTC; None when it is not one."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _text(value: object) -> str | None:
    """A column's text, None when it is NULL or empty."""
    return str(value) if value not in (None, "") else None
