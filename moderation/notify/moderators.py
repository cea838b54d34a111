"""Moderators' mails: one per new comment, digests, and overdue alerts."""

from __future__ import annotations

from ..models import OutboxMessage


def on_event(event: OutboxMessage) -> None:
    """Queue the moderators' mails an event calls for (in the worker's transaction)."""


def tick() -> None:
    """Queue the digests and overdue alerts that are due."""
