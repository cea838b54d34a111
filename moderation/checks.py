"""Abuse checks, run in order on every submission.

Each check is a small function that looks at one thing and returns a :class:`Finding` (a reason
code and whether it makes the comment spam or only holds it for a closer look) or ``None``. A
check may also refuse the request outright by raising a :class:`~moderation.errors.ServiceError`
(a forged form token, a rate limit). Every reason raised is stored on the comment and shown to
moderators; nothing is dropped silently.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app

from . import form_tokens
from .errors import InvalidInput
from .models import Article, Site


class Action(enum.StrEnum):
    HOLD = "hold"  # stays pending, flagged for the moderator
    SPAM = "spam"  # stored as spam, still visible to moderators


@dataclass(frozen=True)
class Finding:
    reason: str
    action: Action = Action.HOLD


@dataclass
class CheckContext:
    """What the checks look at: the comment as parsed, where it goes and where it came from."""

    site: Site
    article: Article
    author: str
    email: str | None
    body: str
    source_hash: str | None
    now: datetime
    form_token: str | None = None
    honeypot: str | None = None


@dataclass
class Verdict:
    findings: list[Finding] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [f.reason for f in self.findings]

    @property
    def is_spam(self) -> bool:
        return any(f.action is Action.SPAM for f in self.findings)


Check = Callable[[CheckContext], Finding | None]


def honeypot(ctx: CheckContext) -> Finding | None:
    """A field people never see and bots fill in."""
    if ctx.honeypot:
        return Finding("honeypot", Action.SPAM)
    return None


def form_token(ctx: CheckContext) -> Finding | None:
    """Forms carry a signed timestamp; too fast is a bot, none at all is a plain API client."""
    if not ctx.form_token:
        return Finding("no_token")
    try:
        token = form_tokens.verify(ctx.form_token, ctx.site.slug, ctx.article.key)
    except form_tokens.InvalidFormToken as error:
        message = (
            "This form has expired. Please reload the page and send your comment again."
            if error.expired
            else "This form is not valid. Please reload the page and send your comment again."
        )
        raise InvalidInput(message, code="invalid_form_token") from None
    if token.age < float(current_app.config["MIN_SUBMIT_SECONDS"]):
        return Finding("too_fast", Action.SPAM)
    return None


_LINK = re.compile(r"(?:https?://|mailto:|www\.)", re.IGNORECASE)


def links(ctx: CheckContext) -> Finding | None:
    """Many links are what most comment spam is made of."""
    limit = ctx.site.max_links
    if limit is None:
        limit = int(current_app.config["MAX_LINKS"])
    if len(_LINK.findall(ctx.body)) > limit:
        return Finding("links")
    return None


CHECKS: list[Check] = [honeypot, form_token, links]


def run_checks(ctx: CheckContext) -> Verdict:
    """Run every check in order; a check that refuses raises and nothing is stored."""
    verdict = Verdict()
    for check in CHECKS:
        finding = check(ctx)
        if finding is not None:
            verdict.findings.append(finding)
    return verdict
