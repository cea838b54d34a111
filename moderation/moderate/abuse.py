"""The moderator UI's abuse tools: bans from the comment card, the bans list, a site's rules.

A blueprint of its own under ``/moderate/`` (so the moderator pages' login, CSRF, framing
policy and layout apply to it) whose views call the use cases in :mod:`bans` and
:func:`sites.update_policy`, as the CLI does. Moderators and admins alike may ban, lift bans
and edit a site's word lists and limits: keeping spam out is their daily work.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, g, render_template, request, url_for
from flask_babel import gettext

from .. import bans, rules, sites, wordlists
from ..errors import InvalidInput, NotFound
from .auth import login_required
from .forms import BanForm, SitePolicyForm
from .pages import back, save_form, validated

bp = Blueprint("abuse", __name__)

PERIODS = ("1d", "7d", "30d", "forever")
NUMBER = re.compile(r"[0-9]{1,10}")


def period_label(period: str) -> str:
    return {
        "1d": gettext("for a day"),
        "7d": gettext("for a week"),
        "30d": gettext("for 30 days"),
        "forever": gettext("forever"),
    }[period]


@bp.post("/comments/<id:comment_id>/ban")
@login_required
def ban(comment_id: int) -> Any:
    """Ban the source or the e-mail address of a comment's author (the card's ban form)."""
    form = BanForm()
    validated(form)
    by, period = form.by.data, form.period.data
    assert by is not None and period is not None  # AnyOf let only its choices through
    if not rules.is_row_id(comment_id):  # the database would raise, not find nothing
        raise NotFound(f"There is no comment {comment_id}.", code="unknown_comment")
    made = bans.ban_comment_author(
        comment_id,
        by,
        duration=bans.parse_duration(period),
        reason=form.reason.data or None,
        actor=g.moderator.username,
    )
    if made.kind.value == "email":
        message = gettext("Banned the e-mail address %(period)s.", period=period_label(period))
    else:
        message = gettext("Banned the source %(period)s.", period=period_label(period))
    flash(message, "success")
    return back(url_for("moderate.queue.comment", comment_id=comment_id))


@bp.get("/protection")
@login_required
def protection() -> str:
    """The sites' rules at a glance and the bans, active (or all with ``?all=1``)."""
    include_ended = request.args.get("all") == "1"
    return render_template(
        "moderate/protection.html",
        policies=[(site, sites.policy(site)) for site in sites.list_sites()],
        bans=bans.list_bans(include_ended=include_ended),
        include_ended=include_ended,
        is_active=bans.is_active,
        here=request.full_path.rstrip("?"),
    )


@bp.post("/bans/<id:ban_id>/lift")
@login_required
def lift(ban_id: int) -> Any:
    if not rules.is_row_id(ban_id):  # the database would raise, not find nothing
        raise NotFound(f"There is no ban {ban_id}.", code="unknown_ban")
    bans.lift_ban(ban_id)  # CSRFProtect checked the form's token before the view ran
    flash(gettext("Ban lifted."), "success")
    return back(url_for(".protection"))


def _number(raw: str | None, label: str) -> int | None:
    """A limit from a form: empty means the service default.

    ASCII digits only: ``str.isdigit`` also takes "²" (which ``int`` then refuses, a 500) and
    "١٢"; :func:`sites.update_policy` checks the range.
    """
    value = (raw or "").strip()
    if not value:
        return None
    if not NUMBER.fullmatch(value):
        raise InvalidInput(
            gettext("%(field)s: a whole number, or empty for the default.", field=label),
            code="invalid_policy",
        )
    return int(value)


@bp.route("/sites/<slug>/rules", methods=["GET", "POST"])
@login_required
def site_rules(slug: str) -> Any:
    """See and edit a site's word lists, link and rate limits, and pause switch."""
    site = sites.get_site(slug)
    form = SitePolicyForm()
    if request.method == "GET":
        form.blocked_words.data = "\n".join(site.blocked_words or [])
        form.watched_words.data = "\n".join(site.watched_words or [])
        for name in ("max_links", "rate_limit_per_minute", "rate_limit_per_hour"):
            own = getattr(site, name)
            form[name].data = "" if own is None else str(own)
        form.paused.data = site.paused

    def limit(field: Any) -> int | None:
        return _number(field.data, str(field.label.text))

    def save() -> tuple[str, str]:
        sites.update_policy(
            slug,
            blocked_words=wordlists.parse_lines(form.blocked_words.data or ""),
            watched_words=wordlists.parse_lines(form.watched_words.data or ""),
            max_links=limit(form.max_links),
            rate_limit_per_minute=limit(form.rate_limit_per_minute),
            rate_limit_per_hour=limit(form.rate_limit_per_hour),
            paused=bool(form.paused.data),
        )
        return gettext("Saved."), url_for(".site_rules", slug=slug)

    return save_form(
        form,
        save,
        lambda: render_template(
            "moderate/site_rules.html", site=site, form=form, policy=sites.policy(site)
        ),
    )
