"""The moderator web UI under ``/moderate/``: the queue, decisions, history, articles, admin.

Views are thin: they read a form, call one use case from :mod:`review`, :mod:`moderators` or
:mod:`sites`, and answer. Every state change is a POST whose CSRF token ``CSRFProtect`` checks
before the view runs. Without JavaScript a POST redirects back to where the moderator was
(post/redirect/get); ``static/moderate.js`` sends the same POSTs with ``Accept:
application/json`` and gets a small JSON answer instead, so the queue updates in place.

What readers wrote (names, addresses, titles, raw text) is shown through :func:`reader_text`:
escaped, isolated from the page around it, with invisible and direction-changing characters
made visible. An article's title is a reader's claim until a moderator confirms it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext, ngettext
from flask_wtf.csrf import CSRFError
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from . import moderators, review, rules, sites
from .auth import admin_required, is_moderator_page, load_moderator, login_required, safe_next
from .auth import bp as auth_bp
from .errors import InvalidInput, ServiceError
from .extensions import db
from .forms import (
    ArticleTitleForm,
    DecisionForm,
    LocaleForm,
    NewModeratorForm,
    NewSiteForm,
    PasswordForm,
    SiteForm,
)
from .i18n import current_locale, error_message
from .models import Article, CommentStatus

bp = Blueprint("moderate", __name__, url_prefix="/moderate")
SOURCE_HASH = re.compile(r"[0-9a-f]{64}")


@bp.app_context_processor
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
        "pending_count": _pending() if moderator else 0,
        "pending_cap": PENDING_CAP,
        "statuses": list(CommentStatus),
    }


def error_page(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error as a moderator page: the layout, the message in the moderator's language.

    The layout reads the pending count; a transaction that failed on PostgreSQL refuses every
    query until it is rolled back, so the error page starts a fresh one.
    """
    db.session.rollback()
    response = Response(
        render_template("moderate/error.html", status=status, message=message),
        status=status,
        mimetype="text/html",
    )
    response.headers.update(headers or {})
    return response


@bp.errorhandler(ServiceError)
def service_error(error: ServiceError) -> Response:
    return error_page(error.status, error_message(error.code, error.message), error.headers)


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
    return error_page(status, message, allow)


# Both blueprints of the moderator UI show these errors as moderator pages.
for _blueprint in (auth_bp, bp):
    _blueprint.register_error_handler(HTTPException, http_error)


# --- input the database cannot take ----------------------------------------------------------


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


bp.before_request(refuse_unstorable_text)
auth_bp.before_request(refuse_unstorable_text)  # the login form's username, too


# --- reader text in moderator pages ----------------------------------------------------------

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


def _pending() -> int:
    return review.count_pending(cap=PENDING_CAP)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _back(default: str) -> Response:
    """Post/redirect/get: back to the page the form came from, if it is one of ours."""
    return redirect(safe_next(request.form.get("next")) or default)


def _form_errors(form: Any) -> str:
    return " ".join(
        f"{form[name].label.text}: {'; '.join(errs)}" for name, errs in form.errors.items()
    )


def decided_message(count: int, decision: review.Decision) -> str:
    if decision is review.Decision.APPROVE:
        return ngettext("%(num)d comment approved.", "%(num)d comments approved.", count)
    if decision is review.Decision.REJECT:
        return ngettext("%(num)d comment rejected.", "%(num)d comments rejected.", count)
    return ngettext("%(num)d comment marked as spam.", "%(num)d comments marked as spam.", count)


# --- the queue -------------------------------------------------------------------------------


def _queue_filter() -> review.QueueFilter:
    wanted = request.args.get("status") or "pending"
    try:
        status = None if wanted == "all" else CommentStatus(wanted)
    except ValueError:
        raise InvalidInput(gettext("Unknown status."), code="bad_status") from None
    article = request.args.get("article") or None
    article_id = rules.parse_id(article)
    if article is not None and article_id is None:
        raise InvalidInput(gettext("Unknown article."), code="bad_article")
    source = request.args.get("source") or None
    if source is not None and not SOURCE_HASH.fullmatch(source):
        raise InvalidInput(gettext("Unknown source."), code="bad_source")
    return review.QueueFilter(
        status=status,
        site=request.args.get("site") or None,
        article_id=article_id,
        text=(request.args.get("q") or "").strip() or None,
        source=source,
    )


