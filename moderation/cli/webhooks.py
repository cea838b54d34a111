"""``flask --app wsgi webhooks add|list|remove|resume``: sites' webhooks.

The same use cases as the admin page (:mod:`moderation.notify.webhooks`). The secret is
printed by ``add`` and never again: only the receiver needs it, to check signatures.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..notify import outbox, webhooks
from . import reports_errors

webhooks_cli = AppGroup("webhooks", help="Manage sites' webhooks (signed calls on events).")


@webhooks_cli.command("add")
@click.argument("site")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    help=f"An event to send (repeatable; default: all): {', '.join(outbox.COMMENT_EVENTS)}.",
)
@click.option(
    "--format",
    "format_",
    default="json",
    show_default=True,
    help='json (signed document) or slack ({"text": …} for Slack or Mattermost).',
)
@reports_errors
def webhooks_add(site: str, url: str, events: tuple[str, ...], format_: str) -> None:
    """Add a webhook to SITE that POSTs to URL; prints its secret once."""
    hook, secret = webhooks.add(site, url, events, format_)
    click.echo(f"Added webhook #{hook.id} for {site}: {hook.url}")
    click.echo(f"Events: {', '.join(hook.events)}; format: {hook.format.value}")
    click.echo(f"Secret: {secret}")
    click.echo("The secret is shown only now; give it to the receiver to verify signatures.")


@webhooks_cli.command("list")
@click.option("--site", help="Only this site's webhooks.")
@reports_errors
def webhooks_list(site: str | None) -> None:
    """List webhooks: id, site, URL, events, format, state, failures in a row."""
    found = webhooks.list_webhooks(site)
    if not found:
        click.echo("No webhooks.")
    for hook in found:
        state = "paused" if hook.paused else "active"
        click.echo(
            f"#{hook.id}\t{hook.site.slug}\t{hook.url}\t{','.join(hook.events)}\t"
            f"{hook.format.value}\t{state}\t{hook.failures_in_row} failures"
        )


@webhooks_cli.command("remove")
@click.argument("webhook_id", type=int)
@reports_errors
def webhooks_remove(webhook_id: int) -> None:
    """Remove a webhook; its calls not sent yet are dropped with it."""
    pending = webhooks.remove(webhook_id)
    click.echo(f"Removed webhook #{webhook_id} ({pending} pending calls dropped).")


@webhooks_cli.command("resume")
@click.argument("webhook_id", type=int)
@reports_errors
def webhooks_resume(webhook_id: int) -> None:
    """Resume a paused webhook; its failures are forgotten, its waiting calls sent."""
    hook = webhooks.resume(webhook_id)
    click.echo(f"Webhook #{hook.id} ({hook.url}) is active again.")
