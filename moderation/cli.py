"""Command-line interface: ``flask --app wsgi sites|moderators|comments|demo …``.

Each command calls the same use-case function the web views call, and turns a
:class:`~moderation.errors.ServiceError` into a readable message and exit status 1.
"""

from __future__ import annotations

import functools
import secrets
import sys
from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from . import moderators as moderator_accounts
from . import review, sanitize, sites
from .errors import ServiceError
from .extensions import db
from .models import Comment, CommentStatus, Site

sites_cli = AppGroup("sites", help="Manage the host sites that embed comments.")
moderators_cli = AppGroup("moderators", help="Manage moderator accounts.")
comments_cli = AppGroup("comments", help="Work the moderation queue.")


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Show a use case's error as ``Error: …`` and exit 1, instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ServiceError as error:
            raise click.ClickException(error.message) from None

    return wrapper


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


# --- sites -----------------------------------------------------------------------------------


@sites_cli.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="The site's name, e.g. 'Tagesblatt'.")
@click.option(
    "--origin", "origins", multiple=True, help="An origin whose pages embed comments (repeatable)."
)
@click.option("--language", type=click.Choice(["de", "en"]), default="de", show_default=True)
@reports_errors
def sites_add(slug: str, name: str, origins: tuple[str, ...], language: str) -> None:
    """Add a host site."""
    site = sites.create_site(slug, name, origins, language)
    click.echo(f"Added site {site.slug} ({site.name}), origins: {', '.join(site.origins) or '-'}")


@sites_cli.command("list")
def sites_list() -> None:
    """List the host sites."""
    for site in sites.list_sites():
        state = " (paused)" if site.paused else ""
        origins = " ".join(site.origins) or "-"
        click.echo(f"{site.slug}\t{site.name}\t{site.language.value}\t{origins}{state}")


# --- moderators ------------------------------------------------------------------------------


@moderators_cli.command("add")
@click.argument("username")
@click.option("--admin", is_flag=True, help="May also manage moderators and sites.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@reports_errors
def moderators_add(username: str, admin: bool, password_stdin: bool) -> None:
    """Add a moderator; asks for the password unless --password-stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    moderator = moderator_accounts.create_moderator(username, password, admin=admin)
    click.echo(f"Added {moderator.role.value} {moderator.username}")


@moderators_cli.command("list")
def moderators_list() -> None:
    """List moderators."""
    for moderator in moderator_accounts.list_moderators():
        state = "active" if moderator.active else "deactivated"
        click.echo(f"{moderator.username}\t{moderator.role.value}\t{state}")


@moderators_cli.command("deactivate")
@click.argument("username")
@reports_errors
def moderators_deactivate(username: str) -> None:
    """End a moderator's access (their next request is refused)."""
    moderator_accounts.set_active(username, False)
    click.echo(f"Deactivated {username}")


# --- comments --------------------------------------------------------------------------------


@comments_cli.command("pending")
@click.option("--site", help="Only this site's queue.")
@click.option("--limit", default=100, show_default=True)
def comments_pending(site: str | None, limit: int) -> None:
    """List pending comments, oldest first."""
    queue = review.pending_queue(site=site, limit=limit)
    if not queue:
        click.echo("The queue is empty.")
    for comment in queue:
        excerpt = " ".join(comment.body_raw.split())[:70]
        flags = f" [{', '.join(comment.reasons)}]" if comment.reasons else ""
        click.echo(
            f"#{comment.id}\t{_when(comment.created_at)}\t{comment.article.site.slug}/"
            f"{comment.article.key}\t{comment.author}: {excerpt}{flags}"
        )


def _decision_command(decision: review.Decision) -> None:
    @comments_cli.command(decision.value, help=f"Decide: {decision.value} the given comments.")
    @click.argument("ids", nargs=-1, type=int, required=True)
    @click.option("--note", help="Why; kept in the audit trail.")
    @click.option("--actor", default="cli", show_default=True, help="Name for the audit trail.")
    def command(ids: tuple[int, ...], note: str | None, actor: str) -> None:
        failed = False
        for comment_id in ids:
            try:
                event = review.decide(comment_id, decision, review.Actor(actor), note)
            except ServiceError as error:
                click.echo(f"#{comment_id}: {error.message}", err=True)
                failed = True
                continue
            if event is None:
                click.echo(f"#{comment_id}: already {decision.status.value}")
            else:
                click.echo(f"#{comment_id}: {event.from_status} → {event.to_status}")
        if failed:
            sys.exit(1)


for _decision in review.Decision:
    _decision_command(_decision)


@comments_cli.command("show")
@click.argument("comment_id", type=int)
@reports_errors
def comments_show(comment_id: int) -> None:
    """Show one comment with its history."""
    comment = review.get_comment(comment_id)
    click.echo(f"Comment #{comment.id} on {comment.article.site.slug}/{comment.article.key}")
    click.echo(f"Status:   {comment.status.value}")
    click.echo(f"Author:   {comment.author} <{comment.email or '-'}>")
    click.echo(f"Written:  {_when(comment.created_at)}")
    if comment.parent_id:
        click.echo(f"Reply to: #{comment.parent_id}")
    click.echo(f"Reasons:  {', '.join(comment.reasons) or '-'}")
    click.echo(f"Source:   {(comment.source_hash or '-')[:12]}")
    click.echo("Text:")
    for line in comment.body_raw.splitlines() or [""]:
        click.echo(f"  {line}")
    click.echo("History:")
    for event in review.history(comment.id):
        note = f" ({event.note})" if event.note else ""
        click.echo(
            f"  {_when(event.created_at)}  {event.actor_name}: "
            f"{event.from_status} → {event.to_status}{note}"
        )


@comments_cli.command("resanitize")
def comments_resanitize() -> None:
    """Render every comment again with the current sanitizing policy."""
    changed = 0
    touched: set[int] = set()
    for comment in db.session.scalars(select(Comment).execution_options(yield_per=500)):
        html = sanitize.render(comment.body_raw)
        if html != comment.body_html or comment.policy_version != sanitize.POLICY_VERSION:
            if html != comment.body_html and comment.status == CommentStatus.APPROVED:
                touched.add(comment.article_id)
            comment.body_html = html
            comment.policy_version = sanitize.POLICY_VERSION
            changed += 1
    for article_id in touched:
        review.bump_article(article_id)
    db.session.commit()
    click.echo(f"Re-rendered {changed} comments (policy version {sanitize.POLICY_VERSION}).")


# --- demo ------------------------------------------------------------------------------------


@click.command("demo")
@with_appcontext
@click.option("--origin", "origins", multiple=True, default=["http://127.0.0.1:5001"])
def demo(origins: tuple[str, ...]) -> None:
    """Create the demo site and a demo moderator once; print the password that one time."""
    if db.session.scalars(select(Site).where(Site.slug == "demo")).first() is None:
        sites.create_site("demo", "Demo-Zeitung", origins, "de")
        click.echo("Created the demo site 'demo'.")
    if moderator_accounts.get_moderator("demo", required=False) is None:
        password = secrets.token_urlsafe(12)
        moderator_accounts.create_moderator("demo", password, admin=True)
        click.echo(f"Created the moderator 'demo' with the password: {password}")
        click.echo("It is shown this one time only and stored only as a hash.")


def init_app(app: Flask) -> None:
    for group in (sites_cli, moderators_cli, comments_cli):
        app.cli.add_command(group)
    app.cli.add_command(demo)
