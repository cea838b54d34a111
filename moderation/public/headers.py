"""The headers of the approved list's answers, made in one place.

:mod:`moderation.public.api` (the Flask view) and :mod:`moderation.public.fast_path` (which
answers the same requests before Flask) must give the same answer; both take it from here.
"""

from __future__ import annotations

# Anyone may read; the widget reads the ETag to send it back.
READ_CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "ETag"),
)


def list_headers(
    etag: str | None, max_age: int, body: bytes | None = None
) -> list[tuple[str, str]]:
    """The headers of an approved-list answer: a ``304`` (no body) or a ``200`` with ``body``.

    ``etag`` None: the list changed while it was read; correct, but not to be reused
    (``no-store``). The read CORS headers are those the API adds to every GET (the fast path
    skips Flask, and with it that hook).
    """
    headers = []
    if body is not None:
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if etag is None:
        headers.append(("Cache-Control", "no-store"))
    else:
        headers += [("ETag", f'"{etag}"'), ("Cache-Control", f"public, max-age={max_age}")]
    headers.extend(READ_CORS_HEADERS)
    return headers
