"""Every error leaves as application/problem+json with a message that says what to do."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import IntegerConverter

from service.infra.db import unavailable

# A Postgres restart or failover takes seconds; senders that honour Retry-After come back soon after.
DATABASE_RETRY_AFTER_S = 2


class ApiError(Exception):
    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    response = jsonify({"status": status, "title": title, "detail": detail, **extra})
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


# Row ids are INTEGER columns: 32 bits on Postgres, which refuses a larger value with an error, not "no row".
MAX_ROW_ID = 2**31 - 1


class DatabaseInteger(IntegerConverter):
    """<int:...> path parts a row id can be: ASCII digits up to MAX_ROW_ID; anything else is a 404, not a 500.

    werkzeug's own accepts any Unicode digits and any size, and Postgres fails the lookup of a larger number.
    """

    regex = r"[0-9]{1,19}"

    def __init__(
        self,
        map: Any,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = MAX_ROW_ID,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def register(app: Flask) -> None:
    # Before any blueprint is registered: rules pick their converter when they are added.
    app.url_map.converters["int"] = DatabaseInteger

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        from http import HTTPStatus

        return problem(exc.status, HTTPStatus(exc.status).phrase, exc.detail, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if exc.response is not None:
            return exc.response  # type: ignore[return-value]  # the raiser built the whole answer (e.g. 429)
        detail = exc.description or ""
        if exc.code == 413:
            detail = f"request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes"
        response = problem(exc.code or 500, exc.name, detail)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        return problem(500, "Internal Server Error", "unexpected error; it has been logged")

    @app.errorhandler(SQLAlchemyError)
    def _database_error(exc: SQLAlchemyError) -> Response:
        if not unavailable(exc):
            return _unexpected(exc)
        # Not our bug and not the sender's: 503 tells webhook senders to retry, and a repeated delivery is
        # stored once, so a retry after an ambiguous commit is harmless.
        app.logger.warning("database unavailable: %s", type(getattr(exc, "orig", None) or exc).__name__)
        response = problem(
            503,
            "Service Unavailable",
            "the database is unavailable, so this request may not "
            "have been stored; send it again after Retry-After seconds (a repeated delivery is "
            "stored once)",
        )
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response
