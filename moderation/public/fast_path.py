"""The approved list's hottest requests, answered in front of Flask.

Every article view asks for its approved list, and most of those requests are either a
conditional GET whose ETag still matches (``304``) or a page this worker already holds in its
page cache (``200``). For those two answers the work is one indexed query and a dictionary
lookup, yet Flask's request handling around them (request context, matching the URL against
every route of the app, the before/after-request hooks, building the response) costs more than
the answer itself. :class:`FastPath` wraps the app's WSGI callable and gives exactly those two
answers without entering Flask, and the counts of plain counts requests
(:meth:`FastPath.counts`, equal to :func:`moderation.public.api.counts`); every other request
goes to Flask unchanged.

It must stay equal to :func:`moderation.public.api.list_comments`: the same status, headers
and body for every request it answers. That is why it reuses the view's parts rather than
copies of them: :func:`moderation.approved.thread_state` (with its ``LIST_STATE_TTL``),
:meth:`~moderation.approved.ThreadState.etag`, the page cache and
:func:`~moderation.approved.page_key`, :func:`moderation.submission.validate_article_key`,
werkzeug's ``If-None-Match`` parsing, and :func:`moderation.public.headers.list_headers`
(which also holds the read CORS headers that the blueprint's after-request hook adds).
Whatever it is unsure of, it leaves to Flask: another method or path, an invalid article key,
a query string other than the plain ``limit``/``after`` numbers and ``sort`` names the view
accepts, an unknown
site, a page not in the cache, and any exception. Flask then gives its own answer, errors
included. ``tests/test_fast_path.py`` compares the two answers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from flask import Flask, Response
from werkzeug.http import generate_etag, http_date, parse_etags

from .. import approved
from ..errors import ServiceError
from ..rules import MAX_ID, is_article_key
from ..submission import validate_article_key
from .headers import READ_CORS_HEADERS, cache_control, list_headers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

# The list's route, api.THREAD + "/comments": <site> as werkzeug's default converter ([^/]+),
# <path:article> as its path converter (greedy, so "a/comments/comments" is article
# "a/comments", as in Flask).
LIST_PATH = re.compile(r"/api/v1/sites/([^/]+)/articles/(.+)/comments")
# A parameter as the fast path takes it: plain ASCII digits, at most as many as MAX_ID has.
NUMBER = re.compile(r"[0-9]{1,10}")
# The counts' route, api.counts: "/sites/<site>/counts".
COUNTS_PATH = re.compile(r"/api/v1/sites/([^/]+)/counts")
# Conditions other than If-None-Match (and ranges): werkzeug's make_conditional weighs them,
# so such a counts request goes to Flask.
OTHER_CONDITIONS = (
    "HTTP_IF_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_IF_RANGE",
    "HTTP_RANGE",
)

STATUS_200 = "200 OK"
STATUS_304 = "304 NOT MODIFIED"  # werkzeug's wording, so the status line is Flask's too


class FastPath:
    """WSGI middleware: ``app.wsgi_app = FastPath(app, app.wsgi_app)`` (outermost)."""

    def __init__(self, flask_app: Flask, wsgi_app: WSGIApplication) -> None:
        self.flask_app = flask_app
        self.app = wsgi_app  # what answers everything else: Flask, possibly behind ProxyFix

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        answer = None
        if environ.get("REQUEST_METHOD") == "GET":
            try:
                answer = self.answer(environ)
            except Exception:  # Flask handles the request again, and its error if there is one
                log.debug("fast path fell through on an exception", exc_info=True)
        if answer is None:
            return self.app(environ, start_response)
        status, headers, body = answer
        start_response(status, headers)
        return [body]

    def answer(self, environ: WSGIEnvironment) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """The status, headers and body of the answer, or None: let Flask answer."""
        path = environ.get("PATH_INFO", "")
        if not path.isascii():
            return None
        match = LIST_PATH.fullmatch(path)
        if match is None:
            counts = COUNTS_PATH.fullmatch(path)
            return None if counts is None else self.counts(environ, counts.group(1))
        site, article = match.groups()
        config = self.flask_app.config
        params = page_params(
            environ.get("QUERY_STRING", ""),
            int(config["LIST_DEFAULT_LIMIT"]),
            int(config["LIST_MAX_LIMIT"]),
        )
        if params is None:
            return None
        limit, after, sort = params
        try:
            validate_article_key(article)
            state = approved.thread_state(site, article, self.flask_app)
        except ServiceError:  # a bad key (400) or an unknown site (404): Flask says so
            return None
        etag = state.etag(limit, after, sort)
        policy = cache_control(config)
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match and parse_etags(if_none_match).contains(etag):
            return STATUS_304, list_headers(etag, policy), b""
        page = approved.page_cache(self.flask_app).get(approved.page_key(state, limit, after, sort))
        if page is None:  # Flask builds it (and caches it for the next request)
            return None
        return STATUS_200, list_headers(page.etag, policy, page.body), page.body

    def counts(
        self, environ: WSGIEnvironment, site: str
    ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """The answer of :func:`moderation.public.api.counts` for a plain request, or None.

        The same body (the app's JSON provider, as ``jsonify`` uses it), ETag (werkzeug's,
        of the body), headers and ``304`` rule (werkzeug's ``make_conditional``: a weak match
        of ``If-None-Match``, and a ``Date``). Requests with other conditions or ranges, and
        anything the view would refuse, go to Flask.
        """
        if any(name in environ for name in OTHER_CONDITIONS):
            return None
        config = self.flask_app.config
        keys = article_keys(environ.get("QUERY_STRING", ""), int(config["COUNTS_MAX_ARTICLES"]))
        if keys is None:
            return None
        try:
            found = approved.counts(site, keys, self.flask_app)
        except ServiceError:  # an unknown site (404): Flask says so
            return None
        response = cast(Response, self.flask_app.json.response({"counts": found}))
        body = response.get_data()
        etag = generate_etag(body)
        headers = [
            ("ETag", f'"{etag}"'),
            ("Cache-Control", cache_control(config)),
            ("Date", http_date()),
            *READ_CORS_HEADERS,
        ]
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match and parse_etags(if_none_match).contains_weak(etag):
            return STATUS_304, headers, b""
        length = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        return STATUS_200, length + headers, body


def article_keys(query: str, max_keys: int) -> list[str] | None:
    """The ``article`` parameters of a counts request, or None for anything else.

    Only ``article=KEY`` parts, 1 to ``max_keys`` of them, each a valid article key: those
    are plain URL-safe characters, so the raw query needs no decoding. Anything else (another
    parameter, an encoded or invalid key, too many) goes to Flask, which answers it.
    """
    keys = []
    for part in query.split("&") if query else ():
        name, _, raw = part.partition("=")
        if name != "article" or not is_article_key(raw):
            return None
        keys.append(raw)
    if not 1 <= len(keys) <= max_keys:
        return None
    return keys


def page_params(
    query: str, default_limit: int, max_limit: int
) -> tuple[int, int | None, str] | None:
    """``limit``, ``after`` and ``sort`` as the view reads them, or None for anything else.

    Only ``limit=N`` and ``after=N``, each at most once, as plain digits in the view's ranges
    (``limit`` 1..``max_limit``, ``after`` 0..MAX_ID), and ``sort`` once, naming one of
    :data:`moderation.approved.SORTS`. Anything else (another parameter, an empty or encoded
    value, a repeat, a number out of range, a negative cursor) goes to Flask, which may accept
    it or answer 400; either way the answer is Flask's.
    """
    values: dict[str, int] = {}
    sort = None
    if query:
        for part in query.split("&"):
            name, _, raw = part.partition("=")
            if name == "sort" and sort is None and raw in approved.SORTS:
                sort = raw
                continue
            if name not in ("limit", "after") or name in values or not NUMBER.fullmatch(raw):
                return None
            values[name] = int(raw)
    limit = values.get("limit", default_limit)
    after = values.get("after")
    if not 1 <= limit <= max_limit or (after is not None and not 0 <= after <= MAX_ID):
        return None
    return limit, after, sort or "oldest"
