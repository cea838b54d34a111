"""Reading a Disqus export: the ``.xml`` (or ``.xml.gz``) that Disqus mails to a site's owner.

The export lists the forum's categories, then its threads (one per page), then every post,
each post naming its thread and its parent by Disqus's internal id (``dsq:id``). Posts come
in no particular order, so a reply may stand before the comment it answers. The file is read
as a stream, one thread or post at a time, so an export of millions of comments needs no more
memory than one of ten.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree.ElementTree import Element

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

NAME = "disqus"

# Disqus's own ids (``dsq:id``) live in this namespace; everything else in http://disqus.com.
_DSQ_ID = "{http://disqus.com/disqus-internals}id"


def read(path: str) -> Iterator[Item]:
    """The export's threads and posts, in file order; a file whose root is not ``<disqus>``
    is refused before anything is read from it."""
    for element in files.elements(path, depth=1, root=_check_root):
        name = files.local(element.tag)
        if name == "thread":
            yield _thread(element)
        elif name == "post":
            yield _post(element)


def _check_root(root: Element) -> None:
    """Refuses a file of another kind (a WordPress export, an RSS feed) at its first tag,
    so that the wrong format chosen on the command line imports nothing."""
    name = files.local(root.tag)
    if name != "disqus":
        raise UnreadableFile(f"Not a Disqus export: root element is <{name}>, expected <disqus>.")


def _thread(element: Element) -> Thread | Skip:
    """A page as Disqus knows it. Deleted threads are kept: their posts name them, and the
    posts' own state decides what is imported."""
    source_id = _dsq_id(element)
    if source_id is None:
        return Skip("?", SkipReason.INVALID, "a thread without dsq:id")
    fields = files.fields(element)
    return Thread(
        source_id=source_id,
        url=files.text(fields, "link"),
        identifier=files.text(fields, "id"),
        title=files.text(fields, "title"),
        closed=_flag(fields, "isClosed"),
    )


def _post(element: Element) -> Post | Skip:
    """One comment. Without its own id or its thread's, it cannot be placed nor recognised
    on a second import, so it is refused."""
    source_id = _dsq_id(element)
    if source_id is None:
        return Skip("?", SkipReason.INVALID, "a post without dsq:id")
    fields = files.fields(element)
    thread = fields.get("thread")
    thread_id = _dsq_id(thread) if thread is not None else None
    if thread_id is None:
        return Skip(source_id, SkipReason.INVALID, "a post without its thread's dsq:id")
    parent = fields.get("parent")
    author = files.fields(fields["author"]) if "author" in fields else {}
    return Post(
        source_id=source_id,
        thread_id=thread_id,
        parent_id=_dsq_id(parent) if parent is not None else None,
        author=files.text(author, "name") or files.text(author, "username") or "",
        email=files.text(author, "email"),
        text=files.raw(fields, "message"),
        markup=Markup.HTML,
        created_at=parse_time(files.text(fields, "createdAt")),
        status=_status(fields),
        ip=files.text(fields, "ipAddress"),
    )


def _status(fields: dict[str, Element]) -> SourceStatus:
    """Disqus marks a post deleted or spam; anything else was published. Should an export
    carry ``<isApproved>false</isApproved>``, the post waited in Disqus's queue, and waits
    (or is rejected, as the import is told) here too: never published by the move."""
    if _flag(fields, "isDeleted"):
        return SourceStatus.DELETED
    if _flag(fields, "isSpam"):
        return SourceStatus.SPAM
    if files.raw(fields, "isApproved").strip().lower() == "false":
        return SourceStatus.UNAPPROVED
    return SourceStatus.APPROVED


def _flag(fields: dict[str, Element], name: str) -> bool:
    """Disqus's booleans are the words ``true`` and ``false``."""
    return files.raw(fields, name).strip().lower() == "true"


def _dsq_id(element: Element) -> str | None:
    """The element's Disqus id, which threads and posts use to name each other."""
    value = element.get(_DSQ_ID, "").strip()
    return value or None
