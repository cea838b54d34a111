"""The public face: what readers' browsers and news sites talk to, without cookies.

* :mod:`.api`: the JSON API (``/api/v1``) and its OpenAPI document (:mod:`.openapi`);
* :mod:`.embed`: the widget and count scripts and the no-JS page (``/embed/…``);
* :mod:`.notifications`: the pages behind the links in readers' mails (confirm, unsubscribe);
* :mod:`.fast_path`: a WSGI layer that answers the approved list's 304s and cached pages
  before Flask.
"""

from __future__ import annotations

from flask import Flask

from . import (
    api,
    embed,
    fast_path,
    notifications,
    objections,  # noqa: F401  (its routes hang on notifications.bp)
    reports,
)


def init_app(app: Flask) -> None:
    app.register_blueprint(api.bp)
    app.register_blueprint(reports.bp)  # POST /api/v1/comments/<id>/reports
    app.session_interface = api.SessionsOutsideTheApi()
    app.register_blueprint(embed.bp)
    app.register_blueprint(notifications.bp)
    # Outermost: the approved list's 304s and cached pages are answered before Flask (and
    # ProxyFix, which they do not need); see fast_path.py.
    app.wsgi_app = fast_path.FastPath(app, app.wsgi_app)  # type: ignore[method-assign]
