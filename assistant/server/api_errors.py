"""OpenAI-style error objects: ``{"error": {"message", "type", "param", "code"}}``.

Every failure a client can cause ends as one of these with a 4xx status; a bug
ends as a 500 with a generic message, its traceback kept out of the response.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from assistant.errors import USER_ERRORS
from assistant.safe_text import one_line

log = logging.getLogger("lira.serve")
TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
         413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error"}


class ApiError(Exception):
    """A refusal the client caused, with its HTTP status and OpenAI error fields."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}


def error_body(status: int, message: str, code: str | None = None,
               param: str | None = None) -> dict:
    """The JSON body of an error response."""
    return {"error": {"message": message, "type": TYPES.get(status, "server_error"),
                      "param": param, "code": code}}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error_body(error.status, error.message, error.code, error.param),
                        status_code=error.status, headers=error.headers)


def install_handlers(app: FastAPI) -> None:
    """Route every exception an endpoint can raise to an error object."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(ApiError(exc.status_code, str(exc.detail)))

    async def user_error(request: Request, exc: Exception) -> JSONResponse:
        return error_response(ApiError(400, one_line(str(exc))))

    for kind in USER_ERRORS:  # Lira's own errors: what the request asked for cannot be done
        app.add_exception_handler(kind, user_error)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")  # the server's log, never the client, sees the traceback
        return JSONResponse(error_body(500, "internal error; see the server's log"),
                            status_code=500)


def validation_error(errors: list) -> ApiError:
    """A 400 (bad JSON) or 422 (a bad field) from pydantic's error list."""
    first = errors[0] if errors else {}
    where = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        return ApiError(400, "the request body is not valid JSON", "invalid_json")
    message = f"{'.'.join(where) or 'body'}: {first.get('msg', 'invalid value')}"
    return ApiError(422, one_line(message), "invalid_value", ".".join(where) or None)
