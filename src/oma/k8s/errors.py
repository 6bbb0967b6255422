"""The adapter's own errors, so no caller needs to know the client library's."""

from __future__ import annotations


class ApiFailure(Exception):
    """The API refused or could not be reached; `code` is the HTTP status (None when nothing answered)."""

    def __init__(self, message: str, code: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.reason = message, code, reason


class NotFound(ApiFailure):
    """404: the object (or its kind) does not exist."""


class Conflict(ApiFailure):
    """409: it already exists, or a write lost a race."""


class Fenced(ApiFailure):
    """Refused before sending: this process may not write now (a standby, or a leader past its renew deadline)."""


class Gone(ApiFailure):
    """410: a watch's resourceVersion is too old; list again and watch from the list's version."""


def unreachable(e: BaseException) -> ApiFailure:
    """Nothing answered: a refused connection, a TLS failure, a timeout."""
    return ApiFailure(f"the API server could not be reached: {e or type(e).__name__}", None, None)
