"""A spam wave: 200 submissions from one source at once, spread over several app instances
(as several gunicorn workers would be) that share one database."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from helpers import THREAD, make_app

from moderation.extensions import db
from moderation.models import Comment, CommentStatus

WAVE = 200
WORKERS = 4
SPAM_TEXT = "Jetzt kaufen!"


def submission(n: int, form_tokens: dict[int, str]) -> dict:
    payload: dict = {"author": f"Bot {n}", "body": f"Nachricht Nummer {n}"}
    if n in form_tokens:
        payload["form_token"] = form_tokens[n]  # looks like the widget (a token posts once)
    if n % 5 == 0:
        payload["website"] = "http://spam.example"  # the honeypot
    if n % 7 == 0:
        payload["body"] = SPAM_TEXT  # the same text again and again
    if n % 11 == 0:
        payload["body"] += " https://a.example https://b.example https://c.example"
    return payload


@pytest.mark.parametrize(("per_minute", "per_hour", "limit"), [(3, 20, 3), (0, 25, 25)])
def test_every_request_is_accounted_for(
    app: Flask, database_url: str, tmp_path: Path, per_minute: int, per_hour: int, limit: int
) -> None:
    workers = [
        make_app(
            database_url,
            tmp_path,
            RATE_LIMIT_PER_MINUTE=per_minute,
            RATE_LIMIT_PER_HOUR=per_hour,
            DUPLICATE_WINDOW_HOURS=24,
        )
        for _ in range(WORKERS)
    ]
    reader = app.test_client()
    form_tokens = {
        n: reader.get(f"{THREAD}/form-token").get_json()["token"] for n in range(0, WAVE, 3)
    }

    def send(n: int) -> tuple[int, dict, dict]:
        client = workers[n % WORKERS].test_client()
        response = client.post(
            f"{THREAD}/comments",
            json=submission(n, form_tokens),
            environ_base={"REMOTE_ADDR": "203.0.113.99"},
        )
        return response.status_code, response.get_json(), dict(response.headers)

    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(send, range(WAVE)))
    finally:
        for worker in workers:
            with worker.app_context():
                db.session.remove()
                db.engine.dispose()

    statuses = Counter(status for status, _, _ in results)
    assert set(statuses) <= {202, 429}, statuses
    assert statuses[202] == limit  # the limit held across all instances, exactly
    assert statuses[429] == WAVE - limit
    for status, body, headers in results:
        if status == 429:
            assert body["error"] == "rate_limited"
            assert 1 <= int(headers["Retry-After"]) <= 3600
    acknowledged = {body["id"] for status, body, _ in results if status == 202}

    with app.app_context():
        comments = db.session.scalars(db.select(Comment)).all()
        assert {c.id for c in comments} == acknowledged  # nothing lost, nothing extra
        outcome = Counter(
            "spam" if c.status == CommentStatus.SPAM else "held" if c.reasons else "accepted"
            for c in comments
        )
        assert sum(outcome.values()) == limit
        assert set(outcome) <= {"spam", "held", "accepted"}
        repeated = [c for c in comments if c.body_raw == SPAM_TEXT]
        # Concurrent copies of one text: exactly the first is not a duplicate.
        assert sum("duplicate" not in c.reasons for c in repeated) == min(len(repeated), 1)
        db.session.remove()
