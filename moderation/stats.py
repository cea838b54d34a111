"""Statistics: what came in, how long readers waited, how long the queue was, who decided what.

One function, :func:`compute`, serves the page (``/moderate/stats``), its CSV and the CLI
(``flask --app wsgi stats``), so the three cannot disagree.

Definitions (the docs repeat them for moderators):

* **Days** are calendar days in the UI's time zone (``BABEL_DEFAULT_TIMEZONE``, Europe/Berlin
  by default), so a day has 23 or 25 hours when the clocks change. A period is the last 7, 30
  or 90 days up to today, or a calendar month (up to today for the current one).
* **Comments per day by outcome**: comments *received* that day, by their *current* status.
* **Entering and leaving the queue**: a comment is in the queue from its ``created_at`` until
  the one event that moves it out of ``pending`` (a decision, or the author's withdrawal). No
  comment ever returns to pending, so there is at most one such event. A comment that never
  was pending (marked spam at submission, imported, published at once) was never queued.
* **Time to decision**: from ``created_at`` to the decision that took it out of the queue,
  counted on the day of that decision (a day's value then never changes afterwards).
* **Queue length** at the end of each day: queued before that moment and not yet out.
* **Decisions per moderator**: every decision event in the period (revisions included), by the
  acting name (``anna``, ``cli``, ``system``); the median is over the comments that this
  actor took out of the queue.
* **Percentiles** use the nearest-rank method: the p-th percentile of n sorted values is the
  value at rank ``ceil(p/100 * n)``, so it is always a value that occurred; the median is p50
  (for an even count, the lower middle value).
* Only comments still stored count: the retention job's purges leave no comment to count.

Bounded work: the database filters, buckets by day (:func:`_bucket`) and counts; only a
few dozen rows come back, except the waits on SQLite, one small row per decision, for
Python to rank (PostgreSQL ranks them itself, see :func:`_waits`). A month of 100,000 comments
takes well under two seconds on a busy machine (the figures are in docs/moderator-ui.md).
Decisions are found through the index on ``moderation_event.created_at`` (migration 0011),
so a month costs the same after years of history.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext
from sqlalchemy import (
    Float,
    String,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    text,
    tuple_,
    type_coerce,
)

from .errors import InvalidInput
from .extensions import db
from .models import Article, Comment, CommentStatus, ModerationEvent, Site, utcnow

PERIOD_DAYS = (7, 30, 90)
DEFAULT_PERIOD = "30"
OUTCOMES = (
    CommentStatus.APPROVED,
    CommentStatus.REJECTED,
    CommentStatus.SPAM,
    CommentStatus.PENDING,
    CommentStatus.WITHDRAWN,
)
DECISIONS = (CommentStatus.APPROVED, CommentStatus.REJECTED, CommentStatus.SPAM)
TOP_REASONS = 10
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
FIRST_YEAR = 2000  # no comment of ours is older; earlier months are typing errors


@dataclass(frozen=True)
class Period:
    """The days a statistic covers, and the UTC moments that bound them."""

    key: str  # "7", "30", "90" or "YYYY-MM": what the form, the CSV link and the CLI send
    days: tuple[date, ...]
    zone: ZoneInfo
    month: date | None = None  # the first day, when the period is a calendar month

    def boundary(self, day: date) -> datetime:
        """The UTC moment ``day`` begins in the UI's time zone."""
        return datetime.combine(day, time(), self.zone).astimezone(UTC)

    @property
    def start(self) -> datetime:
        return self.boundary(self.days[0])

    @property
    def end(self) -> datetime:
        return self.boundary(self.days[-1] + timedelta(days=1))


