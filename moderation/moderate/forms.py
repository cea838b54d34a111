"""The moderator UI's forms (Flask-WTF).

The moderator UI's forms each carry a CSRF token, validated before any change.
:class:`DecisionForm` has no required field at all: each decision button is a tiny form of its
own, carrying only its CSRF token (and an optional reason).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, Optional
from wtforms.widgets import TextArea

from ..rules import LANGUAGES, MAX_EMAIL_LENGTH, MAX_NOTE_LENGTH, MAX_TITLE_LENGTH

# --- moderator UI ------------------------------------------------------------------------------


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1000)])
    next = HiddenField()


class DecisionForm(FlaskForm):
    """A decision on one comment; the note is the optional reason kept in the audit trail."""

    note = StringField(
        _l("Reason (optional)"), validators=[Optional(), Length(max=MAX_NOTE_LENGTH)]
    )


class NewModeratorForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1000)])
    admin = BooleanField(_l("Administrator"))


class PasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1000)])


class SiteForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    origins = StringField(
        _l("Allowed origins (one per line)"),
        widget=TextArea(),
        validators=[Optional(), Length(max=5000)],
    )
    # Rendered as a <select> by the template; plain strings keep WTForms' choice API out.
    language = StringField(_l("Language"), validators=[AnyOf(LANGUAGES)])
    # Empty: no overdue alert (checked by sites.update_policy).
    overdue_minutes = StringField(_l("Overdue alert after … minutes"), validators=[Length(max=10)])
    # Trusted readers (moderation.trust); the numbers' ranges are checked by sites.update_policy.
    trust_readers = BooleanField(_l("Publish trusted readers' comments at once"))
    trust_min_approved = StringField(_l("Approved comments needed"), validators=[Length(max=10)])
    trust_days = StringField(_l("Within … days"), validators=[Length(max=10)])


class NewSiteForm(SiteForm):
    slug = StringField(_l("Slug"), validators=[DataRequired(), Length(max=64)])


class ArticleTitleForm(FlaskForm):
    """An article's title as a moderator confirms it (edited or not), or its removal.

    The first commenter gives the title; this form turns it from a reader's claim into the
    newsroom's. The text sent is what gets confirmed, never what the row holds by then.
    """

    title = StringField(_l("Title"), validators=[Optional(), Length(max=MAX_TITLE_LENGTH)])
    action = StringField(_l("Action"), validators=[AnyOf(["confirm", "remove"])])


class LocaleForm(FlaskForm):
    """The moderator's own UI language; empty means: as the browser asks."""

    locale = StringField(_l("Language"), validators=[AnyOf(("", *LANGUAGES))])


class BanForm(FlaskForm):
    """The ban form on a comment card: whom (the source or the e-mail), how long, why."""

    by = StringField(_l("Ban"), validators=[AnyOf(["source", "email"])])
    period = StringField(_l("For"), validators=[AnyOf(["1d", "7d", "30d", "forever"])])
    reason = StringField(
        _l("Reason (optional)"), validators=[Optional(), Length(max=MAX_NOTE_LENGTH)]
    )
    next = HiddenField()


class SitePolicyForm(FlaskForm):
    """A site's rules: word lists one entry per line; empty limits follow the service default."""

    blocked_words = TextAreaField(_l("Blocked words (spam)"), validators=[Length(max=60_000)])
    watched_words = TextAreaField(_l("Watched words (held)"), validators=[Length(max=60_000)])
    max_links = StringField(_l("Links before a comment is held"), validators=[Length(max=10)])
    rate_limit_per_minute = StringField(
        _l("Comments per source per minute"), validators=[Length(max=10)]
    )
    rate_limit_per_hour = StringField(
        _l("Comments per source per hour"), validators=[Length(max=10)]
    )
    paused = BooleanField(_l("Pause all commenting on this site"))


class NotifySettingsForm(FlaskForm):
    """A moderator's own notification settings. The values are checked by
    :func:`moderation.moderators.set_notifications`, which the CLI calls too."""

    email = StringField(_l("E-mail address"), validators=[Optional(), Length(max=MAX_EMAIL_LENGTH)])
    mode = StringField(_l("Mails"), validators=[AnyOf(["each", "digest", "off"])])
    digest_hours = StringField(_l("A digest every … hours"), validators=[Length(max=10)])