@bp.get("/")
@login_required
def queue() -> str:
    where = _queue_filter()
    page_size = int(current_app.config["QUEUE_PAGE_SIZE"])
    page = review.find_comments(where, request.args.get("after") or None, page_size)
    article = review.get_article(where.article_id) if where.article_id else None
    return render_template(
        "moderate/queue.html",
        where=where,
        status=where.status.value if where.status else "all",
        page=page,
        article=article,
        sites=sites.list_sites(),
        decision_form=DecisionForm(),
        here=request.full_path.rstrip("?"),
    )


@bp.post("/comments/<id:comment_id>/<decision>")
@login_required
def decide(comment_id: int, decision: str) -> Any:
    form = DecisionForm()
    if not form.validate():
        raise InvalidInput(_form_errors(form))
    the_decision = review.parse_decision(decision)
    event = review.decide(
        comment_id, the_decision, review.Actor.of(g.moderator), form.note.data or None
    )
    comment = review.get_comment(comment_id)
    if _wants_json():
        return jsonify(
            {
                "id": comment_id,
                "status": comment.status.value,
                "changed": event is not None,
                "pending": _pending(),
                "message": decided_message(1, the_decision),
            }
        )
    flash(decided_message(1, the_decision), "success")
    return _back(url_for(".queue"))


@bp.post("/bulk")
@login_required
def bulk() -> Any:
    form = DecisionForm()
    if not form.validate():
        raise InvalidInput(_form_errors(form))
    decision = review.parse_decision(request.form.get("decision", ""))
    given = request.form.getlist("ids")
    ids = [number for number in map(rules.parse_id, given) if number is not None]
    if len(ids) != len(given):
        raise InvalidInput(gettext("Select comments by their numbers."), code="bad_ids")
    if not ids:
        raise InvalidInput(gettext("Select at least one comment."), code="nothing_selected")
    result = review.decide_many(ids, decision, review.Actor.of(g.moderator), form.note.data)
    message = decided_message(len(result.changed), decision)
    if result.skipped:
        message += " " + ngettext(
            "%(num)d was withdrawn or is gone.",
            "%(num)d were withdrawn or are gone.",
            len(result.skipped),
        )
    if _wants_json():
        return jsonify(
            {
                "changed": result.changed,
                "unchanged": result.unchanged,
                "skipped": result.skipped,
                "pending": _pending(),
                "message": message,
            }
        )
    flash(message, "success")
    return _back(url_for(".queue"))


# --- one comment, one article ----------------------------------------------------------------


@bp.get("/comments/<id:comment_id>")
@login_required
def comment(comment_id: int) -> str:
    the_comment = review.get_comment(comment_id)
    return render_template(
        "moderate/comment.html",
        comment=the_comment,
        events=review.history(comment_id),
        others=review.source_counts([the_comment.source_hash]),
        decision_form=DecisionForm(),
        here=request.path,
    )


@bp.get("/articles/<id:article_id>")
@login_required
def article(article_id: int) -> str:
    the_article = review.get_article(article_id)
    return render_template(
        "moderate/article.html",
        article=the_article,
        thread=review.article_thread(article_id),
        # Prefilled as it would be confirmed: what the moderator sees is what gets stored.
        title_form=ArticleTitleForm(title=review.clean_title(the_article.title)),
        here=request.path,
    )


@bp.post("/articles/<id:article_id>/title")
@login_required
def article_title(article_id: int) -> Response:
    """Confirm the title a reader gave (as it is, or edited), or remove it."""
    form = ArticleTitleForm()
    if not form.validate():
        raise InvalidInput(_form_errors(form))
    remove = form.action.data == "remove"
    title = None if remove else review.clean_title(form.title.data)
    if not remove and title is None:
        raise InvalidInput(gettext("Give the title, or remove it."), code="invalid_title")
    review.set_article_title(article_id, title)
    if remove:
        flash(gettext("Title removed."), "success")
    else:
        flash(gettext("Title confirmed."), "success")
    return redirect(url_for(".article", article_id=article_id))


