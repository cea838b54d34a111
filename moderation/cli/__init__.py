"""Command-line interface: ``flask --app wsgi sites|moderators|comments|bans|privacy|demo …``.

Each command calls the same use-case function the web views call, and turns a
:class:`~moderation.errors.ServiceError` into a readable message and exit status 1.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import sys
from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from .. import (
    bans,
    database,
    grounds,
    retention,
    review,
    sanitize,
    sites,
    subject_requests,
    wordlists,
)
from .. import moderators as moderator_accounts
from ..errors import InvalidInput, ServiceError
from ..extensions import db
from ..models import BanKind, Comment, CommentStatus, Site
from ..rules import LANGUAGES

sites_cli = AppGroup("sites", help="Manage the host sites that embed comments.")
moderators_cli = AppGroup("moderators", help="Manage moderator accounts.")
comments_cli = AppGroup("comments", help="Work the moderation queue.")
bans_cli = AppGroup("bans", help="Bar readers (by source or e-mail) from commenting.")
privacy_cli = AppGroup("privacy", help="Retention and readers' data requests.")


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
@click.option("--language", type=click.Choice(LANGUAGES), default="de", show_default=True)
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


def _limit(value: str | None, name: str) -> int | None | sites.Keep:
    """A number option that also takes ``default`` (back to the service setting)."""
    if value is None:
        return sites.KEEP
    if value.strip().lower() == "default":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number or 'default'.") from None


@sites_cli.command("set")
@click.argument("slug")
@click.option("--blocked-word", "block", multiple=True, help="Add a blocked word (spam).")
@click.option("--remove-blocked-word", "unblock", multiple=True, help="Remove a blocked word.")
@click.option("--watched-word", "watch", multiple=True, help="Add a watched word (held).")
@click.option("--remove-watched-word", "unwatch", multiple=True, help="Remove a watched word.")
@click.option("--max-links", help="Links a comment may have before it is held, or 'default'.")
@click.option("--rate-limit-per-minute", "per_minute", help="0 is off; or 'default'.")
@click.option("--rate-limit-per-hour", "per_hour", help="0 is off; or 'default'.")
@click.option("--pause/--resume", "paused", default=None, help="Close or reopen all commenting.")
@click.option(
    "--overdue-minutes",
    "overdue",
    help="Alert the moderators when the oldest pending comment waits longer; or 'off'.",
)
@click.option(
    "--trust/--no-trust",
    "trust",
    default=None,
    help="Publish trusted readers' comments at once (off by default).",
)
@click.option(
    "--trust-min-approved",
    "trust_min_approved",
    type=int,
    help="Approved comments a reader needs to be trusted (1-1000; default 3).",
)
@click.option(
    "--trust-days",
    "trust_days",
    type=int,
    help="Within how many days, without a rejection or spam (1-3650; default 180).",
)
@click.option(
    "--report-hold-after",
    "hold_after",
    help="Hold a published comment for review after N open reports; or 'off' (the default).",
)
@click.option(
    "--removal-grounds",
    "grounds",
    help="The site's grounds for removals, comma-separated codes (off_topic,insult,…); "
    "or 'default'.",
)
@reports_errors
def sites_set(
    slug: str,
    block: tuple[str, ...],
    unblock: tuple[str, ...],
    watch: tuple[str, ...],
    unwatch: tuple[str, ...],
    max_links: str | None,
    per_minute: str | None,
    per_hour: str | None,
    paused: bool | None,
    overdue: str | None,
    trust: bool | None,
    trust_min_approved: int | None,
    trust_days: int | None,
    hold_after: str | None,
    grounds: str | None,
) -> None:
    """Change a site's abuse policy: word lists, link and rate limits, pause; its overdue
    alert; its trusted readers; its report hold and grounds for removals."""
    current = sites.get_site(slug)
    changes: dict[str, Any] = {
        "max_links": _limit(max_links, "--max-links"),
        "rate_limit_per_minute": _limit(per_minute, "--rate-limit-per-minute"),
        "rate_limit_per_hour": _limit(per_hour, "--rate-limit-per-hour"),
        "overdue_minutes": _number_or_off(overdue, "--overdue-minutes"),
        "report_hold_after": _number_or_off(hold_after, "--report-hold-after"),
    }
    if grounds is not None:
        codes = None if grounds.strip().lower() == "default" else grounds.split(",")
        changes["removal_grounds"] = codes
    if block or unblock:
        changes["blocked_words"] = wordlists.edit(current.blocked_words or [], block, unblock)
    if watch or unwatch:
        changes["watched_words"] = wordlists.edit(current.watched_words or [], watch, unwatch)
    if paused is not None:
        changes["paused"] = paused
    if trust is not None:
        changes["trust_readers"] = trust
    if trust_min_approved is not None:
        changes["trust_min_approved"] = trust_min_approved
    if trust_days is not None:
        changes["trust_days"] = trust_days
    site = sites.update_policy(slug, **changes)
    _show_policy(site)


def _number_or_off(value: str | None, option: str) -> int | None | sites.Keep:
    """``--overdue-minutes``, ``--report-hold-after``: a number, or ``off`` (None)."""
    if value is None:
        return sites.KEEP
    if value.strip().lower() == "off":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{option} must be a whole number or 'off'.") from None


def _show_policy(site: Site) -> None:
    policy = sites.policy(site)

    def number(value: int, is_default: bool, zero: str = "off") -> str:
        shown = zero if value == 0 else str(value)
        return f"{shown} (default)" if is_default else shown

    click.echo(f"Site:            {site.slug} ({site.name}), {site.language.value}")
    click.echo(f"Commenting:      {'paused' if policy.paused else 'open'}")
    click.echo(f"Max links:       {number(policy.max_links, policy.max_links_is_default, '0')}")
    click.echo(
        "Rate per minute: "
        f"{number(policy.rate_limit_per_minute, policy.rate_limit_per_minute_is_default)}"
    )
    click.echo(
        "Rate per hour:   "
        f"{number(policy.rate_limit_per_hour, policy.rate_limit_per_hour_is_default)}"
    )
    click.echo(f"Blocked words:   {', '.join(policy.blocked_words) or '-'}")
    click.echo(f"Watched words:   {', '.join(policy.watched_words) or '-'}")
    overdue = f"after {site.overdue_minutes} minutes" if site.overdue_minutes else "off"
    click.echo(f"Overdue alert:   {overdue}")
    trusted = (
        f"after {site.trust_min_approved} approved comments in {site.trust_days} days"
        if site.trust_readers
        else "off"
    )
    click.echo(f"Trusted readers: {trusted}")
    held = f"after {site.report_hold_after} reports" if site.report_hold_after else "off"
    click.echo(f"Report hold:     {held}")
    own = ", ".join(site.removal_grounds) if site.removal_grounds else "the defaults"
    click.echo(f"Removal grounds: {own}")


@sites_cli.command("show")
@click.argument("slug")
@reports_errors
def sites_show(slug: str) -> None:
    """Show a site's abuse policy."""
    _show_policy(sites.get_site(slug))


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


