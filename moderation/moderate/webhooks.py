"""Admin pages for a site's webhooks: list with their recent attempts, add, remove, resume.

Admins only, like the other site settings (:mod:`.admin`): a webhook sends comments, with
the checks' reasons, to an address outside the service. The views call the use cases in
:mod:`moderation.notify.webhooks`, as the CLI does. A new webhook's secret is shown on the page
that answers the POST, once: it is never put in a redirect, a flash message or the session
cookie, which is signed but readable.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as HTTPResponse
from wtforms import StringField
from wtforms.validators import AnyOf, DataRequired, Length

from .. import sites
from ..errors import ServiceError
from ..i18n import error_message
from ..notify import outbox, webhooks
from .auth import admin_required
from .pages import back

bp = Blueprint("webhooks", __name__)

RECENT = 10  # attempts shown per webhook


class WebhookForm(FlaskForm):
    """A new webhook. Its events are the ticked boxes named ``events`` (read by the view and
    checked by the use case); none ticked means all of them, as in the CLI."""

    url = StringField(
        _l("Address (URL)"), validators=[DataRequired(), Length(max=webhooks.MAX_URL_LENGTH)]
    )
    format = StringField(_l("Format"), validators=[AnyOf(webhooks.FORMATS)])


def _page(slug: str, form: WebhookForm, created: Any = None, secret: str | None = None) -> str:
    """The page; after a refused POST its form keeps what was entered and ticked."""
    site = sites.get_site(slug)
    hooks = webhooks.list_webhooks(slug)
    return render_template(
        "moderate/admin_webhooks.html",
        site=site,
        form=form,
        hooks=hooks,
        attempts={hook.id: webhooks.recent_attempts(hook.id, RECENT) for hook in hooks},
        events=outbox.COMMENT_EVENTS,
        ticked=[] if created else request.form.getlist("events"),
        formats=webhooks.FORMATS,
        created=created,
        secret=secret,
    )


@bp.route("/admin/sites/<slug>/webhooks", methods=["GET", "POST"])
@admin_required
def site_webhooks(slug: str) -> Any:
    """The site's webhooks; a valid POST adds one and shows its secret on this answer."""
    sites.get_site(slug)  # 404 before anything else for an unknown site
    form = WebhookForm()
    if request.method == "GET":
        form.format.data = "json"
        return _page(slug, form)
    if not form.validate():
        return _page(slug, form), 400
    try:
        hook, secret = webhooks.add(
            slug, form.url.data or "", request.form.getlist("events"), form.format.data or ""
        )
    except ServiceError as error:
        flash(error_message(error.code, error.message), "error")
        return _page(slug, form), error.status
    flash(gettext("Added the webhook #%(id)s.", id=hook.id), "success")
    return _page(slug, WebhookForm(formdata=None, format="json"), created=hook, secret=secret)


@bp.post("/admin/webhooks/<id:webhook_id>/remove")
@admin_required
def remove(webhook_id: int) -> HTTPResponse:
    slug = webhooks.get(webhook_id).site.slug
    pending = webhooks.remove(webhook_id)
    flash(
        gettext(
            "Removed the webhook #%(id)s; %(n)s calls not yet sent were dropped.",
            id=webhook_id,
            n=pending,
        ),
        "success",
    )
    return back(url_for(".site_webhooks", slug=slug))


@bp.post("/admin/webhooks/<id:webhook_id>/resume")
@admin_required
def resume(webhook_id: int) -> HTTPResponse:
    hook = webhooks.resume(webhook_id)
    flash(gettext("The webhook #%(id)s is active again.", id=hook.id), "success")
    return back(url_for(".site_webhooks", slug=hook.site.slug))
