"""The headers of the approved list's answers, made in one place.

:mod:`moderation.public.api` (the Flask view) and :mod:`moderation.public.fast_path` (which
answers the same requests before Flask) must give the same answer; both take it from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Anyone may read; the widget reads the ETag to send it back.
READ_CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "ETag"),
)


def cache_control(config: Mapping[str, Any]) -> str:
    """``Cache-Control`` of the approved list and the counts.

    Browsers revalidate every time (``max-age=0, must-revalidate``: the ETag makes that a cheap
    ``304``), so a reader sees a moderator's decision on the next load; shared caches in front
    (a CDN, nginx) may answer for ``LIST_SHARED_MAX_AGE`` seconds without asking. Not
    ``no-cache``: that binds shared caches too, and nginx then stores nothing. ``LIST_MAX_AGE``
    above 0 lets browsers reuse an answer that long instead, for operators who prefer fewer
    requests to fresh lists.
    """
    browser_age = int(config["LIST_MAX_AGE"])
    browser = f"max-age={browser_age}" if browser_age > 0 else "max-age=0, must-revalidate"
    return f"public, {browser}, s-maxage={int(config['LIST_SHARED_MAX_AGE'])}"


def list_headers(
    etag: str | None, cache_policy: str, body: bytes | None = None
) -> list[tuple[str, str]]:
    """The headers of an approved-list answer: a ``304`` (no body) or a ``200`` with ``body``.

    ``cache_policy`` is :func:`cache_control`'s. ``etag`` None: the list changed while it was
    read; correct, but not to be reused (``no-store``). The read CORS headers are those the
    API adds to every GET (the fast path skips Flask, and with it that hook).
    """
    headers = []
    if body is not None:
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if etag is None:
        headers.append(("Cache-Control", "no-store"))
    else:
        headers += [("ETag", f'"{etag}"'), ("Cache-Control", cache_policy)]
    headers.extend(READ_CORS_HEADERS)
    return headers
