"""Admin pages of the moderator UI: moderators and sites (admins only)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response as HTTPResponse

from .. import moderators, sites
from ..errors import InvalidInput
from .auth import admin_required
from .forms import NewModeratorForm, NewSiteForm, PasswordForm, SiteForm
from .pages import save_form, validated

bp = Blueprint("admin", __name__)


@bp.route("/admin/moderators", methods=["GET", "POST"])
@admin_required
def admin_moderators() -> Any:
    form = NewModeratorForm()

    def save() -> tuple[str, str]:
        created = moderators.create_moderator(
            (form.username.data or "").strip(), form.password.data or "", admin=form.admin.data
        )
        return gettext("Added %(name)s.", name=created.username), url_for(".admin_moderators")

    return save_form(
        form,
        save,
        lambda: render_template(
            "moderate/admin_moderators.html",
            form=form,
            password_form=PasswordForm(),
            moderators=moderators.list_moderators(),
        ),
    )


@bp.post("/admin/moderators/<username>/<any(activate, deactivate):action>")
@admin_required
def admin_moderator_active(username: str, action: str) -> HTTPResponse:
    moderators.set_active(username, action == "activate", by=g.moderator)
    if action == "activate":
        flash(gettext("%(name)s can log in again.", name=username), "success")
    else:
        flash(gettext("%(name)s can no longer log in.", name=username), "success")
    return redirect(url_for(".admin_moderators"))


@bp.post("/admin/moderators/<username>/password")
@admin_required
def admin_moderator_password(username: str) -> HTTPResponse:
    form = PasswordForm()
    validated(form)
    moderators.set_password(username, form.password.data or "")
    flash(gettext("New password set for %(name)s.", name=username), "success")
    return redirect(url_for(".admin_moderators"))


@bp.route("/admin/sites", methods=["GET", "POST"])
@admin_required
def admin_sites() -> Any:
    form = NewSiteForm()

    def save() -> tuple[str, str]:
        created = sites.create_site(
            (form.slug.data or "").strip(),
            form.name.data or "",
            (form.origins.data or "").split(),
            form.language.data or "",
        )
        message = gettext("Added the site %(name)s.", name=created.name)
        return message, url_for(".admin_site", slug=created.slug)

    return save_form(
        form,
        save,
        lambda: render_template("moderate/admin_sites.html", form=form, sites=sites.list_sites()),
    )


@bp.route("/admin/sites/<slug>", methods=["GET", "POST"])
@admin_required
def admin_site(slug: str) -> Any:
    site = sites.get_site(slug)
    form = SiteForm(obj=site if request.method == "GET" else None)
    if request.method == "GET":
        form.origins.data = "\n".join(site.origins or [])
        form.language.data = site.language.value
        form.overdue_minutes.data = str(site.overdue_minutes or "")
        form.trust_min_approved.data = str(site.trust_min_approved)
        form.trust_days.data = str(site.trust_days)

    def save() -> tuple[str, str]:
        sites.update_site_settings(
            slug,
            name=form.name.data or "",
            origins=(form.origins.data or "").split(),
            language=form.language.data or "",
            overdue_minutes=_minutes(form.overdue_minutes.data),
            trust_readers=bool(form.trust_readers.data),
            trust_min_approved=_whole(
                form.trust_min_approved.data,
                gettext("The number of approved comments must be a whole number."),
            ),
            trust_days=_whole(
                form.trust_days.data, gettext("The trust period must be a whole number of days.")
            ),
        )
        return gettext("Saved."), url_for(".admin_site", slug=slug)

    return save_form(
        form, save, lambda: render_template("moderate/admin_site.html", site=site, form=form)
    )


def _whole(raw: str | None, message: str) -> int | sites.Keep:
    """A trust setting from the form: empty keeps it as it is; ASCII digits only,
    :func:`sites.update_policy` checks the range."""
    value = (raw or "").strip()
    if not value:
        return sites.KEEP
    if not re.fullmatch(r"[0-9]{1,10}", value):
        raise InvalidInput(message, code="invalid_trust")
    return int(value)


def _minutes(raw: str | None) -> int | None:
    """The overdue limit from the form: empty is none; ASCII digits only ("²" is no number),
    :func:`sites.update_policy` checks the range."""
    value = (raw or "").strip()
    if not value:
        return None
    if not re.fullmatch(r"[0-9]{1,10}", value):
        raise InvalidInput(
            gettext("The overdue limit is a number of minutes, or empty for none."),
            code="invalid_overdue_minutes",
        )
    return int(value)