@bp.post("/articles/<id:article_id>/<any(close, reopen):action>")
@login_required
def close_article(article_id: int, action: str) -> Response:
    review.set_article_closed(article_id, action == "close")
    if action == "close":
        flash(gettext("Closed: new comments are refused for this article."), "success")
    else:
        flash(gettext("Reopened: readers can comment on this article again."), "success")
    return _back(url_for(".article", article_id=article_id))


# --- the moderator's own settings ------------------------------------------------------------


@bp.post("/locale")
@login_required
def set_locale() -> Response:
    form = LocaleForm()
    if not form.validate():
        raise InvalidInput(_form_errors(form))
    moderators.set_locale(g.moderator, form.locale.data or None)
    return _back(url_for(".queue"))


# --- admin: moderators and sites -------------------------------------------------------------


@bp.route("/admin/moderators", methods=["GET", "POST"])
@admin_required
def admin_moderators() -> Any:
    form = NewModeratorForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                created = moderators.create_moderator(
                    form.username.data.strip(), form.password.data, admin=form.admin.data
                )
            except ServiceError as error:
                flash(error_message(error.code, error.message), "error")
                status = error.status
            else:
                flash(gettext("Added %(name)s.", name=created.username), "success")
                return redirect(url_for(".admin_moderators"))
        else:
            status = 400
    return render_template(
        "moderate/admin_moderators.html",
        form=form,
        password_form=PasswordForm(),
        moderators=moderators.list_moderators(),
    ), status


@bp.post("/admin/moderators/<username>/<any(activate, deactivate):action>")
@admin_required
def admin_moderator_active(username: str, action: str) -> Response:
    moderators.set_active(username, action == "activate", by=g.moderator)
    if action == "activate":
        flash(gettext("%(name)s can log in again.", name=username), "success")
    else:
        flash(gettext("%(name)s can no longer log in.", name=username), "success")
    return redirect(url_for(".admin_moderators"))


@bp.post("/admin/moderators/<username>/password")
@admin_required
def admin_moderator_password(username: str) -> Response:
    form = PasswordForm()
    if not form.validate():
        raise InvalidInput(_form_errors(form))
    moderators.set_password(username, form.password.data)
    flash(gettext("New password set for %(name)s.", name=username), "success")
    return redirect(url_for(".admin_moderators"))


@bp.route("/admin/sites", methods=["GET", "POST"])
@admin_required
def admin_sites() -> Any:
    form = NewSiteForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                created = sites.create_site(
                    form.slug.data.strip(),
                    form.name.data,
                    (form.origins.data or "").split(),
                    form.language.data,
                )
            except ServiceError as error:
                flash(error_message(error.code, error.message), "error")
                status = error.status
            else:
                flash(gettext("Added the site %(name)s.", name=created.name), "success")
                return redirect(url_for(".admin_site", slug=created.slug))
        else:
            status = 400
    return render_template("moderate/admin_sites.html", form=form, sites=sites.list_sites()), status


@bp.route("/admin/sites/<slug>", methods=["GET", "POST"])
@admin_required
def admin_site(slug: str) -> Any:
    site = sites.get_site(slug)
    form = SiteForm(obj=site if request.method == "GET" else None)
    status = 200
    if request.method == "GET":
        form.origins.data = "\n".join(site.origins or [])
        form.language.data = site.language.value
    elif form.validate():
        try:
            sites.update_site(
                slug,
                name=form.name.data,
                origins=(form.origins.data or "").split(),
                language=form.language.data,
            )
        except ServiceError as error:
            flash(error_message(error.code, error.message), "error")
            status = error.status
        else:
            flash(gettext("Saved."), "success")
            return redirect(url_for(".admin_site", slug=slug))
    else:
        status = 400
    return render_template("moderate/admin_site.html", site=site, form=form), status


def register_converters(app: Flask) -> None:
    """``<id:…>`` for the moderator UI's routes; before any blueprint that uses it."""
    app.url_map.converters["id"] = IdConverter


def init_app(app: Flask) -> None:
    register_converters(app)
    app.register_blueprint(auth_bp)
    app.register_blueprint(bp)
    app.jinja_env.filters["reader_text"] = reader_text
    app.jinja_env.filters["reader_plain"] = reader_plain
    app.jinja_env.filters["hidden_characters"] = hidden_characters
    app.jinja_env.filters["own_site_url"] = own_site_url
