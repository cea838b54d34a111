"""WordPress eXtended RSS (WXR): reading a WordPress export, and writing one to leave for
WordPress or Disqus.

A WXR file is an RSS feed whose ``<item>`` elements are a blog's posts and pages, each with
its comments nested inside as ``<wp:comment>``. WordPress has changed the ``wp:`` namespace
with each version of the format (``http://wordpress.org/export/1.0/`` to ``/1.2/``) without
changing the names, so elements are matched by name and accepted in any of them. The file is
read one item at a time, so a blog's whole history needs no more memory than its largest post.

The same format is how comments move on from here: WordPress's importer reads it, and so does
Disqus's, which names the page by ``<dsq:thread_identifier>`` when it is given.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

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

NAME = "wordpress"

# The ``wp:`` namespace of every WXR version; ``…/export/1.0/excerpt/`` is another namespace.
_WP_NAMESPACE = re.compile(r"^https?://wordpress\.org/export/[^/]+/?$")
_DSQ_NAMESPACE = "http://www.disqus.com/"

_STATUSES = {
    "1": SourceStatus.APPROVED,
    "0": SourceStatus.UNAPPROVED,
    "spam": SourceStatus.SPAM,
    "trash": SourceStatus.DELETED,
    "post-trashed": SourceStatus.DELETED,  # trashed along with its post
}
_PINGBACKS = frozenset({"pingback", "trackback"})
# WordPress before 5.5 left a comment's type empty; WooCommerce's product reviews are readers'
# comments too. Other types (order notes, action logs) are a plugin's records, not comments.
_COMMENTS = frozenset({"", "comment", "review"})


def read(path: str) -> Iterator[Item]:
    """The export's posts that have comments, each followed by its comments, in file order; a
    file whose root is not ``<rss>`` is refused before anything is read from it."""
    for element in files.elements(path, depth=2, root=_check_root):
        if files.local(element.tag) == "item":
            yield from _item(element)


def _check_root(root: Element) -> None:
    """Refuses a file of another kind (a Disqus export) at its first tag, so that the wrong
    format chosen on the command line imports nothing."""
    name = files.local(root.tag)
    if name != "rss":
        raise UnreadableFile(
            f"Not a WordPress export (WXR): root element is <{name}>, expected <rss>."
        )


def _item(item: Element) -> Iterator[Item]:
    """A post or page with its comments. It becomes a thread only when at least one of its
    comments is a reader's: attachments, menu entries and posts with only pingbacks leave no
    empty article behind."""
    fields = _fields(item)
    comments = [child for child in item if _name(child.tag) == "wp:comment"]
    if not comments:
        return
    source_id = files.text(fields, "wp:post_id") or files.text(fields, "link")
    if source_id is None:
        for comment in comments:
            comment_id = files.text(_fields(comment), "wp:comment_id") or "?"
            yield Skip(comment_id, SkipReason.INVALID, "a comment on an item without wp:post_id")
        return
    records = [_comment(comment, source_id) for comment in comments]
    if any(isinstance(record, Post) for record in records):
        yield Thread(
            source_id=source_id,
            url=files.text(fields, "link"),
            identifier=files.text(fields, "dsq:thread_identifier") or source_id,
            title=_plain(fields, "title"),
            closed=files.text(fields, "wp:comment_status") == "closed",
        )
    yield from records


def _comment(element: Element, thread_id: str) -> Post | Skip:
    """One ``<wp:comment>``. Pingbacks and trackbacks are notices from other sites, and other
    types are a plugin's records: neither is a reader's comment."""
    fields = _fields(element)
    source_id = files.text(fields, "wp:comment_id")
    if source_id is None:
        return Skip("?", SkipReason.INVALID, "a comment without wp:comment_id")
    kind = (files.text(fields, "wp:comment_type") or "").lower()
    if kind in _PINGBACKS:
        return Skip(source_id, SkipReason.PINGBACK, kind)
    if kind not in _COMMENTS:
        return Skip(source_id, SkipReason.INVALID, f"comment type {kind!r} is not a comment")
    parent = files.text(fields, "wp:comment_parent")
    return Post(
        source_id=source_id,
        thread_id=thread_id,
        parent_id=None if parent in (None, "0") else parent,
        author=_plain(fields, "wp:comment_author") or "",
        email=files.text(fields, "wp:comment_author_email"),
        text=files.raw(fields, "wp:comment_content"),
        markup=Markup.HTML,
        created_at=_created_at(fields),
        status=_STATUSES.get(
            files.text(fields, "wp:comment_approved") or "", SourceStatus.UNAPPROVED
        ),
        ip=files.text(fields, "wp:comment_author_IP"),
    )


def _created_at(fields: dict[str, Element]) -> datetime | None:
    """The comment's time in UTC. WordPress writes ``0000-00-00 00:00:00`` where it never
    knew the UTC time (very old comments); then the blog's local time is the best there is,
    and is taken as UTC."""
    return parse_time(files.text(fields, "wp:comment_date_gmt")) or parse_time(
        files.text(fields, "wp:comment_date")
    )


def _plain(fields: dict[str, Element], name: str) -> str | None:
    """A field WordPress stores HTML-escaped though it is plain text (a commenter's name is
    saved as ``Müller &amp; Söhne``, a title often too), as the text it stands for."""
    return html.unescape(files.raw(fields, name)).strip() or None


def _name(tag: str) -> str | None:
    """A tag as ``wp:name``, ``dsq:name`` or a plain RSS ``name``; None for the namespaces we
    do not read (``content:``, ``excerpt:``, ``dc:``), so their names cannot pass for ours."""
    if not tag.startswith("{"):
        return tag
    uri, _, name = tag[1:].partition("}")
    if _WP_NAMESPACE.match(uri):
        return f"wp:{name}"
    if uri == _DSQ_NAMESPACE:
        return f"dsq:{name}"
    return None


def _fields(element: Element) -> dict[str, Element]:
    """The children by their ``wp:``/``dsq:``/RSS names (:func:`_name`)."""
    return files.fields(element, _name)


# Writing


@dataclass(frozen=True, slots=True)
class ExportComment:
    """A published comment as it leaves: the sanitized HTML that readers saw."""

    id: int
    parent_id: int | None
    author: str
    email: str | None
    created_at: datetime  # aware UTC; a naive time is taken as UTC
    html: str


@dataclass(frozen=True, slots=True)
class ExportThread:
    """An article with its comments; ``key`` names it for Disqus (its ``disqus_identifier``)."""

    key: str
    title: str | None
    url: str | None
    closed: bool
    comments: list[ExportComment]


_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"
  xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
  xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:wfw="http://wellformedweb.org/CommentAPI/"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:dsq="http://www.disqus.com/"
  xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
"""
_TAIL = "</channel>\n</rss>\n"

