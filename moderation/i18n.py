"""Languages (``rules.LANGUAGES``): every human text is in the catalogs, in one place.

The moderator UI's language is chosen per request: a moderator's own choice
(``Moderator.locale``) wins; otherwise the browser's ``Accept-Language`` decides; otherwise
``BABEL_DEFAULT_LOCALE``. Message catalogs live in
``translations/<lang>/LC_MESSAGES/messages.po``; the compiled ``.mo`` files are build output
(``make install`` compiles them, see the Makefile), so they are never stale in git.

Readers are told things in their site's language (or the one ``?lang=`` asks for, see
:func:`reader_language`): the public face renders under ``flask_babel.force_locale``, and the
use cases translate what a reader sees (field errors, closed, paused, the rate limit) with
``gettext`` where they raise it, so it comes in whatever language the caller forced.

Reason codes raised by the abuse checks get a human label here. A code may carry a detail after
a colon (``blocked_word:idiot``): the label is the prefix's, the detail is shown as it is. An
unknown code is shown as it is, so a new check is visible before anyone translates it.
"""

from __future__ import annotations

from datetime import datetime

from babel import Locale
from babel.dates import format_timedelta
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Babel, get_locale, lazy_gettext, ngettext

from .models import SiteSnapshot, utcnow
from .rules import LANGUAGES

babel = Babel()

REASON_LABELS = {
    "links": lazy_gettext("many links"),
    "no_token": lazy_gettext("sent without the comment form"),
    "too_fast": lazy_gettext("sent too fast"),
    "honeypot": lazy_gettext("hidden field filled in (bot)"),
    "rate_limit": lazy_gettext("many comments from this source"),
    "duplicate": lazy_gettext("duplicate of an earlier comment"),
    "banned": lazy_gettext("banned source or e-mail"),
    "blocked_word": lazy_gettext("blocked word"),
    "watched_word": lazy_gettext("watched word"),
    "trusted": lazy_gettext("trusted"),
    "reported": lazy_gettext("reported by readers"),
    "objection": lazy_gettext("the author objects to the removal"),
}


STATUS_LABELS = {
    "pending": lazy_gettext("pending"),
    "approved": lazy_gettext("approved"),
    "rejected": lazy_gettext("rejected"),
    "spam": lazy_gettext("spam"),
    "withdrawn": lazy_gettext("withdrawn"),
}


# The moderator UI's own wording for errors whose use-case message names the thing, for the
# CLI and logs ("There is no site 'x'."), where a page says it in general. Every other error
# shows the use case's message, translated where it is raised.
ERROR_MESSAGES = {
    "bad_search": lazy_gettext("The search text is too long."),
    "invalid_decision": lazy_gettext("Unknown decision; use approve, reject or spam."),
    "invalid_language": lazy_gettext("The language must be German or English."),
    "invalid_origin": lazy_gettext("An origin looks like https://www.example.org."),
    "moderator_exists": lazy_gettext("A moderator with this name exists already."),
    "site_exists": lazy_gettext("A site with this slug exists already."),
    "too_many": lazy_gettext("Too many comments at once."),
    "unknown_article": lazy_gettext("There is no such article."),
    "unknown_comment": lazy_gettext("There is no such comment."),
    "unknown_moderator": lazy_gettext("There is no such moderator."),
    "unknown_site": lazy_gettext("There is no such site."),
    "withdrawn": lazy_gettext("The author withdrew this comment; it cannot be decided."),
}


def error_message(code: str, fallback: str) -> str:
    message = ERROR_MESSAGES.get(code)
    return str(message) if message is not None else fallback


def status_label(status: str | None) -> str:
    return str(STATUS_LABELS.get(str(status), status or "–"))


def reason_label(code: str) -> str:
    """A human label for a check's reason code, in the current language."""
    prefix, _, detail = code.partition(":")
    label = REASON_LABELS.get(prefix)
    if label is None:
        return code
    return f"{label}: {detail}" if detail else str(label)


def select_locale() -> str:
    """The moderator's language, else the browser's; the default outside a request (the CLI).

    The public face does not ask: it renders reader texts under ``force_locale`` in the site's
    language (or the one the page asks for).
    """
    if not has_request_context():
        return str(current_app.config.get("BABEL_DEFAULT_LOCALE", "en"))
    moderator = g.get("moderator")
    if moderator is not None and moderator.locale in LANGUAGES:
        return moderator.locale
    return request.accept_languages.best_match(LANGUAGES) or current_app.config.get(
        "BABEL_DEFAULT_LOCALE", "en"
    )


def reader_language(site: SiteSnapshot) -> str:
    """The language of what a reader is told: ``?lang=`` when it names one of ours (the widget's
    ``data-lang``, the page's link), else the site's."""
    wanted = request.args.get("lang")
    return wanted if wanted in LANGUAGES else site.language.value


def wait_text(seconds: int, shown: str | None = None) -> str:
    """How long a rate-limited reader waits, in the current language: "1 Sekunde", "89
    Sekunden", then whole minutes ("2 Minuten"); ``shown`` in place of the number (for the
    widget, which fills it in)."""
    if seconds < 90:
        return ngettext("%(n)s second", "%(n)s seconds", seconds, n=shown or seconds)
    minutes = -(-seconds // 60)
    return ngettext("%(n)s minute", "%(n)s minutes", minutes, n=shown or minutes)


def language_name(code: str) -> str:
    """A language by its own name ("Deutsch", "English"), from Babel's locale data."""
    return str(Locale.parse(code).get_display_name(code))


def waiting(since: datetime, now: datetime | None = None) -> str:
    """How long something has waited, short and in the current language ("12 Min.")."""
    return format_timedelta(
        (now or utcnow()) - since, format="short", threshold=1.0, locale=get_locale()
    )


def init_app(app: Flask, translations: str) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", translations)
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["waiting"] = waiting
    app.jinja_env.filters["reason_label"] = reason_label
    app.jinja_env.filters["status_label"] = status_label
    app.jinja_env.filters["language_name"] = language_name

    app.jinja_env.globals["current_locale"] = current_locale


def current_locale() -> str:
    return str(get_locale() or "en")
