"""Several hosts, one PostgreSQL: a decision made through one host is what every host serves next.

Two gunicorn instances ("hosts" A and B, two workers each, their own instance folders) share
one PostgreSQL database and one ``MODERATION_SECRET_KEY``, as docs/deployment.md's "Several
hosts, one PostgreSQL" describes. A reader posts through one host, a moderator logs in and
decides through the other's moderator UI, and the very next list request on *each* host, on
*each* of its workers, shows the decision: no worker serves a list it cached before, and the
ETag each host gave before the decision no longer matches (a 200 with the new list, not a 304).
The reverse too: a rejection or a withdrawal through one host is gone from the other at once.
All with the default ``LIST_STATE_TTL`` (0). PostgreSQL only: SQLite is one host's file.

Each host also runs its own outbox worker (``flask --app wsgi outbox work``, as
docs/deployment.md's systemd unit does): the notifications of comments posted through both
hosts are delivered once each, though both workers claim from the same outbox.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from helpers import THREAD, outbox_rows
from moderator_ui import PASSWORD, TOKEN, add_moderator
from servers import Gunicorn, MailServer, OutboxWorker, delivery_ids

from moderation.extensions import db
from moderation.models import Moderator, NotifyMode, OutboxKind, OutboxState

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

WORKERS = 2
# Requests per host and round: enough that both workers of a host answer some of them (each
# request is a new connection; a sync worker takes one at a time).
ROUNDS = 6
LIST = f"{THREAD}/comments"


def host_env(name: str, database_url: str, tmp_path: Path) -> dict[str, str]:
    """Host ``name``'s settings: its own instance folder, the database and key all share."""
    return {
        "MODERATION_DATABASE_URL": database_url,
        "MODERATION_INSTANCE_PATH": str(tmp_path / f"host-{name}"),
        "MODERATION_SECRET_KEY": "one-key-for-every-host",
        "MODERATION_MIN_SUBMIT_SECONDS": "0",
        "MODERATION_RATE_LIMIT_PER_MINUTE": "0",
        "MODERATION_RATE_LIMIT_PER_HOUR": "0",
    }


