"""Every failure of a server request as an HTTP status and a JSON body in OpenAI's shape:
``{"error": {"message", "type", "param", "code"}}``.

Bad input is the caller's to fix (400, 404, 413, 422); a full queue says when to come
back (429 with Retry-After); an engine that cannot serve right now is 503 (the next
request restarts its worker); a request past its deadline is 504. Anything else is a
500 that names the error without a traceback.
"""

from __future__ import annotations

import math
from typing import Any

from .._exceptions import (
    ConfigError,
    EnvError,
    FanrenTTSError,
    ProtocolError,
    QueueFull,
    QueueTimeout,
    RemoteError,
    RemoteFailed,
    RemoteRejected,
    RemoteUnreachable,
    WorkerCrashed,
    WorkerStartupError,
    WorkerTimeout,
    WorkerUnavailable,
)

__all__ = ["ApiError", "error_body", "from_exception", "from_http_exception"]

#: Engine-side exceptions that mean the request's own values were wrong.
_BAD_INPUT_REMOTE = frozenset({"ValueError", "TypeError", "KeyError", "FileNotFoundError"})


class ApiError(Exception):
    """An HTTP error decided by the server itself (not from the library)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}


def error_body(err: ApiError) -> dict[str, Any]:
    return {"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}}


#: The ``code`` of an HTTP error raised by the framework (routing, body parsing), by status.
_HTTP_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def from_http_exception(exc: Any) -> ApiError:
    """An ``HTTPException`` of Starlette or FastAPI (no route, wrong method, a body that
    cannot be parsed) in the same shape as every other error. FastAPI raises a 400
    "error parsing the body" from the real cause: say what that was."""
    status = int(exc.status_code)
    cause = exc.__cause__
    headers = dict(getattr(exc, "headers", None) or {})
    if status == 400 and isinstance(cause, UnicodeDecodeError):
        return ApiError(400, f"the request body is not UTF-8 JSON: {cause}", code="invalid_json", headers=headers)
    if status == 400 and isinstance(cause, RecursionError):
        return ApiError(400, "the request body's JSON is nested too deep", code="too_deep", headers=headers)
    if status == 400 and isinstance(cause, ValueError):
        return ApiError(400, f"the request body is not valid JSON: {cause}", code="invalid_json", headers=headers)
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return ApiError(status, str(exc.detail), type=kind, code=_HTTP_CODES.get(status), headers=headers)


def from_exception(exc: BaseException) -> ApiError:
    """The HTTP form of ``exc`` (see the module docstring)."""
    if isinstance(exc, ApiError):
        return exc
    message = str(exc).split("\n--- last worker output")[0]
    if isinstance(exc, QueueFull):
        retry = str(max(1, math.ceil(exc.retry_after)))
        return ApiError(429, message, type="rate_limit_error", code="queue_full", headers={"Retry-After": retry})
    if isinstance(exc, (QueueTimeout, WorkerTimeout)):
        return ApiError(504, message, type="timeout_error", code="timeout")
    if isinstance(exc, ConfigError):
        return ApiError(400, message, code="invalid_value")
    if isinstance(exc, (EnvError, WorkerUnavailable, WorkerStartupError, WorkerCrashed, ProtocolError)):
        code = "worker_crashed" if isinstance(exc, WorkerCrashed) else "engine_unavailable"
        return ApiError(503, message, type="engine_unavailable", code=code, headers={"Retry-After": "1"})
    if isinstance(exc, RemoteRejected):  # a remote engine's server refused what we passed on
        return ApiError(400, message, code="rejected_by_remote")
    if isinstance(exc, (RemoteUnreachable, RemoteFailed)):  # the server behind us is down or failing
        code = "remote_unreachable" if isinstance(exc, RemoteUnreachable) else "remote_failed"
        return ApiError(502, message, type="engine_unavailable", code=code, headers={"Retry-After": "1"})
    if isinstance(exc, RemoteError):
        if exc.stage == "load":
            return ApiError(503, message, type="engine_unavailable", code="engine_failed_to_load")
        if exc.remote_type in _BAD_INPUT_REMOTE:
            return ApiError(400, message, code="rejected_by_engine")
        return ApiError(500, message, type="server_error", code="engine_error")
    if isinstance(exc, FanrenTTSError):
        return ApiError(500, message, type="server_error", code="fanren_tts_error")
    return ApiError(500, f"unexpected {type(exc).__name__}: {exc}", type="server_error", code="internal_error")
