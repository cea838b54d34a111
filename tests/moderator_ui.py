"""Helpers for tests of the moderator UI: accounts, logging in, CSRF tokens from pages."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash
from werkzeug.test import TestResponse

from moderation.extensions import db
from moderation.models import Moderator, Role

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def add_moderator(app: Flask, username: str = "mona", *, admin: bool = False) -> None:
    """A moderator with :data:`PASSWORD`, hashed cheaply so that tests stay quick.

    The product hashes with werkzeug's default (scrypt, about 0.3 s here); checking a password
    follows whatever method its stored hash names, so logging in stays the real code path.
    """
    with app.app_context():
        db.session.add(
            Moderator(
                username=username,
                password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"),
                role=Role.ADMIN if admin else Role.MODERATOR,
            )
        )
        db.session.commit()


def csrf_token(client: FlaskClient, path: str = "/moderate/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = TOKEN.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def log_in(
    client: FlaskClient, username: str = "mona", password: str = PASSWORD, **extra: str
) -> TestResponse:
    token = csrf_token(client)
    data = {"username": username, "password": password, "csrf_token": token} | extra
    return client.post("/moderate/login", data=data)


def logged_in(app: Flask, username: str = "mona", *, admin: bool = False) -> FlaskClient:
    """A client with a fresh moderator (admin if asked) signed in."""
    add_moderator(app, username, admin=admin)
    client = app.test_client()
    response = log_in(client, username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def post(client: FlaskClient, path: str, data: dict | None = None, **kwargs) -> TestResponse:
    """A POST with the session's CSRF token, as a form on a moderator page sends it."""
    token = csrf_token(client, "/moderate/")
    return client.post(path, data={"csrf_token": token} | (data or {}), **kwargs)
