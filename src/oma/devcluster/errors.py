"""The one error the local control plane raises for its users."""

from __future__ import annotations


class ClusterError(RuntimeError):
    """A failure a developer can act on; the message says what to do."""
