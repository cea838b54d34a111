"""Readers' mails: double opt-in, published / not published / reply mails, unsubscribe."""

from __future__ import annotations

from ..models import OutboxMessage


def on_event(event: OutboxMessage) -> None:
    """Queue the readers' mails an event calls for (in the worker's transaction)."""
