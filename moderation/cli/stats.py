"""``flask --app wsgi stats --site SLUG --month 2026-11 [--csv]``: a period's statistics.

The same numbers as ``/moderate/stats`` (:func:`moderation.stats.compute`). ``--csv`` prints
the page's table of decisions per moderator as CSV, byte for byte what ``/moderate/stats.csv``
gives (in the default language, ``BABEL_DEFAULT_LOCALE``); without it, a summary to read.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from .. import stats as statistics
from . import reports_errors


@click.command("stats")
@click.option("--site", "slug", help="Only this site (default: all sites).")
@click.option("--month", help="A calendar month, YYYY-MM (days in BABEL_DEFAULT_TIMEZONE).")
@click.option(
    "--days",
    type=click.Choice([str(n) for n in statistics.PERIOD_DAYS]),
    help="The last 7, 30 or 90 days instead of a month.",
)
@click.option("--csv", "as_csv", is_flag=True, help="Print the decisions per moderator as CSV.")
@with_appcontext
@reports_errors
def stats_command(slug: str | None, month: str | None, days: str | None, as_csv: bool) -> None:
    """Comments by outcome, time to decision, queue length and decisions per moderator."""
    if month and days:
        raise click.UsageError("Give either --month or --days, not both.")
    if not month and not days:
        raise click.UsageError("Give --month YYYY-MM or --days 7|30|90.")
    period = statistics.parse_period(month or days)
    site = statistics.resolve_site(slug)
    result = statistics.compute(period, site)
    if as_csv:
        click.echo(statistics.moderator_csv(result), nl=False)
        return
    first, last = period.days[0], period.days[-1]
    click.echo(f"Site:     {site.slug if site else 'all sites'}")
    click.echo(f"Period:   {first} to {last} (days in {period.zone.key})")
    received = sum(result.totals.values())
    outcomes = ", ".join(f"{result.totals[s]} {s.value}" for s in statistics.OUTCOMES)
    click.echo(f"Received: {received} ({outcomes})")
    p50, p90 = statistics.duration(result.p50) or "-", statistics.duration(result.p90) or "-"
    click.echo(f"Time to decision: p50 {p50}, p90 {p90} (h:mm:ss)")
    queue = [day.queue for day in result.days]
    click.echo(
        f"Pending:  {result.queue_at_start} at the start, {queue[-1]} at the end, "
        f"at most {max(queue)}"
    )
    click.echo("Decisions per moderator:")
    rows = statistics.moderator_table(result)
    if not rows:
        click.echo("  none")
    for name, approved, rejected, spam, total, median in rows:
        click.echo(
            f"  {name}: {total} ({approved} approved, {rejected} rejected, {spam} spam), "
            f"median {median or '-'}"
        )
    reasons = ", ".join(f"{code} {count}" for code, count in result.reasons) or "none"
    click.echo(f"Top reasons: {reasons}")
