"""The delivery worker: claims due outbox rows, expands events, sends mails and webhook calls.

``flask --app wsgi outbox work`` runs :func:`work` until stopped (SIGTERM or Ctrl-C let the
message in hand finish); ``--once`` delivers what is due now and returns. Several workers may
run at once, on several hosts: each claims its rows (:func:`moderation.notify.outbox.claim`).
Digests and overdue alerts are computed here too, from the database, so nothing but the
worker needs to be scheduled.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app

from .. import database
from ..extensions import db
from ..models import OutboxKind, OutboxMessage
from . import moderators, outbox, readers, webhooks
from .mail import Postman

TICK_SECONDS = 60  # how often digests and overdue alerts are looked at


@dataclass
class Tally:
    """What a worker did: rows by outcome."""

    expanded: int = 0
    delivered: int = 0
    failed: int = 0  # attempts that failed (to be retried, or given up)
    lost: int = 0  # rows whose lease ran out before their outcome was recorded
    kinds: dict[str, int] = field(default_factory=dict)


def work(
    *, once: bool = False, stop: threading.Event | None = None, owner: str | None = None
) -> Tally:
    """Deliver until ``stop`` is set; with ``once``, until nothing is due.

    ``owner`` names this worker in the leases it writes (a fresh id when not given), so an
    operator can tell from its log line which rows it holds.
    """
    stop = stop or threading.Event()
    owner = owner or outbox.new_delivery_id()
    batch = int(current_app.config["OUTBOX_BATCH"])
    poll = float(current_app.config["OUTBOX_POLL_SECONDS"])
    tally = Tally()
    next_tick = 0.0
    try:
        while not stop.is_set():
            if time.monotonic() >= next_tick:
                moderators.tick()
                next_tick = time.monotonic() + TICK_SECONDS
            ids = outbox.claim(owner, batch) if outbox.any_due() else []
            if not ids:
                if once:
                    break
                stop.wait(poll)
                continue
            if not process(ids, owner, tally, stop) and not stop.is_set():
                # Rows the lease left no time for: give them back now, not when it runs out.
                outbox.release(owner)
    finally:
        outbox.release(owner)
        database.discard()
    return tally


def process(ids: list[int], owner: str, tally: Tally, stop: threading.Event) -> bool:
    """Handle claimed rows in order, while the lease leaves time to finish each; False when
    it stopped before the end (``stop``, or a lease running out).

    A row is begun only while ``margin`` of its lease is left, time to send it and record the
    outcome before another worker may take it over. The margin is at most half the lease, or
    a lease shorter than a webhook's timeout would never let anything be sent.
    """
    lease = float(current_app.config["OUTBOX_LEASE_SECONDS"])
    margin = timedelta(seconds=min(float(current_app.config["WEBHOOK_TIMEOUT"]) + 15, lease / 2))
    with Postman() as postman:
        for row_id in ids:
            if stop.is_set():
                return False
            database.discard()  # read each row afresh
            row = outbox.leased(row_id, owner)
            if row is None:
                tally.lost += 1
                continue
            # By the database's clock, as the lease was given (outbox.claim).
            if row.lease_until is not None and database.clock() > row.lease_until - margin:
                return False  # released by work(); another turn claims them again
            tally.kinds[row.kind.value] = tally.kinds.get(row.kind.value, 0) + 1
            if row.kind == OutboxKind.EVENT:
                if _expand(row_id, owner):
                    tally.expanded += 1
                else:
                    tally.lost += 1
                continue
            if row.kind == OutboxKind.MAIL:
                outcome = postman.deliver(row)
            else:
                outcome = webhooks.call(row)
            database.discard()
            if _record(row_id, owner, outcome) is None:
                tally.lost += 1
            elif outcome.delivered:
                tally.delivered += 1
            else:
                tally.failed += 1
    return True


@database.writes
def _expand(row_id: int, owner: str) -> bool:
    """Turn an event into its mails and webhook calls, in one transaction with its end."""
    event = db.session.get(OutboxMessage, row_id, with_for_update=True, populate_existing=True)
    if event is None or event.lease_owner != owner:
        return False
    readers.on_event(event)
    moderators.on_event(event)
    webhooks.on_event(event)
    return outbox.finish(row_id, owner, outbox.Outcome(True)) is not None


@database.writes
def _record(row_id: int, owner: str, outcome: outbox.Outcome) -> OutboxMessage | None:
    """Record an attempt; a webhook's also counts towards pausing it."""
    row = outbox.finish(row_id, owner, outcome)
    if row is not None and row.kind == OutboxKind.WEBHOOK:
        webhooks.count_attempt(row, outcome)
    return row
