"""What a news site embeds: the widget script, the count script and the page without JavaScript.

* ``/embed.js`` is the widget (``static/embed.js`` with ``static/embed.css`` inlined), and
  ``/count.js`` fills in comment counts on section pages (``static/count.js``). Both are served
  lightly minified, gzipped when the browser accepts it, with an ETag.
* ``/embed/<site>/<article>`` is the server-rendered thread: the approved comments and a form
  that posts back and redirects (PRG). It works with JavaScript off, as a top-level page and
  inside an iframe on the news site. It calls the same use cases as the JSON API.

The page's form is anonymous. A post is accepted only from the page itself (``Sec-Fetch-Site:
same-origin`` and our own ``Origin`` when the browser sends them) and with the signed,
time-stamped, single-use form token of :mod:`moderation.form_tokens`, not with Flask-WTF's
session-bound CSRF token: inside an iframe on
another site, browsers that block third-party cookies send us no cookie at all, so a session
token could never match and every comment would be refused. What CSRF protection has to prove
here is only "this form was served by us, for this article, recently", and a signature with a
timestamp proves that without a cookie. There is no login behind the form, so a forged post
could do no more than any client of the public API can. For the same reason the confirmation
after the redirect travels in the URL (``?sent=1``), not in a flashed (cookie) message.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_datetime
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import select
from werkzeug.wrappers import Response as HTTPResponse

from .. import approved, form_tokens, reports, rules, sites
from ..errors import Forbidden, InvalidInput, RateLimited, ServiceError
from ..extensions import csrf, db
from ..i18n import reader_language, wait_text
from ..models import Article, Comment, CommentStatus, SiteSnapshot
from ..privacy import request_source
from ..submission import parse_submission, submit_comment, validate_article_key
from .forms import CommentForm, ReportForm

bp = Blueprint("embed", __name__)

PAGE = "/embed/<site>/<path:article>"

# --- the scripts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    body: bytes
    gzipped: bytes
    etag: str


_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_SPACE = re.compile(r"\s*([{};,>])\s*|(:)\s+")


def minify_css(css: str) -> str:
    """Drop comments and the whitespace around punctuation; enough for our own stylesheet."""
    css = _CSS_COMMENT.sub("", css)
    css = " ".join(css.split())
    return _CSS_SPACE.sub(lambda m: m.group(1) or m.group(2), css).strip()


def minify_js(js: str) -> str:
    """Drop indentation, blank lines and whole-line ``//`` comments.

    Deliberately this little, so it cannot change what the code means: our scripts keep every
    string on one line, and a line is only dropped when it is nothing but a comment.
    """
    lines = (line.strip() for line in js.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"


def build_script(static: Path, name: str, settings: str = "{}") -> bytes:
    """The script as served: ``static/NAME`` minified, with ``"__CSS__"`` replaced by the CSS
    and ``"__SETTINGS__"`` by ``settings`` (JSON, see :func:`script_settings`)."""
    js = (static / name).read_text(encoding="utf-8")
    css_file = static / name.replace(".js", ".css")
    if '"__CSS__"' in js:
        css = minify_css(css_file.read_text(encoding="utf-8"))
        js = js.replace('"__CSS__"', json.dumps(css, ensure_ascii=False))
    js = js.replace('"__SETTINGS__"', settings)
    return minify_js(js).encode("utf-8")


@lru_cache(maxsize=8)
def _script(static: str, name: str, stamp: tuple[float, ...], settings: str) -> Script:
    body = build_script(Path(static), name, settings)
    # mtime=0: the same source gives the same bytes (and size) on every build.
    gzipped = gzip.compress(body, compresslevel=9, mtime=0)
    return Script(body, gzipped, hashlib.sha256(body).hexdigest()[:20])


def load_script(name: str) -> Script:
    """A served script, built once per source version (edits show up without a restart)."""
    static = Path(current_app.static_folder or "static")
    sources = [static / name, static / name.replace(".js", ".css")]
    stamp = tuple(p.stat().st_mtime for p in sources if p.exists())
    return _script(str(static), name, stamp, script_settings(name))


# Where a script puts a number or a name into one of its words.
SLOT = "{n}"


def widget_words() -> dict[str, str]:
    """The widget's words in the current language, from the catalogs (``SLOT`` for numbers)."""
    return {
        "c1": count_text(1),
        "cn": count_text(2, SLOT),
        "empty": gettext("No comments yet. Be the first!"),
        "leave": gettext("Leave a comment"),
        "name": gettext("Name"),
        "email": gettext("E-mail (optional)"),
        "emailHint": gettext("will not be published"),
        "notify": notify_text(),
        "body": gettext("Comment"),
        "left": gettext("%(n)s characters left", n=SLOT),
        "send": gettext("Post comment"),
        "reply": gettext("Reply"),
        "replyTo": gettext("Reply to %(name)s", name=SLOT),
        "cancel": gettext("Cancel"),
        "more": gettext("Load more comments"),
        "sort": gettext("Sort comments"),
        "oldest": gettext("Oldest first"),
        "newest": gettext("Newest first"),
        "featured": gettext("Editors' picks first"),
        "staff": gettext("Newsroom"),
        "pick": gettext("Editors' pick"),
        # The report form (moderation.reports), as on the page without JavaScript.
        "report": gettext("Report"),
        "what": gettext("What is wrong with this comment?"),
        "cats": [[code, reports.category_label(code)] for code in reports.CATEGORIES],
        "law": gettext("Which law or ground does it break? (required for illegal content)"),
        "explanation": gettext("Explanation"),
        "faith": gettext(
            "I make this report in good faith, and what I say in it is accurate and complete "
            "to the best of my knowledge."
        ),
        "sendReport": gettext("Send report"),
        "reported": gettext("Thank you! We received your report."),
        "trap": gettext("Leave this empty"),
        "thanks": gettext(
            "Thank you! Your comment will be reviewed and appears once it is approved."
        ),
        "pending": gettext("awaiting approval, visible only to you"),
        # A trusted reader's comment, published at once (moderation.trust).
        "live": gettext("Thank you! Your comment is published."),
        "published": gettext("published"),
        "withdraw": gettext("Withdraw"),
        "withdrawn": gettext("Your comment has been withdrawn."),
        "closed": closed_text("closed"),
        "fields": fields_text(),
        "wait": rate_limited_text(SLOT),
        "sec1": wait_text(1),
        "sec": wait_text(2, SLOT),
        "min": wait_text(120, SLOT),
        "offline": gettext(
            "No connection. Your text is still here: please send it again in a moment."
        ),
        "noLoad": gettext("The comments could not be loaded."),
        "failed": gettext("That did not work. Please try again."),
        "expired": expired_text(),
    }


