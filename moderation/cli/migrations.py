"""``flask --app wsgi db …``: Flask-Migrate's commands, loaded only when they are used.

Importing Flask-Migrate brings Alembic, and with it Mako and Pygments: about 11 MB in every
process that imports it. The gunicorn workers never migrate, so the app does not import it:
``db`` is a group that loads Flask-Migrate's own on first use, and ``app.extensions["migrate"]``
(where Flask-Migrate's commands and functions such as ``flask_migrate.upgrade`` look for their
settings) sets Flask-Migrate up on first use. Both then behave exactly as Flask-Migrate's.
"""

from __future__ import annotations

from typing import Any

import click
from flask import Flask

from ..extensions import db


class _MigrateOnDemand:
    """Stands in ``app.extensions["migrate"]`` until something reads it, then sets up
    Flask-Migrate there (which replaces it) and answers as that would."""

    def __init__(self, app: Flask, directory: str) -> None:
        self._app = app
        self._directory = directory

    def __getattr__(self, name: str) -> Any:
        from flask_migrate import Migrate

        Migrate(self._app, db, directory=self._directory)
        return getattr(self._app.extensions["migrate"], name)


class _Commands(click.Group):
    """The ``db`` group in ``flask --help``; run, it hands over to Flask-Migrate's own (its
    options, commands and help), imported then."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        from flask_migrate.cli import db as theirs

        return theirs.make_context(info_name, args, parent=parent, **extra)


def init_app(app: Flask, directory: str) -> None:
    app.extensions["migrate"] = _MigrateOnDemand(app, directory)
    app.cli.add_command(_Commands("db", help="Perform database migrations."))
