"""The public API's contract: an OpenAPI 3.1 document, served at ``/api/v1/openapi.json``.

Built from the running configuration, so the limits it states (body length, page size, articles
per counts request) are the ones this installation enforces. ``tests/test_openapi.py`` runs
schemathesis against the app with it: no 5xx, and every answer matches what is written here.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from .. import reports, rules
from ..rules import MAX_EMAIL_LENGTH, MAX_ID, MAX_TITLE_LENGTH, MAX_URL_LENGTH

ARTICLE_KEY_PATTERN = f"^{rules.ARTICLE_KEY_PATTERN}$"


def _error(description: str, codes: list[str], *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": f"{description} (`error`: {', '.join(f'`{c}`' for c in codes)})",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
                "required": True,
            }
        }
    return response


def _json(schema: str, description: str, headers: dict | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document for version 1 of the public API."""
    config = current_app.config
    site = {
        "name": "site",
        "in": "path",
        "required": True,
        "description": "The site's slug, as registered with `flask sites add`.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^/]+$"},
    }
    article = {
        "name": "article",
        "in": "path",
        "required": True,
        "description": "The article's key: a slug or a path such as `politik/2026/x`.",
        "schema": {"type": "string", "pattern": ARTICLE_KEY_PATTERN},
    }
    comment_id = {
        "name": "comment_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }
    origin = {
        "name": "Origin",
        "in": "header",
        "required": False,
        "description": "Sent by browsers; must be one of the site's allowed origins to write.",
        "schema": {"type": "string"},
    }
    etag = {"ETag": {"description": "Changes whenever the list changes.", "schema": _STR}}
    cors_read = {
        "Access-Control-Allow-Origin": {"schema": {"const": "*"}},
    }
    not_found = _error("Unknown site", ["unknown_site"])
    preflight = {
        "204": {
            "description": "The origin may send this request.",
            "headers": {
                # Only when the request carried an Origin (browsers always send one).
                "Access-Control-Allow-Origin": {"schema": _STR},
                "Access-Control-Allow-Methods": {"schema": _STR, "required": True},
                "Access-Control-Allow-Headers": {"schema": _STR, "required": True},
            },
        },
        "403": _error("Pages on this origin may not write", ["forbidden_origin"]),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Comment moderation: public API",
            "version": "1",
            "description": (
                "What the comment widget on an article page talks to. JSON, no cookies. "
                "Reading is open to every origin; writing needs `Content-Type: "
                "application/json` and, from a browser, an `Origin` the site allows."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "paths": {
            "/sites/{site}/articles/{article}/comments": {
                "parameters": [site, article],
                "get": {
                    "operationId": "listComments",
                    "summary": "Approved comments of an article, oldest first or as sorted",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": int(config["LIST_MAX_LIMIT"]),
                                "default": int(config["LIST_DEFAULT_LIMIT"]),
                            },
                        },
                        {
                            "name": "sort",
                            "in": "query",
                            "description": (
                                "The order: `oldest` first (the default), `newest` first, or "
                                "`featured`: editors' picks first, then oldest first. Each "
                                "order has its own ETag."
                            ),
                            "schema": {
                                "type": "string",
                                "enum": ["oldest", "newest", "featured"],
                                "default": "oldest",
                            },
                        },
                        {
                            "name": "after",
                            "in": "query",
                            "description": (
                                "The `next` cursor of the previous page in the same order. "
                                "With `sort=featured` a `next` may also be negative (a place "
                                "among the picks, down to -2147483647); pass it back as it is."
                            ),
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                        },
                        {"name": "If-None-Match", "in": "header", "schema": _STR},
                    ],
                    "responses": {
                        "200": _json("CommentList", "A page of the list.", etag | cors_read),
                        "304": {"description": "Unchanged since the ETag sent.", "headers": etag},
                        "400": _error("Bad parameter", ["invalid", "invalid_article"]),
                        "404": not_found,
                    },
                },
                "post": {
                    "operationId": "submitComment",
                    "summary": "Submit a comment; it waits for a moderator",
                    "parameters": [
                        origin,
                        {
                            "name": "lang",
                            "in": "query",
                            "description": (
                                "The language of what the reader is told (field errors, "
                                f"closed, paused, the wait): one of {', '.join(rules.LANGUAGES)}; "
                                "default and for anything else: the site's."
                            ),
                            "schema": _STR,
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Submission"}
                            }
                        },
                    },
                    "responses": {
                        "202": _json("Accepted", "Queued; nothing is public yet."),
                        "400": _error(
                            "Bad input",
                            ["invalid", "invalid_json", "invalid_article", "invalid_form_token"],
                        ),
                        "403": _error(
                            "Not allowed", ["forbidden_origin", "closed", "paused", "banned"]
                        ),
                        "404": not_found,
                        "413": _error("Request too large", ["too_large"]),
                        "415": _error("Not JSON", ["unsupported_media_type"]),
                        "429": _error("Too many comments", ["rate_limited"], retry_after=True),
                    },
                },
                "options": {
                    "operationId": "commentsPreflight",
                    "summary": "CORS preflight for submitting",
                    "parameters": [origin],
                    "responses": preflight
                    | {"400": _error("Bad article key", ["invalid_article"]), "404": not_found},
                },
            },
            "/sites/{site}/articles/{article}/form-token": {
                "parameters": [site, article],
                "get": {
                    "operationId": "formToken",
                    "summary": "A signed, time-stamped token for the comment form",
                    "responses": {
                        "200": _json("FormToken", "Not cacheable."),
                        "400": _error("Bad article key", ["invalid_article"]),
                        "404": not_found,
                    },
                },
            },
            "/sites/{site}/counts": {
                "parameters": [site],
                "get": {
                    "operationId": "counts",
                    "summary": "Approved comments per article, for many articles at once",
                    "parameters": [
                        {
                            "name": "article",
                            "in": "query",
                            "required": True,
                            "style": "form",
                            "explode": True,
                            "schema": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": int(config["COUNTS_MAX_ARTICLES"]),
                                "items": article["schema"],
                            },
                        }
                    ],
                    "responses": {
                        "200": _json("Counts", "Counts, 0 for articles without comments."),
                        "400": _error("Missing or bad article keys", ["invalid"]),
                        "404": not_found,
                    },
                },
            },
            "/comments/{comment_id}": {
                "parameters": [comment_id],
                "delete": {
                    "operationId": "withdrawComment",
                    "summary": "The author withdraws a comment with the token they got",
                    "parameters": [
                        origin,
                        {
                            "name": "X-Comment-Token",
                            "in": "header",
                            "required": True,
                            "description": "The token the submission answered with.",
                            "schema": {"type": "string", "minLength": 1},
                        },
                    ],
                    "responses": {
                        "200": _json("Withdrawn", "Text and e-mail erased."),
                        "400": _error("No token", ["missing_token"]),
                        "403": _error(
                            "The comment's site does not allow this origin", ["forbidden_origin"]
                        ),
                        "404": _error(
                            "No comment with this id and token (the same answer for both)",
                            ["unknown_comment"],
                        ),
                    },
                },
                "options": {
                    "operationId": "commentPreflight",
                    "summary": "CORS preflight for withdrawing",
                    "description": "Answered alike for every id, whether it exists or not.",
                    "parameters": [origin],
                    "responses": preflight | {"404": _error("Not an id", ["unknown_comment"])},
                },
            },
            "/comments/{comment_id}/reports": {
                "parameters": [comment_id],
                "post": {
                    "operationId": "reportComment",
                    "summary": "Report a published comment (DSA Art. 16)",
                    "parameters": [origin],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _report_schema()}},
                    },
                    "responses": {
                        "202": {
                            "description": "Stored; a moderator will decide.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["id", "status"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "id": {"type": "integer"},
                                            "status": {"const": "received"},
                                        },
                                    }
                                }
                            },
                        },
                        "400": _error("Invalid report", ["invalid", "invalid_json"]),
                        "403": _error(
                            "The comment's site does not allow this origin", ["forbidden_origin"]
                        ),
                        "404": _error("No published comment with this id", ["unknown_comment"]),
                        "415": _error("Not JSON", ["unsupported_media_type"]),
                        "429": _error("Too many reports", ["rate_limited"], retry_after=True),
                    },
                },
                "options": {
                    "operationId": "reportPreflight",
                    "summary": "CORS preflight for reporting",
                    "parameters": [origin],
                    "responses": preflight
                    | {"404": _error("No published comment", ["unknown_comment"])},
                },
            },
        },
        "components": {"schemas": _schemas(config)},
    }


