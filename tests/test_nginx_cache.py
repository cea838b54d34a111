"""nginx's ``proxy_cache`` in front of gunicorn, with the configuration docs/deployment.md prints.

A real nginx (Debian's package; ``.ci/run`` installs it) runs that file's first ``server``
block on a loopback port (:class:`servers.Nginx`) in front of a real gunicorn with
``MODERATION_LIST_SHARED_MAX_AGE=2``. gunicorn's access log counts what reached the service.
Checked: a burst for a list nobody has asked for reaches the service once (``proxy_cache_lock``);
the list and the counts go ``MISS`` → ``HIT``; a browser's ``If-None-Match`` gets nginx's own
``304``; once ``s-maxage`` is over, nginx revalidates with the ETag (the service answers ``304``,
nginx says ``REVALIDATED``), and after an approval the next reader gets the new list.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from helpers import THREAD, approve, post_comment
from servers import NGINX, Gunicorn, Nginx

SHARED_MAX_AGE = 2  # seconds; MODERATION_LIST_SHARED_MAX_AGE for this test's service
LIST = f"{THREAD}/comments"
COUNTS = "/api/v1/sites/demo/counts?article=politik/2026/russland-usa"
BURST = 20  # parallel readers; the documented limit_conn allows 20 per address


class Stack:
    """nginx → gunicorn on the ``app`` fixture's database; ``reached(path)`` counts the service's
    access-log lines for ``path`` with status ``status`` (any when None)."""

    def __init__(self, nginx: Nginx, access_log: Path) -> None:
        self.url = nginx.url
        self.access_log = access_log

    def reached(self, path: str, status: int | None = None) -> int:
        time.sleep(0.2)  # gunicorn writes the line after it has sent the answer
        lines = self.access_log.read_text().splitlines() if self.access_log.exists() else []
        request = f'"GET {path} HTTP/1.1" '  # the documented proxy_http_version
        return sum(
            line.split(request, 1)[1].startswith(f"{status} " if status else "")
            for line in lines
            if request in line
        )


@pytest.fixture
def stack(app: Flask, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    if not os.path.exists(NGINX):
        pytest.skip(f"{NGINX} is missing (Debian package nginx)")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env = {
        "MODERATION_DATABASE_URL": database_url,
        "MODERATION_INSTANCE_PATH": str(tmp_path / "host"),
        "MODERATION_SECRET_KEY": "test-secret-key",
        "MODERATION_TRUSTED_PROXIES": "1",
        "MODERATION_LIST_SHARED_MAX_AGE": str(SHARED_MAX_AGE),
    }
    access_log = tmp_path / "access.log"
    service = Gunicorn(
        env, log=tmp_path / "gunicorn.log", access_log=access_log, workers=2, base_env=base_env
    )
    try:
        nginx = Nginx(f"127.0.0.1:{service.port}", tmp_path / "nginx")
        try:
            yield Stack(nginx, access_log)
        finally:
            nginx.stop()
    finally:
        service.stop()


def published(client: FlaskClient, body: str) -> int:
    response = post_comment(client, body=body)
    assert response.status_code == 202, response.get_json()
    approve(client, response.get_json()["id"])
    return response.get_json()["id"]


def test_a_burst_reaches_the_service_once(client: FlaskClient, stack: Stack) -> None:
    published(client, "Erster Kommentar.")
    start = threading.Barrier(BURST)
    answers: list[requests.Response] = []

    def read() -> None:
        start.wait()
        answers.append(requests.get(stack.url + LIST, timeout=10))

    threads = [threading.Thread(target=read) for _ in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.status_code for a in answers] == [200] * BURST
    assert len({a.content for a in answers}) == 1
    statuses = sorted(a.headers["X-Cache-Status"] for a in answers)
    assert statuses == ["HIT"] * (BURST - 1) + ["MISS"], statuses
    assert stack.reached(LIST) == 1


def test_cached_revalidated_and_fresh_after_a_decision(client: FlaskClient, stack: Stack) -> None:
    first_id = published(client, "Erster Kommentar.")
    first = requests.get(stack.url + LIST, timeout=10)
    assert first.headers["X-Cache-Status"] == "MISS"
    assert first.headers["Cache-Control"] == (
        f"public, max-age=0, must-revalidate, s-maxage={SHARED_MAX_AGE}"
    )
    assert [c["id"] for c in first.json()["comments"]] == [first_id]
    assert requests.get(stack.url + LIST, timeout=10).headers["X-Cache-Status"] == "HIT"
    # A browser revalidating: nginx answers 304 from its copy.
    again = requests.get(stack.url + LIST, headers={"If-None-Match": first.headers["ETag"]})
    assert (again.status_code, again.headers["X-Cache-Status"]) == (304, "HIT")
    assert stack.reached(LIST) == 1

    # s-maxage over, nothing decided: nginx asks with the ETag, the service says 304.
    time.sleep(SHARED_MAX_AGE + 1.1)  # nginx counts whole seconds
    renewed = requests.get(stack.url + LIST, timeout=10)
    assert (renewed.status_code, renewed.headers["X-Cache-Status"]) == (200, "REVALIDATED")
    assert renewed.content == first.content
    assert stack.reached(LIST, 304) == 1
    assert requests.get(stack.url + LIST, timeout=10).headers["X-Cache-Status"] == "HIT"

    # A decision: within s-maxage a reader may get the stored list; after it, the new one.
    second_id = published(client, "Zweiter Kommentar.")
    time.sleep(SHARED_MAX_AGE + 1.1)  # nginx counts whole seconds
    fresh = requests.get(stack.url + LIST, timeout=10)
    assert fresh.headers["X-Cache-Status"] in {"EXPIRED", "REVALIDATED"}
    assert [c["id"] for c in fresh.json()["comments"]] == [first_id, second_id]
    assert fresh.headers["ETag"] != first.headers["ETag"]
    assert stack.reached(LIST, 200) == 2
    assert requests.get(stack.url + LIST, timeout=10).json() == fresh.json()


def test_counts_are_cached_and_errors_are_not(client: FlaskClient, stack: Stack) -> None:
    published(client, "Erster Kommentar.")
    first = requests.get(stack.url + COUNTS, timeout=10)
    assert first.json() == {"counts": {"politik/2026/russland-usa": 1}}
    assert first.headers["X-Cache-Status"] == "MISS"
    assert requests.get(stack.url + COUNTS, timeout=10).headers["X-Cache-Status"] == "HIT"
    assert stack.reached(COUNTS) == 1

    unknown = "/api/v1/sites/nirgendwo/counts?article=a"
    for _ in range(2):
        answer = requests.get(stack.url + unknown, timeout=10)
        assert answer.status_code == 404
        assert answer.headers["X-Cache-Status"] == "MISS"
    assert stack.reached(unknown, 404) == 2
