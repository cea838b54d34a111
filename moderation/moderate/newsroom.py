"""The newsroom's voice in the moderator UI: reply as the newsroom, mark editors' picks.

Both are forms on a comment's page (``templates/moderate/comment.html``), each a POST whose
CSRF token ``CSRFProtect`` checks before the view runs; the work is done by
:mod:`moderation.newsroom`. The forms live here rather than in :mod:`.forms` because nothing
else uses them. Bad input (an empty or too long reply, an unknown action, a comment that is
not published) is answered with the moderator error page and changes nothing.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as HTTPResponse
from wtforms import TextAreaField

from .. import newsroom
from .auth import login_required

bp = Blueprint("newsroom", __name__)


class StaffReplyForm(FlaskForm):
    """The newsroom's reply; its text is checked by :func:`moderation.newsroom.parse_reply`."""

    body = TextAreaField(_l("Reply as the newsroom"))


@bp.post("/comments/<id:comment_id>/staff-reply")
@login_required
def staff_reply(comment_id: int) -> HTTPResponse:
    form = StaffReplyForm()  # its CSRF token was checked before the view ran
    body = newsroom.parse_reply(form.body.data, int(current_app.config["MAX_BODY_LENGTH"]))
    reply = newsroom.staff_reply(comment_id, body, g.moderator)
    flash(gettext("Your reply is published as the newsroom."), "success")
    return redirect(url_for("moderate.queue.comment", comment_id=reply.id))


# Static paths, so that they win over the queue's /comments/<id>/<decision>.
@bp.post("/comments/<id:comment_id>/pick", defaults={"action": "pick"})
@bp.post("/comments/<id:comment_id>/unpick", defaults={"action": "unpick"})
@login_required
def pick(comment_id: int, action: str) -> HTTPResponse:
    newsroom.set_featured(comment_id, action == "pick", g.moderator)
    if action == "pick":
        flash(gettext("Marked as an editors' pick."), "success")
    else:
        flash(gettext("No longer an editors' pick."), "success")
    return redirect(url_for("moderate.queue.comment", comment_id=comment_id))
