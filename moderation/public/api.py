"""The public JSON API, version 1: what the widget on an article page talks to.

No cookies are read or set here, so there is no ambient credential a foreign page could ride
on. Reading is public (``Access-Control-Allow-Origin: *``). Writing needs
``Content-Type: application/json``, which makes browsers send a CORS preflight first, and an
``Origin`` the site allows; both the preflight and the request itself check it.
"""

from __future__ import annotations

from typing import overload

from flask import Blueprint, Flask, Request, Response, current_app, g, jsonify, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import force_locale
from werkzeug.exceptions import BadRequest

from .. import approved, form_tokens, sites
from ..errors import Forbidden, InvalidInput, NotFound, ServiceError
from ..extensions import csrf, db
from ..i18n import reader_language
from ..models import Article, Site, SiteSnapshot
from ..privacy import request_source
from ..rules import MAX_ID
from ..submission import (
    parse_submission,
    submit_comment,
    validate_article_key,
    withdraw_comment,
)
from . import openapi
from .headers import READ_CORS_HEADERS, cache_control, list_headers

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # cookie-less JSON API; see the module docstring

THREAD = "/sites/<site>/articles/<path:article>"
COMMENT = "/comments/<int:comment_id>"
WRITE_HEADERS = "Content-Type, X-Comment-Token"


class SessionsOutsideTheApi(SecureCookieSessionInterface):
    """Cookie sessions for the moderator pages, none under ``/api/``.

    The API reads and sets no cookies (see the module docstring), so it gets Flask's null
    session: nothing is decoded or signed on the hot path, and no view here could set a cookie
    by accident (writing to a null session raises).
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def _allow_writes_from(site: Site | SiteSnapshot) -> None:
    """Refuse a write from a page the site did not allow; allowed pages may read the answer."""
    origin = request.headers.get("Origin")
    if not sites.origin_allowed(site, origin):
        raise Forbidden(
            f"Pages on {origin} may not post comments to this site.", code="forbidden_origin"
        )
    g.cors_origin = origin


def _preflight(methods: str) -> Response:
    """The answer to a CORS preflight whose origin was checked (``g.cors_origin``)."""
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = methods
    response.headers["Access-Control-Allow-Headers"] = WRITE_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    return response


@bp.after_request
def cors_headers(response: Response) -> Response:
    if g.get("private_read"):
        # Readable only by the pages the site allows (see form_token); no wildcard.
        if g.get("cors_origin"):
            response.headers["Access-Control-Allow-Origin"] = g.cors_origin
        response.vary.add("Origin")
    elif request.method in ("GET", "HEAD"):
        for name, value in READ_CORS_HEADERS:
            response.headers[name] = value
    elif g.get("cors_origin"):
        response.headers["Access-Control-Allow-Origin"] = g.cors_origin
        # The widget tells a rate-limited reader how long to wait.
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.vary.add("Origin")
    return response


@overload
def _int_arg(name: str, default: int, low: int, high: int | None = None) -> int: ...
@overload
def _int_arg(name: str, default: None, low: int, high: int | None = None) -> int | None: ...
def _int_arg(name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    """The query argument ``name`` as a whole number from ``low`` to ``high``, or ``default``
    when it is absent or empty; raises :class:`InvalidInput` for anything else."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise InvalidInput(f"{name} must be a whole number {bound}.", fields={name: "Invalid."})
    return value


@bp.get(f"{THREAD}/comments", provide_automatic_options=False)
def list_comments(site: str, article: str) -> Response:
    validate_article_key(article)
    limit = _int_arg(
        "limit",
        int(current_app.config["LIST_DEFAULT_LIMIT"]),
        1,
        int(current_app.config["LIST_MAX_LIMIT"]),
    )
    sort = request.args.get("sort") or "oldest"
    if sort not in approved.SORTS:
        raise InvalidInput("sort must be oldest, newest or featured.", fields={"sort": "Invalid."})
    # A cursor is an id; with sort=featured, a negative one is a place among the picks.
    after = _int_arg("after", None, -MAX_ID if sort == "featured" else 0, MAX_ID)
    state = approved.thread_state(site, article)
    etag = state.etag(limit, after, sort)
    policy = cache_control(current_app.config)
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=list_headers(etag, policy))
    # Built once per article version, page and order, then served from this worker's memory.
    page = approved.page(state, limit, after, sort)
    return Response(page.body, headers=list_headers(page.etag, policy, page.body))


@bp.route(f"{THREAD}/comments", methods=["OPTIONS"], provide_automatic_options=False)
def comments_preflight(site: str, article: str) -> Response:
    validate_article_key(article)
    _allow_writes_from(sites.snapshot(site))
    return _preflight("GET, POST")


