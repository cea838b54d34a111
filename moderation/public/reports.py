"""``POST /api/v1/comments/<id>/reports``: a reader reports a published comment (DSA Art. 16).

The same rules as a submission (see :mod:`.api`): no cookies, ``Content-Type:
application/json`` (which makes browsers send a CORS preflight), and an ``Origin`` that the
comment's site allows, checked on the preflight and on the request itself. The use case is
:func:`moderation.reports.file_report`; this module only maps HTTP to it.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request
from flask_babel import force_locale
from werkzeug.exceptions import BadRequest

from .. import reports, rules, sites
from ..errors import Forbidden, InvalidInput, ServiceError
from ..extensions import csrf
from ..models import Comment
from ..privacy import request_source
from .api import WRITE_HEADERS, cors_headers

bp = Blueprint("reports", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # cookie-less JSON API, as the rest of /api/v1
bp.after_request(cors_headers)  # the API's CORS answers, for the origin checked here

REPORTS = "/comments/<int:comment_id>/reports"


def _allow_reports_from(comment: Comment) -> None:
    """Refuse a report from a page the comment's site did not allow."""
    origin = request.headers.get("Origin")
    if not sites.origin_allowed(comment.article.site, origin):
        raise Forbidden(
            f"Pages on {origin} may not report comments of this site.", code="forbidden_origin"
        )
    g.cors_origin = origin


@bp.route(REPORTS, methods=["OPTIONS"], provide_automatic_options=False)
def reports_preflight(comment_id: int) -> Response:
    """The preflight: a published comment (anyone may see those), from an allowed page."""
    _allow_reports_from(reports.published_comment(comment_id))
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = WRITE_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    return response


@bp.post(REPORTS, provide_automatic_options=False)
def post_report(comment_id: int) -> tuple[Response, int]:
    """202 once the report is stored; 404 for a comment that is not published, 403 for a page
    the site does not allow, 415 for anything but JSON, 400 naming each bad field, 429."""
    comment = reports.published_comment(comment_id)
    _allow_reports_from(comment)
    if request.mimetype != "application/json":
        raise ServiceError(
            "Send the report as JSON with Content-Type: application/json.",
            status=415,
            code="unsupported_media_type",
        )
    try:
        data = request.get_json()
    except BadRequest:
        raise InvalidInput("The request body is not valid JSON.", code="invalid_json") from None
    except RecursionError:
        raise InvalidInput("The request body is nested too deeply.", code="invalid_json") from None
    # What the reader is told in the site's language, or the one the widget shows (?lang=).
    wanted = request.args.get("lang")
    language = wanted if wanted in rules.LANGUAGES else comment.article.site.language.value
    with force_locale(language):
        report = reports.file_report(
            comment_id, reports.parse_report(data), source_hash=request_source()
        )
    return jsonify({"id": report.id, "status": "received"}), 202
