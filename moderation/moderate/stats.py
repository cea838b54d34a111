"""Statistics pages: ``/moderate/stats`` with charts, ``/moderate/stats.csv`` with the table.

The numbers come from :func:`moderation.stats.compute`; this module only lays them out. The
charts are SVG drawn on the server: no script of anyone's, so the strict CSP stays, and they
work without JavaScript. Each has a ``<title>`` and ``<desc>`` (named by ``aria-labelledby``)
and the same numbers as a table behind a ``<details>`` toggle. A ``viewBox`` lets them shrink
to a phone's width; colours come from classes in ``static/stats.css``, which follows
``prefers-color-scheme``. Numbers and dates are formatted in the moderator's language.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from babel.dates import format_skeleton
from flask import Blueprint, Response, render_template, request
from flask_babel import format_date, format_decimal, get_locale, gettext

from .. import sites
from .. import stats as statistics
from ..i18n import reason_label, status_label
from ..models import utcnow
from .auth import login_required

bp = Blueprint("stats", __name__)

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 28, 24, 34  # room for the unit above, the last day's label
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MONTHS_OFFERED = 24  # calendar months in the form's list (any other works in the URL)


def _parameters() -> tuple[statistics.Period, Any]:
    """The site and period of the request; :class:`InvalidInput` (400) for bad ones."""
    period = statistics.parse_period(request.args.get("period"))
    return period, statistics.resolve_site(request.args.get("site", "").strip())


# --- chart geometry ----------------------------------------------------------------------------


def _nice_ticks(top: float, count: int = 4) -> list[float]:
    """0 and a few round steps (1, 2 or 5 times a power of ten) up to at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    steps = math.ceil(top / step - 1e-9)
    return [n * step for n in range(steps + 1)]


@dataclass
class Chart:
    """What the template needs to draw one chart: axes, labels, and the shapes in SVG units."""

    id: str
    title: str
    desc: str
    unit: str = ""
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    bars: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    area: str = ""
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: int = TOP + PLOT_H
    right: int = LEFT + PLOT_W


def _number(value: float, digits: int = 0) -> str:
    return str(
        format_decimal(
            round(value, digits), format="#,##0" + ("." + "#" * digits if digits else "")
        )
    )


def _short_day(day: date) -> str:
    return str(format_skeleton("MMMd", day, locale=get_locale()))


def _axes(chart: Chart, days: list[date], top: float, digits: int = 0) -> float:
    """Ticks for both axes; returns the value at the top of the plot."""
    ticks = _nice_ticks(top)
    high = ticks[-1]
    chart.y_ticks = [(_y(t, high), _number(t, digits)) for t in ticks]
    every = max(1, math.ceil(len(days) / 7))
    chart.x_ticks = [
        (_x_mid(n, len(days)), _short_day(d)) for n, d in enumerate(days) if n % every == 0
    ]
    return high


def _y(value: float, high: float) -> float:
    return round(TOP + PLOT_H - value / high * PLOT_H, 2)


def _x_mid(index: int, count: int) -> float:
    return round(LEFT + (index + 0.5) * PLOT_W / count, 2)


def _paths(points: list[tuple[float, float] | None]) -> str:
    """An SVG path through the points; a None (no value that day) breaks the line."""
    parts: list[str] = []
    pen_up = True
    for point in points:
        if point is None:
            pen_up = True
            continue
        parts.append(f"{'M' if pen_up else 'L'}{point[0]},{point[1]}")
        pen_up = False
    return " ".join(parts)


def _period_text(stats: statistics.Stats) -> str:
    first, last = stats.period.days[0], stats.period.days[-1]
    return gettext(
        "%(first)s to %(last)s",
        first=format_date(first, "medium"),
        last=format_date(last, "medium"),
    )


def received_chart(stats: statistics.Stats) -> Chart:
    days = [d.day for d in stats.days]
    total = sum(stats.totals.values())
    parts = ", ".join(f"{_number(stats.totals[s])} {status_label(s)}" for s in statistics.OUTCOMES)
    chart = Chart(
        "chart-received",
        gettext("Comments received per day, by outcome"),
        gettext(
            "Stacked bars, one per day, %(period)s: %(total)s comments (%(parts)s).",
            period=_period_text(stats),
            total=_number(total),
            parts=parts,
        ),
    )
    high = _axes(chart, days, max((d.total for d in stats.days), default=0))
    band = PLOT_W / len(days)
    width = round(max(1.0, band * 0.78), 2)
    for n, day in enumerate(stats.days):
        base = 0
        x = round(LEFT + n * band + (band - width) / 2, 2)
        for status in statistics.OUTCOMES:
            count = day.received[status]
            if not count:
                continue
            y_top, y_base = _y(base + count, high), _y(base, high)
            chart.bars.append(
                {
                    "x": x,
                    "y": y_top,
                    "width": width,
                    "height": round(y_base - y_top, 2),
                    "status": status.value,
                    "label": f"{format_date(day.day, 'medium')}: {_number(count)} "
                    f"{status_label(status)}",
                }
            )
            base += count
    return chart


