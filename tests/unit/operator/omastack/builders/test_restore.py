"""Restore Jobs: what they read, what they may reach, and names that stay valid."""

from __future__ import annotations

import subprocess

import pytest

from oma.operator.common.labels import LABEL_CLIENT_OF
from oma.operator.omastack import builders as b
from oma.operator.omastack.builders.restore import TARGETS

from ..conftest import stack


def test_restore_jobs_read_the_backups_claim_read_only_and_pass_the_network_policy() -> None:
    job = b.build_restore_job(stack(backups={"destination": {"pvc": {"claimName": "nas"}}}), "redis", "latest", "r1")
    pod = job["spec"]["template"]["spec"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "nas"
    assert pod["containers"][0]["volumeMounts"][0] == {"name": "backups", "mountPath": "/backups", "readOnly": True}
    assert job["spec"]["template"]["metadata"]["labels"][LABEL_CLIENT_OF] == "s"
    assert job["spec"]["backoffLimit"] == 0
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["BACKUP_FILE"] == "latest" and env["REDIS_HOST"] == "s-redis.ns.svc"


def test_restore_scripts_are_valid_shell_and_use_each_database_image() -> None:
    s = stack(postgres={"version": 16})
    for target in TARGETS:
        container = b.build_restore_job(s, target, "latest", "r1")["spec"]["template"]["spec"]["containers"][0]
        assert subprocess.run(["sh", "-n", "-c", container["command"][-1]], check=False).returncode == 0
        assert container["image"] == (s.spec.postgres.image_ref() if target == "postgres" else s.spec.redis.image)


@pytest.mark.parametrize("name", ["../secrets", "/etc/passwd", ".hidden.partial", "a b", ""])
def test_only_backup_file_names_are_accepted(name: str) -> None:
    with pytest.raises(ValueError, match="not a backup file name"):
        b.build_restore_job(stack(), "postgres", name, "r1")


def test_long_stack_names_give_valid_job_names() -> None:
    name = b.build_restore_job(stack(), "postgres", "latest", "20261126-223000")["metadata"]["name"]
    assert name == "s-restore-postgres-20261126-223000"
    long = stack()
    long.metadata.name = "a" * 60
    assert len(b.build_restore_job(long, "postgres", "latest", "20261126-223000")["metadata"]["name"]) <= 52
