"""Statistics (moderation/stats.py, /moderate/stats, its CSV and ``flask stats``) against a
seeded dataset whose answers are worked out by hand below.

October 2026 in Europe/Berlin (the UI's time zone): summer time until the 25th, which has 25
hours, winter time after. Times below are Berlin wall-clock times.

site demo:
  c00  Sep 29 12:00  pending still                       (in the queue all October)
  c0   Sep 30 20:00  anna approves Oct 1 09:00  (46800 s) (in the queue when October begins)
  c1   Oct 1 10:00   anna approves 10:10        (600 s)
  c2   Oct 1 10:00   anna rejects 11:00         (3600 s)   reasons links, blocked_word:idiot
  c3   Oct 1 23:30   bob spams Oct 2 00:30      (3600 s)   reasons links   (decided on Oct 2)
  c4   Oct 1 12:00   spam at submission (never queued)     reasons honeypot
  c5   Oct 2 09:00   pending still
  c6   Oct 2 09:00   withdrawn by the author 09:30 (leaves the queue, no decision)
  c7   Oct 2 08:00   bob approves 08:20 (1200 s); anna revises to rejected Oct 3 10:00
  c9   Oct 25 00:30  anna approves Oct 26 01:00 (25.5 h = 91800 s, across the clock change)
  c10  Oct 25 23:30  anna approves 23:45        (900 s)
  c12  Oct 31 10:00  anna approves Nov 1 10:00 (after the period)
  c8   Oct 31 23:30  pending still
  c13  Nov 1 00:30   pending (not October: 23:30 UTC on Oct 31)
site other:
  c11  Oct 2 12:00   carl approves 12:05        (300 s)

Percentiles are nearest-rank: the value at rank ceil(p/100 * n) of the sorted values.
"""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from helpers import assert_indexed, driver_plan
from moderator_ui import PASSWORD, add_moderator, logged_in
from servers import LiveServer
from sqlalchemy import bindparam, select

from moderation import stats
from moderation.errors import InvalidInput
from moderation.extensions import db
from moderation.models import Article, Comment, CommentStatus, ModerationEvent, Site
from moderation.sites import create_site

BERLIN = ZoneInfo("Europe/Berlin")
P, A, R, S, W = (
    CommentStatus.PENDING,
    CommentStatus.APPROVED,
    CommentStatus.REJECTED,
    CommentStatus.SPAM,
    CommentStatus.WITHDRAWN,
)
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "screenshots" / "stats.png"


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Berlin wall-clock time in 2026, as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


# (site, created, current status, reasons, [(when, actor, from, to)])
SEED: list[tuple[str, datetime, CommentStatus, list[str], list[tuple]]] = [
    ("demo", at(9, 29, 12), P, [], []),
    ("demo", at(9, 30, 20), A, [], [(at(10, 1, 9), "anna", P, A)]),
    ("demo", at(10, 1, 10), A, [], [(at(10, 1, 10, 10), "anna", P, A)]),
    ("demo", at(10, 1, 10), R, ["links", "blocked_word:idiot"], [(at(10, 1, 11), "anna", P, R)]),
    ("demo", at(10, 1, 23, 30), S, ["links"], [(at(10, 2, 0, 30), "bob", P, S)]),
    ("demo", at(10, 1, 12), S, ["honeypot"], []),
    ("demo", at(10, 2, 9), P, [], []),
    ("demo", at(10, 2, 9), W, [], [(at(10, 2, 9, 30), "author", P, W)]),
    (
        "demo",
        at(10, 2, 8),
        R,
        [],
        [(at(10, 2, 8, 20), "bob", P, A), (at(10, 3, 10), "anna", A, R)],
    ),
    ("demo", at(10, 25, 0, 30), A, [], [(at(10, 26, 1), "anna", P, A)]),
    ("demo", at(10, 25, 23, 30), A, [], [(at(10, 25, 23, 45), "anna", P, A)]),
    ("demo", at(10, 31, 10), A, [], [(at(11, 1, 10), "anna", P, A)]),
    ("demo", at(10, 31, 23, 30), P, [], []),
    ("demo", at(11, 1, 0, 30), P, [], []),
    ("other", at(10, 2, 12), A, [], [(at(10, 2, 12, 5), "carl", P, A)]),
]


