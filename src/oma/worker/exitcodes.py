"""Worker failures carry an exit code from the shared contract (oma.models.exitcodes)."""

from __future__ import annotations

from oma.models.exitcodes import PERMANENT, Exit

__all__ = ["PERMANENT", "Exit", "WorkerError"]


class WorkerError(Exception):
    """A failure with its exit code and a message a user can act on (it lands in status.failure)."""

    def __init__(self, code: Exit, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
