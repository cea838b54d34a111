"""The queue: pending comments, decisions one by one or in bulk, a comment's history, an
article's thread, and the moderator's own language.

The queue is shared: an open queue polls :func:`state` (``static/moderate.js``) to show new
comments, drop the ones others decided and show who is looking at which card (:func:`claim`);
each decision form carries the version its card was shown with, and a decision on a comment
that changed since is refused (409) with who did what. Admins can approve everything a filter
matches (:func:`approve_all`), after a confirmation with the count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
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
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as HTTPResponse

from .. import grounds, moderators, reports, review, rules, shared_queue, sites
from ..errors import Conflict, InvalidInput
from ..i18n import current_locale
from ..models import CommentStatus
from . import pages
from .auth import admin_required, login_required
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


def _queue_filter(values: MultiDict[str, str] | None = None) -> review.QueueFilter:
    """The queue's filter from a query string (or a form repeating it); raises
    :class:`InvalidInput` for any value that is not one of ours."""
    args = request.args if values is None else values
    wanted = args.get("status") or "pending"
    try:
        status = None if wanted in ("all", "reported") else CommentStatus(wanted)
    except ValueError:
        raise InvalidInput(gettext("Unknown status."), code="bad_status") from None
    article = args.get("article") or None
    article_id = rules.parse_id(article)
    if article is not None and article_id is None:
        raise InvalidInput(gettext("Unknown article."), code="bad_article")
    source = args.get("source") or None
    if source is not None and not rules.SOURCE_HASH.fullmatch(source):
        raise InvalidInput(gettext("Unknown source."), code="bad_source")
    text = (args.get("q") or "").strip() or None
    if text is not None and len(text) > rules.MAX_SEARCH_LENGTH:
        raise InvalidInput(gettext("The search text is too long."), code="bad_search")
    return review.QueueFilter(
        status=status,
        site=args.get("site") or None,
        article_id=article_id,
        text=text,
        source=source,
        reason=review.parse_reason(args.get("reason")),
        sort=review.parse_sort(args.get("sort")),
        reported=wanted == "reported",
    )


def filter_args(where: review.QueueFilter) -> dict[str, Any]:
    """The query string that names ``where`` (defaults left out), for links and forms."""
    args = {
        "status": where.status.value if where.status else _all_or_reported(where),
        "site": where.site,
        "article": where.article_id,
        "q": where.text,
        "source": where.source,
        "reason": where.reason,
        "sort": None if where.sort is review.QueueSort.TIME else where.sort.value,
    }
    if args["status"] == "pending":
        args["status"] = None
    return {key: value for key, value in args.items() if value}


def _all_or_reported(where: review.QueueFilter) -> str:
    return "reported" if where.reported else "all"


@bp.app_template_global()
def removal_grounds(site: Any = None) -> list[tuple[str, str]]:
    """The grounds (code, label) a rejection of a comment of ``site`` offers; without a site
    (the bulk form), the service's defaults and every site's own."""
    if site is not None:
        codes: tuple[str, ...] = grounds.site_grounds(site)
    else:
        codes = rules.REMOVAL_GROUNDS
        for other in sites.list_sites():
            codes += tuple(c for c in grounds.site_grounds(other) if c not in codes)
    return [(code, grounds.label(code)) for code in codes]


@bp.app_template_filter()
def ground_label(code: str) -> str:
    return grounds.label(code)


@bp.app_template_filter()
def report_category_label(code: str) -> str:
    return reports.category_label(code)


def _ground(decision: review.Decision) -> str | None:
    """The ground a rejection form sent; refused when missing (a statement of reasons needs
    one). Whether it is one of the site's is checked by the use case."""
    if decision is not review.Decision.REJECT:
        return None
    ground = request.form.get("ground") or None
    if ground is None:
        raise InvalidInput(
            gettext("Choose the ground of the removal."),
            code="invalid_ground",
            fields={"ground": gettext("Choose one of the site's grounds.")},
        )
    return ground


@bp.get("/")
@login_required
def queue() -> str:
    where = _queue_filter()
    page_size = int(current_app.config["QUEUE_PAGE_SIZE"])
    page = review.find_comments(where, request.args.get("after") or None, page_size)
    article = review.get_article(where.article_id) if where.article_id else None
    reasons = review.reason_codes(where.status)
    if where.reason and where.reason not in reasons:
        reasons.append(where.reason)
    return render_template(
        "moderate/queue.html",
        where=where,
        status=where.status.value if where.status else _all_or_reported(where),
        page=page,
        open_reports=reports.open_reports([c.id for c in page.comments]),
        reported_count=reports.reported_count(cap=pages.PENDING_CAP),
        article=article,
        sites=sites.list_sites(),
        reasons=reasons,
        sorts=list(review.QueueSort),
        filter_args=filter_args(where),
        # New comments are added at the end where the end is on screen: the last page of the
        # oldest-first queue. Elsewhere the page says how many came in.
        append_new=where.paged and where.oldest_first and page.next is None,
        since=shared_queue.settled_comment_id(),
        poll_ms=int(float(current_app.config["QUEUE_POLL_SECONDS"]) * 1000),
        claim_seconds=int(current_app.config["QUEUE_CLAIM_SECONDS"]),
        decision_form=DecisionForm(),
        here=request.full_path.rstrip("?"),
    )


