"""Abuse checks, run in order on every submission (the widget's API and the no-JS form).

Each check is a small function that looks at one thing and returns a :class:`Finding` (a reason
code and whether it makes the comment spam or only holds it for a closer look), several, or
``None``. A check may also refuse the request outright by raising a
:class:`~moderation.errors.ServiceError`; then nothing is stored. Every reason raised is stored
on the comment (``Comment.reasons``) and shown to moderators; nothing is dropped silently, and
a comment marked spam gets the same 202 as any other, so bots learn nothing.

Before the checks, :func:`moderation.submission.submit_comment` refuses a paused site (403
``paused``). Then, in this order:

=====  ==================  ============================================  ======================
 #     check               outcome                                        reason code
=====  ==================  ============================================  ======================
 1     :func:`honeypot`    hidden ``website`` field filled → spam        ``honeypot``
 2     :func:`form_token`  no token → held; sent back too fast → spam;   ``no_token``,
                           forged or expired → 400 (reload the page)     ``too_fast``
 3     :func:`links`       more than ``max_links`` links → held          ``links``
 4     :func:`words`       a blocked word → spam; a watched word → held  ``blocked_word:W``,
                                                                         ``watched_word:W``
 5     :func:`rate_limit`  over the limit → 429 with ``Retry-After``     (refused)
 6     :func:`duplicate`   same text from the same source or e-mail      ``duplicate``
                           within 24 h → spam
 7     :func:`banned`      source or e-mail banned → spam                ``banned``
=====  ==================  ============================================  ======================

Two stages. Checks 1–4 look at the request alone (:data:`Stage.REQUEST`); they run before the
submission's write transaction, so the CPU they cost does not hold up other writers. Checks 5–7
read the sender's history (:data:`Stage.HISTORY`); they run inside the write transaction, right
before the comment is stored, so what they count cannot change before the comment is written.
Between the stages, ``submit_comment`` refuses a closed article (403 ``closed``) and a reply to
anything but a published comment of the article.

A history check works in two steps: it sends its queries (:meth:`Driver.later
<moderation.database.Driver.later>`) and returns a function that reads them and judges.
:func:`start_checks` has every check of the stage send its queries before any is judged, so
on PostgreSQL they travel to the server together, with the submission's own reads, in one
round trip instead of one each; the judging then goes in the order of the table, so a refusal
(429) still comes before any finding, and the findings keep their order.

Why this order: the form token refuses a forged form before the database is touched. The rate
limit comes first among the checks that read the database, so a flood is refused before the
costlier reads; it counts what was *stored*, so honeypot and banned spam count too and a flood
cannot fill the database. Every check that does not refuse runs, whatever an earlier one found,
so the moderator sees every reason at once, in the order of this table.

**Rate limits** are per source (the keyed hash of the reader's address) and per site: a source
may store at most ``RATE_LIMIT_PER_MINUTE`` comments in any 60 seconds and
``RATE_LIMIT_PER_HOUR`` in any hour *on one site*; a site may set its own numbers
(``Site.rate_limit_per_minute``/``_per_hour``; ``None`` uses the setting, ``0`` switches that
limit off). Counting per site keeps a busy office network that reads two newspapers served by
one installation from sharing one allowance, and lets each newsroom tune its own. The count is
a query on the database (index ``ix_comment_source_created``), so it holds across workers and
hosts; while counting, the source is locked (a PostgreSQL advisory lock; on SQLite the
submission's transaction holds the write lock from its start, see
:func:`moderation.database.writes_on_driver`), so two workers cannot both let the last
allowed comment through. A source refused once is refused from the worker's memory until the
wait it was told is over (:func:`refuse_while_told_to_wait`).
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import BigInteger, bindparam, func, select

from . import bans, database, form_tokens, sites, wordlists
from .database import Driver
from .errors import InvalidInput, RateLimited
from .i18n import wait_text
from .models import Article, Comment, SiteSnapshot


class Stage(enum.Enum):
    REQUEST = "request"  # the request alone; before the write transaction
    HISTORY = "history"  # the sender's earlier comments and bans; inside it


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

    site: SiteSnapshot
    article_key: str
    author: str
    email: str | None
    body: str
    source_hash: str | None
    now: datetime
    form_token: str | None = None
    honeypot: str | None = None
    # The write transaction the history checks read in (set for :data:`Stage.HISTORY`).
    driver: Driver | None = None
    # The source's lock is held in that transaction (see _lock_source).
    source_locked: bool = field(default=False, init=False)

    @property
    def db(self) -> Driver:
        assert self.driver is not None, "history checks run inside the write transaction"
        return self.driver


@dataclass
class Verdict:
    findings: list[Finding] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [f.reason for f in self.findings]

    @property
    def is_spam(self) -> bool:
        return any(f.action is Action.SPAM for f in self.findings)


Outcome = Finding | Sequence[Finding] | None
# A history check returns a Judge: what it asked is read, and judged, when that is called.
Judge = Callable[[], Outcome]
Check = Callable[[CheckContext], Outcome | Judge]


def reads_history(check: Check) -> Check:
    """Mark a check that reads the database: it runs in the :data:`Stage.HISTORY` stage."""
    check.stage = Stage.HISTORY  # type: ignore[attr-defined]  # a mark that run_checks reads
    return check


def stage_of(check: Check) -> Stage:
    return getattr(check, "stage", Stage.REQUEST)


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
        token = form_tokens.verify(ctx.form_token, ctx.site.slug, ctx.article_key)
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


# PostgreSQL only (see _lock_source).
_LOCK_SOURCE = select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))


def _lock_source(ctx: CheckContext) -> None:
    """Let one transaction at a time count and store comments of this source.

    On PostgreSQL a transaction-scoped advisory lock (released at commit or rollback), taken
    once per transaction: the rate limit and the duplicate check both need it, and the second
    request for a lock the transaction holds would only cost the server a statement. SQLite
    needs nothing here: the submission runs under :func:`moderation.database.writes_on_driver`,
    whose ``BEGIN IMMEDIATE`` makes its transaction the only writer from its first statement.
    """
    if not ctx.db.sqlite and ctx.source_hash and not ctx.source_locked:
        digest = hashlib.sha256(ctx.source_hash.encode()).digest()
        ctx.db.execute(_LOCK_SOURCE, {"key": int.from_bytes(digest[:8], "big", signed=True)})
        ctx.source_locked = True


def rate_limits(site: SiteSnapshot) -> list[tuple[int, timedelta]]:
    """The limits in force on a site, as (comments, window); a limit of 0 is off."""
    policy = sites.policy(site)
    pairs = (
        (policy.rate_limit_per_minute, timedelta(minutes=1)),
        (policy.rate_limit_per_hour, timedelta(hours=1)),
    )
    return [(limit, window) for limit, window in pairs if limit > 0]


# The history checks' statements, run straight on the driver inside the write transaction.
_comment = database.table(Comment)
_article = database.table(Article)
# The site of each of the source's recent comments is looked up by the article's primary key,
# comment by comment, in a subquery the planner cannot turn into a join. A source has a few
# comments in the window, a site thousands of articles; yet as a join PostgreSQL could plan a
# merge join over all of them (and planning the join cost twice as much as running this), so
# that this query, asked twice, took most of the database's time for a submission.
_SITE_OF_COMMENT = (
    select(_article.c.site_id).where(_article.c.id == _comment.c.article_id).scalar_subquery()
)
_RECENT_ON_SITE = (
    select(_comment.c.created_at)
    .where(
        _comment.c.source_hash == bindparam("source_hash"),
        _comment.c.created_at > bindparam("since"),
        _SITE_OF_COMMENT == bindparam("site_id"),
    )
    .order_by(_comment.c.created_at.desc())
    # Each window's count is read from the newest rows: more than the largest limit never tell.
    .limit(bindparam("most"))
)
# One query per way of naming the sender, each served by its own index. (With an OR of the
# two, SQLite's planner, once ANALYZE has seen that most comments have no e-mail, prefers
# reading every comment of the window.)
_EARLIER_BODIES = {
    column: select(_comment.c.body_raw)
    .where(_comment.c[column] == bindparam("sender"), _comment.c.created_at > bindparam("since"))
    .order_by(_comment.c.created_at.desc())
    .limit(500)
    for column in ("source_hash", "email")
}


@reads_history
def rate_limit(ctx: CheckContext) -> Judge | None:
    """Refuse (429) a source that stored too many comments on this site lately.

    ``Retry-After`` says when the oldest comment that keeps the source over a limit leaves
    that limit's window.
    """
    limits = rate_limits(ctx.site)
    if not ctx.source_hash or not limits:
        return None
    _lock_source(ctx)
    recent = _ask_recent(ctx, limits, ctx.db)
    return lambda: _refuse_over(ctx, limits, recent.fetchall())


def refuse_over_rate_limit(ctx: CheckContext) -> None:
    """The rate limit, read before the comment is rendered: a flood costs no sanitizing.

    Outside the write transaction and without the lock, so it can let one comment too many
    pass while others are being stored; :func:`rate_limit` then refuses it, exactly. Only
    where the text is rendered before that transaction (SQLite, see
    :func:`moderation.submission.submit_comment`).
    """
    limits = rate_limits(ctx.site)
    if ctx.source_hash and limits:
        with database.reading() as driver:
            rows = _ask_recent(ctx, limits, driver).fetchall()
        _refuse_over(ctx, limits, rows)


def _ask_recent(ctx: CheckContext, limits: list[tuple[int, timedelta]], driver: Driver) -> Any:
    """Send the query for the source's newest comments on the site in the longest window, as
    many as the largest limit: a site that allows thousands an hour reads no more than that."""
    longest = max(window for _, window in limits)
    since = driver.timestamp(ctx.now - longest)
    return driver.later(
        _RECENT_ON_SITE,
        {
            "source_hash": ctx.source_hash,
            "since": since,
            "site_id": ctx.site.id,
            "most": max(limit for limit, _ in limits),
        },
    )


def _refuse_over(
    ctx: CheckContext, limits: list[tuple[int, timedelta]], rows: Sequence[tuple]
) -> None:
    recent = [Driver.moment(created_at) for (created_at,) in rows]
    wait = 0.0
    for limit, window in limits:
        inside = [moment for moment in recent if moment > ctx.now - window]
        if len(inside) >= limit:
            wait = max(wait, (inside[limit - 1] + window - ctx.now).total_seconds())
    if wait > 0:
        told = _told_to_wait()
        if len(told) >= _TOLD_TO_WAIT_MAX:
            del told[next(iter(told))]  # the oldest entry makes room
        told[_waiting_key(ctx, limits)] = ctx.now + timedelta(seconds=wait)
        raise _rate_limited(wait)


def _rate_limited(wait: float) -> RateLimited:
    seconds = max(1, math.ceil(wait))
    # In the language the face renders for the reader (the site's, see public.api).
    message = gettext(
        "You have sent many comments in a short time. "
        "Please wait %(wait)s and send your comment again.",
        wait=wait_text(seconds),
    )
    return RateLimited(message, retry_after=seconds)


# The sources this worker has told to wait: (site, source, limits) → until when. Bounded; the
# oldest entry makes room. Kept per app (tests make many), in ``app.extensions``.
_TOLD_TO_WAIT_MAX = 10_000


def _told_to_wait() -> dict[tuple, datetime]:
    return current_app.extensions.setdefault("moderation_told_to_wait", {})


def _waiting_key(ctx: CheckContext, limits: list[tuple[int, timedelta]]) -> tuple:
    return (ctx.site.id, ctx.source_hash, tuple(limits))


def refuse_while_told_to_wait(ctx: CheckContext) -> None:
    """Refuse, without asking the database, a source this worker told to wait a moment ago,
    until the moment it named: a flood then costs neither a query nor a transaction (nor, on
    PostgreSQL, the rollback that makes psycopg forget its prepared statements).

    What the rate limit counts can only grow meanwhile (unless a moderator deletes a comment
    of the source), so the answer is the one the database would give, with the time left of
    the wait already announced. The site's limits are part of the key: a site that raises or
    lifts them lets the source in at once. Each worker learns for itself, on the first
    refusal it answers.
    """
    limits = rate_limits(ctx.site)
    if not (ctx.source_hash and limits):
        return
    told = _told_to_wait()
    key = _waiting_key(ctx, limits)
    until = told.get(key)
    if until is None:
        return
    wait = (until - ctx.now).total_seconds()
    if wait <= 0:
        del told[key]
        return
    raise _rate_limited(wait)


def words(ctx: CheckContext) -> list[Finding]:
    """The site's blocked words make spam, its watched words hold; both in name and text."""
    if not (ctx.site.blocked_words or ctx.site.watched_words):
        return []
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


