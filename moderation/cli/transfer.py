"""``flask --app wsgi import FORMAT FILE --site SLUG`` and ``export json|wxr --site SLUG``.

An import shows a progress bar on a terminal (bytes read, comments, comments per second and
the time left) and a log line per batch otherwise, then its report. Ctrl-C stops it between
two statements: the database keeps the batches written so far, and the same command again
continues (what is there already is skipped as a duplicate).
"""

from __future__ import annotations

import getpass
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask.cli import AppGroup, with_appcontext

from .. import sites, transfer
from ..models import CommentStatus
from ..transfer import files
from . import reports_errors

import_cli = AppGroup("import", help="Import comments from another system's export.")
export_cli = AppGroup("export", help="Export a site's comments.")

_HELP = {
    "disqus": "A Disqus XML export (.xml or .xml.gz).",
    "wordpress": "A WordPress eXtended RSS export (WXR 1.0 to 1.2, .xml or .xml.gz).",
    "isso": "Isso's SQLite database file.",
    "remark42": "A Remark42 backup: JSON lines, gzipped or not.",
    "commento": "A Commento or Comentario v1 JSON export, gzipped or not.",
    "json": "An export of this service (export json).",
}


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def _progress(path: str) -> Iterator[Callable[[int], None]]:
    """A progress callback: a bar on a terminal, a line per few seconds elsewhere."""
    size = os.path.getsize(path)
    started = time.monotonic()
    state = {"items": 0, "shown": 0}
    logged = [started]

    def figures() -> str:
        elapsed = max(time.monotonic() - started, 1e-6)
        return f"{state['items']:,} items, {state['items'] / elapsed:,.0f}/s"

    if sys.stdout.isatty():
        bar: Any
        with click.progressbar(
            length=size,
            label=f"Importing {os.path.basename(path)}",
            item_show_func=lambda _: figures(),
            show_pos=False,
            show_percent=True,
            show_eta=True,
        ) as bar:

            def advance(items: int) -> None:
                state["items"] += items
                done = files.position(path)
                if done is None:  # not read as bytes (an SQLite file): show the items
                    bar.update(0)
                else:
                    bar.update(max(0, done - state["shown"]))
                    state["shown"] = done

            yield advance
        return

    def log(items: int) -> None:
        state["items"] += items
        now = time.monotonic()
        if now - logged[0] >= 2:
            logged[0] = now
            done = files.position(path)
            share = f", {100 * done / size:.0f} % of the file" if done is not None and size else ""
            click.echo(f"… {figures()}{share}")

    yield log


def _print_report(report: transfer.Report, elapsed: float) -> None:
    data = report.as_dict()
    title = "Dry run: nothing was written." if report.dry_run else "Imported."
    click.echo(title)
    click.echo(f"  threads:   {report.threads:,}")
    by_status = ", ".join(f"{status} {n:,}" for status, n in data["imported"].items()) or "-"
    verb = "would import" if report.dry_run else "comments"
    click.echo(f"  {verb}: {report.total_imported:,} ({by_status})")
    moved = f", {report.moved_up:,} moved under their top-level comment" if report.moved_up else ""
    click.echo(f"  replies:   {report.replies:,}{moved}")
    skipped = ", ".join(f"{reason} {n:,}" for reason, n in data["skipped"].items()) or "-"
    click.echo(f"  skipped:   {sum(report.skipped.values()):,} ({skipped})")
    for source, key in report.mappings:
        click.echo(f"  article:   {source} -> {key}")
    for error in report.errors:
        click.echo(f"  {error}")
    click.echo(f"  in {elapsed:.1f} s")


def _import_command(source: str) -> click.Command:
    @click.command(source, help=_HELP[source])
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
    @click.option("--site", "slug", required=True, help="The site to import into.")
    @click.option("--dry-run", is_flag=True, help="Read and report; write nothing.")
    @click.option(
        "--article-key",
        type=click.Choice([key.value for key in transfer.ArticleKey]),
        default=transfer.default_article_key(source).value,
        show_default=True,
        help="How a thread becomes an article key: its URL's path, host and path, or the "
        "source's own identifier.",
    )
    @click.option(
        "--unapproved",
        type=click.Choice([status.value for status in transfer.UNAPPROVED_CHOICES]),
        default=CommentStatus.PENDING.value,
        show_default=True,
        help="What comments unapproved in the source become.",
    )
    @with_appcontext
    @reports_errors
    def command(file: str, slug: str, dry_run: bool, article_key: str, unapproved: str) -> None:
        options = transfer.Options(
            article_key=transfer.ArticleKey(article_key),
            unapproved=CommentStatus(unapproved),
            dry_run=dry_run,
        )
        started = time.monotonic()
        try:
            with _progress(file) as progress:
                report = transfer.import_file(
                    source, file, slug, options, actor_name=_actor(), progress=progress
                )
        except transfer.UnreadableFile as error:
            raise click.ClickException(str(error)) from None
        except KeyboardInterrupt:
            click.echo(
                "\nInterrupted. The batches written so far are kept; run the same command "
                "again to continue.",
                err=True,
            )
            sys.exit(130)
        _print_report(report, time.monotonic() - started)

    return command


for _source in transfer.FORMATS:
    import_cli.add_command(_import_command(_source))


def _output(output: str | None) -> Any:
    return click.open_file(output or "-", "w", encoding="utf-8", atomic=bool(output))


@export_cli.command("json")
@click.option("--site", "slug", required=True, help="The site to export.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="A file (default: stdout).")
@with_appcontext
@reports_errors
def export_json(slug: str, output: str | None) -> None:
    """Everything of one site: articles, comments of every status, and their events."""
    sites.get_site(slug)  # an unknown site fails before a file is made
    with _output(output) as out:
        transfer.export_json(slug, out)


@export_cli.command("wxr")
@click.option("--site", "slug", required=True, help="The site to export.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="A file (default: stdout).")
@with_appcontext
@reports_errors
def export_wxr(slug: str, output: str | None) -> None:
    """The approved comments as WordPress eXtended RSS, for WordPress or Disqus to import."""
    sites.get_site(slug)  # an unknown site fails before a file is made
    with _output(output) as out:
        transfer.export_wxr(slug, out)