# Characters XML 1.0 cannot carry at all, not even escaped or in CDATA: one of them would
# make the whole file unreadable to every importer, so they are dropped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TIME = "%Y-%m-%d %H:%M:%S"


def write(
    out: IO[str], *, site_name: str, site_url: str | None, threads: Iterable[ExportThread]
) -> None:
    """WXR 1.2 of the threads, written one thread at a time as they come, so a site's whole
    history is never held in memory. ``out`` must take UTF-8, which the file declares."""
    out.write(_HEAD)
    out.write(_element("title", site_name))
    out.write(_element("link", site_url))
    out.write(_element("description", ""))
    out.write(_element("wp:wxr_version", "1.2"))
    out.write(_element("wp:base_site_url", site_url))
    out.write(_element("wp:base_blog_url", site_url))
    for number, thread in enumerate(threads, start=1):
        out.write(_thread_xml(number, thread))
    out.write(_TAIL)


def _thread_xml(number: int, thread: ExportThread) -> str:
    """One ``<item>``. Every field Disqus's importer names is written, empty where we have
    nothing, as it asks; the post's date is its first comment's, the best we know."""
    first = min((comment.created_at for comment in thread.comments), default=None, key=_utc)
    date = _utc(first).strftime(_TIME) if first is not None else ""
    ids = {comment.id for comment in thread.comments}
    parts = [
        "<item>\n",
        _element("title", thread.title),
        _element("link", thread.url),
        _cdata("content:encoded", ""),
        _element("dsq:thread_identifier", thread.key),
        _element("wp:post_id", str(number)),
        _element("wp:post_date", date),
        _element("wp:post_date_gmt", date),
        _element("wp:post_name", thread.key),
        _element("wp:post_type", "post"),
        _element("wp:status", "publish"),
        _element("wp:comment_status", "closed" if thread.closed else "open"),
        *(_comment_xml(comment, ids) for comment in thread.comments),
        "</item>\n",
    ]
    return "".join(parts)


def _comment_xml(comment: ExportComment, ids: set[int]) -> str:
    """One ``<wp:comment>``. A reply whose parent is not in the export (not published) becomes
    a top-level comment: an importer would otherwise attach it to whatever comment of its own
    has that number."""
    date = _utc(comment.created_at).strftime(_TIME)
    parent = comment.parent_id if comment.parent_id in ids else 0
    return "".join(
        [
            "<wp:comment>\n",
            _element("wp:comment_id", str(comment.id)),
            _element("wp:comment_author", comment.author),
            _element("wp:comment_author_email", comment.email),
            _element("wp:comment_author_url", ""),
            _element("wp:comment_author_IP", ""),
            _element("wp:comment_date", date),
            _element("wp:comment_date_gmt", date),
            _cdata("wp:comment_content", comment.html),
            _element("wp:comment_approved", "1"),
            _element("wp:comment_type", "comment"),
            _element("wp:comment_parent", str(parent)),
            _element("wp:comment_user_id", "0"),
            "</wp:comment>\n",
        ]
    )


def _utc(moment: datetime) -> datetime:
    """A time in UTC; a naive one is already UTC (as the database keeps it)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _element(tag: str, value: str | None) -> str:
    """A one-line element with its text escaped; None is written as empty. A carriage return
    is written as a character reference, which XML keeps, where a literal one would be read
    back as a line feed."""
    text = escape(_NOT_XML.sub("", value or ""), {"\r": "&#13;"})
    return f"<{tag}>{text}</{tag}>\n"


def _cdata(tag: str, value: str) -> str:
    """An element whose text is a CDATA section, as WordPress writes HTML. ``]]>`` would end
    the section, so the section is split inside it; a carriage return stands outside as a
    character reference, for the reason given at :func:`_element`."""
    text = _NOT_XML.sub("", value)
    text = text.replace("]]>", "]]]]><![CDATA[>").replace("\r", "]]>&#13;<![CDATA[")
    return f"<{tag}><![CDATA[{text}]]></{tag}>\n"
