"""Opening foreign files: gzipped or not, XML only through defusedxml.

An archive from elsewhere is untrusted input. XML is parsed with ``defusedxml``, which refuses
entity declarations (billion laughs), external entities and DTDs that fetch anything, instead
of expanding them; such a file is refused whole, with a clear message, before any of it is
imported (the declarations stand in the file's head).
"""

from __future__ import annotations

import contextlib
import gzip
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any, cast
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from .records import UnreadableFile

_GZIP_MAGIC = b"\x1f\x8b"
_DAMAGED_GZIP = (EOFError, gzip.BadGzipFile, zlib.error)
# Files being read, by path: how far each is (for a progress bar), in bytes on disk.
_reading: dict[str, IO[bytes]] = {}


def position(path: str) -> int | None:
    """How many bytes of ``path`` (as stored, compressed or not) have been read, while it is
    being read through :func:`open_binary`; None otherwise."""
    file = _reading.get(path)
    try:
        return file.tell() if file is not None else None
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def open_binary(path: str) -> Iterator[IO[bytes]]:
    """The file's bytes, uncompressed on the fly when it is gzipped (by its magic number,
    not its name)."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if gzipped:
            with gzip.open(raw, "rb") as unpacked:
                yield cast(IO[bytes], unpacked)
        else:
            yield raw


def lines(path: str) -> Iterator[tuple[int, str]]:
    """The file's non-blank lines as text with their numbers, one at a time (JSON lines)."""
    try:
        with open_binary(path) as file:
            for number, raw in enumerate(file, start=1):
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8", errors="replace")
                if line.strip():
                    yield number, line.strip()
    except _DAMAGED_GZIP as error:
        raise UnreadableFile(f"The gzip file is damaged or cut short: {error}") from None


def local(tag: str) -> str:
    """An element's name without its namespace: ``{http://…}post`` → ``post``."""
    return tag.rpartition("}")[2]


def fields(element: Element, name: Callable[[str], str | None] = local) -> dict[str, Element]:
    """An element's children by name (``name`` of the tag; None leaves a child out), the first
    of each name winning: one pass over the children instead of a search per field."""
    found: dict[str, Element] = {}
    for child in element:
        key = name(child.tag)
        if key is not None:
            found.setdefault(key, child)
    return found


def raw(found: dict[str, Element], name: str) -> str:
    """A field's text exactly as written (a message keeps its whitespace), empty if absent."""
    child = found.get(name)
    if child is None or child.text is None:
        return ""
    return child.text


def text(found: dict[str, Element], name: str) -> str | None:
    """A field's text without surrounding whitespace; None when absent or empty (``<id />``),
    so that an empty field never passes for a value."""
    return raw(found, name).strip() or None


def elements(
    path: str, depth: int, root: Callable[[Element], None] | None = None
) -> Iterator[Element]:
    """Each element ``depth`` levels below the root, complete, in file order, parsed safely and
    in constant memory: an element is cleared once the caller has it, and the root forgets it.

    Depth 1 gives the root's children (Disqus ``<thread>`` and ``<post>``), depth 2 their
    children (``<item>`` in RSS's ``<channel>``). ``root``, when given, sees the root element
    as soon as it opens (its name and attributes, no children yet), so a format can refuse a
    file that is not its own by raising :class:`UnreadableFile` before anything is yielded.
    """
    try:
        with open_binary(path) as file:
            level = 0
            parents: list[Element] = []
            events: Any = iterparse(file, events=("start", "end"), forbid_dtd=True)
            for event, element in events:
                if event == "start":
                    level += 1
                    if level == 1 and root is not None:
                        root(element)
                    if level <= depth:
                        parents.append(element)
                    continue
                level -= 1
                if level == depth:
                    yield element
                    parents[-1].remove(element)
                elif level < depth:
                    parents.pop()
    except DefusedXmlException as error:
        raise UnreadableFile(
            "Refused: the file declares a DTD or entities "
            f"({type(error).__name__}); a comment export never needs them."
        ) from None
    except ParseError as error:
        raise UnreadableFile(f"Not well-formed XML: {error}") from None
    except _DAMAGED_GZIP as error:
        raise UnreadableFile(f"The gzip file is damaged or cut short: {error}") from None
