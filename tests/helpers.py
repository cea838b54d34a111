"""Small helpers shared by the tests."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

THREAD = "/api/v1/sites/demo/articles/politik/2026/russland-usa"


def post_comment(
    client: FlaskClient,
    thread: str = THREAD,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> TestResponse:
    payload = {"author": "Anna", "body": "Ein guter Artikel."} | fields
    return client.post(f"{thread}/comments", json=payload, headers=headers or {})


def approve(client: FlaskClient, comment_id: int) -> None:
    from moderation.review import Actor, decide

    with client.application.app_context():
        decide(comment_id, "approve", Actor("test"))
