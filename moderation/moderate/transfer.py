"""A site's Import/Export page: its past imports, and its exports to download (admins only).

Importing stays a job for the command line (``flask --app wsgi import …``, see
:mod:`moderation.cli.transfer`): a large file takes longer than a request may. The page lists
what those runs did (:func:`moderation.transfer.recent_runs`) and offers the two exports of
:mod:`moderation.transfer`:

* **JSON**, everything of the site (:func:`moderation.transfer.export_json_lines`), and
* **WXR**, the approved comments, in a file named ``….xml`` as WordPress and Disqus expect it.

Each is written into a :class:`~tempfile.SpooledTemporaryFile` (memory up to
:data:`SPOOL_BYTES`, a temporary file beyond), which is then sent. Memory stays bounded, the
database is read for as long as writing the file takes, not for as long as a slow connection
takes to download it (a read transaction left open keeps SQLite from resetting its
write-ahead log), a failure is an error page instead of a truncated file, and the answer has
its length; the first byte waits for the last row.
"""

from __future__ import annotations

import io
import posixpath
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any

from flask import Blueprint, Response, render_template
from flask_babel import format_decimal, to_user_timezone
from flask_babel import lazy_gettext as _l

from .. import sites, transfer
from ..i18n import status_label
from ..models import ImportRun, utcnow
from .auth import admin_required

bp = Blueprint("transfer", __name__)

RUNS_SHOWN = 50  # the latest imports in the table
CHUNK = 64 * 1024  # bytes of an export per piece sent
SPOOL_BYTES = 8 * 1024 * 1024  # an export larger than this goes to a temporary file

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


def _file_chunks(file: IO[bytes]) -> Iterator[bytes]:
    """The file's bytes in pieces; it is closed once read (and by the response's close, when
    the download stops before)."""
    try:
        while chunk := file.read(CHUNK):
            yield chunk
    finally:
        file.close()


def _spooled(
    write: Callable[[IO[str]], object], headers: dict[str, str], mimetype: str
) -> Response:
    """The answer with what ``write`` writes into a text file, spooled first (see the module
    docstring)."""
    spooled: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        text = io.TextIOWrapper(spooled, encoding="utf-8", newline="")
        write(text)
        text.flush()
        text.detach()  # the bytes stay in ``spooled``, open
        size = spooled.tell()
        spooled.seek(0)
    except BaseException:
        spooled.close()
        raise
    response = Response(
        _file_chunks(spooled),
        mimetype=mimetype,
        headers=headers | {"Content-Length": str(size)},
    )
    response.call_on_close(spooled.close)
    return response


@bp.route("/admin/sites/<slug>/export.json")
@admin_required
def export_json(slug: str) -> Response:
    """Everything of the site in our own archive format."""
    site = sites.get_site(slug)  # 404 before anything is read
    return _spooled(
        lambda text: text.writelines(transfer.export_json_lines(site.slug)),
        _download(site.slug, "json"),
        "application/json",
    )


@bp.route("/admin/sites/<slug>/export.wxr")
@admin_required
def export_wxr(slug: str) -> Response:
    """The site's approved comments as WordPress eXtended RSS."""
    site = sites.get_site(slug)
    return _spooled(
        lambda text: transfer.export_wxr(site.slug, text),
        _download(site.slug, "xml"),
        "application/rss+xml",
    )
