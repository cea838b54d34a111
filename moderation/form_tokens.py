"""Signed, time-stamped form tokens for the comment forms (widget and no-JS page).

A token says "this form for this site and article was handed out at time T". It does two jobs:

* The no-JS embed page runs inside an iframe on the news site. Browsers that block third-party
  cookies send that iframe no cookies, so a session-bound CSRF token cannot work there. The form
  is anonymous and the API it feeds takes cookie-less requests anyway, so what needs proving is
  only that the form was really served by us, recently: a signature plus a timestamp does that
  without any cookie.
* The abuse checks read its age: a human needs a few seconds to write a comment.

A token is spent when its comment is stored (``moderation.submission``), so one form posts one
comment. Only the site's pages may fetch one from the API (CORS without a wildcard).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

_SALT = "comment-form"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def issue(site: str, article: str) -> str:
    """A token for a comment form on this site's article.

    The nonce makes every token unique, so two readers who load a form in the same second do
    not share one (a token is accepted once).
    """
    return _serializer().dumps([site, article, secrets.token_urlsafe(8)])


@dataclass(frozen=True)
class FormToken:
    age: float  # seconds since the token was issued


class InvalidFormToken(Exception):
    """The token is forged, for another article, or expired."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def verify(token: str, site: str, article: str) -> FormToken:
    """Check a token for this site and article; raises :class:`InvalidFormToken`."""
    max_age = int(current_app.config["FORM_TOKEN_MAX_AGE"])
    try:
        value, issued = _serializer().loads(token, max_age=max_age, return_timestamp=True)
    except SignatureExpired:
        raise InvalidFormToken(expired=True) from None
    except BadSignature:
        raise InvalidFormToken(expired=False) from None
    if not isinstance(value, list) or value[:2] != [site, article] or len(value) != 3:
        raise InvalidFormToken(expired=False)
    return FormToken(age=max(0.0, time.time() - issued.timestamp()))
