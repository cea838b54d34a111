"""Moving in and out: imports from other comment systems, exports to leave again.

Each format is one module that reads its file into :mod:`.records` (``disqus``, ``wordpress``,
``isso``, ``remark42``, ``commento``, and ``archive``, our own JSON); :mod:`.importer` writes
what they read into a site, with the rules every import shares. The rest of the service calls
only the names below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO

from sqlalchemy import select

from .. import sites
from ..extensions import db
from ..models import Article, Comment, CommentStatus
from . import archive, commento, disqus, isso, remark42, wordpress
from .importer import UNAPPROVED_CHOICES, ArticleKey, Options, Report, recent_runs, run_import
from .records import UnreadableFile

__all__ = [
    "FORMATS",
    "UNAPPROVED_CHOICES",
    "ArticleKey",
    "Options",
    "Report",
    "UnreadableFile",
    "default_article_key",
    "export_json",
    "export_json_lines",
    "export_wxr",
    "import_file",
    "recent_runs",
]

FORMATS = {
    module.NAME: module.read for module in (disqus, wordpress, isso, remark42, commento, archive)
}


def default_article_key(source: str) -> ArticleKey:
    """Our own archive keeps its article keys; the others' threads are known by their URLs."""
    return ArticleKey.ID if source == archive.NAME else ArticleKey.PATH


def import_file(
    source: str,
    path: str,
    site_slug: str,
    options: Options,
    *,
    actor_name: str = "cli",
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Import the file at ``path``, in the ``source`` format, into the site."""
    return run_import(
        site_slug,
        source,
        FORMATS[source](path),
        options,
        file_name=path,
        actor_name=actor_name,
        progress=progress,
    )


def export_json_lines(site_slug: str) -> Iterator[str]:
    """The site's archive (:mod:`.archive`) as lines of text, streamed."""
    return archive.export_lines(sites.get_site(site_slug))


def export_json(site_slug: str, out: IO[str]) -> None:
    for line in export_json_lines(site_slug):
        out.write(line)


def _wxr_threads(site_id: int) -> Iterator[wordpress.ExportThread]:
    """The site's articles with their approved comments, one article in memory at a time."""
    articles = db.session.scalars(
        select(Article).where(Article.site_id == site_id).order_by(Article.id)
    ).all()
    for article in articles:
        comments = db.session.scalars(
            select(Comment)
            .where(Comment.article_id == article.id, Comment.status == CommentStatus.APPROVED)
            .order_by(Comment.id)
        ).all()
        if not comments:
            continue
        yield wordpress.ExportThread(
            key=article.key,
            title=article.title,
            url=article.url,
            closed=article.closed,
            comments=[
                wordpress.ExportComment(
                    id=comment.id,
                    parent_id=comment.parent_id,
                    author=comment.author,
                    email=comment.email,
                    created_at=comment.created_at,
                    html=comment.body_html,
                )
                # Oldest first, so parents before their replies: WordPress links a reply only
                # to a comment it has already read (an imported reply may have the lower id).
                for comment in sorted(comments, key=lambda c: (c.created_at, c.id))
            ],
        )


def export_wxr(site_slug: str, out: IO[str]) -> None:
    """The site's approved comments as WordPress eXtended RSS: the way to WordPress or Disqus."""
    site = sites.get_site(site_slug)
    origin = site.origins[0] if site.origins else None
    wordpress.write(out, site_name=site.name, site_url=origin, threads=_wxr_threads(site.id))