@moderators_cli.command("notify")
@click.argument("username")
@click.option("--email", help="Where the mails go (kept as it is when not given).")
@click.option("--mode", required=True, help="each (a mail per new comment), digest or off.")
@click.option("--digest-hours", type=int, help="A digest every N hours (1-168).")
@reports_errors
def moderators_notify(
    username: str, email: str | None, mode: str, digest_hours: int | None
) -> None:
    """Choose how a moderator hears about new comments: each, digest or off."""
    if email is None:
        email = moderator_accounts.get_moderator(username).notify_email
    moderator = moderator_accounts.set_notifications(
        username, email=email, mode=mode, digest_hours=digest_hours
    )
    how = moderator.notify_mode.value
    if moderator.notify_mode.value == "digest":
        how += f" every {moderator.digest_hours} hours"
    click.echo(f"{moderator.username}: {how}, to {moderator.notify_email or '-'}")


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
    def command(
        ids: tuple[int, ...], note: str | None, actor: str, ground: str | None = None
    ) -> None:
        failed = False
        for comment_id in ids:
            try:
                event = review.decide(
                    comment_id, decision, review.Actor(actor), note, ground=ground
                )
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

    if decision is review.Decision.REJECT:
        # The statement of reasons (DSA Art. 17) names a ground; the CLI's default is "other".
        command = click.option(
            "--ground",
            default=grounds.DEFAULT_CLI_GROUND,
            show_default=True,
            help="The ground of the rejection, from the site's list (off_topic, insult, …).",
        )(command)
    command = click.option(
        "--actor", default="cli", show_default=True, help="Name for the audit trail."
    )(command)
    command = click.option("--note", help="Why; kept in the audit trail.")(command)
    command = click.argument("ids", nargs=-1, type=int, required=True)(command)
    comments_cli.command(decision.value, help=f"Decide: {decision.value} the given comments.")(
        command
    )


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