@pytest.fixture
def hosts(app: Flask, database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Base URLs of hosts A and B, started side by side on the ``app`` fixture's database."""
    # Only what we set here: no MODERATION_* from the caller's environment (a LIST_STATE_TTL…).
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    servers: dict[str, Gunicorn] = {}
    errors: list[BaseException] = []

    def start(name: str) -> None:
        log = tmp_path / f"host-{name}.log"
        env = host_env(name, database_url, tmp_path)
        try:
            servers[name] = Gunicorn(env, log=log, workers=WORKERS, base_env=base_env)
        except BaseException as error:  # re-raised in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=start, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        if errors:
            raise errors[0]
        yield servers["a"].url, servers["b"].url
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def moderator(app: Flask, hosts: tuple[str, str]) -> requests.Session:
    """A moderator logged in over HTTP through host B.

    Cookies belong to a host name, not a port, so the same session cookie then reaches host A
    too, as it would behind one balancer: it was signed on B and must be accepted on A.
    """
    add_moderator(app)
    session = requests.Session()
    login = f"{hosts[1]}/moderate/login"
    token = _token(session, login)
    data = {"username": "mona", "password": PASSWORD, "csrf_token": token}
    response = session.post(login, data=data, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return session


def _token(session: requests.Session, url: str) -> str:
    match = TOKEN.search(session.get(url, timeout=10).text)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def post_comment(host: str, body: str) -> tuple[int, str]:
    """A reader's comment through ``host``'s API: its id and withdrawal token."""
    response = requests.post(f"{host}{LIST}", json={"author": "Leserin", "body": body}, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()["id"], response.json()["token"]


def decide(moderator: requests.Session, host: str, comment_id: int, decision: str) -> None:
    """A decision through ``host``'s moderator UI (the queue's button, asking for JSON)."""
    response = moderator.post(
        f"{host}/moderate/comments/{comment_id}/{decision}",
        # A rejection names its ground (the statement of reasons), as the card's select does.
        data={"csrf_token": _token(moderator, f"{host}/moderate/"), "ground": "off_topic"},
        headers={"Accept": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["changed"] is True


def listed(host: str, if_none_match: str | None = None) -> tuple[int, list[int], str]:
    """One list request to ``host``: status, ids listed (none on a 304) and ETag."""
    headers = {"If-None-Match": if_none_match} if if_none_match else {}
    response = requests.get(f"{host}{LIST}", headers=headers, timeout=10)
    ids = [c["id"] for c in response.json()["comments"]] if response.status_code == 200 else []
    return response.status_code, ids, response.headers["ETag"]


def etags_before(hosts: tuple[str, str], expected: list[int]) -> dict[str, str]:
    """Every worker of every host has served the list (and may cache it): the ETag per host."""
    etags: dict[str, str] = {}
    for host in hosts:
        answers = {(status, tuple(ids), etag) for status, ids, etag in _rounds(host)}
        assert len(answers) == 1, f"{host} answers differently from one request to the next"
        ((status, ids, etag),) = answers
        assert (status, list(ids)) == (200, expected)
        etags[host] = etag
    return etags


def assert_next_requests_show(
    hosts: tuple[str, str], etags: dict[str, str], expected: list[int]
) -> None:
    """Each host's next requests, revalidating with its old ETag, get the new list."""
    for host in hosts:
        for status, ids, etag in _rounds(host, etags[host]):
            assert status == 200, f"{host} still says 304 for its ETag from before the decision"
            assert ids == expected, host
            assert etag != etags[host], host
        # …and the new ETag revalidates as usual.
        assert listed(host, etag)[0] == 304


def _rounds(host: str, if_none_match: str | None = None) -> list[tuple[int, list[int], str]]:
    return [listed(host, if_none_match) for _ in range(ROUNDS)]


def test_an_approval_on_one_host_shows_on_every_host(
    hosts: tuple[str, str], moderator: requests.Session
) -> None:
    a, b = hosts
    comment_id, _ = post_comment(a, "Geschrieben über Host A, freigegeben über Host B.")
    etags = etags_before(hosts, [])

    decide(moderator, b, comment_id, "approve")

    assert_next_requests_show(hosts, etags, [comment_id])


def test_a_rejection_or_withdrawal_on_one_host_is_gone_from_every_host(
    hosts: tuple[str, str], moderator: requests.Session
) -> None:
    a, b = hosts
    first, _ = post_comment(a, "Wird über Host A abgelehnt.")
    second, token = post_comment(b, "Wird über Host B zurückgezogen.")
    decide(moderator, b, first, "approve")
    decide(moderator, a, second, "approve")
    etags = etags_before(hosts, [first, second])

    decide(moderator, a, first, "reject")  # the session signed on B works on A

    assert_next_requests_show(hosts, etags, [second])
    etags = etags_before(hosts, [second])

    response = requests.delete(
        f"{b}/api/v1/comments/{second}", headers={"X-Comment-Token": token}, timeout=10
    )
    assert response.status_code == 200, response.text

    assert_next_requests_show(hosts, etags, [])


def test_notifications_caused_through_both_hosts_are_delivered_once_each(
    app: Flask,
    hosts: tuple[str, str],
    mail_server: MailServer,
    database_url: str,
    tmp_path: Path,
) -> None:
    add_moderator(app)
    with app.app_context():  # a mail for each new comment (moderators notify --mode each)
        mona = db.session.scalars(db.select(Moderator).filter_by(username="mona")).one()
        mona.notify_email, mona.notify_mode = "mona@newsroom.example", NotifyMode.EACH
        db.session.commit()
        db.session.remove()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    workers = [
        OutboxWorker(
            host_env(name, database_url, tmp_path)
            | {
                "MODERATION_MAIL_BACKEND": "smtp",
                "MODERATION_MAIL_SERVER": "127.0.0.1",
                "MODERATION_MAIL_PORT": str(mail_server.port),
                "MODERATION_OUTBOX_POLL_SECONDS": "0.1",
            },
            log=tmp_path / f"worker-{name}.log",
            base_env=base_env,
        )
        for name in "ab"
    ]
    for worker in workers:
        worker.wait_ready()
    comments = [
        post_comment(host, f"Kommentar {n} über {host}")[0] for n in range(10) for host in hosts
    ]

    def done() -> bool:
        mails = outbox_rows(app, kind=OutboxKind.MAIL)
        return len(mails) == len(comments) and not outbox_rows(app, state=OutboxState.PENDING)

    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, [w.output() for w in workers]
        time.sleep(0.1)
    assert [worker.stop() for worker in workers] == [0, 0]

    events = outbox_rows(app, kind=OutboxKind.EVENT)
    assert sorted(e.comment_id for e in events) == sorted(comments)
    assert {e.state for e in events} == {OutboxState.DELIVERED}  # each expanded once
    mails = outbox_rows(app, kind=OutboxKind.MAIL)
    assert sorted(m.comment_id for m in mails) == sorted(comments)  # one per comment
    assert {(m.recipient, m.state) for m in mails} == {
        ("mona@newsroom.example", OutboxState.DELIVERED)
    }
    assert delivery_ids(mail_server) == Counter(m.delivery_id for m in mails)  # once each
    assert sum(worker.delivered() for worker in workers) == len(mails)
