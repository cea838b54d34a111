"""The OpenAPI document is true: schemathesis sends generated requests to the app (in process).

Every operation gets a bounded number of property-based examples, valid and invalid; no answer
may be a 5xx, and every answer must match the document (status, headers, body schema).
"""

from __future__ import annotations

import tempfile
import zlib
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from helpers import approve, post_comment
from hypothesis import HealthCheck, settings

from moderation import create_app
from moderation.public import openapi
from moderation.public.openapi import ARTICLE_KEY_PATTERN


def _document() -> dict:
    """The document as an app with the default settings serves it."""
    with tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {"INSTANCE_PATH": instance, "DATABASE_URL": "sqlite://", "SECRET_KEY": "x"}
        )
        with app.app_context():
            return openapi.document()


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture
def seeded(app: Flask) -> Flask:
    with app.test_client() as client:
        # Something to list, count and withdraw, so generated requests reach real rows.
        approve(client, post_comment(client, thread="/api/v1/sites/demo/articles/a").json["id"])
    return app


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is not flaky
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_matches_its_openapi_document(case: Any, seeded: Flask) -> None:
    # Most requests name the site that exists; generated slugs exercise the 404 answers. The
    # choice is a stable digest of the parameters (``hash`` of a str is salted per process), so
    # every run sends the same requests.
    parameters = case.path_parameters or {}
    if "site" in parameters and zlib.crc32(repr(sorted(parameters.items())).encode()) % 4:
        case.path_parameters["site"] = "demo"
    excluded = []
    if case.operation.method.upper() == "POST":
        # A schema cannot say "parent_id names an approved comment of this article" or spell out
        # the e-mail check, so a schema-valid submission may still rightly get a 400.
        excluded.append(schemathesis.checks.positive_data_acceptance)
    case.call_and_validate(app=seeded, excluded_checks=excluded)


def test_the_document_is_served(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert document["paths"]["/sites/{site}/articles/{article}/comments"].keys() >= {
        "get",
        "post",
        "options",
    }
    limit = document["paths"]["/sites/{site}/articles/{article}/comments"]["get"]["parameters"][0]
    assert limit["schema"]["maximum"] == client.application.config["LIST_MAX_LIMIT"]


def test_the_documented_article_pattern_is_narrower_than_the_code() -> None:
    """Every key the document allows is one the code accepts."""
    import re

    from moderation.submission import validate_article_key

    for key in ("a", "politik/2026/x", "a.b~c_d-e", "9" * 200):
        assert re.match(ARTICLE_KEY_PATTERN, key)
        validate_article_key(key)
    for key in ("a//b", "a/", "/a", "", "a" * 201, "ä"):
        assert not re.match(ARTICLE_KEY_PATTERN, key)
