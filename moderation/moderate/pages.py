"""What every moderator page shares: error pages, reader text made safe to look at, and the
post/redirect/get helpers the views use.

What readers wrote (names, addresses, titles, raw text) is shown through :func:`reader_text`:
escaped, isolated from the page around it, with invisible and direction-changing characters
made visible. An article's title is a reader's claim until a moderator confirms it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from flask import Response, flash, redirect, render_template, request
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from werkzeug.wrappers import Response as HTTPResponse

from .. import database, review, rules, sites
from ..errors import InvalidInput, ServiceError
from ..i18n import error_message
from ..models import Article
from .auth import safe_next


def error_page(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error as a moderator page: the layout, the message in the moderator's language.

    The layout reads the pending count; a transaction that failed on PostgreSQL refuses every
    query until it is rolled back, so the error page starts a fresh one.
    """
    database.discard()
    response = Response(
        render_template("moderate/error.html", status=status, message=message),
        status=status,
        mimetype="text/html",
    )
    response.headers.update(headers or {})
    return response


# Only characters outside printable ASCII can be hidden (see rules.is_hidden).
_CANDIDATE = re.compile(r"[^\x20-\x7e\n\r\t]")
is_hidden = rules.is_hidden


def _marker(char: str) -> str:
    return f"[U+{ord(char):04X}]"


def hidden_characters(text: str | None) -> list[str]:
    """The distinct invisible or direction-changing characters of a text, as ``[U+202E]``."""
    found = (m[0] for m in _CANDIDATE.finditer(text or "") if is_hidden(m[0]))
    return [_marker(char) for char in dict.fromkeys(found)]


def reader_plain(text: str | None) -> str:
    """A reader's text with each hidden character replaced by its visible ``[U+…]`` marker.

    For places that take no markup (the page's ``<title>``); Jinja escapes the result.
    """
    text = text or ""
    return _CANDIDATE.sub(lambda m: _marker(m[0]) if is_hidden(m[0]) else m[0], text)


def reader_text(text: str | None) -> Markup:
    """A reader's text for a moderator page: escaped, isolated, its hidden characters shown.

    Each invisible or direction-changing character becomes a visible ``[U+202E]`` marker in
    a ``<span class="control-char">``, and the whole is wrapped in ``<bdi>``, so nothing a
    reader wrote can reorder the page around it (a name ending in U+202E would otherwise
    reverse the rest of its line: the e-mail, the status, the moderator's name).
    """
    text = text or ""
    parts: list[str] = []
    start = 0
    for match in _CANDIDATE.finditer(text):
        char = match[0]
        if not is_hidden(char):
            continue
        parts.append(escape(text[start : match.start()]))
        name = unicodedata.name(char, "")
        title = Markup(' title="{}"').format(name) if name else ""
        parts.append(Markup('<span class="control-char"{}>{}</span>').format(title, _marker(char)))
        start = match.end()
    parts.append(escape(text[start:]))
    return Markup('<bdi class="reader-text">{}</bdi>').format(Markup("").join(parts))


def own_site_url(article: Article) -> str | None:
    """The article's address when it is on one of its site's own origins; otherwise None.

    The public side checks new addresses (:func:`sites.url_on_site`); rows from before it did
    may hold any address, such as a foreign login page, so the UI checks again.
    """
    url = article.url
    return url if url and sites.url_on_site(article.site, url) else None


PENDING_CAP = 1000  # the nav shows "1000+" beyond this: counting all of a huge queue is slow


def pending() -> int:
    return review.count_pending(cap=PENDING_CAP)


def wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def back(default: str) -> HTTPResponse:
    """Post/redirect/get: back to the page the form came from, if it is one of ours."""
    return redirect(safe_next(request.form.get("next")) or default)


def form_errors(form: Any) -> str:
    return " ".join(
        f"{form[name].label.text}: {'; '.join(errs)}" for name, errs in form.errors.items()
    )


def validated(form: FlaskForm) -> None:
    """Raise :class:`InvalidInput` naming each bad field, for a form a view needs whole."""
    if not form.validate():
        raise InvalidInput(form_errors(form))


def save_form(
    form: FlaskForm, save: Callable[[], tuple[str, str]], page: Callable[[], str]
) -> HTTPResponse | tuple[str, int]:
    """The admin pages' GET/POST → validate → use case → flash → redirect, said once.

    ``save`` runs the use case on a valid POST and returns the success message and where to
    go next; the answer is then that redirect (post/redirect/get). Otherwise ``page`` renders
    the page again, with 200 for a GET, 400 for an invalid form, or the use case's status when
    it refused (its message flashed in the moderator's language).
    """
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                message, target = save()
            except ServiceError as error:
                flash(error_message(error.code, error.message), "error")
                status = error.status
            else:
                flash(message, "success")
                return redirect(target)
    return page(), status