@reads_history
def duplicate(ctx: CheckContext) -> Judge | None:
    """The same text again from the same source or e-mail address (on any site) is spam.

    Compared ignoring case and spacing, against the sender's latest 500 comments in the window
    of ``DUPLICATE_WINDOW_HOURS`` (0 switches the check off).
    """
    hours = float(current_app.config["DUPLICATE_WINDOW_HOURS"])
    if hours <= 0 or not (ctx.source_hash or ctx.email):
        return None
    _lock_source(ctx)
    since = ctx.db.timestamp(ctx.now - timedelta(hours=hours))
    earlier = [
        ctx.db.later(_EARLIER_BODIES[column], {"sender": sender, "since": since})
        for column, sender in (("source_hash", ctx.source_hash), ("email", ctx.email))
        if sender
    ]

    def judge() -> Finding | None:
        text_now = _same_text(ctx.body)
        for rows in earlier:
            if any(_same_text(body) == text_now for (body,) in rows.fetchall()):
                return Finding("duplicate", Action.SPAM)
        return None

    return judge


@reads_history
def banned(ctx: CheckContext) -> Judge:
    """A banned source or e-mail address: stored as spam, answered like everyone else."""
    ban = bans.ask_active_ban(ctx.db, ctx.source_hash, ctx.email, ctx.now)
    return lambda: Finding("banned", Action.SPAM) if ban() is not None else None


CHECKS: list[Check] = [honeypot, form_token, links, words, rate_limit, duplicate, banned]


def run_checks(ctx: CheckContext, stage: Stage) -> Verdict:
    """Run one stage's checks in order; a check that refuses raises and nothing is stored."""
    return start_checks(ctx, stage)()


def start_checks(ctx: CheckContext, stage: Stage) -> Callable[[], Verdict]:
    """Start one stage's checks, in order: each looks at the request or sends its queries.
    The function returned judges them, in the same order, and gives the verdict; a check that
    refuses raises (while starting or judging) and nothing is stored."""
    started = [check(ctx) for check in CHECKS if stage_of(check) is stage]

    def verdict() -> Verdict:
        found = Verdict()
        for outcome in started:
            if callable(outcome):
                outcome = outcome()
            if isinstance(outcome, Finding):
                found.findings.append(outcome)
            elif outcome:
                found.findings.extend(outcome)
        return found

    return verdict