def _in_every_language(words: Callable[[], Any]) -> dict[str, Any]:
    found = {}
    for language in rules.LANGUAGES:
        with force_locale(language):
            found[language] = words()
    return found


def script_settings(name: str) -> str:
    """What the service hands a script, as JSON: its words in every language (the page or the
    widget picks one) and the limits it applies."""
    return _settings(name, int(current_app.config["COUNTS_MAX_ARTICLES"]))


@lru_cache(maxsize=8)
def _settings(name: str, counts_max: int) -> str:
    settings: dict[str, Any] = {}
    if name == "embed.js":
        settings = {
            "text": _in_every_language(widget_words),
            "email": rules.MAX_EMAIL_LENGTH,
            "title": rules.MAX_TITLE_LENGTH,
            "url": rules.MAX_URL_LENGTH,
        }
    elif name == "count.js":
        words = _in_every_language(lambda: [count_text(1), count_text(2, SLOT)])
        settings = {"text": words, "max": counts_max}
    return json.dumps(settings, ensure_ascii=False, separators=(",", ":"))


def _serve_script(name: str) -> Response:
    script = load_script(name)
    zipped = request.accept_encodings.quality("gzip") > 0  # not for "gzip;q=0"
    response = Response(
        script.gzipped if zipped else script.body, mimetype="text/javascript", status=200
    )
    if zipped:
        response.content_encoding = "gzip"
    response.vary.add("Accept-Encoding")
    response.set_etag(script.etag + ("-gz" if zipped else ""))
    response.cache_control.public = True
    response.cache_control.max_age = 300  # a new widget version reaches readers within minutes
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.make_conditional(request)  # a 304 for a matching If-None-Match, in place
    return response


@bp.get("/embed.js")
def widget() -> Response:
    return _serve_script("embed.js")


@bp.get("/count.js")
def count_script() -> Response:
    return _serve_script("count.js")


# --- the page without JavaScript -------------------------------------------------------------

# The reader's texts are in the catalogs (translations/); the page renders them under
# force_locale in the site's language, or the one ?lang= asks for (see i18n.reader_language).


def count_text(count: int, shown: str | None = None) -> str:
    """The count as a heading says it ("3 Kommentare"); ``shown`` in place of the number."""
    return ngettext("%(n)s comment", "%(n)s comments", count, n=shown or count)


