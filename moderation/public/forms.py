"""The no-JS embed page's comment form.

It only carries data; the rules for a comment live in one place,
:func:`moderation.submission.parse_submission`, which the JSON API uses too.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, StringField, TextAreaField


class CommentForm(FlaskForm):
    """The comment form of the no-JS embed page (``/embed/<site>/<article>``).

    Its CSRF protection is the signed, time-stamped ``form_token`` (see
    :mod:`moderation.form_tokens`), not Flask-WTF's session token: the page runs inside an
    iframe on the news site, where browsers that block third-party cookies send no session.
    """

    class Meta:
        csrf = False  # see the class docstring: the form token does this job without a cookie

    author = StringField()
    email = EmailField()
    # Mail me when it is published or answered (double opt-in; moderation.notify.readers).
    notify = BooleanField()
    body = TextAreaField()
    parent_id = HiddenField()
    form_token = HiddenField()
    # The honeypot: hidden from people (CSS, aria-hidden, no tab stop), filled in by bots.
    website = StringField()


class ReportForm(FlaskForm):
    """The no-JS page's report form (``/embed/report/<id>``); the rules for a report live in
    :func:`moderation.reports.parse_report`. Protected like :class:`CommentForm`: a signed,
    single-use form token and the page's origin, no session cookie."""

    class Meta:
        csrf = False  # see CommentForm

    # The radio buttons are written out in templates/embed/report.html; parse_report names a
    # bad choice, in the site's language.
    category = StringField()
    law = StringField()
    explanation = TextAreaField()
    email = EmailField()
    good_faith = BooleanField()
    form_token = HiddenField()