def _version(raw: str | None) -> int | None:
    """A version from a form: None when not sent (a script or an old page), else 0 or an id."""
    if raw is None:
        return None
    if raw == "0":
        return 0
    version = rules.parse_id(raw)
    if version is None:
        raise InvalidInput(gettext("This form is not valid; reload the page."), code="bad_version")
    return version


def _bulk_versions(ids: list[int], form: Mapping[str, str]) -> dict[int, int]:
    versions: dict[int, int] = {}
    for comment_id in ids:
        version = _version(form.get(f"version-{comment_id}"))
        if version is not None:
            versions[comment_id] = version
    return versions


@bp.post("/comments/<id:comment_id>/<decision>")
@login_required
def decide(comment_id: int, decision: str) -> Any:
    form = DecisionForm()
    validated(form)
    the_decision = review.parse_decision(decision)
    expected = _version(request.form.get("version"))
    ground = _ground(the_decision)
    try:
        event = review.decide(
            comment_id,
            the_decision,
            review.Actor.of(g.moderator),
            form.note.data or None,
            expected=expected,
            ground=ground,
        )
    except Conflict as conflict:
        if not wants_json():
            raise
        # The script keeps the card and shows what happened; deciding again is a new act.
        now = review.get_comment(comment_id)
        body = {
            "error": conflict.code,
            "message": conflict.message,
            "status": now.status.value,
            "version": review.versions([comment_id])[comment_id],
            "pending": pages.pending(),
        }
        return jsonify(body), 409
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
    result = review.decide_many(
        ids,
        decision,
        review.Actor.of(g.moderator),
        form.note.data,
        expected=_bulk_versions(ids, request.form),
        ground=_ground(decision),
    )
    message = decided_message(len(result.changed), decision)
    if result.skipped:
        message += " " + ngettext(
            "%(num)d was withdrawn or is gone.",
            "%(num)d were withdrawn or are gone.",
            len(result.skipped),
        )
    if result.stale:
        message += " " + ngettext(
            "%(num)d was changed by someone else meanwhile and was left as it is: %(ids)s.",
            "%(num)d were changed by someone else meanwhile and were left as they are: %(ids)s.",
            len(result.stale),
            ids=", ".join(f"#{i}" for i in result.stale),
        )
    if wants_json():
        return jsonify(
            {
                "changed": result.changed,
                "unchanged": result.unchanged,
                "skipped": result.skipped,
                "stale": result.stale,
                "pending": pages.pending(),
                "message": message,
            }
        )
    flash(message, "success")
    return back(url_for(".queue"))


@bp.post("/comments/<id:comment_id>/reports/<decision>")
@login_required
def decide_reports(comment_id: int, decision: str) -> Any:
    """Keep a reported comment (its reports are dismissed) or remove it, with a ground; the
    same for an author's objection to a removal. See :func:`moderation.reports.decide_reports`.
    """
    form = DecisionForm()
    validated(form)
    the_decision = reports.parse_report_decision(decision)
    ground = request.form.get("ground") or None
    reports.decide_reports(
        comment_id,
        the_decision,
        review.Actor.of(g.moderator),
        ground=ground,
        note=form.note.data or None,
    )
    if the_decision is reports.ReportDecision.KEEP:
        message = gettext("Comment #%(id)s kept; its reports are dismissed.", id=comment_id)
    else:
        message = gettext("Comment #%(id)s removed.", id=comment_id)
    if wants_json():
        comment = review.get_comment(comment_id)
        return jsonify(
            {
                "id": comment_id,
                "status": comment.status.value,
                "pending": pages.pending(),
                "message": message,
            }
        )
    flash(message, "success")
    return back(url_for(".queue", status="reported"))


# --- the shared queue: polling, claims, approve all matching ----------------------------------


def _shown(raw: str | None) -> list[int]:
    if not raw:
        return []
    parts = raw.split(",")
    ids = [rules.parse_id(part) for part in parts]
    if len(parts) > shared_queue.MAX_SHOWN or any(i is None for i in ids):
        raise InvalidInput(gettext("Unknown cards."), code="bad_shown")
    return [i for i in ids if i is not None]


def _since(raw: str | None) -> int:
    since = _version(raw or "0")
    return since or 0


def _claim_text(claim: shared_queue.Claim) -> str:
    return gettext("%(who)s is looking at this", who=claim.username)