def zone() -> ZoneInfo:
    return ZoneInfo(str(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC"))


def parse_period(value: str | None, now: datetime | None = None) -> Period:
    """``7``, ``30``, ``90`` (days up to today) or ``YYYY-MM``; raises :class:`InvalidInput`."""
    tz = zone()
    today = (now or utcnow()).astimezone(tz).date()
    key = (value or DEFAULT_PERIOD).strip()
    if key.isascii() and key.isdigit() and int(key) in PERIOD_DAYS:
        count = int(key)
        days = tuple(today - timedelta(days=count - 1 - n) for n in range(count))
        return Period(str(count), days, tz)
    match = _MONTH.fullmatch(key) if key.isascii() else None
    if match is None:
        raise InvalidInput(
            gettext(
                "The period must be 7, 30 or 90 (days) or a month as YYYY-MM, not “%(value)s”.",
                value=key[:20],
            ),
            code="bad_period",
        )
    first = date(int(match[1]), int(match[2]), 1)
    if first.year < FIRST_YEAR or first > today:
        raise InvalidInput(
            gettext(
                "The month %(month)s has no statistics: it is before %(year)s or has not begun.",
                month=key,
                year=FIRST_YEAR,
            ),
            code="bad_period",
        )
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    last = min(following - timedelta(days=1), today)
    days = tuple(first + timedelta(days=n) for n in range((last - first).days + 1))
    return Period(key, days, tz, month=first)


def resolve_site(slug: str | None) -> Site | None:
    """The site a statistic is limited to; None (all sites) for an empty choice.

    An unknown slug is a bad parameter of a filter, hence :class:`InvalidInput` (400).
    """
    if not slug:
        return None
    site = db.session.scalars(select(Site).where(Site.slug == slug)).first()
    if site is None:
        raise InvalidInput(f"There is no site {slug[:64]!r}.", code="unknown_site")
    return site


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile of ``values`` (sorted ascending); None if empty."""
    if not values:
        return None
    rank = max(1, math.ceil(p * len(values) / 100))  # p * n first: exact for whole p
    return values[rank - 1]


@dataclass
class Day:
    day: date
    received: dict[CommentStatus, int]
    p50: float | None = None  # seconds from receipt to decision, for decisions made that day
    p90: float | None = None
    decided: int = 0  # how many decisions the percentiles are over
    queue: int = 0  # pending comments at the end of the day

    @property
    def total(self) -> int:
        return sum(self.received.values())


@dataclass
class ModeratorRow:
    name: str
    approved: int = 0
    rejected: int = 0
    spam: int = 0
    median: float | None = None  # seconds, over the comments this actor took out of the queue

    @property
    def total(self) -> int:
        return self.approved + self.rejected + self.spam


@dataclass
class Stats:
    period: Period
    site: Site | None
    days: list[Day]
    moderators: list[ModeratorRow]
    reasons: list[tuple[str, int]]  # (reason code without its detail, comments), most first
    totals: dict[CommentStatus, int] = field(default_factory=dict)
    p50: float | None = None  # over the whole period
    p90: float | None = None
    queue_at_start: int = 0


def _site_filter(site: Site | None) -> list:
    return [] if site is None else [Article.site_id == site.id]


def _left_queue() -> list:
    """The event that moved a comment out of the queue (there is at most one per comment)."""
    return [
        ModerationEvent.from_status == CommentStatus.PENDING,
        ModerationEvent.to_status.is_not(None),
        ModerationEvent.to_status != CommentStatus.PENDING,
    ]


BEFORE, AFTER = -1, -2  # buckets of moments before the period's start and from its end on


def _bucket(column: Any, period: Period) -> Any:
    """The day (0, 1, …) of the period a moment falls on, computed by the database.

    Day boundaries in a time zone are no portable SQL, but comparisons with the boundaries'
    UTC moments are. The CASE is a binary search (nested halves), so a row costs about
    log2(days) comparisons, 7 for 90 days, instead of up to 90.
    """
    starts = [period.boundary(d) for d in period.days]  # starts[n]: where day n begins

    def within(low: int, high: int) -> Any:
        if low == high:
            return literal(low)
        middle = (low + high) // 2
        return case(
            (column < starts[middle + 1], within(low, middle)), else_=within(middle + 1, high)
        )

    return case(
        (column < period.start, BEFORE),
        (column >= period.end, AFTER),
        else_=within(0, len(starts) - 1),
    )


def _seconds_between(earlier: Any, later: Any) -> Any:
    """``later - earlier`` in seconds, as a number the database computes."""
    if db.engine.dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def compute(period: Period, site: Site | None = None) -> Stats:
    """The statistics of ``period`` for one site or all (see the module's definitions)."""
    start, end = period.start, period.end
    days = [Day(d, {status: 0 for status in OUTCOMES}) for d in period.days]
    where_site = _site_filter(site)
    created = _bucket(Comment.created_at, period)

    # 1. Comments received per day by current status: counted by the database. The status IN
    # (all of them) lets both databases range-scan the (status, created_at) index.
    received = (
        select(created.label("day"), type_coerce(Comment.status, String).label("status"))
        .join(Article, Comment.article_id == Article.id)
        .where(
            Comment.status.in_(list(CommentStatus)),
            Comment.created_at >= start,
            Comment.created_at < end,
            *where_site,
        )
        .subquery()
    )
    for index, status, count in db.session.execute(
        select(received.c.day, received.c.status, func.count()).group_by(
            received.c.day, received.c.status
        )
    ):
        days[index].received[CommentStatus(status)] = int(count)

    # 2. Comments that left the queue from the period's start on, counted by the database by
    # the day they left (or AFTER the period) and the day they came (or BEFORE it): a comment
    # received before the period and decided after its end was queued all along.
    left = _bucket(ModerationEvent.created_at, period)
    queued_from = [day.received[CommentStatus.PENDING] for day in days]  # by day received
    departures = [0] * len(days)
    queue_at_start = 0
    moved = (
        select(left.label("left"), created.label("came"))
        .select_from(ModerationEvent)
        .join(Comment, ModerationEvent.comment_id == Comment.id)
        .join(Article, Comment.article_id == Article.id)
        .where(
            ModerationEvent.created_at >= start,
            Comment.created_at < end,
            *_left_queue(),
            *where_site,
        )
        .subquery()
    )
    for left_day, came, count in db.session.execute(
        select(moved.c.left, moved.c.came, func.count()).group_by(moved.c.left, moved.c.came)
    ):
        if left_day != AFTER:
            departures[left_day] += count
        if came == BEFORE:
            queue_at_start += count
        else:
            queued_from[came] += count

    # 3. The waits of the comments decided out of the queue in the period: by day, by actor
    # and overall (see :func:`_waits`).
    decided = (
        select(
            left.label("day"),
            ModerationEvent.actor_name.label("actor"),
            func.round(_seconds_between(Comment.created_at, ModerationEvent.created_at)).label(
                "seconds"
            ),
        )
        .join(Comment, ModerationEvent.comment_id == Comment.id)
        .join(Article, Comment.article_id == Article.id)
        .where(
            ModerationEvent.created_at >= start,
            ModerationEvent.created_at < end,
            ModerationEvent.from_status == CommentStatus.PENDING,
            ModerationEvent.to_status.in_(DECISIONS),
            *where_site,
        )
    )
    per_day, per_actor, overall = _waits(decided, len(days))

    # Comments received before the period and pending still.
    queue_at_start += int(
        db.session.scalar(
            select(func.count())
            .select_from(Comment)
            .join(Article, Comment.article_id == Article.id)
            .where(Comment.status == CommentStatus.PENDING, Comment.created_at < start, *where_site)
        )
        or 0
    )

    queue = queue_at_start
    for n, day in enumerate(days):
        queue += queued_from[n] - departures[n]
        day.queue = queue
        day.decided, day.p50, day.p90 = per_day[n]

    # 4. Decisions per moderator: every decision event in the period, counted by the database.
    rows: dict[str, ModeratorRow] = {}
    counted = db.session.execute(
        select(ModerationEvent.actor_name, ModerationEvent.to_status, func.count())
        .join(Comment, ModerationEvent.comment_id == Comment.id)
        .join(Article, Comment.article_id == Article.id)
        .where(
            ModerationEvent.created_at >= start,
            ModerationEvent.created_at < end,
            ModerationEvent.to_status.in_(DECISIONS),
            *where_site,
        )
        .group_by(ModerationEvent.actor_name, ModerationEvent.to_status)
    ).all()
    for actor, to_status, count in counted:
        row = rows.setdefault(actor, ModeratorRow(actor))
        setattr(row, str(to_status), int(count))
    for actor, median in per_actor.items():
        rows.setdefault(actor, ModeratorRow(actor)).median = median
    moderators = sorted(rows.values(), key=lambda r: (-r.total, r.name))

    return Stats(
        period=period,
        site=site,
        days=days,
        moderators=moderators,
        reasons=_top_reasons(start, end, where_site),
        totals={status: sum(d.received[status] for d in days) for status in OUTCOMES},
        p50=overall[1],
        p90=overall[2],
        queue_at_start=queue_at_start,
    )


Waits = tuple[int, float | None, float | None]  # how many, p50, p90 (seconds)


def _waits(decided: Any, count: int) -> tuple[list[Waits], dict[str, float | None], Waits]:
    """Nearest-rank p50 and p90 of the waits in ``decided`` (rows of day, actor, seconds) per
    day and overall, and each actor's median.

    PostgreSQL computes them itself: ``percentile_disc`` is the nearest rank (the first value
    whose cumulative share reaches p), and one pass with GROUPING SETS gives all three
    groupings, so no row leaves the database. SQLite has no ordered-set aggregates; there
    the waits come over as one small row each and Python ranks them (:func:`percentile`).
    """
    per_day: list[Waits] = [(0, None, None)] * count
    per_actor: dict[str, float | None] = {}
    overall: Waits = (0, None, None)
    if db.engine.dialect.name == "postgresql":
        rows = decided.subquery()
        p50 = func.percentile_disc(0.5).within_group(rows.c.seconds)
        p90 = func.percentile_disc(0.9).within_group(rows.c.seconds)
        grouped = select(
            rows.c.day,
            rows.c.actor,
            func.grouping(rows.c.day, rows.c.actor),
            func.count(),
            cast(p50, Float),
            cast(p90, Float),
        ).group_by(func.grouping_sets(tuple_(rows.c.day), tuple_(rows.c.actor), text("()")))
        for day, actor, grouping, how_many, low, high in db.session.execute(grouped):
            if grouping == 1:  # by day
                per_day[day] = (how_many, low, high)
            elif grouping == 2:  # by actor
                per_actor[actor] = low
            else:
                overall = (how_many, low, high)
        return per_day, per_actor, overall
    by_day: list[list[float]] = [[] for _ in range(count)]
    by_actor: dict[str, list[float]] = {}
    for day, actor, seconds in db.session.connection().execute(decided):
        wait = float(seconds)
        by_day[day].append(wait)
        by_actor.setdefault(actor, []).append(wait)
    everything: list[float] = []
    for n, values in enumerate(by_day):
        values.sort()
        per_day[n] = (len(values), percentile(values, 50), percentile(values, 90))
        everything.extend(values)
    everything.sort()
    for actor, values in by_actor.items():
        values.sort()
        per_actor[actor] = percentile(values, 50)
    return (
        per_day,
        per_actor,
        (len(everything), percentile(everything, 50), percentile(everything, 90)),
    )


def _top_reasons(start: datetime, end: datetime, where_site: list) -> list[tuple[str, int]]:
    """The checks' reasons on comments received in the period: how many comments had each.

    A reason's detail (``blocked_word:idiot``) is left off, so the list names checks, not
    words. Comments without a reason (most of them) are left out by the database.
    """
    found = db.session.scalars(
        select(Comment.reasons)
        .join(Article, Comment.article_id == Article.id)
        .where(
            Comment.status.in_(list(CommentStatus)),
            Comment.created_at >= start,
            Comment.created_at < end,
            and_(Comment.reasons.is_not(None), cast(Comment.reasons, Text) != "[]"),
            *where_site,
        )
    )
    counts: Counter[str] = Counter()
    for reasons in found:
        counts.update({str(code).partition(":")[0] for code in reasons or ()})
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_REASONS]


def duration(seconds: float | None) -> str:
    """``H:MM:SS`` (hours may exceed 24), the same on the page, in the CSV and the CLI:
    spreadsheets read it as a duration, and it needs no translation. ``""`` for none."""
    if seconds is None:
        return ""
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def csv_cell(value: object) -> str:
    """A cell that a spreadsheet will not run as a formula: one that begins with ``=``, ``+``,
    ``-``, ``@`` (or a tab or carriage return) gets a leading apostrophe. Moderators' names and
    reasons end up in the sheets of billing departments."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def moderator_header() -> list[str]:
    """The columns of the decisions per moderator, in the current language."""
    return [
        gettext("Moderator"),
        gettext("Approved"),
        gettext("Rejected"),
        gettext("Spam"),
        gettext("Decisions"),
        gettext("Median time to decision"),
    ]


def moderator_table(stats: Stats) -> list[list[str]]:
    """The decisions per moderator as cells (without the header): the page's table shows
    exactly these, and :func:`moderator_csv` writes exactly these (guarded)."""
    return [
        [
            row.name,
            str(row.approved),
            str(row.rejected),
            str(row.spam),
            str(row.total),
            duration(row.median),
        ]
        for row in stats.moderators
    ]


def moderator_csv(stats: Stats) -> str:
    """The page's table of decisions per moderator as CSV (header first, CRLF lines)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for cells in [moderator_header(), *moderator_table(stats)]:
        writer.writerow([csv_cell(cell) for cell in cells])
    return out.getvalue()
