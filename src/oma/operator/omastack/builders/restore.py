"""Restore: one-off Jobs that load a backup from the backups claim into the stack's Postgres or Redis.

The scripts read what the backup CronJobs write (`postgres/<time>.dump`, `redis/<time>.rdb`); `latest` means the
newest file of its kind. `oma stack restore` creates these Jobs, and `--print` shows them for review or GitOps."""

from __future__ import annotations

import re
from typing import Any, Literal

from oma.models.omastack import OmaStack

from ...common.labels import LABEL_CLIENT_OF, child_name
from ...common.podsecurity import restricted_container
from .backups import backups_claim_name, postgres_env, redis_env
from .common import DATA_UID, Manifest, child_meta, password_file, pod_security

Target = Literal["postgres", "redis"]
TARGETS: tuple[Target, ...] = ("postgres", "redis")
EXTENSIONS: dict[Target, str] = {"postgres": "dump", "redis": "rdb"}
# A file the backup scripts wrote (`20261126T030000Z.dump`), or `latest`; never a path.
BACKUP_FILE = re.compile(r"^(latest|[A-Za-z0-9][A-Za-z0-9._-]{0,100})$")

_PICK = """\
if [ "$BACKUP_FILE" = latest ]; then
  file=$(ls -1 "$DIR"/*."$EXT" 2>/dev/null | sort | tail -n 1)
  [ -n "$file" ] || { echo "no $EXT backups in $DIR" >&2; exit 1; }
else
  case "$BACKUP_FILE" in */*|.*) echo "not a backup file name: $BACKUP_FILE" >&2; exit 1;; esac
  file="$DIR/$BACKUP_FILE"
  [ -f "$file" ] || { echo "no such backup: $file" >&2; exit 1; }
fi
echo "restoring $file"
"""
# --clean --if-exists drops what the dump defines before recreating it, inside one transaction: a failed restore
# leaves the database as it was. --no-owner: the restoring role (the stack's) owns what it creates.
_POSTGRES_RESTORE = f"""\
set -eu
DIR="${{BACKUP_DIR:-/backups}}/postgres" EXT=dump
{_PICK}
# The password comes as a file (libpq reads none of this shape): it stays in this script's environment only.
if [ -n "${{PGPASSWORD_FILE:-}}" ]; then PGPASSWORD=$(cat "$PGPASSWORD_FILE"); export PGPASSWORD; fi
pg_restore --clean --if-exists --no-owner --exit-on-error --single-transaction --no-password \\
  --dbname="$PGDATABASE" "$file"
echo "restored $file"
"""
# Redis cannot load an RDB into a running server, and its data volume belongs to its pod. So the snapshot is
# loaded into a private redis-server here, the target is flushed, and every key is copied over with MIGRATE
# (values, types and TTLs as Redis serializes them), database by database; then the key counts must match.
_REDIS_RESTORE = f"""\
set -eu
DIR="${{BACKUP_DIR:-/backups}}/redis" EXT=rdb
{_PICK}
work=$(mktemp -d "${{TMPDIR:-/tmp}}/restore.XXXXXX")
cp "$file" "$work/snapshot.rdb"
port="${{RESTORE_PORT:-6390}}"
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --dbfilename snapshot.rdb --save "" \\
  --appendonly no --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
tries=0
until [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; do
  tries=$((tries + 1))
  [ "$tries" -lt 3000 ] || {{ echo "the snapshot did not load:" >&2; cat "$work/redis.log" >&2; exit 1; }}
  sleep 0.2
done
dst="redis-cli -h $REDIS_HOST -p $REDIS_PORT"
[ "$($dst FLUSHALL)" = OK ] || {{ echo "FLUSHALL failed on $REDIS_HOST:$REDIS_PORT" >&2; exit 1; }}
dbs=$(redis-cli -p "$port" INFO keyspace | sed -n 's/^db\\([0-9]*\\):.*/\\1/p')
for db in $dbs; do
  redis-cli -p "$port" -n "$db" --scan |
    xargs -r -d '\\n' -n 1000 redis-cli -p "$port" -n "$db" \\
      MIGRATE "$REDIS_HOST" "$REDIS_PORT" "" "$db" 60000 COPY REPLACE KEYS >/dev/null
  want=$(redis-cli -p "$port" -n "$db" DBSIZE) got=$($dst -n "$db" DBSIZE)
  [ "$want" = "$got" ] || {{ echo "db $db: $got of $want keys restored (were writers stopped?)" >&2; exit 1; }}
  echo "db $db: $got keys"
done
echo "restored $file"
"""
SCRIPTS: dict[Target, str] = {"postgres": _POSTGRES_RESTORE, "redis": _REDIS_RESTORE}


def restore_job_name(stack: OmaStack, target: Target, run_id: str) -> str:
    return child_name(stack.metadata.name, f"restore-{target}-{run_id}")


def _restore_container(stack: OmaStack, target: Target, backup_file: str) -> dict[str, Any]:
    image = stack.spec.postgres.image_ref() if target == "postgres" else stack.spec.redis.image
    env = postgres_env(stack) if target == "postgres" else redis_env(stack)
    mounts: list[dict[str, Any]] = [
        {"name": "backups", "mountPath": "/backups", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if target == "postgres":
        mounts.append(password_file(stack)[1])
    container = {
        "name": "restore",
        "image": image,
        "command": ["sh", "-c", SCRIPTS[target]],
        "env": [*env, {"name": "BACKUP_FILE", "value": backup_file}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": restricted_container(),
        "volumeMounts": mounts,
    }
    return container


def build_restore_job(stack: OmaStack, target: Target, backup_file: str, run_id: str) -> Manifest:
    """The Job that restores `backup_file` (a name under `<target>/` on the backups claim, or `latest`) into the
    stack's `target`. `run_id` makes the name unique per restore (the caller's clock; builders have none)."""
    if not BACKUP_FILE.match(backup_file):
        raise ValueError(
            f"not a backup file name: {backup_file!r} (expected e.g. 20261126T030000Z.{EXTENSIONS[target]})"
        )
    container = _restore_container(stack, target, backup_file)
    component = f"restore-{target}"
    meta = child_meta(stack, restore_job_name(stack, target, run_id), component, "oma-restore")
    pod_labels: dict[str, Any] = {
        **meta["labels"],
        LABEL_CLIENT_OF: stack.metadata.name,
    }  # let through the NetworkPolicy
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            # A restore that failed half-way is rolled back (Postgres) or re-run from a flush (Redis); retrying it
            # blindly would hide why, so a person looks first.
            "backoffLimit": 0,
            "activeDeadlineSeconds": 6 * 3600,
            "ttlSecondsAfterFinished": 7 * 24 * 3600,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "restartPolicy": "Never",
                    "enableServiceLinks": False,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(DATA_UID),
                    "containers": [container],
                    "volumes": [
                        {"name": "backups", "persistentVolumeClaim": {"claimName": backups_claim_name(stack)}},
                        {"name": "tmp", "emptyDir": {}},
                        *([password_file(stack)[0]] if target == "postgres" else []),
                    ],
                },
            },
        },
    }
