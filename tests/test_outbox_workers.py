"""Delivery workers as operators run them: separate processes, several at once, killed or stopped.

Each test starts real ``flask --app wsgi outbox work`` processes, configured only through
``MODERATION_*`` variables, against the test's database (one SQLite file, or PostgreSQL) and a
real SMTP server in the test process. Mails are counted by their Message-ID, which carries the
outbox row's delivery id: two workers deliver every queued mail, none twice; a worker killed
with SIGKILL leaves its leased rows to the other once the lease runs out, and at most the one
mail it had on the wire goes out again, with the same delivery id; SIGTERM lets a worker finish
the mail in hand, give back its leases and exit 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from helpers import deliver, outbox_rows
from servers import MailServer, OutboxWorker, delivery_ids

from moderation.extensions import db
from moderation.models import OutboxKind, OutboxState
from moderation.notify import mail, outbox

MAILS = 500


@pytest.fixture
def start_workers(database_url: str, tmp_path: Path) -> Iterator[Callable[..., list[OutboxWorker]]]:
    """Starts ``count`` workers side by side on the test's database, sending to ``server``,
    and returns once each polls; kills what is left at the end."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    started: list[OutboxWorker] = []

    def start(server: MailServer, count: int = 1, lease_seconds: int = 30) -> list[OutboxWorker]:
        env = {
            "MODERATION_DATABASE_URL": database_url,
            "MODERATION_INSTANCE_PATH": str(tmp_path / "worker-instance"),
            "MODERATION_SECRET_KEY": "test-secret-key",
            "MODERATION_PUBLIC_URL": "https://comments.example.org",
            "MODERATION_MAIL_BACKEND": "smtp",
            "MODERATION_MAIL_SERVER": "127.0.0.1",
            "MODERATION_MAIL_PORT": str(server.port),
            "MODERATION_OUTBOX_LEASE_SECONDS": str(lease_seconds),
            "MODERATION_OUTBOX_POLL_SECONDS": "0.1",
        }
        workers = []
        for _ in range(count):
            log = tmp_path / f"worker-{len(started)}.log"
            workers.append(OutboxWorker(env, log=log, base_env=base))
            started.append(workers[-1])
        for worker in workers:
            worker.wait_ready()
        return workers

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


def queue_mails(app: Flask, count: int) -> list[str]:
    """Queue ``count`` mails in one transaction; their delivery ids."""
    with app.app_context():
        with mail.language("de"):
            content = mail.compose("base", subject="Neuer Kommentar")
        rows = [outbox.add_mail("test", f"leser{n}@example.org", content) for n in range(count)]
        db.session.commit()
        ids = [row.delivery_id for row in rows]
        db.session.remove()
    return ids


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def pending(app: Flask) -> int:
    return len(outbox_rows(app, state=OutboxState.PENDING))


def test_two_workers_deliver_every_mail_once(
    app: Flask, mail_server: MailServer, start_workers: Callable[..., list[OutboxWorker]]
) -> None:
    workers = start_workers(mail_server, 2)
    ids = queue_mails(app, MAILS)  # both workers are polling: they compete for every batch

    wait_for(lambda: pending(app) == 0, "the outbox is empty")
    assert [worker.stop() for worker in workers] == [0, 0]

    counts = delivery_ids(mail_server)
    assert set(counts) == set(ids), "lost or unknown mails"
    assert [i for i, n in counts.items() if n > 1] == [], "mails sent twice"
    assert {row.state for row in outbox_rows(app)} == {OutboxState.DELIVERED}
    shares = [worker.delivered() for worker in workers]
    assert sum(shares) == MAILS and min(shares) > 0, shares