@bp.get("/queue/state")
@login_required
def state() -> Response:
    """The state of the moderator's view, for its script: cheap to ask every few seconds.

    ``shown`` names the cards on screen, ``since`` the number up to which the screen heard of
    every comment, ``heard`` the new comments above it that it was told of already (see
    :func:`moderation.shared_queue.queue_state`); the filter is the queue's own query string.
    The ETag covers everything the answer depends on, so an unchanged queue costs one small
    query and a 304. Moderator pages are ``no-store``, so the script keeps the ETag itself and
    sends ``If-None-Match``.
    """
    where = _queue_filter()
    shown = _shown(request.args.get("shown"))
    heard = _shown(request.args.get("heard"))
    since = _since(request.args.get("since"))
    claims = shared_queue.active_claims(shown)
    asked = f"{g.moderator.id}|{current_locale()}|{request.query_string.decode()}"
    etag = shared_queue.fingerprint(shown, claims, since, asked)
    if etag in request.if_none_match:
        response = Response(status=304)
        response.set_etag(etag)
        return response
    now = shared_queue.queue_state(where, shown, since, heard)
    back = url_for(".queue", **filter_args(where))
    card_page = review.queue_page(now.new, None)
    new_reports = reports.open_reports([c.id for c in now.new])
    me = g.moderator.id
    gone = []
    for comment_id, event in now.gone.items():
        by_me = event is not None and event.actor_id == me
        message = None if by_me else f"#{comment_id}: {review.changed_meanwhile(event)}"
        gone.append({"id": comment_id, "message": message})
    body = {
        "pending": pages.pending(),
        "pending_cap": pages.PENDING_CAP,
        "still": now.still,
        "gone": gone,
        "new": [
            {
                "id": c.id,
                "html": render_template(
                    "moderate/_card.html",
                    c=c,
                    page=card_page,
                    back=back,
                    open_reports=new_reports,
                ),
            }
            for c in now.new
        ],
        "more_new": now.more_new,
        "new_message": ngettext(
            "%(num)d new comment: reload to see it.",
            "%(num)d new comments: reload to see them.",
            len(now.new),
        )
        if now.new
        else None,
        "since": now.latest,
        "claims": [
            {
                "id": c.comment_id,
                "who": c.username,
                "mine": c.moderator_id == me,
                "message": _claim_text(c),
            }
            for c in now.claims
        ],
    }
    response = jsonify(body)
    response.set_etag(etag)
    return response


@bp.post("/comments/<id:comment_id>/claim")
@login_required
def claim(comment_id: int) -> Response:
    """The moderator focused this card: the others see "anna is looking at this" for a while.

    Sent by the script with the CSRF token in its ``X-CSRFToken`` header.
    """
    seconds = int(current_app.config["QUEUE_CLAIM_SECONDS"])
    until = shared_queue.claim(comment_id, g.moderator, seconds)
    return jsonify({"id": comment_id, "until": until.isoformat(), "seconds": seconds})


def _upto(raw: str | None) -> int:
    upto = _version(raw)
    if upto is None:
        raise InvalidInput(gettext("This confirmation is not valid."), code="bad_upto")
    return upto


@bp.get("/approve-all")
@admin_required
def approve_all_confirm() -> str:
    """How many pending comments the filter matches; the button that approves them."""
    where = _queue_filter()
    count, upto = review.matching_pending(where)
    return render_template(
        "moderate/approve_all.html",
        where=where,
        count=count,
        upto=upto,
        filter_args=filter_args(where),
        decision_form=DecisionForm(),
    )


@bp.post("/approve-all")
@admin_required
def approve_all() -> HTTPResponse:
    """Approve every pending comment the filter matched when the admin confirmed the count
    (those up to the highest id shown then), as one audited bulk action."""
    form = DecisionForm()
    validated(form)
    where = _queue_filter(request.form)
    upto = _upto(request.form.get("upto"))
    result = review.approve_matching(where, review.Actor.of(g.moderator), upto)
    flash(
        ngettext(
            "%(num)d comment approved (bulk action %(bulk)s).",
            "%(num)d comments approved (bulk action %(bulk)s).",
            result.approved,
            bulk=result.bulk_id,
        ),
        "success",
    )
    return redirect(url_for(".queue", **filter_args(where)))


# --- one comment, one article ----------------------------------------------------------------


@bp.get("/comments/<id:comment_id>")
@login_required
def comment(comment_id: int) -> str:
    the_comment = review.get_comment(comment_id)
    events = review.history(comment_id)
    return render_template(
        "moderate/comment.html",
        comment=the_comment,
        events=events,
        others=review.source_counts([the_comment.source_hash]),
        # Revising from here is explicit: the forms carry the version this page shows, so a
        # change by someone else since is refused rather than overwritten.
        card_version=events[-1].id if events else 0,
        open_reports=reports.open_reports([comment_id]),
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
