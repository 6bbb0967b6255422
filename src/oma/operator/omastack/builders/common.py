"""What every child of an OmaStack shares: names derived from the stack's, labels, ownership, pod security."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from oma.models import omastack
from oma.models.omastack import OmaStack

from ...common.labels import LABEL_COMPONENT, LABEL_STACK, controller_reference, managed_labels
from ...common.podsecurity import restricted_pod

ANNOTATION_ROTATION = "video.oma.ai/credentials-rotation"
REDIS_PORT = 6379
POSTGRES_PORT = 5432
DASHBOARD_PORT = 8000
REDIS_EXPORTER_PORT = 9121
POSTGRES_EXPORTER_PORT = 9187
# The official redis and postgres images run as uid/gid 999; the dashboard image as 65532 (distroless).
DATA_UID = 999
APP_UID = 65532

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Names:
    """Every child's name, derived from the stack's name."""

    stack: str

    @property
    def redis(self) -> str:
        return f"{self.stack}-redis"

    @property
    def redis_config(self) -> str:
        return f"{self.stack}-redis-config"

    @property
    def postgres(self) -> str:
        return f"{self.stack}-postgres"

    @property
    def credentials(self) -> str:
        return f"{self.stack}-postgres-credentials"

    @property
    def dashboard(self) -> str:
        return f"{self.stack}-dashboard"

    @property
    def backup_postgres(self) -> str:
        return f"{self.stack}-backup-postgres"

    @property
    def backup_redis(self) -> str:
        return f"{self.stack}-backup-redis"

    @property
    def backup_objects(self) -> str:
        return f"{self.stack}-backup-objects"

    @property
    def backups_claim(self) -> str:
        return f"{self.stack}-backups"

    @property
    def exporters(self) -> str:
        return f"{self.stack}-exporters"

    @property
    def alerts(self) -> str:
        return f"{self.stack}-alerts"

    @property
    def grafana(self) -> str:
        return f"{self.stack}-grafana-dashboards"


def selector(stack: OmaStack, component: str) -> dict[str, str]:
    """Pod selector labels; immutable on StatefulSets and Deployments, so never change them."""
    return {LABEL_STACK: stack.metadata.name, LABEL_COMPONENT: component}


def labels(stack: OmaStack, component: str, app: str) -> dict[str, str]:
    # No app.kubernetes.io/instance: Argo CD's label tracking reads it as "owned by the Application of that name",
    # so a stack named like an Application would be pruned or shown OutOfSync there. video.oma.ai/stack says it.
    return {
        **selector(stack, component),
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/component": component,
        **managed_labels(),
    }


def owner_reference(stack: OmaStack) -> dict[str, Any]:
    return controller_reference(omastack.KIND, stack.metadata.name, stack.metadata.uid)


def child_meta(stack: OmaStack, name: str, component: str, app: str, owned: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "namespace": stack.metadata.namespace, "labels": labels(stack, component, app)}
    if owned:
        out["ownerReferences"] = [owner_reference(stack)]
    return out


def pod_security(uid: int) -> dict[str, Any]:
    return restricted_pod(uid, fs_group_change_policy="OnRootMismatch")


def secret_env(stack: OmaStack, name: str, key: str) -> dict[str, Any]:
    """An env var from the stack's Postgres credentials Secret (names, never the password: see password_file)."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": Names(stack.metadata.name).credentials, "key": key}}}


CREDENTIALS_DIR = "/etc/oma/postgres"
PASSWORD_FILE = f"{CREDENTIALS_DIR}/password"


def password_file(stack: OmaStack) -> tuple[dict[str, Any], dict[str, Any]]:
    """(volume, mount) of the Postgres password as a file at PASSWORD_FILE: a value in the environment is
    inherited by every child process and shows in /proc/<pid>/environ and crash reports; a file is not."""
    volume = {
        "name": "postgres-credentials",
        "secret": {
            "secretName": Names(stack.metadata.name).credentials,
            "items": [{"key": "password", "path": "password"}],
            "defaultMode": 0o440,  # the pod's fsGroup reads it; nobody else
        },
    }
    return volume, {"name": "postgres-credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True}


def digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
