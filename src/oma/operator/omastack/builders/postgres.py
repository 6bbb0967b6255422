"""Postgres: its credentials Secret, headless Service and StatefulSet (with the exporter when monitoring is on)."""

from __future__ import annotations

import base64

from oma.models.omastack import OmaStack

from ...common.podsecurity import restricted_container
from .common import (
    ANNOTATION_ROTATION,
    DATA_UID,
    PASSWORD_FILE,
    POSTGRES_EXPORTER_PORT,
    POSTGRES_PORT,
    Manifest,
    Names,
    child_meta,
    password_file,
    pod_security,
    secret_env,
)
from .workloads import claim_template, exporter, headless_service, statefulset


def build_credentials_secret(stack: OmaStack, password: str) -> Manifest:
    """Postgres credentials. Created once; replaced only when spec.postgres.credentialsRotation changes."""
    n, pg = Names(stack.metadata.name), stack.spec.postgres
    host = f"{n.postgres}.{stack.metadata.namespace}.svc"
    meta = child_meta(stack, n.credentials, "postgres", "postgres")
    meta["annotations"] = {ANNOTATION_ROTATION: pg.credentials_rotation or ""}
    values = {
        "username": pg.user,
        "password": password,
        "database": pg.database,
        "host": host,
        "port": str(POSTGRES_PORT),
        "uri": f"postgresql://{pg.user}:{password}@{host}:{POSTGRES_PORT}/{pg.database}",
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "kubernetes.io/basic-auth",
        # `data`, not `stringData`: stringData is write-only, so server-side apply could not own those fields.
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


# The official image sets the password only at initdb; this hook makes a rotated Secret take effect on restart.
# It connects over the local socket (trust inside the pod); psql reads the password file itself (\\set with a
# backquoted command), so the password is on no command line and in no environment.
_ADOPT_SECRET_SCRIPT = """\
for i in $(seq 1 120); do pg_isready -q -h 127.0.0.1 -U "$POSTGRES_USER" && break; sleep 1; done
printf '%s\\n' "\\\\set pw \\`cat '$POSTGRES_PASSWORD_FILE'\\`" "ALTER ROLE CURRENT_USER PASSWORD :'pw';" |
  psql -q -v ON_ERROR_STOP=1 -h "${PGSOCKET:-/var/run/postgresql}" -U "$POSTGRES_USER" -d "$POSTGRES_DB"
"""  # noqa: S105 (a shell script, not a password)


def build_postgres_service(stack: OmaStack) -> Manifest:
    n = Names(stack.metadata.name)
    return headless_service(stack, n.postgres, "postgres", "postgres", POSTGRES_PORT, "postgres")


def build_postgres_statefulset(stack: OmaStack) -> Manifest:
    n, spec = Names(stack.metadata.name), stack.spec.postgres
    credentials, credentials_mount = password_file(stack)
    env = [
        secret_env(stack, "POSTGRES_USER", "username"),
        # The official image and ours (hack/images/postgres) read *_FILE at initdb.
        {"name": "POSTGRES_PASSWORD_FILE", "value": PASSWORD_FILE},
        secret_env(stack, "POSTGRES_DB", "database"),
        {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
    ]
    probe = ["sh", "-c", 'pg_isready -q -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"']
    postgres = {
        "name": "postgres",
        "image": spec.image_ref(),
        "env": env,
        "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT, "protocol": "TCP"}],
        "readinessProbe": {"exec": {"command": probe}, "periodSeconds": 5, "timeoutSeconds": 3},
        "livenessProbe": {"tcpSocket": {"port": "postgres"}, "periodSeconds": 10, "failureThreshold": 6},
        "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", _ADOPT_SECRET_SCRIPT]}}},
        "resources": spec.resources.as_dict(),
        "securityContext": restricted_container(),
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/postgresql/data"},
            {"name": "run", "mountPath": "/var/run/postgresql"},
            {"name": "tmp", "mountPath": "/tmp"},
            credentials_mount,
        ],
    }
    containers = [postgres]
    if stack.spec.monitoring.enabled:
        exporter_env = [
            {"name": "DATA_SOURCE_URI", "value": f"127.0.0.1:{POSTGRES_PORT}/{spec.database}?sslmode=disable"},
            secret_env(stack, "DATA_SOURCE_USER", "username"),
            {"name": "DATA_SOURCE_PASS_FILE", "value": PASSWORD_FILE},  # postgres_exporter reads *_FILE
        ]
        sidecar = exporter(stack.spec.monitoring.postgres_exporter_image, POSTGRES_EXPORTER_PORT, exporter_env)
        sidecar["volumeMounts"] = [*sidecar.get("volumeMounts", []), credentials_mount]
        containers.append(sidecar)
    pod = {
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": pod_security(DATA_UID),
        "terminationGracePeriodSeconds": 60,
        "containers": containers,
        "volumes": [{"name": "run", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}, credentials],
    }
    claim = claim_template(spec.storage.size, spec.storage.storage_class_name)
    annotations = {ANNOTATION_ROTATION: spec.credentials_rotation or ""}
    return statefulset(stack, n.postgres, "postgres", "postgres", pod, claim, annotations)