_STR: dict[str, Any] = {"type": "string"}


def _report_schema() -> dict[str, Any]:
    """A reader's report (see :func:`moderation.reports.parse_report`)."""
    return {
        "type": "object",
        "required": ["category", "explanation", "good_faith"],
        "properties": {
            "category": {"enum": list(reports.CATEGORIES)},
            "law": {
                "type": "string",
                "maxLength": reports.MAX_LAW_LENGTH,
                "description": "Which law or ground the comment breaks; required for `illegal`.",
            },
            "explanation": {
                "type": "string",
                "minLength": 1,
                "maxLength": reports.MAX_EXPLANATION_LENGTH,
            },
            "email": {
                "type": "string",
                "maxLength": MAX_EMAIL_LENGTH,
                "description": "Optional: for the receipt and the decision, never shown.",
            },
            "good_faith": {"const": True, "description": "The report is made in good faith."},
        },
    }


def _schemas(config: Any) -> dict[str, Any]:
    max_author = int(config["MAX_AUTHOR_LENGTH"])
    max_body = int(config["MAX_BODY_LENGTH"])
    return {
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "description": "A stable code, e.g. `invalid`."},
                "message": {"type": "string", "description": "For people; may be translated."},
                "fields": {
                    "type": "object",
                    "description": "What is wrong with each bad field.",
                    "additionalProperties": {"type": "string"},
                },
            },
        },
        "Comment": {
            "type": "object",
            "required": ["id", "parent_id", "author", "html", "created_at", "staff", "featured"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "integer"},
                "parent_id": {"type": ["integer", "null"]},
                "author": {"type": "string"},
                "html": {"type": "string", "description": "Sanitized; safe to insert as HTML."},
                "created_at": {"type": "string", "format": "date-time"},
                "staff": {
                    "type": "boolean",
                    "description": 'Written by the newsroom (badge "Redaktion").',
                },
                "featured": {
                    "type": "boolean",
                    "description": 'An editors\' pick (badge "Redaktionsempfehlung").',
                },
            },
        },
        "CommentList": {
            "type": "object",
            "required": ["comments", "count", "next"],
            "additionalProperties": False,
            "properties": {
                "comments": {"type": "array", "items": {"$ref": "#/components/schemas/Comment"}},
                "count": {"type": "integer", "minimum": 0, "description": "The article's total."},
                "next": {
                    "type": ["string", "null"],
                    "description": "Cursor for the next page (`?after=`), or null.",
                },
            },
        },
        "Submission": {
            "type": "object",
            "required": ["author", "body"],
            "properties": {
                "author": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": max_author,
                    "pattern": rules.visible_character_class(),
                },
                "body": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": max_body,
                    "pattern": rules.visible_character_class(),
                },
                "email": {"type": ["string", "null"], "maxLength": MAX_EMAIL_LENGTH},
                "notify": {
                    "type": ["boolean", "null"],
                    "default": False,
                    "description": (
                        "Mail the author when the comment is published or not, and when an"
                        " approved reply answers it; needs `email`. The address gets a"
                        " confirmation mail first (double opt-in); nothing else is sent to it"
                        " until it is confirmed."
                    ),
                },
                "parent_id": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "maximum": MAX_ID,
                    "description": "An approved comment of the same article.",
                },
                "title": {"type": ["string", "null"], "maxLength": MAX_TITLE_LENGTH},
                "url": {"type": ["string", "null"], "maxLength": MAX_URL_LENGTH},
                "form_token": {"type": ["string", "null"]},
                "reader_key": {
                    "type": ["string", "null"],
                    "pattern": "^[A-Za-z0-9_-]{43}$",
                    "description": (
                        "The key this browser got when the reader confirmed their address;"
                        " with the same `email`, it lets a site's trusted readers be"
                        " published at once."
                    ),
                },
            },
        },
        "Accepted": {
            "type": "object",
            "required": ["id", "status", "token"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "integer"},
                "status": {
                    "type": "string",
                    "enum": ["pending", "approved"],
                    "description": (
                        "`approved` when a trusted reader's comment was published at once"
                        " (see `reader_key`); `pending` otherwise, spam included."
                    ),
                },
                "token": {"type": "string", "description": "Keep it to withdraw the comment."},
            },
        },
        "Withdrawn": {
            "type": "object",
            "required": ["id", "status"],
            "additionalProperties": False,
            "properties": {"id": {"type": "integer"}, "status": {"const": "withdrawn"}},
        },
        "Counts": {
            "type": "object",
            "required": ["counts"],
            "additionalProperties": False,
            "properties": {
                "counts": {
                    "type": "object",
                    "additionalProperties": {"type": "integer", "minimum": 0},
                }
            },
        },
        "FormToken": {
            "type": "object",
            "required": ["token", "language", "closed", "limits"],
            "additionalProperties": False,
            "properties": {
                "token": {"type": "string"},
                "language": {"type": "string", "enum": list(rules.LANGUAGES)},
                "closed": {"type": "boolean", "description": "Commenting is closed or paused."},
                "limits": {
                    "type": "object",
                    "required": ["author", "body"],
                    "additionalProperties": False,
                    "properties": {
                        "author": {"type": "integer", "minimum": 1},
                        "body": {"type": "integer", "minimum": 1},
                    },
                },
            },
        },
    }
