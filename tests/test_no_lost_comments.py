"""No acknowledged comment is lost: real gunicorn, several workers, hundreds of submissions at once.

Runs on SQLite (where concurrent writers meet ``database is locked``) and on PostgreSQL. Every
``202`` answer names an id; afterwards that id must hold exactly the comment that was sent, and
no request may have got a 5xx. The second test SIGKILLs a worker in the middle of the burst:
requests on that worker may fail (their connection drops), but whatever was acknowledged is
there, and gunicorn replaces the worker.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from servers import Gunicorn
from sqlalchemy import select

from moderation.extensions import db
from moderation.models import Article, Comment

WORKERS = 4
REQUESTS = 300
THREADS = 24
# A few threads share each article, and some articles get their first comment during the burst.
ARTICLES = ["politik/2026/russland-usa", "sport/derby", "wirtschaft/zinsen", "kultur/neu"]


def request(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        payload = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        parsed = json.loads(data) if data.startswith(b"{") else None
        return response.status, parsed
    finally:
        connection.close()


@dataclass
class Burst:
    acknowledged: dict[int, str] = field(default_factory=dict)  # comment id → body sent
    statuses: Counter = field(default_factory=Counter)
    dropped: int = 0  # connections that broke without an answer
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def fire(port: int, count: int = REQUESTS) -> Burst:
    """Send ``count`` distinct comments from ``THREADS`` threads at once."""
    burst = Burst()

    def one(i: int) -> None:
        body = f"Kommentar Nummer {i}: {os.urandom(4).hex()}"
        article = ARTICLES[i % len(ARTICLES)]
        path = f"/api/v1/sites/demo/articles/{article}/comments"
        try:
            status, answer = request(port, "POST", path, {"author": f"Leser {i}", "body": body})
        except (OSError, http.client.HTTPException):
            with burst.lock:
                burst.dropped += 1
                burst.done += 1
            return
        with burst.lock:
            burst.statuses[status] += 1
            if status == 202:
                assert answer is not None
                burst.acknowledged[answer["id"]] = body
            burst.done += 1

    with ThreadPoolExecutor(THREADS) as pool:
        for _ in pool.map(one, range(count)):
            pass
    return burst


def assert_all_stored(app: Flask, burst: Burst) -> None:
    with app.app_context():
        rows = db.session.execute(
            select(Comment.id, Comment.body_raw, Article.key).join(Article)
        ).all()
        db.session.remove()
    bodies = Counter(body for _, body, _ in rows)
    by_id = {comment_id: body for comment_id, body, _ in rows}
    missing = {i: b for i, b in burst.acknowledged.items() if by_id.get(i) != b}
    assert not missing, f"{len(missing)} acknowledged comments are not stored as sent"
    duplicated = [b for b in burst.acknowledged.values() if bodies[b] != 1]
    assert not duplicated, f"stored more than once: {duplicated[:5]}"
    assert len({key for _, _, key in rows}) == len(ARTICLES)  # no duplicate threads either


@pytest.fixture
def server(app: Flask, database_url: str, tmp_path: Path) -> Iterator[Gunicorn]:
    """The service under gunicorn with the production config file, on a loopback port."""
    env = {
        "MODERATION_DATABASE_URL": database_url,
        "MODERATION_INSTANCE_PATH": str(tmp_path / "instance"),
        "MODERATION_SECRET_KEY": "test-secret-key",
        "MODERATION_MIN_SUBMIT_SECONDS": "0",
        "MODERATION_RATE_LIMIT_PER_MINUTE": "0",
        "MODERATION_RATE_LIMIT_PER_HOUR": "0",
    }
    server = Gunicorn(
        env, log=tmp_path / "gunicorn.log", workers=WORKERS, access_log=tmp_path / "access.log"
    )
    yield server
    server.stop()


def test_every_acknowledged_comment_is_stored_once(app: Flask, server: Gunicorn) -> None:
    burst = fire(server.port)
    assert not [s for s in burst.statuses if s >= 500], burst.statuses
    assert burst.dropped == 0
    assert burst.statuses == Counter({202: REQUESTS})
    assert_all_stored(app, burst)


def test_the_access_log_has_no_client_address(app: Flask, server: Gunicorn) -> None:
    assert request(server.port, "GET", "/healthz")[0] == 200
    server.stop()  # flushes the log
    log = server.access_log.read_text()
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert "127.0.0.1" not in log


def test_a_killed_worker_loses_nothing_acknowledged(app: Flask, server: Gunicorn) -> None:
    results: list[Burst] = []
    runner = threading.Thread(target=lambda: results.append(fire(server.port)))
    runner.start()
    # Wait until the burst is well under way, then kill a worker in the middle of it.
    deadline = time.monotonic() + 60
    while not server.workers() or _progress(server) < REQUESTS // 3:
        assert time.monotonic() < deadline, "the burst did not get going"
        time.sleep(0.01)
    victim = server.workers()[0]
    os.kill(victim, signal.SIGKILL)
    runner.join(timeout=120)
    assert results, "the burst did not finish"
    burst = results[0]

    assert not [s for s in burst.statuses if s >= 500], burst.statuses
    assert burst.done == REQUESTS
    assert len(burst.acknowledged) >= REQUESTS // 3
    assert_all_stored(app, burst)
    # gunicorn has replaced the worker, and the service still takes comments.
    deadline = time.monotonic() + 30
    while len(server.workers()) != WORKERS or victim in server.workers():
        assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
        time.sleep(0.1)
    after = fire(server.port, count=20)
    assert after.statuses == Counter({202: 20})
    assert_all_stored(app, after)


def _progress(server: Gunicorn) -> int:
    """Requests answered so far, from the access log (one line per request)."""
    try:
        return server.access_log.read_text().count("POST ")
    except FileNotFoundError:
        return 0
