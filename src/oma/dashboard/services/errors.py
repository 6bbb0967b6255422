"""The one error a use-case raises; routes turn it into `{"error": {"code", "message"}}` with its status."""

from __future__ import annotations


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def not_found(what: str) -> Refused:
    return Refused(404, "not_found", f"{what} does not exist")


def unavailable(what: str) -> Refused:
    return Refused(503, "unavailable", f"{what} is unavailable right now; try again shortly", {"Retry-After": "5"})
