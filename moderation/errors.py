"""Errors decided once: JSON ``{"error", "message", "fields"?}`` under ``/api/``, HTML elsewhere.

Use cases raise :class:`ServiceError` (or a subclass) with a stable code; views never build
error responses themselves. Nothing a client sees is ever a traceback.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException


class ServiceError(Exception):
    """A request that cannot be done, with the status, code and message a client should see."""

    status = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status
        self.fields = fields
        self.headers = headers or {}


class InvalidInput(ServiceError):
    status, code = 400, "invalid"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


E = TypeVar("E", bound=enum.Enum)


def enum_member(cls: type[E], value: E | str, message: str, code: str) -> E:
    """``cls(value)``, or :class:`InvalidInput` with ``message`` for a value it does not have."""
    try:
        return cls(value)
    except ValueError:
        raise InvalidInput(message, code=code) from None


class RateLimited(ServiceError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = max(1, int(retry_after))
        self.headers["Retry-After"] = str(self.retry_after)


# Codes for errors that werkzeug raises before our code runs.
_HTTP_CODES = {
    400: "invalid",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(
    status: int,
    code: str,
    message: str,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if wants_json():
        body: dict[str, Any] = {"error": code, "message": message}
        if fields:
            body["fields"] = fields
        response = jsonify(body)
    else:
        response = Response(
            render_template("error.html", status=status, code=code, message=message),
            mimetype="text/html",
        )
    response.status_code = status
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError) -> Response:
        return error_response(error.status, error.code, error.message, error.fields, error.headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        headers = dict(error.get_headers()) if status == 405 else {}
        headers.pop("Content-Type", None)
        message = error.description or error.name
        if status == 413:
            limit = app.config["MAX_CONTENT_LENGTH"]
            message = f"The request is larger than {limit // 1024} KiB."
        return error_response(status, _HTTP_CODES.get(status, "error"), message, headers=headers)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "Something went wrong on our side.")
