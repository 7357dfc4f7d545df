"""One root exception with narrow subclasses; the HTTP layer maps each to a status code."""

from __future__ import annotations


class YichuangError(Exception):
    """Root of every error the project raises on purpose. `message` is safe to show to a user."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(YichuangError):
    """A setting is missing or wrong; the process must not start."""

    code = "config_error"


class InvalidInput(YichuangError):
    """The request is malformed or a field fails validation."""

    status = 400
    code = "invalid_input"


class Unauthorized(YichuangError):
    """No credentials, or credentials that are forged or expired."""

    status = 401
    code = "unauthorized"


class Forbidden(YichuangError):
    """The caller is known but may not do this (wrong role, failed CSRF check)."""

    status = 403
    code = "forbidden"


class NotFound(YichuangError):
    """The thing asked for does not exist (or is not the caller's to see)."""

    status = 404
    code = "not_found"


class Conflict(YichuangError):
    """The request clashes with the current state (already claimed, already closed, ...)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(YichuangError):
    """The body or a field is over its size limit."""

    status = 413
    code = "payload_too_large"


class RateLimited(YichuangError):
    """Too many attempts in a time window; `retry_after` is the number of seconds until the window ends."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ServiceUnavailable(YichuangError):
    """A backing service (Redis, database) is down; the client may retry later."""

    status = 503
    code = "service_unavailable"
