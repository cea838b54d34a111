"""A site's Import/Export page: its past imports, and its exports to download (admins only).

Importing stays a job for the command line (``flask --app wsgi import …``, see
:mod:`moderation.cli.transfer`): a large file takes longer than a request may. The page lists
what those runs did (:func:`moderation.transfer.recent_runs`) and offers the two exports of
:mod:`moderation.transfer`:

* **JSON**, everything of the site, streamed while it is read, in chunks of about
  :data:`CHUNK` characters: memory stays small whatever the size of the site. A failure
  half-way ends the download early; the truncated file is no valid JSON, so it is not
  mistaken for a whole export.
* **WXR**, the approved comments, in a file named ``….xml`` as WordPress and Disqus expect
  it. Its writer takes a file, not an iterator, so it writes into
  a :class:`~tempfile.SpooledTemporaryFile` (memory up to :data:`SPOOL_BYTES`, a temporary
  file beyond), which is then sent. Memory stays bounded, a failure is an error page instead
  of a truncated file, and the answer has its length; the first byte waits for the last row.
"""

from __future__ import annotations

import io
import posixpath
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from flask import Blueprint, Response, render_template, stream_with_context
from flask_babel import format_decimal, to_user_timezone
from flask_babel import lazy_gettext as _l

from .. import sites, transfer
from ..i18n import status_label
from ..models import ImportRun, utcnow
from .auth import admin_required

bp = Blueprint("transfer", __name__)

RUNS_SHOWN = 50  # the latest imports in the table
CHUNK = 64 * 1024  # characters of the JSON export per piece sent
SPOOL_BYTES = 8 * 1024 * 1024  # a WXR export larger than this goes to a temporary file

# Why an import left a record out (the reasons of moderation.transfer's reports); a reason
# without a label is shown as its code.
SKIP_LABELS = {
    "deleted": _l("deleted in the source"),
    "pingback": _l("pingback or trackback"),
    "empty": _l("empty once cleaned"),
    "duplicate": _l("imported before"),
    "unknown_thread": _l("unknown thread"),
    "no_article_key": _l("no usable article key"),
    "invalid_date": _l("invalid date"),
    "invalid": _l("incomplete record"),
}


def _number(value: Any) -> str:
    return str(format_decimal(int(value or 0), format="#,##0"))


def _counted(counts: Any, label: Any) -> tuple[str, str]:
    """The total of a ``{code: n}`` mapping and its parts, labelled: ("4", "approved 3, …")."""
    items = sorted((counts or {}).items()) if isinstance(counts, dict) else []
    parts = ", ".join(f"{label(code)} {_number(n)}" for code, n in items if n)
    return _number(sum(int(n or 0) for _code, n in items)), parts


def _skip_label(code: str) -> str:
    label = SKIP_LABELS.get(code)
    return code if label is None else str(label)


def _row(run: ImportRun) -> dict[str, Any]:
    """What the table shows of one run, from its report (see ``Report.as_dict``)."""
    counts = run.counts or {}
    imported, imported_parts = _counted(counts.get("imported"), status_label)
    skipped, skipped_parts = _counted(counts.get("skipped"), _skip_label)
    return {
        "run": run,
        "file": posixpath.basename(run.file_name or ""),
        "imported": imported,
        "imported_parts": imported_parts,
        "replies": _number(counts.get("replies")),
        "skipped": skipped,
        "skipped_parts": skipped_parts,
    }


@bp.route("/admin/sites/<slug>/transfer")
@admin_required
def site_transfer(slug: str) -> str:
    """The site's past imports, how to import, and its exports."""
    site = sites.get_site(slug)
    return render_template(
        "moderate/admin_transfer.html",
        site=site,
        runs=[_row(run) for run in transfer.recent_runs(site.slug, RUNS_SHOWN)],
        shown=RUNS_SHOWN,
        formats=list(transfer.FORMATS),
    )


def _download(site_slug: str, extension: str) -> dict[str, str]:
    """The headers of an export file, named for the site and today's date (the UI's zone)."""
    day = to_user_timezone(utcnow()).date().isoformat()
    return {
        "Content-Disposition": f'attachment; filename="{site_slug}-export-{day}.{extension}"',
        "Cache-Control": "no-store",
    }


def _chunks(lines: Iterable[str], size: int = CHUNK) -> Iterator[str]:
    """The lines joined into pieces of about ``size`` characters: fewer, larger writes."""
    buffer: list[str] = []
    length = 0
    for line in lines:
        buffer.append(line)
        length += len(line)
        if length >= size:
            yield "".join(buffer)
            buffer, length = [], 0
    if buffer:
        yield "".join(buffer)


@bp.route("/admin/sites/<slug>/export.json")
@admin_required
def export_json(slug: str) -> Response:
    """Everything of the site in our own archive format, streamed."""
    site = sites.get_site(slug)  # 404 before the download starts
    lines = transfer.export_json_lines(site.slug)
    return Response(
        stream_with_context(_chunks(lines)),
        mimetype="application/json",
        headers=_download(site.slug, "json"),
    )


def _file_chunks(file: IO[bytes]) -> Iterator[bytes]:
    """The file's bytes in pieces; it is closed once read (and by the response's close, when
    the download stops before)."""
    try:
        while chunk := file.read(CHUNK):
            yield chunk
    finally:
        file.close()


@bp.route("/admin/sites/<slug>/export.wxr")
@admin_required
def export_wxr(slug: str) -> Response:
    """The site's approved comments as WordPress eXtended RSS (see the module docstring)."""
    site = sites.get_site(slug)
    spooled: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        text = io.TextIOWrapper(spooled, encoding="utf-8", newline="")
        transfer.export_wxr(site.slug, text)
        text.flush()
        text.detach()  # the bytes stay in ``spooled``, open
        size = spooled.tell()
        spooled.seek(0)
    except BaseException:
        spooled.close()
        raise
    response = Response(
        _file_chunks(spooled),
        mimetype="application/rss+xml",
        headers=_download(site.slug, "xml") | {"Content-Length": str(size)},
    )
    response.call_on_close(spooled.close)
    return response
