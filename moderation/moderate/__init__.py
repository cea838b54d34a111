"""The moderator face: one blueprint at ``/moderate`` with nested ones for each concern.

* :mod:`.auth`: log in (throttled), log out, sessions, the login decorators;
* :mod:`.queue`: the queue, decisions, a comment's history, articles, the moderator's language;
* :mod:`.admin`: moderators and sites (admins only);
* :mod:`.abuse`: bans, the spam-protection page, a site's rules;
* :mod:`.transfer`: a site's Import/Export page and its export downloads (admins only).

The parent owns what every moderator page shares, so it is said once: the layout's context,
error pages in the moderator's language, the refusal of text no database can store, and the
security headers. Views are thin: they read a form, call one use case, and answer. Every state
change is a POST whose CSRF token ``CSRFProtect`` checks before the view runs. Without
JavaScript a POST redirects back (post/redirect/get); ``static/moderate.js`` sends the same
POSTs with ``Accept: application/json`` and gets a small JSON answer, so the queue updates in
place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from .. import rules
from ..errors import InvalidInput, ServiceError
from ..i18n import current_locale, error_message
from ..models import CommentStatus
from . import abuse, admin, auth, newsroom, pages, queue, settings, stats, transfer, webhooks
from .auth import is_moderator_page, load_moderator

bp = Blueprint("moderate", __name__, url_prefix=auth.PREFIX)
for child in (auth.bp, queue.bp, admin.bp, abuse.bp):
    bp.register_blueprint(child)
bp.register_blueprint(webhooks.bp)
bp.register_blueprint(settings.bp)  # the moderator's own mail settings
bp.register_blueprint(stats.bp)  # statistics with charts, and their CSV
bp.register_blueprint(newsroom.bp)  # staff replies and editors' picks
bp.register_blueprint(transfer.bp)  # a site's past imports and its exports (admins only)


def common() -> dict[str, Any]:
    """What every moderator page's layout shows: who is signed in, the pending count."""
    if not is_moderator_page():
        return {}
    if "moderator" not in g:  # an error raised before our hooks ran (a missing CSRF token)
        load_moderator()
    moderator = g.get("moderator")
    return {
        "html_lang": current_locale(),
        "moderator": moderator,
        "pending_count": pages.pending() if moderator else 0,
        "pending_cap": pages.PENDING_CAP,
        "statuses": list(CommentStatus),
    }


def service_error(error: ServiceError) -> Response:
    return pages.error_page(error.status, error_message(error.code, error.message), error.headers)


def http_error(error: HTTPException) -> Response:
    """Errors werkzeug and Flask-WTF raise (a missing CSRF token, 404, 405) on our pages."""
    status = error.code or 500
    if isinstance(error, CSRFError):
        message = gettext(
            "The form is too old or did not come from this page (CSRF). "
            "Please reload the page and try again."
        )
    elif status == 404:
        message = gettext("This page does not exist.")
    else:
        message = error.description or error.name
    allow = {key: value for key, value in error.get_headers() if key == "Allow"}
    return pages.error_page(status, message, allow)


class IdConverter(BaseConverter):
    """``<id:name>`` in a route: a row's id, in ASCII digits.

    werkzeug's ``int`` converter also takes digits of other scripts ("١٢" found comment 12).
    A number too large to be an id comes through as it is; the use cases answer it with "no
    such comment" before asking the database (see :func:`rules.is_row_id`). Longer digit
    strings than any number a database holds are no URL of ours at all (404).
    """

    regex = r"[0-9]{1,30}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(int(value))


def _request_texts() -> Iterator[str]:
    for values in (request.args, request.form):
        for key, items in values.lists():
            yield key
            yield from items
    yield from (v for v in (request.view_args or {}).values() if isinstance(v, str))


def refuse_unstorable_text() -> None:
    """Answer 400 before a view runs when a query, form or path value holds :data:`UNSTORABLE`.

    One check for every moderator page, instead of one per field: search boxes, notes, ban
    reasons, word lists and site settings all end up in a query. No moderator form, filter
    or link needs either character.
    """
    if any(rules.UNSTORABLE.search(text) for text in _request_texts()):
        raise InvalidInput(
            gettext("The request contains characters that cannot be stored (such as NUL)."),
            code="unstorable_text",
        )


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def secure_headers(response: Response) -> Response:
    """Moderator pages are private, never cached, never framed, and run only our own JS."""
    if is_moderator_page():
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _load() -> None:
    if is_moderator_page():
        load_moderator()


bp.register_error_handler(ServiceError, service_error)
bp.register_error_handler(HTTPException, http_error)
bp.before_request(refuse_unstorable_text)
# By path, not on the blueprint: a /moderate/ URL that matches no route (a 404) belongs to no
# blueprint, and still gets the moderator layout, the signed-in moderator and the headers.
bp.before_app_request(_load)
bp.after_app_request(secure_headers)
bp.app_context_processor(common)


def init_app(app: Flask) -> None:
    app.url_map.converters["id"] = IdConverter  # before the routes that use it
    app.register_blueprint(bp)
    app.jinja_env.filters["reader_text"] = pages.reader_text
    app.jinja_env.filters["reader_plain"] = pages.reader_plain
    app.jinja_env.filters["hidden_characters"] = pages.hidden_characters
    app.jinja_env.filters["own_site_url"] = pages.own_site_url
    app.jinja_env.globals["ban_periods"] = abuse.PERIODS
    app.jinja_env.filters["ban_period_label"] = abuse.period_label