RESANITIZE_BATCH = 500


@comments_cli.command("resanitize")
def comments_resanitize() -> None:
    """Render every comment again with the current sanitizing policy."""
    changed = after = 0
    while rows := db.session.execute(
        select(Comment.id, Comment.body_raw)
        .where(Comment.id > after)
        .order_by(Comment.id)
        .limit(RESANITIZE_BATCH)
    ).all():
        after = rows[-1].id
        # Rendered before the write transaction, which other writers wait for.
        changed += _store_rendered(
            {row.id: (row.body_raw, sanitize.render(row.body_raw)) for row in rows}
        )
    click.echo(f"Re-rendered {changed} comments (policy version {sanitize.POLICY_VERSION}).")


@database.writes
def _store_rendered(rendered: dict[int, tuple[str, str]]) -> int:
    """Store one batch of comments' new HTML (id → text rendered, HTML); how many changed.

    A comment whose text changed since (withdrawn or erased) keeps the HTML it got then.
    """
    changed = 0
    touched: set[int] = set()
    for comment in db.session.scalars(select(Comment).where(Comment.id.in_(rendered))):
        raw, html = rendered[comment.id]
        if comment.body_raw != raw:
            continue
        if html != comment.body_html or comment.policy_version != sanitize.POLICY_VERSION:
            if html != comment.body_html and comment.status == CommentStatus.APPROVED:
                touched.add(comment.article_id)
            comment.body_html = html
            comment.policy_version = sanitize.POLICY_VERSION
            changed += 1
    for article_id in touched:
        review.bump_article(article_id)
    return changed


# --- bans ------------------------------------------------------------------------------------


@bans_cli.command("add")
@click.option("--source", help="A source hash (as `comments show` or `bans list` print it).")
@click.option("--email", help="An e-mail address.")
@click.option("--comment", "comment_id", type=int, help="Ban the author of this comment …")
@click.option(
    "--by",
    type=click.Choice(["source", "email"]),
    default="source",
    show_default=True,
    help="… by their source or their e-mail address.",
)
@click.option("--for", "period", required=True, help="How long: 30m, 12h, 7d, 2w or forever.")
@click.option("--reason", help="Why; shown in the list of bans.")
@click.option("--actor", default="cli", show_default=True, help="Name kept with the ban.")
@reports_errors
def bans_add(
    source: str | None,
    email: str | None,
    comment_id: int | None,
    by: str,
    period: str,
    reason: str | None,
    actor: str,
) -> None:
    """Ban a source or an e-mail address; their comments are then stored as spam."""
    given = [name for name, value in (("--source", source), ("--email", email)) if value]
    if comment_id is not None:
        given.append("--comment")
    if len(given) != 1:
        raise InvalidInput("Give exactly one of --source, --email or --comment.")
    duration = bans.parse_duration(period)
    if comment_id is not None:
        ban = bans.ban_comment_author(comment_id, by, duration=duration, reason=reason, actor=actor)
    elif source:
        ban = bans.add_ban(BanKind.SOURCE, source, duration=duration, reason=reason, actor=actor)
    else:
        ban = bans.add_ban(
            BanKind.EMAIL, email or "", duration=duration, reason=reason, actor=actor
        )
    until = f"until {_when(ban.expires_at)}" if ban.expires_at else "forever"
    click.echo(f"Ban #{ban.id}: {ban.kind.value} {_ban_value(ban)} {until}")


