"""A comment moderation service for news sites.

A comment flows through the modules in this order: ``api`` (or ``embed``) receives it,
``submission`` validates it, ``sanitize`` renders it, ``checks`` judges it, it waits as pending
until ``review`` records a moderator's decision, and ``approved`` serves what was approved.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import cli, database, errors, health, i18n, moderate, public, rules
from .config import load_config
from .extensions import csrf, db, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get(
        "MODERATION_INSTANCE_PATH", ROOT / "instance"
    )
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=str(instance_path),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
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
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    i18n.init_app(app, str(ROOT / "translations"))
    app.jinja_env.globals["rules"] = rules  # limits and patterns, as the code applies them

    app.register_blueprint(health.bp)
    public.init_app(app)
    moderate.init_app(app)
    return app
