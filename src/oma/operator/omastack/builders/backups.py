"""Backups: the dumps' claim and the CronJobs that write pg_dump, Redis RDB snapshots and the namespace's OmaStacks
and VideoJobs (YAML, by `oma stack export-objects`) to it."""

from __future__ import annotations

from typing import Any

from oma.models import omastack, videojob
from oma.models.common import GROUP
from oma.models.omastack import OmaStack

from ...common.podsecurity import restricted_container
from ...common.resources import claim_spec
from .common import (
    DATA_UID,
    PASSWORD_FILE,
    POSTGRES_PORT,
    REDIS_PORT,
    Manifest,
    Names,
    child_meta,
    labels,
    password_file,
    pod_security,
    secret_env,
    selector,
)


def backups_claim_name(stack: OmaStack) -> str:
    return stack.spec.backups.destination.pvc.claim_name or Names(stack.metadata.name).backups_claim


def build_backups_claim(stack: OmaStack) -> Manifest | None:
    """The dumps' PVC, unless the user named an existing one. Owned by the stack only when volumesOnDelete is
    Delete: a retained claim must outlive the stack."""
    b = stack.spec.backups
    if not b.enabled or b.destination.pvc.claim_name:
        return None
    pvc = b.destination.pvc
    spec = claim_spec(pvc.size, pvc.storage_class_name)
    owned = stack.spec.volumes_on_delete == "Delete"
    meta = child_meta(stack, backups_claim_name(stack), "backups", "oma-backups", owned=owned)
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}


# Writes under a hidden partial name and renames, so a failed dump never looks like a good one; then keeps the
# newest $KEEP files.
_PRUNE = 'ls -1 "$DIR"/*."$EXT" 2>/dev/null | sort | head -n -"$KEEP" | xargs -r rm -f --'
_POSTGRES_DUMP = f"""\
set -eu
# libpq reads no password file of this shape: the password stays in this script's environment only.
if [ -n "${{PGPASSWORD_FILE:-}}" ]; then PGPASSWORD=$(cat "$PGPASSWORD_FILE"); export PGPASSWORD; fi
DIR="${{BACKUP_DIR:-/backups}}/postgres" EXT=dump
mkdir -p "$DIR"
ts=$(date -u +%Y%m%dT%H%M%SZ)
pg_dump --format=custom --no-password --file="$DIR/.$ts.partial"
mv "$DIR/.$ts.partial" "$DIR/$ts.$EXT"
{_PRUNE}
echo "wrote $DIR/$ts.$EXT"
"""
_REDIS_SNAPSHOT = f"""\
set -eu
DIR="${{BACKUP_DIR:-/backups}}/redis" EXT=rdb
mkdir -p "$DIR"
ts=$(date -u +%Y%m%dT%H%M%SZ)
redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --rdb "$DIR/.$ts.partial"
mv "$DIR/.$ts.partial" "$DIR/$ts.$EXT"
{_PRUNE}
echo "wrote $DIR/$ts.$EXT"
"""


