"""``flask --app wsgi outbox work|status|retry``: the delivery worker and its state."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from ..notify import outbox, worker
from ..notify.mail import DEVELOPMENT_URL
from . import reports_errors

outbox_cli = AppGroup("outbox", help="Deliver notifications (mails, webhooks) and inspect them.")


@outbox_cli.command("work")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
def outbox_work(once: bool) -> None:
    """Deliver notifications until stopped (SIGTERM or Ctrl-C finish the message in hand)."""
    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    if not current_app.config.get("PUBLIC_URL"):
        click.echo(
            f"MODERATION_PUBLIC_URL is not set: links in mails point to {DEVELOPMENT_URL}",
            err=True,
        )
    # The worker's name in the leases it writes (lease_owner), shown so its rows can be told.
    owner = outbox.new_delivery_id()
    if not once:
        backend = current_app.config["MAIL_BACKEND"]
        click.echo(f"Delivering notifications ({backend} mail) as worker {owner} …")
    tally = worker.work(once=once, stop=stop, owner=owner)
    click.echo(
        f"{tally.expanded} events expanded, {tally.delivered} delivered, "
        f"{tally.failed} failed attempts"
        + (f", {tally.lost} leases lost to another worker" if tally.lost else "")
    )


@outbox_cli.command("status")
def outbox_status() -> None:
    """Print how many notifications there are by kind and state, and how late the oldest is."""
    counts = outbox.status_counts()
    if not counts:
        click.echo("The outbox is empty.")
    for (kind, state), count in sorted(counts.items()):
        click.echo(f"{kind:8} {state:10} {count}")
    oldest = outbox.oldest_due()
    if oldest is not None:
        click.echo(f"Oldest due since {oldest:%Y-%m-%d %H:%M:%S} UTC")
    failed = [row for row in outbox.recent(10) if row.state.value == "failed"]
    for row in failed:
        click.echo(f"failed #{row.id} {row.kind.value} {row.topic}: {row.last_error or ''}")


@outbox_cli.command("retry")
@click.argument("row_id", type=int)
@reports_errors
def outbox_retry(row_id: int) -> None:
    """Send a failed notification again now."""
    row = outbox.retry(row_id)
    click.echo(f"Outbox message {row.id} ({row.kind.value} {row.topic}) is due again.")
