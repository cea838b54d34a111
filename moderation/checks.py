"""Abuse checks, run in order on every submission (the widget's API and the no-JS form).

Each check is a small function that looks at one thing and returns a :class:`Finding` (a reason
code and whether it makes the comment spam or only holds it for a closer look), several, or
``None``. A check may also refuse the request outright by raising a
:class:`~moderation.errors.ServiceError`; then nothing is stored. Every reason raised is stored
on the comment (``Comment.reasons``) and shown to moderators; nothing is dropped silently, and
a comment marked spam gets the same 202 as any other, so bots learn nothing.

Before the checks, :func:`moderation.submission.submit_comment` refuses a paused site (403
``paused``) and a closed article (403 ``closed``). Then, in this order:

=====  ==================  ============================================  ======================
 #     check               outcome                                        reason code
=====  ==================  ============================================  ======================
 1     :func:`honeypot`    hidden ``website`` field filled → spam        ``honeypot``
 2     :func:`form_token`  no token → held; sent back too fast → spam;   ``no_token``,
                           forged or expired → 400 (reload the page)     ``too_fast``
 3     :func:`rate_limit`  over the limit → 429 with ``Retry-After``     (refused)
 4     :func:`links`       more than ``max_links`` links → held          ``links``
 5     :func:`words`       a blocked word → spam; a watched word → held  ``blocked_word:W``,
                                                                         ``watched_word:W``
 6     :func:`duplicate`   same text from the same source or e-mail      ``duplicate``
                           within 24 h → spam
 7     :func:`banned`      source or e-mail banned → spam                ``banned``
=====  ==================  ============================================  ======================

Why this order: the checks that need nothing but the request come first, and the form token
refuses a forged form before anything is counted. The rate limit comes next, before the checks
that read more of the database, so a flood is refused cheaply; it counts what was *stored*, so
honeypot and banned spam count too and a flood cannot fill the database. The checks after it
all run, whatever an earlier one found, so the moderator sees every reason at once.

**Rate limits** are per source (the keyed hash of the reader's address) and per site: a source
may store at most ``RATE_LIMIT_PER_MINUTE`` comments in any 60 seconds and
``RATE_LIMIT_PER_HOUR`` in any hour *on one site*; a site may set its own numbers
(``Site.rate_limit_per_minute``/``_per_hour``; ``None`` uses the setting, ``0`` switches that
limit off). Counting per site keeps a busy office network that reads two newspapers served by
one installation from sharing one allowance, and lets each newsroom tune its own. The count is
a query on the database (index ``ix_comment_source_created``), so it holds across workers and
hosts; while counting, the source is locked (a PostgreSQL advisory lock; on SQLite the
submission's transaction holds the write lock from its start, see
:func:`moderation.database.writes`), so two workers cannot both let the last allowed comment
through.
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, text

from . import bans, form_tokens, sites, wordlists
from .errors import InvalidInput, RateLimited
from .extensions import db
from .models import Article, Comment, Language, Site


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


Check = Callable[[CheckContext], Finding | Sequence[Finding] | None]


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


def _lock_source(source_hash: str) -> None:
    """Let one transaction at a time count and store comments of this source.

    On PostgreSQL a transaction-scoped advisory lock (released at commit or rollback). SQLite
    needs nothing here: the submission runs under :func:`moderation.database.writes`, whose
    ``BEGIN IMMEDIATE`` makes its transaction the only writer from its first statement.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(source_hash.encode()).digest()[:8], "big", signed=True)
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


_RATE_MESSAGE = {
    Language.DE: "Sie haben in kurzer Zeit viele Kommentare geschrieben. "
    "Bitte warten Sie {wait} und senden Sie Ihren Kommentar dann noch einmal.",
    Language.EN: "You have sent many comments in a short time. "
    "Please wait {wait} and send your comment again.",
}
_UNITS = {
    Language.DE: (("Sekunde", "Sekunden"), ("Minute", "Minuten")),
    Language.EN: (("second", "seconds"), ("minute", "minutes")),
}


def _wait_text(seconds: int, language: Language) -> str:
    (second, seconds_), (minute, minutes) = _UNITS[language]
    if seconds < 90:  # as the no-JS page says it (moderation.embed.wait_text)
        return f"{seconds} {second if seconds == 1 else seconds_}"
    return f"{math.ceil(seconds / 60)} {minutes}"


