"""Sites' webhooks: signed JSON (or Slack-style) calls for the comment events they chose."""

from __future__ import annotations

from ..models import OutboxMessage
from .outbox import Outcome


def on_event(event: OutboxMessage) -> None:
    """Queue a call for each of the site's webhooks that wants this event."""


def call(row: OutboxMessage) -> Outcome:
    """Make one delivery attempt."""
    return Outcome(False, "not implemented", permanent=True)


def count_attempt(row: OutboxMessage, outcome: Outcome) -> None:
    """Count a webhook's failures in a row; pause it after too many."""