def closed_text(code: str) -> str | None:
    """What the page says instead of the form: the article is closed, or the site paused."""
    if code == "paused":
        return gettext("Commenting is paused for the moment.")
    if code == "closed":
        return gettext("Comments on this article are closed.")
    return None


def notify_text() -> str:
    """The opt-in box's label, on the page and in the widget."""
    return gettext("Notify me when my comment is published or someone replies")


def fields_text() -> str:
    return gettext("Please check the marked fields.")


def expired_text() -> str:
    return gettext("The form had expired. Your text is still here: please send it again.")


def rate_limited_text(wait: str) -> str:
    return gettext(
        "You have just written many comments. Please wait %(wait)s, then send again.", wait=wait
    )


_SAFE_ORIGIN = re.compile(r"https?://[a-z0-9.\-\[\]:]+")


def frame_ancestors(site: SiteSnapshot) -> str:
    """The CSP directive that lets only the site's own pages (and ours) frame the page."""
    origins = [o for o in site.origins or [] if _SAFE_ORIGIN.fullmatch(o)]
    return " ".join(["frame-ancestors 'self'", *origins])


# The page needs nothing but our own stylesheet and script; everything else is refused.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'"
)


@bp.after_request
def content_security_policy(response: Response) -> Response:
    """Every answer under ``/embed/``, error pages included, may be framed only by the site."""
    if request.path.startswith("/embed/"):
        policy = g.get("frame_ancestors", "frame-ancestors 'self'")
        if g.get("page_policy"):
            policy += "; " + PAGE_POLICY
        response.headers["Content-Security-Policy"] = policy
        # Not no-referrer: with it, browsers send "Origin: null" on the form's own POST, and
        # that could not be told apart from a post made by another site's page.
        response.headers["Referrer-Policy"] = "same-origin"
    return response


def nest(comments: list[dict]) -> list[dict]:
    """Replies one level deep under their top-level comment, in order.

    A reply to a reply goes under the same top-level comment; a reply whose parent is not in
    the list (on an earlier page) is shown at the top level.
    """
    entries: dict[int, dict] = {}
    root_of: dict[int, int] = {}
    top: list[dict] = []
    for comment in comments:
        root = root_of.get(comment["parent_id"]) if comment["parent_id"] is not None else None
        if root is None:
            entry = {**comment, "replies": []}
            entries[comment["id"]] = entry
            root_of[comment["id"]] = comment["id"]
            top.append(entry)
        else:
            entries[root]["replies"].append(comment)
            root_of[comment["id"]] = root
    return top


def _with_dates(comment: dict, lang: str) -> dict:
    moment = datetime.fromisoformat(comment["created_at"].replace("Z", "+00:00"))
    # A CLDR pattern (quotes around literal text); the page's script shows local time.
    pattern = gettext("dd MMM yyyy, HH:mm 'UTC'")
    return {**comment, "when": format_datetime(moment, pattern, tzinfo=UTC, locale=lang)}


def aria(field: Any, hint: str | None, **attributes: Any) -> dict[str, Any]:
    """A form field's attributes, with ``aria-describedby``/``aria-invalid`` for hint and error."""
    described = [hint] if hint else []
    if field.errors:
        described.append(f"{field.id}-error")
        attributes["aria-invalid"] = "true"
    if described:
        attributes["aria-describedby"] = " ".join(described)
    return attributes


def _closed_reason(site: SiteSnapshot, article_key: str) -> str | None:
    if site.paused:
        return "paused"
    closed = db.session.scalar(
        select(Article.closed).where(Article.site_id == site.id, Article.key == article_key)
    )
    return "closed" if closed else None


def _reply_target(site: SiteSnapshot, article_key: str, raw_parent_id: Any) -> dict | None:
    """The approved comment a reply goes to, or None when there is no such comment."""
    parent_id = rules.parse_id(raw_parent_id)
    if parent_id is None:
        return None
    row = db.session.execute(
        select(Comment.id, Comment.author)
        .join(Article)
        .where(
            Comment.id == parent_id,
            Comment.status == CommentStatus.APPROVED,
            Article.site_id == site.id,
            Article.key == article_key,
        )
    ).first()
    return {"id": row.id, "author": row.author} if row else None


def _after_arg() -> int | None:
    """The page's cursor; negative with ``sort=featured`` (a place among the picks)."""
    raw = request.args.get("after") or ""
    found = rules.parse_id(raw.removeprefix("-"))
    return -found if found is not None and raw.startswith("-") else found


def _sort_arg() -> str:
    """The page's order; anything but a known one is the default, oldest first."""
    wanted = request.args.get("sort")
    return wanted if wanted in approved.SORTS else "oldest"


