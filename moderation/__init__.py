"""A comment moderation service for news sites.

A comment flows through the modules in this order: ``api`` (or ``embed``) receives it,
``submission`` validates it, ``sanitize`` renders it, ``checks`` judges it, it waits as pending
until ``review`` records a moderator's decision, and ``approved`` serves what was approved.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import os
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import cli, database, errors, health, i18n, moderate, public, rules
from .cli import migrations
from .config import load_config
from .extensions import csrf, db

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent


def data_folder(name: str) -> Path:
    """The checkout's top-level folder NAME (templates, static, translations, migrations), or,
    in an installed wheel, the copy that its build put under ``moderation/_data/`` (setup.py)."""
    checkout = ROOT / name
    return checkout if checkout.is_dir() else PACKAGE / "_data" / name


def translations_folder() -> Path:
    """The first folder with compiled catalogs: the checkout's after ``make``, else those of an
    installed wheel, even when the checkout's package is the one imported (``gunicorn wsgi:app``
    in a checkout where ``pip install .`` ran but not ``make``); else the checkout's, in English."""
    installed = (
        Path(str(dist.locate_file("moderation/_data/translations")))
        for dist in importlib.metadata.distributions(name="moderation")
    )  # a generator: the search of sys.path runs only when the first two have no catalogs
    for folder in itertools.chain(
        [ROOT / "translations", PACKAGE / "_data" / "translations"], installed
    ):
        if any(folder.glob("*/LC_MESSAGES/*.mo")):
            return folder
    return data_folder("translations")


def create_app(test_config: dict | None = None) -> Flask:
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get(
        "MODERATION_INSTANCE_PATH", ROOT / "instance"
    )
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=str(instance_path),
        template_folder=str(data_folder("templates")),
        static_folder=str(data_folder("static")),
    )
    load_config(app, test_config)
    trusted_proxies = int(app.config["TRUSTED_PROXIES"])
    if trusted_proxies > 0:
        # Believe the last N entries of X-Forwarded-For (and -Proto), as many as there are
        # proxies of ours in front; without it the header is ignored, since anyone can send it.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # Flask's way to add middleware
            app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies
        )

    db.init_app(app)
    database.init_app(app)
    migrations.init_app(app, str(data_folder("migrations")))  # Flask-Migrate, on first use
    csrf.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    i18n.init_app(app, str(translations_folder()))
    app.jinja_env.globals["rules"] = rules  # limits and patterns, as the code applies them

    app.register_blueprint(health.bp)
    public.init_app(app)
    moderate.init_app(app)
    return app
