"""The worker's exit codes: the contract between the worker and the operator's podFailurePolicy."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    # Permanent: retrying cannot help, the Job fails at once (podFailurePolicy FailJob).
    INVALID_SPEC = 10
    INPUT_REFUSED = 11  # safety policy: scheme, private address, path escape, limits
    INPUT_UNREADABLE = 12  # missing, HTTP 4xx, or not decodable media
    DESTINATION_UNWRITABLE = 13
    # Transient: worth a retry (counted against backoffLimit).
    TRANSIENT = 20  # ffmpeg or I/O failure, network trouble
    VERIFY_FAILED = 21  # an output did not match what was asked for


PERMANENT = frozenset({Exit.INVALID_SPEC, Exit.INPUT_REFUSED, Exit.INPUT_UNREADABLE, Exit.DESTINATION_UNWRITABLE})