def seed(app: Flask, rows: list[tuple] = SEED) -> None:
    with app.app_context():
        if db.session.scalars(db.select(Site).where(Site.slug == "other")).first() is None:
            create_site("other", "Anderes Blatt", ["https://other.example"], "de")
        articles: dict[str, Article] = {}
        for slug in ("demo", "other"):
            site = db.session.scalars(db.select(Site).where(Site.slug == slug)).one()
            found = db.session.scalars(
                db.select(Article).where(Article.site_id == site.id, Article.key == "stats-artikel")
            ).first()
            articles[slug] = found or Article(site_id=site.id, key="stats-artikel")
            db.session.add(articles[slug])
        db.session.flush()
        for slug, created, status, reasons, events in rows:
            comment = Comment(
                article_id=articles[slug].id,
                author="Leser",
                body_raw="Text",
                body_html="<p>Text</p>",
                status=status,
                reasons=reasons,
                created_at=created,
            )
            db.session.add(comment)
            db.session.flush()
            for when, actor, before, after in events:
                db.session.add(
                    ModerationEvent(
                        comment_id=comment.id,
                        actor_name=actor,
                        from_status=before,
                        to_status=after,
                        created_at=when,
                    )
                )
        db.session.commit()
        db.session.remove()


def busy_newsroom() -> list[tuple]:
    """Some hundreds of comments over October for the screenshot, the same on every run."""
    rng = random.Random(13)
    rows: list[tuple] = []
    outcomes = [(A, "anna"), (A, "bob"), (A, "carl"), (R, "anna"), (R, "bob"), (S, "carl")]
    for day in range(1, 32):
        for _ in range(rng.randint(8, 30) + (25 if day % 7 in (1, 2) else 0)):
            created = at(10, day, rng.randint(6, 22), rng.randint(0, 59))
            reasons = rng.choice([[], [], [], ["links"], ["too_fast"], ["watched_word:krieg"]])
            if day == 31 and rng.random() < 0.5:
                rows.append(("other", created, P, reasons, []))
                continue
            status, actor = rng.choice(outcomes)
            wait = timedelta(minutes=rng.expovariate(1 / (40 if day < 20 else 90)))
            rows.append(("other", created, status, reasons, [(created + wait, actor, P, status)]))
    return rows


def october(site: str | None = "demo") -> stats.Stats:
    return stats.compute(stats.parse_period("2026-10"), stats.resolve_site(site))


# --- the use case ------------------------------------------------------------------------------


def test_the_decisions_of_a_period_are_found_through_their_index(app: Flask) -> None:
    """Months of statistics and the yearly transparency report read a period of the audit
    trail; the index on its time keeps that from reading years of history (migration 0011)."""
    seed(app)
    period = select(ModerationEvent.id).where(
        ModerationEvent.created_at >= bindparam("start"),
        ModerationEvent.created_at < bindparam("end"),
    )
    dates = {"start": "2026-10-01 00:00:00", "end": "2026-11-01 00:00:00"}
    assert_indexed(driver_plan(app, period, dates, analyze=True), "ix_event_created")


def test_percentile_is_nearest_rank() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert stats.percentile(values, 50) == 5.0  # rank 5 of 10: the lower middle
    assert stats.percentile(values, 90) == 9.0  # rank 9
    assert stats.percentile(values, 91) == 10.0  # rank ceil(9.1) = 10
    assert stats.percentile([7.0], 90) == 7.0
    assert stats.percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert stats.percentile([], 50) is None


