"""The one adapter that talks to the Kubernetes API; the only importer of lightkube in oma's programs."""

from . import kinds
from .client import Kube, Manifest, SyncKube
from .config import connection_fields
from .errors import ApiFailure, Conflict, Fenced, Gone, NotFound
from .kinds import Kind

__all__ = [
    "ApiFailure",
    "Conflict",
    "Fenced",
    "Gone",
    "Kind",
    "Kube",
    "Manifest",
    "NotFound",
    "SyncKube",
    "connection_fields",
    "kinds",
]