def _page_url(site: SiteSnapshot, article: str, lang: str | None = None, **args: Any) -> str:
    """A link to the page, keeping ``?lang=`` and the order (unless ``args`` names one)."""
    override = request.args.get("lang") if request.args.get("lang") in rules.LANGUAGES else None
    sort = args.pop("sort", _sort_arg())
    return url_for(
        "embed.thread",
        site=site.slug,
        article=article,
        lang=override,
        sort=None if sort == "oldest" else sort,
        **args,
    )


def _render_page(
    site: SiteSnapshot,
    article: str,
    form: CommentForm,
    *,
    status: int = 200,
    error: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    lang = reader_language(site)  # the locale the view forced
    limit = int(current_app.config["LIST_DEFAULT_LIMIT"])
    after = _after_arg()
    sort = _sort_arg()
    state = approved.thread_state(site.slug, article)
    page = approved.approved_page(state, limit, after, sort)
    comments = nest([_with_dates(c, lang) for c in page["comments"]])
    closed = _closed_reason(site, article)
    reply_to = _reply_target(site, article, form.parent_id.data or request.args.get("reply"))
    form.parent_id.data = str(reply_to["id"]) if reply_to else ""
    form.form_token.data = form_tokens.issue(site.slug, article)
    html = render_template(
        "embed/thread.html",
        html_lang=lang,
        site=site,
        article=article,
        form=form,
        comments=comments,
        count=count_text(page["count"]),
        has_comments=bool(page["comments"]),
        next_url=_page_url(site, article, after=page["next"]) if page["next"] else None,
        first_url=_page_url(site, article) if after else None,
        sort=sort,
        sort_urls=[
            (name, label, _page_url(site, article, sort=name))
            for name, label in (
                ("oldest", gettext("Oldest first")),
                ("newest", gettext("Newest first")),
                ("featured", gettext("Editors' picks first")),
            )
        ],
        reply_url=lambda comment_id: (
            _page_url(site, article, reply=comment_id, after=after) + "#form"
        ),
        form_url=_page_url(site, article, after=after),
        report_url=lambda comment_id: url_for(
            "embed.report_form", comment_id=comment_id, lang=_lang_override()
        ),
        cancel_url=_page_url(site, article, after=after) + "#form",
        reply_to=reply_to,
        closed=closed_text(closed) if closed else None,
        sent=request.args.get("sent") == "1",
        error=error,
        aria=aria,
        max_author=int(current_app.config["MAX_AUTHOR_LENGTH"]),
        max_body=int(current_app.config["MAX_BODY_LENGTH"]),
    )
    g.page_policy = True
    response = Response(html, status=status, mimetype="text/html")
    response.headers.update(headers or {})
    response.cache_control.no_store = True  # the form carries a fresh token every time
    return response


def _load_site(site: str, article: str) -> SiteSnapshot:
    the_site = sites.snapshot(site)
    g.frame_ancestors = frame_ancestors(the_site)
    validate_article_key(article)
    return the_site


@bp.get(PAGE)
def thread(site: str, article: str) -> Response:
    the_site = _load_site(site, article)
    with force_locale(reader_language(the_site)):
        return _render_page(the_site, article, CommentForm(formdata=None))


def _refuse_cross_site() -> None:
    """Only this page may post its form: refuse a post that another site's page made.

    Browsers say where a request comes from: ``Sec-Fetch-Site`` (``same-origin`` for our own
    form, framed or not) and ``Origin``. A post from elsewhere would let any page make its
    visitors' browsers comment from their addresses, past the per-address limit, pinning the
    abuse on them. Clients that send neither (curl) are no browser and ride on no one.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if (fetch_site is not None and fetch_site != "same-origin") or (
        origin is not None and origin != sites.own_origin()
    ):
        raise Forbidden("This form can only be sent from its own page.", code="forbidden_origin")


@bp.post(PAGE)
@csrf.exempt  # protected by the origin check and the signed form token; see the docstring
def submit(site: str, article: str) -> HTTPResponse:
    the_site = _load_site(site, article)
    _refuse_cross_site()
    with force_locale(reader_language(the_site)):
        return _submit(the_site, article, CommentForm())


def _submit(the_site: SiteSnapshot, article: str, form: CommentForm) -> HTTPResponse:
    """The post, under the page's language: the use cases' messages come in it too."""
    data = {
        "author": form.author.data or "",
        "email": form.email.data or None,
        "notify": bool(form.notify.data),
        "body": form.body.data or "",
        "parent_id": _parent_id(form.parent_id.data),
        "form_token": form.form_token.data or None,
        "website": form.website.data or None,
    }
    try:
        submit_comment(the_site, article, parse_submission(data), source_hash=request_source())
    except RateLimited as error:
        message = rate_limited_text(wait_text(error.retry_after))
        return _render_page(
            the_site, article, form, status=429, error=message, headers=error.headers
        )
    except InvalidInput as error:
        if error.fields:
            for name, message in error.fields.items():
                field = getattr(form, name, None)
                if field is not None:
                    field.errors = [message]
            return _render_page(the_site, article, form, status=400, error=fields_text())
        message = expired_text() if error.code == "invalid_form_token" else error.message
        return _render_page(the_site, article, form, status=error.status, error=message)
    except ServiceError as error:
        message = closed_text(error.code) or error.message
        return _render_page(
            the_site, article, form, status=error.status, error=message, headers=error.headers
        )
    # No per-reader state survives the redirect: without a cookie there is nowhere to keep it.
    return redirect(_page_url(the_site, article, sent=1) + "#status", code=303)


def _parent_id(raw: str | None) -> int | str | None:
    """The hidden parent field as the API would get it: an id, or text that fails there."""
    if not raw:
        return None
    return rules.parse_id(raw) or raw


# --- the report form (DSA Art. 16), without JavaScript ---------------------------------------

REPORT_PAGE = "/embed/report/<int:comment_id>"


def _lang_override() -> str | None:
    """``?lang=`` when it names one of our languages, for the links a page makes."""
    wanted = request.args.get("lang")
    return wanted if wanted in rules.LANGUAGES else None


def _report_site(comment_id: int) -> tuple[Comment, SiteSnapshot]:
    """The published comment to report and its site; framed only by the site's pages."""
    comment = reports.published_comment(comment_id)
    the_site = sites.snapshot(comment.article.site.slug)
    g.frame_ancestors = frame_ancestors(the_site)
    return comment, the_site


def _render_report(
    comment: Comment,
    site: SiteSnapshot,
    form: ReportForm,
    *,
    status: int = 200,
    error: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    lang = reader_language(site)
    override = _lang_override()
    form.form_token.data = form_tokens.issue(site.slug, reports.form_token_scope(comment.id))
    html = render_template(
        "embed/report.html",
        html_lang=lang,
        site=site,
        comment=comment,
        form=form,
        categories=[(c, reports.category_label(c)) for c in reports.CATEGORIES],
        form_url=url_for("embed.report_form", comment_id=comment.id, lang=override),
        back_url=url_for("embed.thread", site=site.slug, article=comment.article.key, lang=override)
        + f"#comment-{comment.id}",
        sent=request.args.get("sent") == "1",
        error=error,
        aria=aria,
        max_law=reports.MAX_LAW_LENGTH,
        max_explanation=reports.MAX_EXPLANATION_LENGTH,
    )
    g.page_policy = True
    response = Response(html, status=status, mimetype="text/html")
    response.headers.update(headers or {})
    response.cache_control.no_store = True  # a fresh form token every time
    return response


@bp.get(REPORT_PAGE)
def report_form(comment_id: int) -> Response:
    """The report form for one published comment, or (``?sent=1``) the thank-you page."""
    comment, the_site = _report_site(comment_id)
    with force_locale(reader_language(the_site)):
        return _render_report(comment, the_site, ReportForm(formdata=None))


@bp.post(REPORT_PAGE)
@csrf.exempt  # protected like the comment form: the page's origin and a signed form token
def send_report(comment_id: int) -> HTTPResponse:
    comment, the_site = _report_site(comment_id)
    _refuse_cross_site()
    form = ReportForm()
    with force_locale(reader_language(the_site)):
        data = {
            "category": form.category.data,
            "law": form.law.data or None,
            "explanation": form.explanation.data or "",
            "email": form.email.data or None,
            "good_faith": bool(form.good_faith.data),
        }
        try:
            reports.file_report(
                comment.id,
                reports.parse_report(data),
                source_hash=request_source(),
                form_token=form.form_token.data or None,
                require_form_token=True,
            )
        except RateLimited as error:
            return _render_report(
                comment, the_site, form, status=429, error=error.message, headers=error.headers
            )
        except InvalidInput as error:
            for name, message in (error.fields or {}).items():
                field = getattr(form, name, None)
                if field is not None:
                    field.errors = [message]
            message = fields_text() if error.fields else error.message
            return _render_report(comment, the_site, form, status=400, error=message)
    thanks = url_for("embed.report_form", comment_id=comment.id, lang=_lang_override(), sent=1)
    return redirect(thanks + "#status", code=303)