def test_periods_are_days_in_the_ui_time_zone(app: Flask, ctx: None) -> None:
    now = at(11, 30, 0, 30)  # 23:30 UTC on Nov 29, already Nov 30 in Berlin
    week = stats.parse_period("7", now)
    assert [d.isoformat() for d in week.days][0] == "2026-11-24"
    assert week.days[-1].isoformat() == "2026-11-30"
    assert week.end == at(12, 1, 0)
    month = stats.parse_period("2026-10", now)
    assert len(month.days) == 31
    assert (month.start, month.end) == (at(10, 1, 0), at(11, 1, 0))
    assert month.start.hour == 22 and month.end.hour == 23  # UTC; summer then winter time
    current = stats.parse_period("2026-11", now)
    assert current.days[-1].isoformat() == "2026-11-30" and len(current.days) == 30
    assert len(stats.parse_period("90", now).days) == 90
    assert stats.parse_period(None, now).key == "30"


@pytest.mark.parametrize(
    "value", ["14", "2026-13", "2026-00", "1999-12", "2027-01", "26-10", "2026-1", "x", "٣٠"]
)
def test_bad_periods_are_refused(app: Flask, ctx: None, value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        stats.parse_period(value, at(11, 30, 12))
    assert refused.value.status == 400


def test_counts_per_day_by_outcome(app: Flask, ctx: None) -> None:
    seed(app)
    result = october()
    by_day = {d.day.day: d for d in result.days}
    assert result.totals == {A: 4, R: 2, S: 2, P: 2, W: 1}
    assert by_day[1].received == {A: 1, R: 1, S: 2, P: 0, W: 0}
    assert by_day[2].received == {A: 0, R: 1, S: 0, P: 1, W: 1}
    assert by_day[25].received[A] == 2  # both ends of the 25-hour day
    assert by_day[31].received == {A: 1, R: 0, S: 0, P: 1, W: 0}  # not c13 (Nov 1 in Berlin)
    assert sum(d.total for d in result.days) == 11
    everywhere = october(None)
    assert everywhere.totals[A] == 5  # c11 of the other site
    assert {d.day.day: d.received[A] for d in everywhere.days}[2] == 1


def test_time_to_decision_per_day(app: Flask, ctx: None) -> None:
    seed(app)
    by_day = {d.day.day: d for d in october().days}
    assert (by_day[1].decided, by_day[1].p50, by_day[1].p90) == (3, 3600, 46800)
    assert (by_day[2].decided, by_day[2].p50, by_day[2].p90) == (2, 1200, 3600)
    assert (by_day[3].decided, by_day[3].p50) == (0, None)  # a revision is not a wait
    assert (by_day[25].p50, by_day[25].p90) == (900, 900)
    assert (by_day[26].p50, by_day[26].p90) == (91800, 91800)
    result = october()
    assert (result.p50, result.p90) == (3600, 91800)  # of 600 900 1200 3600 3600 46800 91800


def test_queue_length_at_the_end_of_each_day(app: Flask, ctx: None) -> None:
    seed(app)
    result = october()
    assert result.queue_at_start == 2  # c00, c0
    queue = {d.day.day: d.queue for d in result.days}
    assert [queue[n] for n in (1, 2, 3, 24, 25, 26, 30, 31)] == [2, 2, 2, 2, 3, 2, 2, 4]


def test_decisions_per_moderator_and_top_reasons(app: Flask, ctx: None) -> None:
    seed(app)
    result = october()
    assert stats.moderator_table(result) == [
        ["anna", "4", "2", "0", "6", "1:00:00"],  # median of 600 900 3600 46800 91800
        ["bob", "1", "0", "1", "2", "0:20:00"],  # of 1200 3600: the lower middle
    ]
    assert result.reasons == [("links", 2), ("blocked_word", 1), ("honeypot", 1)]
    everywhere = stats.moderator_table(october(None))
    assert everywhere[-1] == ["carl", "1", "0", "0", "1", "0:05:00"]
    assert [row[0] for row in stats.moderator_table(october("other"))] == ["carl"]


def test_an_empty_period(app: Flask, ctx: None) -> None:
    result = stats.compute(stats.parse_period("2026-01"))
    assert sum(result.totals.values()) == 0
    assert result.moderators == [] and result.reasons == [] and result.p50 is None
    assert {d.queue for d in result.days} == {0}


# --- the page ------------------------------------------------------------------------------------


def _table(page: str, table_id: str) -> list[list[str]]:
    """The ``data-value`` cells of a table's body rows, as the page gives them."""
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.S)
    assert body, f"no table {table_id}"
    return [
        [
            m.replace("&#39;", "'").replace("&amp;", "&")
            for m in re.findall(r'data-value="([^"]*)"', row)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]


def _header(page: str, table_id: str) -> list[str]:
    head = re.search(rf'<table[^>]*id="{table_id}".*?<thead>(.*?)</thead>', page, re.S)
    assert head
    return re.findall(r"<th[^>]*>(.*?)</th>", head.group(1))


def test_the_page_shows_charts_tables_and_reasons(app: Flask) -> None:
    seed(app)
    client = logged_in(app)
    response = client.get(
        "/moderate/stats?site=demo&period=2026-10", headers={"Accept-Language": "en"}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "<script" not in page.split("</head>")[1]  # no script in the body
    for chart in ("chart-received", "chart-wait", "chart-queue"):
        svg = re.search(rf'<svg class="chart" id="{chart}"(.*?)</svg>', page, re.S)
        assert svg, chart
        assert 'role="img"' in svg.group(1) and "viewBox=" in svg.group(1)
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in svg.group(1)
        assert f'<title id="{chart}-title">' in svg.group(1)
        assert f'<desc id="{chart}-desc">' in svg.group(1)
    assert page.count('<details class="data-table">') == 3
    assert page.count('class="bar s-') == 9  # one per (day, outcome) with comments
    assert "11 comments" in page  # the bar chart's description
    received = _table(page, "table-received")
    assert len(received) == 31
    assert received[0] == ["1", "1", "2", "0", "0", "4"]  # approved rejected spam pending withdrawn
    wait = _table(page, "table-wait")
    assert wait[0] == ["3", "1:00:00", "13:00:00"] and wait[2] == ["0", "", ""]
    assert [row[0] for row in _table(page, "table-queue")][23:26] == ["2", "3", "2"]
    assert "Oct 1, 2026" in page
    assert re.search(r'data-reason="links">many links: <strong>2</strong>', page)
    assert 'data-reason="blocked_word">blocked word: <strong>1</strong>' in page
    assert 'href="/moderate/stats"' in page  # the navigation's link


def test_the_page_in_german(app: Flask) -> None:
    seed(app)
    client = logged_in(app)
    page = client.get("/moderate/stats?period=2026-10", headers={"Accept-Language": "de"}).get_data(
        as_text=True
    )
    assert "<h1>Statistik</h1>" in page
    assert "01.10.2026" in page  # dates in German
    assert "Kommentare pro Tag nach Ergebnis" in page
    assert "viele Links: <strong>2</strong>" in page
    assert _header(page, "table-moderators")[:2] == ["Moderator", "Freigegeben"]


def test_big_numbers_follow_the_language(app: Flask) -> None:
    rows = [("demo", at(10, 5, 12), P, [], [])] * 1234
    seed(app, rows)
    client = logged_in(app)
    german = client.get("/moderate/stats?period=2026-10", headers={"Accept-Language": "de"})
    english = client.get("/moderate/stats?period=2026-10", headers={"Accept-Language": "en"})
    assert "<strong>1.234</strong>" in german.get_data(as_text=True)
    assert "<strong>1,234</strong>" in english.get_data(as_text=True)


def test_the_site_filter(app: Flask) -> None:
    seed(app)
    client = logged_in(app)
    demo = client.get("/moderate/stats?site=demo&period=2026-10").get_data(as_text=True)
    other = client.get("/moderate/stats?site=other&period=2026-10").get_data(as_text=True)
    everywhere = client.get("/moderate/stats?site=&period=2026-10").get_data(as_text=True)
    names = [row[0] for row in _table(demo, "table-moderators")]
    assert names == ["anna", "bob"]
    assert [row[0] for row in _table(other, "table-moderators")] == ["carl"]
    assert [row[0] for row in _table(everywhere, "table-moderators")] == ["anna", "bob", "carl"]
    assert '<option value="other" selected>' in other


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("period=14", "The period must be 7, 30 or 90"),
        ("period=2026-13", "The period must be 7, 30 or 90"),
        ("period=2099-01", "has not begun"),
        ("period=1999-12", "before 2000"),
        ("site=nowhere", "There is no such site."),
        ("site=demo&period=%3Cb%3E", "The period must be"),
    ],
)
@pytest.mark.parametrize("path", ["/moderate/stats", "/moderate/stats.csv"])
def test_bad_parameters_get_a_clear_400(app: Flask, path: str, query: str, message: str) -> None:
    client = logged_in(app)
    response = client.get(f"{path}?{query}", headers={"Accept-Language": "en"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page and "<b>" not in page
    assert response.mimetype == "text/html"


def test_only_moderators_see_statistics(app: Flask, client: FlaskClient) -> None:
    for path in ("/moderate/stats", "/moderate/stats.csv?period=7"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/moderate/login" in response.headers["Location"]


# --- CSV -----------------------------------------------------------------------------------------


def test_the_csv_is_the_pages_table(app: Flask) -> None:
    seed(app)
    client = logged_in(app)
    for language in ("en", "de"):
        for query in ("site=demo&period=2026-10", "period=2026-10", "site=other&period=2026-10"):
            headers = {"Accept-Language": language}
            page = client.get(f"/moderate/stats?{query}", headers=headers).get_data(as_text=True)
            response = client.get(f"/moderate/stats.csv?{query}", headers=headers)
            assert response.mimetype == "text/csv"
            assert "attachment" in response.headers["Content-Disposition"]
            rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
            assert rows[0] == _header(page, "table-moderators")
            assert rows[1:] == _table(page, "table-moderators")
            assert len(rows) > 1
    csv_link = 'href="/moderate/stats.csv?site=demo&amp;period=2026-10"'
    assert csv_link in client.get("/moderate/stats?site=demo&period=2026-10").get_data(as_text=True)


def test_csv_cells_cannot_become_formulas(app: Flask) -> None:
    rows = [
        ("demo", at(10, 5, 12), A, [], [(at(10, 5, 13), name, P, A)])
        for name in ("=HYPERLINK(1)", "+1", "-1", "@SUM(A1)", "plain")
    ]
    seed(app, rows)
    client = logged_in(app)
    text = client.get("/moderate/stats.csv?period=2026-10").get_data(as_text=True)
    names = [row[0] for row in csv.reader(io.StringIO(text))][1:]
    assert sorted(names) == sorted(["'=HYPERLINK(1)", "'+1", "'-1", "'@SUM(A1)", "plain"])
    assert stats.csv_cell("a=b") == "a=b" and stats.csv_cell("\t=1") == "'\t=1"


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_summary_and_csv(app: Flask, runner: FlaskCliRunner) -> None:
    seed(app)
    result = runner.invoke(args=["stats", "--site", "demo", "--month", "2026-10"])
    assert result.exit_code == 0, result.output
    assert "Period:   2026-10-01 to 2026-10-31 (days in Europe/Berlin)" in result.output
    assert "Received: 11 (4 approved, 2 rejected, 2 spam, 2 pending, 1 withdrawn)" in result.output
    assert "Time to decision: p50 1:00:00, p90 25:30:00" in result.output
    assert "Pending:  2 at the start, 4 at the end, at most 4" in result.output
    assert "  anna: 6 (4 approved, 2 rejected, 0 spam), median 1:00:00" in result.output
    assert "Top reasons: links 2, blocked_word 1, honeypot 1" in result.output

    as_csv = runner.invoke(args=["stats", "--site", "demo", "--month", "2026-10", "--csv"])
    assert as_csv.exit_code == 0
    client = logged_in(app)
    web = client.get(
        "/moderate/stats.csv?site=demo&period=2026-10", headers={"Accept-Language": "en"}
    )
    assert as_csv.output.splitlines() == web.get_data(as_text=True).splitlines()
    assert as_csv.output.splitlines()[1] == "anna,4,2,0,6,1:00:00"
    everywhere = runner.invoke(args=["stats", "--days", "90"])
    assert everywhere.exit_code == 0 and "Site:     all sites" in everywhere.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--site", "nowhere", "--month", "2026-10"], "There is no site 'nowhere'"),
        (["--site", "demo", "--month", "2026-13"], "The period must be"),
        (["--site", "demo", "--month", "October"], "The period must be"),
        (["--site", "demo", "--month", "2099-01"], "has not begun"),
        (["--site", "demo"], "Give --month YYYY-MM or --days"),
        (["--month", "2026-10", "--days", "7"], "not both"),
        (["--days", "14"], "'14' is not one of"),
    ],
)
def test_cli_refuses_bad_input(runner: FlaskCliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(args=["stats", *args])
    assert result.exit_code != 0
    assert message in result.output


# --- in a browser --------------------------------------------------------------------------------


@pytest.mark.browser
def test_stats_page_in_a_browser(app: Flask, live_server: LiveServer, page: Any) -> None:
    seed(app)
    add_moderator(app)
    errors: list[str] = []

    def console(message: Any) -> None:  # a blocked style or script shows here; no favicon is not
        if message.type == "error" and "favicon" not in message.location.get("url", ""):
            errors.append(f"{message.text} {message.location.get('url')}")

    page.on("console", console)
    page.set_viewport_size({"width": 900, "height": 900})
    page.goto(f"{live_server.url}/moderate/login")
    page.fill('input[name="username"]', "mona")
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/moderate/")
    page.click('nav a[href="/moderate/stats"]')
    page.select_option('select[name="site"]', "demo")
    page.select_option('select[name="period"]', "2026-10")
    page.click(".stats-filter button")
    page.wait_for_url("**/moderate/stats?site=demo&period=2026-10")
    assert page.locator("svg.chart").count() == 3
    table = page.locator("#table-received")
    assert not table.is_visible()
    page.locator("#h-received ~ details summary").click()
    assert table.is_visible()
    assert table.locator("tbody tr").count() == 31
    assert "01.10.2026" in table.inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 900
    page.locator("#h-received ~ details summary").click()
    assert not table.is_visible()  # closed again

    # The picture in docs/moderator-ui.md: a month of a small newsroom (both sites together).
    seed(app, busy_newsroom())
    page.select_option('select[name="site"]', "")
    page.click(".stats-filter button")
    page.wait_for_url("**/moderate/stats?site=&period=2026-10")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    fill = "el => getComputedStyle(el).fill"
    light = page.locator("#chart-received rect.s-approved").first.evaluate(fill)
    page.emulate_media(color_scheme="dark")
    dark = page.locator("#chart-received rect.s-approved").first.evaluate(fill)
    background = page.locator("#chart-received").evaluate("el => getComputedStyle(el).background")
    assert light != dark and "27, 31, 36" in background  # the dark variants of stats.css
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 375, "height": 740})  # a phone: the charts shrink
    chart = page.locator("#chart-received").bounding_box()
    assert chart and chart["width"] <= 375
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert not errors, errors
