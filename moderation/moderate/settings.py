"""The moderator's own settings page: how they hear about the queue (``/moderate/settings``).

Every moderator, admin or not, sets their own mail address, mode (a mail for ``each`` new
comment, a ``digest`` every few hours, or ``off``) and digest period here. The view reads the
form and calls :func:`moderation.moderators.set_notifications`, as
``flask --app wsgi moderators notify`` does; a bad value is shown on the page and changes
nothing.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, g, render_template, request, url_for
from flask_babel import gettext

from .. import moderators, rules
from ..errors import InvalidInput
from .auth import login_required
from .forms import NotifySettingsForm
from .pages import save_form

bp = Blueprint("settings", __name__)

HOURS = re.compile(r"[0-9]{1,10}")


def _hours(raw: str | None) -> int | None:
    """The digest period from the form, in ASCII digits (``str.isdigit`` takes "²"), or None
    (keep it) when empty; :func:`moderators.set_notifications` checks the range."""
    value = (raw or "").strip()
    if not value:
        return None
    if not HOURS.fullmatch(value):
        raise InvalidInput(
            gettext("A digest comes every 1 to %(max)s hours.", max=rules.MAX_DIGEST_HOURS),
            code="invalid_digest_hours",
        )
    return int(value)


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings() -> Any:
    moderator = g.moderator
    form = NotifySettingsForm()
    if request.method == "GET":
        form.email.data = moderator.notify_email or ""
        form.mode.data = moderator.notify_mode.value
        form.digest_hours.data = str(moderator.digest_hours)

    def save() -> tuple[str, str]:
        moderators.set_notifications(
            moderator.username,
            email=form.email.data,
            mode=form.mode.data or "",
            digest_hours=_hours(form.digest_hours.data),
        )
        return gettext("Saved."), url_for(".settings")

    return save_form(
        form,
        save,
        lambda: render_template(
            "moderate/settings.html", form=form, max_hours=rules.MAX_DIGEST_HOURS
        ),
    )