def _ban_value(ban: Any) -> str:
    return ban.value[:12] + "…" if ban.kind == BanKind.SOURCE else ban.value


@bans_cli.command("list")
@click.option("--all", "include_ended", is_flag=True, help="Also lifted and expired bans.")
def bans_list(include_ended: bool) -> None:
    """List bans, newest first."""
    found = bans.list_bans(include_ended=include_ended)
    if not found:
        click.echo("No bans.")
    for ban in found:
        if ban.lifted_at:
            state = f"lifted {_when(ban.lifted_at)}"
        elif not bans.is_active(ban):
            state = f"expired {_when(ban.expires_at)}"
        else:
            state = f"until {_when(ban.expires_at)}" if ban.expires_at else "forever"
        click.echo(
            f"#{ban.id}\t{ban.kind.value}\t{ban.value}\t{state}\t"
            f"{ban.created_by}, {_when(ban.created_at)}\t{ban.reason or '-'}"
        )


@bans_cli.command("lift")
@click.argument("ban_ids", nargs=-1, type=int, required=True)
@reports_errors
def bans_lift(ban_ids: tuple[int, ...]) -> None:
    """Lift bans by their number."""
    for ban_id in ban_ids:
        ban = bans.lift_ban(ban_id)
        click.echo(f"Ban #{ban.id} lifted ({ban.kind.value} {_ban_value(ban)})")


# --- privacy ---------------------------------------------------------------------------------


@privacy_cli.command("purge")
@click.option("--spam-days", type=int, help="Keep spam this long [RETENTION_SPAM_DAYS].")
@click.option(
    "--rejected-days", type=int, help="Keep rejected/withdrawn [RETENTION_REJECTED_DAYS]."
)
@click.option(
    "--source-hash-days", type=int, help="Keep source hashes [RETENTION_SOURCE_HASH_DAYS]."
)
@click.option("--outbox-days", type=int, help="Keep sent notifications [RETENTION_OUTBOX_DAYS].")
@reports_errors
def privacy_purge(
    spam_days: int | None,
    rejected_days: int | None,
    source_hash_days: int | None,
    outbox_days: int | None,
) -> None:
    """Remove old spam, rejected and withdrawn comments, old source hashes and sent
    notifications (run daily)."""
    result = retention.purge(
        spam_days=spam_days,
        rejected_days=rejected_days,
        source_hash_days=source_hash_days,
        outbox_days=outbox_days,
    )
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(result.removed.items()))
    click.echo(
        f"Removed {result.comments} comments ({by_status or 'none due'}), {result.bans} ended "
        f"bans, {result.login_attempts} old failed logins, {result.form_tokens} expired form "
        f"tokens, {result.notifications} sent notifications; cleared {result.source_hashes} "
        "source hashes."
    )


