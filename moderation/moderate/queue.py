"""The queue: pending comments, decisions one by one or in bulk, a comment's history, an
article's thread, and the moderator's own language."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
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
from werkzeug.wrappers import Response as HTTPResponse

from .. import moderators, review, rules, sites
from ..errors import InvalidInput
from ..models import CommentStatus
from . import pages
from .auth import login_required
from .forms import ArticleTitleForm, DecisionForm, LocaleForm
from .pages import back, validated, wants_json

bp = Blueprint("queue", __name__)


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
    if source is not None and not rules.SOURCE_HASH.fullmatch(source):
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
    validated(form)
    the_decision = review.parse_decision(decision)
    event = review.decide(
        comment_id, the_decision, review.Actor.of(g.moderator), form.note.data or None
    )
    comment = review.get_comment(comment_id)
    if wants_json():
        return jsonify(
            {
                "id": comment_id,
                "status": comment.status.value,
                "changed": event is not None,
                "pending": pages.pending(),
                "message": decided_message(1, the_decision),
            }
        )
    flash(decided_message(1, the_decision), "success")
    return back(url_for(".queue"))


@bp.post("/bulk")
@login_required
def bulk() -> Any:
    form = DecisionForm()
    validated(form)
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
    if wants_json():
        return jsonify(
            {
                "changed": result.changed,
                "unchanged": result.unchanged,
                "skipped": result.skipped,
                "pending": pages.pending(),
                "message": message,
            }
        )
    flash(message, "success")
    return back(url_for(".queue"))


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
def article_title(article_id: int) -> HTTPResponse:
    """Confirm the title a reader gave (as it is, or edited), or remove it."""
    form = ArticleTitleForm()
    validated(form)
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
def close_article(article_id: int, action: str) -> HTTPResponse:
    review.set_article_closed(article_id, action == "close")
    if action == "close":
        flash(gettext("Closed: new comments are refused for this article."), "success")
    else:
        flash(gettext("Reopened: readers can comment on this article again."), "success")
    return back(url_for(".article", article_id=article_id))


# --- the moderator's own settings ------------------------------------------------------------


@bp.post("/locale")
@login_required
def set_locale() -> HTTPResponse:
    form = LocaleForm()
    validated(form)
    moderators.set_locale(g.moderator, form.locale.data or None)
    return back(url_for(".queue"))