@bp.post(f"{THREAD}/comments", provide_automatic_options=False)
def post_comment(site: str, article: str) -> tuple[Response, int]:
    the_site = sites.snapshot(site)
    _allow_writes_from(the_site)
    if request.mimetype != "application/json":
        raise ServiceError(
            "Send the comment as JSON with Content-Type: application/json.",
            status=415,
            code="unsupported_media_type",
        )
    try:
        data = request.get_json()
    except BadRequest:
        raise InvalidInput("The request body is not valid JSON.", code="invalid_json") from None
    except RecursionError:  # arrays or objects nested a thousand deep
        raise InvalidInput("The request body is nested too deeply.", code="invalid_json") from None
    # What the reader is told (field errors, closed, paused, rate limit) in the site's language,
    # or in the one the widget shows (?lang=).
    with force_locale(reader_language(the_site)):
        accepted = submit_comment(
            the_site, article, parse_submission(data), source_hash=request_source()
        )
    # Spam gets the same answer as everyone: bots learn nothing from it. A trusted reader's
    # comment is published at once (moderation.trust).
    status = "approved" if accepted.approved else "pending"
    body = {"id": accepted.comment_id, "status": status, "token": accepted.token}
    return jsonify(body), 202


@bp.get(f"{THREAD}/form-token")
def form_token(site: str, article: str) -> Response:
    """A fresh signed form token for the widget's comment form (see :mod:`form_tokens`).

    Also what the form needs to know before it is shown: the site's language, whether
    commenting is closed, and the length limits (for the remaining-characters counter).

    Only the site's own pages may read it (CORS for the allowed origins, no wildcard): a token
    that any page's script could fetch would let any page post in its visitors' names.
    """
    validate_article_key(article)
    the_site = sites.snapshot(site)
    g.private_read = True
    _allow_writes_from(the_site)
    closed = the_site.paused or bool(
        db.session.scalar(
            db.select(Article.closed).where(Article.site_id == the_site.id, Article.key == article)
        )
    )
    response = jsonify(
        {
            "token": form_tokens.issue(the_site.slug, article),
            "language": the_site.language.value,
            "closed": closed,
            "limits": {
                "author": int(current_app.config["MAX_AUTHOR_LENGTH"]),
                "body": int(current_app.config["MAX_BODY_LENGTH"]),
            },
        }
    )
    response.cache_control.no_store = True
    return response


@bp.get("/sites/<site>/counts")
def counts(site: str) -> Response:
    keys = request.args.getlist("article")
    limit = int(current_app.config["COUNTS_MAX_ARTICLES"])
    if not keys:
        raise InvalidInput(
            "Name at least one article: ?article=A&article=B.", fields={"article": "Missing."}
        )
    if len(keys) > limit:
        raise InvalidInput(
            f"Ask for at most {limit} articles at once.", fields={"article": "Too many."}
        )
    for key in keys:
        validate_article_key(key)
    response = jsonify({"counts": approved.counts(site, keys)})
    # Revalidated like the list: an ETag of the answer, so a browser's check is a 304.
    response.add_etag()
    response.headers["Cache-Control"] = cache_control(current_app.config)
    response.make_conditional(request)  # in place: a 304 when the ETag matches
    return response


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """This API's OpenAPI 3.1 document (see :mod:`moderation.public.openapi`)."""
    return jsonify(openapi.document())


@bp.route(COMMENT, methods=["OPTIONS"], provide_automatic_options=False)
def comment_preflight(comment_id: int) -> Response:
    """Allowed for a page of any site here: the answer must not tell which ids exist.

    The DELETE itself is checked against the comment's own site, once its token has proved
    that the sender knows the comment.
    """
    if not 1 <= comment_id <= MAX_ID:  # no id at all: saying so tells nothing
        raise NotFound(f"There is no comment {comment_id}.", code="unknown_comment")
    origin = request.headers.get("Origin")
    if not sites.origin_known(origin):
        raise Forbidden(
            f"Pages on {origin} may not withdraw comments here.", code="forbidden_origin"
        )
    g.cors_origin = origin
    return _preflight("DELETE")


@bp.delete(COMMENT, provide_automatic_options=False)
def delete_comment(comment_id: int) -> Response:
    """Withdraw a comment; a missing comment and a wrong token get the same answer."""
    comment = withdraw_comment(
        comment_id,
        request.headers.get("X-Comment-Token"),
        allow=_allow_writes_from,
    )
    return jsonify({"id": comment.id, "status": comment.status.value})