def rate_limits(site: Site) -> list[tuple[int, timedelta]]:
    """The limits in force on a site, as (comments, window); a limit of 0 is off."""
    policy = sites.policy(site)
    pairs = (
        (policy.rate_limit_per_minute, timedelta(minutes=1)),
        (policy.rate_limit_per_hour, timedelta(hours=1)),
    )
    return [(limit, window) for limit, window in pairs if limit > 0]


def rate_limit(ctx: CheckContext) -> None:
    """Refuse (429) a source that stored too many comments on this site lately.

    ``Retry-After`` says when the oldest comment that keeps the source over a limit leaves
    that limit's window.
    """
    limits = rate_limits(ctx.site)
    if not ctx.source_hash or not limits:
        return None
    _lock_source(ctx.source_hash)
    longest = max(window for _, window in limits)
    recent = db.session.scalars(
        select(Comment.created_at)
        .join(Article, Article.id == Comment.article_id)
        .where(
            Comment.source_hash == ctx.source_hash,
            Comment.created_at > ctx.now - longest,
            Article.site_id == ctx.site.id,
        )
        .order_by(Comment.created_at.desc())
    ).all()
    wait = 0.0
    for limit, window in limits:
        inside = [moment for moment in recent if moment > ctx.now - window]
        if len(inside) >= limit:
            wait = max(wait, (inside[limit - 1] + window - ctx.now).total_seconds())
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        language = ctx.site.language
        raise RateLimited(
            _RATE_MESSAGE[language].format(wait=_wait_text(seconds, language)),
            retry_after=seconds,
        )
    return None


def words(ctx: CheckContext) -> list[Finding]:
    """The site's blocked words make spam, its watched words hold; both in name and text."""
    findings = [
        Finding(f"blocked_word:{word}", Action.SPAM)
        for word in wordlists.find(ctx.site.blocked_words or [], ctx.author, ctx.body)
    ]
    findings += [
        Finding(f"watched_word:{word}")
        for word in wordlists.find(ctx.site.watched_words or [], ctx.author, ctx.body)
    ]
    return findings


def _same_text(body: str) -> str:
    return " ".join(body.casefold().split())


def duplicate(ctx: CheckContext) -> Finding | None:
    """The same text again from the same source or e-mail address (on any site) is spam.

    Compared ignoring case and spacing, against the sender's latest 500 comments in the window
    of ``DUPLICATE_WINDOW_HOURS`` (0 switches the check off).
    """
    hours = float(current_app.config["DUPLICATE_WINDOW_HOURS"])
    same_sender = []
    if ctx.source_hash:
        same_sender.append(Comment.source_hash == ctx.source_hash)
    if ctx.email:
        same_sender.append(Comment.email == ctx.email)
    if hours <= 0 or not same_sender:
        return None
    if ctx.source_hash:
        _lock_source(ctx.source_hash)
    earlier = db.session.scalars(
        select(Comment.body_raw)
        .where(or_(*same_sender), Comment.created_at > ctx.now - timedelta(hours=hours))
        .order_by(Comment.created_at.desc())
        .limit(500)
    )
    text_now = _same_text(ctx.body)
    if any(_same_text(body) == text_now for body in earlier):
        return Finding("duplicate", Action.SPAM)
    return None


def banned(ctx: CheckContext) -> Finding | None:
    """A banned source or e-mail address: stored as spam, answered like everyone else."""
    if bans.find_active(ctx.source_hash, ctx.email, ctx.now) is not None:
        return Finding("banned", Action.SPAM)
    return None


CHECKS: list[Check] = [honeypot, form_token, rate_limit, links, words, duplicate, banned]


def run_checks(ctx: CheckContext) -> Verdict:
    """Run every check in order; a check that refuses raises and nothing is stored."""
    verdict = Verdict()
    for check in CHECKS:
        outcome = check(ctx)
        if isinstance(outcome, Finding):
            verdict.findings.append(outcome)
        elif outcome:
            verdict.findings.extend(outcome)
    return verdict


PAUSED_MESSAGE = {
    Language.DE: "Kommentare sind vorübergehend geschlossen.",
    Language.EN: "Comments are temporarily closed.",
}