def _volumes(stack: OmaStack, password: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts): the backups PVC, scratch, and the Postgres password file when `password`."""
    volumes: list[dict[str, Any]] = [
        {"name": "backups", "persistentVolumeClaim": {"claimName": backups_claim_name(stack)}},
        {"name": "tmp", "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [{"name": "backups", "mountPath": "/backups"}, {"name": "tmp", "mountPath": "/tmp"}]
    if password:
        volume, mount = password_file(stack)
        volumes.append(volume)
        mounts.append(mount)
    return volumes, mounts


def _pod(container: dict[str, Any], volumes: list[dict[str, Any]], service_account: str | None) -> dict[str, Any]:
    # Every backup pod runs as the data uid, so the claim's files keep one owner (fsGroup never flips).
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "automountServiceAccountToken": service_account is not None,
        "securityContext": pod_security(DATA_UID),
        "containers": [container],
        "volumes": volumes,
    }
    if service_account:
        pod["serviceAccountName"] = service_account
    return pod


def _cronjob(
    stack: OmaStack,
    name: str,
    component: str,
    image: str,
    command: list[str],
    env: list[Any],
    service_account: str | None = None,
    password: bool = False,
) -> Manifest:
    """The CronJob running `command`; with `password`, the Postgres password mounted as PASSWORD_FILE."""
    b = stack.spec.backups
    volumes, mounts = _volumes(stack, password)
    container = {
        "name": "backup",
        "image": image,
        "command": command,
        "env": [*env, {"name": "KEEP", "value": str(b.retention)}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": restricted_container(),
        "volumeMounts": mounts,
    }
    spec: dict[str, Any] = {
        "schedule": b.schedule,
        "suspend": b.suspend,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": selector(stack, component)},
            "spec": {
                "backoffLimit": 2,
                "activeDeadlineSeconds": 6 * 3600,
                "template": {
                    "metadata": {"labels": labels(stack, component, "oma-backup")},
                    "spec": _pod(container, volumes, service_account),
                },
            },
        },
    }
    if b.time_zone:
        spec["timeZone"] = b.time_zone
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": child_meta(stack, name, component, "oma-backup"),
        "spec": spec,
    }


def postgres_env(stack: OmaStack) -> list[dict[str, Any]]:
    """libpq's variables for the stack's Postgres, credentials from its Secret (backup and restore jobs)."""
    n, ns = Names(stack.metadata.name), stack.metadata.namespace
    return [
        {"name": "PGHOST", "value": f"{n.postgres}.{ns}.svc"},
        {"name": "PGPORT", "value": str(POSTGRES_PORT)},
        secret_env(stack, "PGUSER", "username"),
        {"name": "PGPASSWORD_FILE", "value": PASSWORD_FILE},
        secret_env(stack, "PGDATABASE", "database"),
    ]


def redis_env(stack: OmaStack) -> list[dict[str, Any]]:
    n, ns = Names(stack.metadata.name), stack.metadata.namespace
    return [
        {"name": "REDIS_HOST", "value": f"{n.redis}.{ns}.svc"},
        {"name": "REDIS_PORT", "value": str(REDIS_PORT)},
    ]


def build_backup_objects_rbac(stack: OmaStack) -> list[Manifest]:
    """The objects backup's identity: read this namespace's OmaStacks and VideoJobs; nothing else (no Secrets)."""
    if not stack.spec.backups.enabled:
        return []
    n = Names(stack.metadata.name)
    meta = child_meta(stack, n.backup_objects, "backup-objects", "oma-backup")
    rbac = "rbac.authorization.k8s.io/v1"
    rule = {"apiGroups": [GROUP], "resources": [omastack.PLURAL, videojob.PLURAL], "verbs": ["get", "list"]}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": False},
        {"apiVersion": rbac, "kind": "Role", "metadata": meta, "rules": [rule]},
        {
            "apiVersion": rbac,
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": n.backup_objects},
            "subjects": [{"kind": "ServiceAccount", "name": n.backup_objects, "namespace": stack.metadata.namespace}],
        },
    ]


def objects_backup_command(stack: OmaStack) -> list[str]:
    """`oma stack export-objects` into $BACKUP_DIR/objects, keeping $KEEP files (the CronJob's env)."""
    return ["oma", "stack", "export-objects", "--namespace", stack.metadata.namespace]


def build_backup_cronjobs(stack: OmaStack) -> list[Manifest]:
    if not stack.spec.backups.enabled:
        return []
    n = Names(stack.metadata.name)
    pg_image, redis_image = stack.spec.postgres.image_ref(), stack.spec.redis.image
    shell = ["sh", "-c"]
    return [
        _cronjob(
            stack,
            n.backup_postgres,
            "backup-postgres",
            pg_image,
            [*shell, _POSTGRES_DUMP],
            postgres_env(stack),
            password=True,
        ),
        _cronjob(stack, n.backup_redis, "backup-redis", redis_image, [*shell, _REDIS_SNAPSHOT], redis_env(stack)),
        # The dashboard image carries the oma CLI (and Python): the one image of the stack that can read the API.
        _cronjob(
            stack,
            n.backup_objects,
            "backup-objects",
            stack.spec.dashboard.image,
            objects_backup_command(stack),
            [{"name": "BACKUP_DIR", "value": "/backups"}],
            service_account=n.backup_objects,
        ),
    ]
