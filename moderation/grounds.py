"""The grounds of a removal: the statement of reasons every rejection carries (DSA Art. 17).

A site may keep its own list (``Site.removal_grounds``); otherwise the service's defaults in
:data:`moderation.rules.REMOVAL_GROUNDS` apply. A ground is stored as its code on the audit
event (``ModerationEvent.ground``) and shown by its label in the reader's or moderator's
language. Kept apart from :mod:`moderation.review` and :mod:`moderation.reports` so the
readers' mails (:mod:`moderation.notify.readers`) can name a ground without importing either.
"""

from __future__ import annotations

from flask_babel import gettext

from . import rules
from .errors import InvalidInput
from .models import Site

DEFAULT_CLI_GROUND = "other"  # the CLI's ground when none is given


def site_grounds(site: Site) -> tuple[str, ...]:
    """The grounds a moderator of this site chooses from (the service's defaults unless set)."""
    return tuple(site.removal_grounds) if site.removal_grounds else rules.REMOVAL_GROUNDS


def label(code: str) -> str:
    """A ground as moderators and authors read it, in the current language (unknown codes,
    from a site's own list, as they are)."""
    labels = {
        "off_topic": gettext("Off-topic"),
        "insult": gettext("Insult or harassment"),
        "hate_speech": gettext("Hate speech"),
        "spam": gettext("Spam or advertising"),
        "illegal": gettext("Illegal content"),
        "personal_data": gettext("Personal data"),
        "other": gettext("Other"),
    }
    return labels.get(code, code)


def check(site: Site, ground: str | None) -> str:
    """``ground`` if it is one of the site's grounds; raises :class:`InvalidInput` otherwise
    (also for none at all: a removal without a ground gives its author no statement)."""
    if not ground or ground not in site_grounds(site):
        raise InvalidInput(
            gettext("Choose the ground of the removal."),
            code="invalid_ground",
            fields={"ground": gettext("Choose one of the site's grounds.")},
        )
    return ground