def test_a_killed_workers_rows_are_taken_over_once_its_lease_runs_out(
    app: Flask, mail_server: MailServer, start_workers: Callable[..., list[OutboxWorker]]
) -> None:
    lease = 4
    victim, survivor = start_workers(mail_server, 2, lease)
    ids = queue_mails(app, MAILS)
    wait_for(lambda: sum(delivery_ids(mail_server).values()) >= 100, "100 mails arrived")

    # Freeze the victim while it holds leases, to know which rows it leaves behind.
    for _ in range(500):
        victim.process.send_signal(signal.SIGSTOP)
        held = [
            r for r in outbox_rows(app, state=OutboxState.PENDING) if r.lease_owner == victim.owner
        ]
        if held:
            break
        victim.process.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    assert held, "the victim never held a lease"
    assert victim.stop(signal.SIGKILL) == -signal.SIGKILL
    # Nothing else is started: the survivor alone must deliver the victim's rows.
    wait_for(lambda: pending(app) == 0, "the outbox is empty")
    assert survivor.stop() == 0

    counts = delivery_ids(mail_server)
    assert set(counts) == set(ids), "lost mails"
    twice = {i: n for i, n in counts.items() if n > 1}
    # Only the mail the victim had on the wire may have gone out again, with its delivery id.
    assert len(twice) <= 1 and set(twice.values()) <= {2}, twice
    assert set(twice) <= {row.delivery_id for row in held}, twice
    rows = {row.id: row for row in outbox_rows(app)}
    assert {row.state for row in rows.values()} == {OutboxState.DELIVERED}
    for row in held:  # taken over only once the victim's lease had run out
        taken_over = rows[row.id]
        assert taken_over.delivered_at is not None and row.lease_until is not None
        assert taken_over.delivered_at >= row.lease_until
        assert taken_over.attempts == 1  # the victim never recorded an attempt


class SlowMailServer(MailServer):
    """A mail server that takes ``delay`` seconds to accept each mail, and counts the mails
    it has begun to accept: a worker then has a mail in hand for a while."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.begun = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.begun += 1
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_mail_server() -> Iterator[SlowMailServer]:
    server = SlowMailServer(delay=0.5)
    server.start()
    yield server
    server.stop()


def test_sigterm_finishes_the_mail_in_hand_and_gives_back_the_leases(
    app: Flask, slow_mail_server: SlowMailServer, start_workers: Callable[..., list[OutboxWorker]]
) -> None:
    server = slow_mail_server
    (worker,) = start_workers(server, lease_seconds=600)
    ids = queue_mails(app, 6)
    # Stop it while the server is still accepting its third mail.
    wait_for(lambda: server.begun == 3, "the third mail is on the wire", timeout=30)
    assert len(server.messages) == 2
    code = worker.stop(signal.SIGTERM)

    assert code == 0, worker.output()
    counts = delivery_ids(server)
    assert sorted(counts.values()) == [1, 1, 1], "the mail in hand was not finished"
    rows = outbox_rows(app, kind=OutboxKind.MAIL)
    delivered = {row.delivery_id for row in rows if row.state == OutboxState.DELIVERED}
    assert delivered == set(counts) == set(ids[:3])
    left = [row for row in rows if row.state == OutboxState.PENDING]
    assert len(left) == 3
    assert [(row.lease_owner, row.lease_until) for row in left] == [(None, None)] * 3
    assert worker.delivered() == 3

    # Given back, not left to a 10-minute lease: the next worker sends them at once.
    app.config.update(server.config)
    assert deliver(app).delivered == 3
    assert set(delivery_ids(server)) == set(ids)


def test_a_lease_shorter_than_the_webhook_margin_still_delivers(
    app: Flask, mail_server: MailServer
) -> None:
    # A row is begun only while WEBHOOK_TIMEOUT + 15 s of its lease are left, at most half of
    # it: with that margin alone, a 4-second lease never let anything be sent.
    app.config.update(OUTBOX_LEASE_SECONDS=4, WEBHOOK_TIMEOUT=5)
    ids = queue_mails(app, 3)
    assert deliver(app).delivered == 3
    assert set(delivery_ids(mail_server)) == set(ids)