def _wait_unit(seconds: float) -> tuple[float, str]:
    """Minutes for waits up to two hours, hours beyond."""
    return (60.0, gettext("minutes")) if seconds <= 7200 else (3600.0, gettext("hours"))


def wait_chart(stats: statistics.Stats) -> Chart:
    days = [d.day for d in stats.days]
    top = max((d.p90 or 0.0 for d in stats.days), default=0.0)
    scale, unit = _wait_unit(top)
    chart = Chart(
        "chart-wait",
        gettext("Time to decision per day (p50 and p90)"),
        gettext(
            "Two lines, %(period)s, in %(unit)s: half of the comments decided on a day waited "
            "up to the median (p50), nine in ten up to p90. Over the whole period: "
            "p50 %(p50)s, p90 %(p90)s.",
            period=_period_text(stats),
            unit=unit,
            p50=statistics.duration(stats.p50) or "–",
            p90=statistics.duration(stats.p90) or "–",
        ),
        unit=unit,
    )
    high = _axes(chart, days, top / scale, digits=1)
    for key, name in (("p90", "p90"), ("p50", "p50")):
        points: list[tuple[float, float] | None] = []
        for n, day in enumerate(stats.days):
            value = getattr(day, key)
            points.append(
                None if value is None else (_x_mid(n, len(days)), _y(value / scale, high))
            )
        chart.lines.append(
            {
                "key": key,
                "name": name,
                "d": _paths(points),
                "dots": [p for p in points if p is not None],
            }
        )
    return chart


def queue_chart(stats: statistics.Stats) -> Chart:
    days = [d.day for d in stats.days]
    last = stats.days[-1].queue
    chart = Chart(
        "chart-queue",
        gettext("Pending comments at the end of each day"),
        gettext(
            "An area, %(period)s: %(start)s pending when the period began, %(end)s at its "
            "end, at most %(most)s.",
            period=_period_text(stats),
            start=_number(stats.queue_at_start),
            end=_number(last),
            most=_number(max(d.queue for d in stats.days)),
        ),
    )
    high = _axes(chart, days, max(d.queue for d in stats.days))
    points = [(_x_mid(n, len(days)), _y(d.queue, high)) for n, d in enumerate(stats.days)]
    line = _paths(list(points))
    chart.lines.append({"key": "queue", "name": "", "d": line, "dots": points})
    floor = TOP + PLOT_H
    chart.area = (
        f"M{points[0][0]},{floor} " + line.replace("M", "L", 1) + f" L{points[-1][0]},{floor} Z"
    )
    return chart


# --- views -------------------------------------------------------------------------------------


def _months() -> list[tuple[str, str]]:
    """The calendar months for the form, newest first, each as (value, label)."""
    today = utcnow().astimezone(statistics.zone()).date()
    year, month = today.year, today.month
    found = []
    for _ in range(MONTHS_OFFERED):
        first = date(year, month, 1)
        found.append((first.strftime("%Y-%m"), str(format_date(first, "MMMM yyyy"))))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return found


@bp.route("/stats")
@login_required
def stats_page() -> Any:
    """The statistics of one site or all, for a period; 400 for an unknown site or period."""
    period, site = _parameters()
    result = statistics.compute(period, site)
    return render_template(
        "moderate/stats.html",
        stats=result,
        period=period,
        site=site,
        sites=sites.list_sites(),
        months=_months(),
        period_days=statistics.PERIOD_DAYS,
        charts=[received_chart(result), wait_chart(result), queue_chart(result)],
        outcomes=statistics.OUTCOMES,
        header=statistics.moderator_header(),
        table=statistics.moderator_table(result),
        reasons=[(code, reason_label(code), count) for code, count in result.reasons],
        duration=statistics.duration,
        number=_number,
        period_text=_period_text(result),
    )


@bp.route("/stats.csv")
@login_required
def stats_csv() -> Response:
    """The page's table of decisions per moderator, as a CSV file."""
    period, site = _parameters()
    result = statistics.compute(period, site)
    name = f"stats-{site.slug if site else 'all'}-{period.key}.csv"
    return Response(
        statistics.moderator_csv(result),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