@privacy_cli.command("export")
@click.argument("email")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="A file.")
@reports_errors
def privacy_export(email: str, output: str | None) -> None:
    """Write everything stored for an e-mail address as JSON (to stdout or --output)."""
    data = subject_requests.export_data(email)
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if output:
        try:
            # A reader's e-mail and comments: readable by the operator only.
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # also when the file existed with a looser mode
            with open(fd, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as error:
            raise click.ClickException(f"Cannot write {output}: {error.strerror}") from None
        click.echo(
            f"Wrote {len(data['comments'])} comments and {len(data['bans'])} bans to {output}",
            err=True,
        )
    else:
        click.echo(text, nl=False)


@privacy_cli.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--actor", default="cli", show_default=True, help="Name for the audit trail.")
@reports_errors
def privacy_erase(email: str, yes: bool, actor: str) -> None:
    """Erase what is stored for an e-mail address; published comments become "[deleted]"."""
    comments, plain_bans = subject_requests.erasable(email)
    mail_records = subject_requests.erasable_mail_records(email)
    reports = subject_requests.erasable_reports(email)
    address = email.strip().lower()
    if not comments and not plain_bans and not mail_records and not reports:
        click.echo(f"Nothing is stored for {address}.")
        return
    if not yes:
        mails = f", {mail_records} mail records" if mail_records else ""
        mails += f", the address in {reports} reports" if reports else ""
        click.confirm(
            f"Erase {comments} comments{mails} and hash {plain_bans} bans of {address}?",
            abort=True,
        )
    erased = subject_requests.erase_data(email, actor=actor)
    click.echo(
        f"Anonymized {erased.anonymized} published comments, deleted {erased.deleted} others, "
        f"hashed the address in {erased.bans} bans, deleted {erased.mails} mails to it"
        f" and {erased.reader_keys} reader keys, removed it from {erased.reports} reports."
    )
    if erased.notifications == "suppressed":
        click.echo("It had unsubscribed: only its keyed hash stays, so it is never mailed.")


# --- demo ------------------------------------------------------------------------------------


DEMO_ORIGINS = ["http://127.0.0.1:5001", "http://localhost:5001"]


@click.command("demo")
@with_appcontext
@click.option("--origin", "origins", multiple=True, default=DEMO_ORIGINS, show_default=True)
@click.option("--service-url", default="http://127.0.0.1:5000", show_default=True)
def demo(origins: tuple[str, ...], service_url: str) -> None:
    """Create the demo site and a demo moderator once; print the password that one time."""
    site = db.session.scalars(select(Site).where(Site.slug == "demo")).first()
    if site is None:
        sites.create_site("demo", "Demo-Zeitung", origins, "de")
        click.echo("Created the demo site 'demo'.")
    else:
        missing = [o for o in map(sites.normalize_origin, origins) if o not in site.origins]
        if missing:
            sites.update_site(
                "demo",
                name=site.name,
                origins=[*site.origins, *missing],
                language=site.language.value,
            )
    if moderator_accounts.get_moderator("demo", required=False) is None:
        password = secrets.token_urlsafe(12)
        moderator_accounts.create_moderator("demo", password, admin=True)
        click.echo(f"Created the moderator 'demo' with the password: {password}")
        click.echo("It is shown this one time only and stored only as a hash.")
    demo_page = sites.normalize_origin(origins[0]) if origins else service_url
    click.echo("")
    click.echo(f"  Demo article (a news site):  {demo_page}/")
    click.echo(f"  The same, as an iframe:      {demo_page}/iframe.html")
    click.echo(f"  Moderator UI (user 'demo'):  {service_url}/moderate/")
    click.echo(f"  Comment service:             {service_url}/")
    click.echo("")


def init_app(app: Flask) -> None:
    from .outbox import outbox_cli  # its module imports this one's helpers

    for group in (sites_cli, moderators_cli, comments_cli, bans_cli, privacy_cli, outbox_cli):
        app.cli.add_command(group)
    app.cli.add_command(demo)
    from .webhooks import webhooks_cli  # as outbox_cli

    app.cli.add_command(webhooks_cli)
    from .stats import stats_command  # as outbox_cli

    app.cli.add_command(stats_command)
    from .transparency import transparency_command  # as outbox_cli

    app.cli.add_command(transparency_command)
    from .transfer import export_cli, import_cli  # as outbox_cli

    app.cli.add_command(import_cli)
    app.cli.add_command(export_cli)
