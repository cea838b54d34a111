"""``flask --app wsgi transparency --site SLUG --year 2026 [--csv]``: a site's year of reports
and removals, for its transparency report (DSA Art. 15 and 24).

The numbers come from :func:`moderation.reports.transparency`; JSON by default, ``--csv`` for
a spreadsheet. An unknown site or a bad year is an error (exit 1) with a message.
"""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from .. import reports
from . import reports_errors


@click.command("transparency")
@click.option("--site", "slug", required=True, help="The site's slug.")
@click.option("--year", required=True, help="A calendar year (UTC), e.g. 2026.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV (section,key,value) instead of JSON.")
@with_appcontext
@reports_errors
def transparency_command(slug: str, year: str, as_csv: bool) -> None:
    """Reports received by category, decisions on them, the median time to decision and
    removals by ground."""
    result = reports.transparency(slug, year)
    if as_csv:
        click.echo(result.csv(), nl=False)
    else:
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
