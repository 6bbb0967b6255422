"""Backups: which claim the dumps go to, and scripts that are valid shell."""

from __future__ import annotations

import subprocess

from oma.operator.omastack import builders as b

from ..conftest import by_kind, stack


def test_retained_backup_claims_are_not_owned_and_existing_claims_are_used() -> None:
    owned = by_kind(b.build_children(stack(volumesOnDelete="Delete")))[("PersistentVolumeClaim", "s-backups")]
    assert owned["metadata"]["ownerReferences"]
    mine = stack(backups={"destination": {"pvc": {"claimName": "nas"}}})
    kinds = by_kind(b.build_children(mine))
    assert ("PersistentVolumeClaim", "s-backups") not in kinds
    volumes = kinds[("CronJob", "s-backup-redis")]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
    assert volumes[0]["persistentVolumeClaim"]["claimName"] == "nas"
    assert b.endpoints(mine)["backupsClaim"] == "nas"


def test_backup_scripts_are_valid_shell() -> None:
    for cronjob in b.build_backup_cronjobs(stack()):
        script = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][-1]
        assert subprocess.run(["sh", "-n", "-c", script], check=False).returncode == 0
    postgres = b.build_postgres_statefulset(stack())["spec"]["template"]["spec"]["containers"][0]
    hook = postgres["lifecycle"]["postStart"]["exec"]["command"][-1]
    assert subprocess.run(["sh", "-n", "-c", hook], check=False).returncode == 0
    assert "$POSTGRES_PASSWORD_FILE" in hook and "ALTER ROLE" in hook


def test_the_objects_backup_reads_videojobs_and_stacks_only_with_its_own_identity() -> None:
    kinds = by_kind(b.build_children(stack()))
    role = kinds[("Role", "s-backup-objects")]
    assert role["rules"] == [
        {"apiGroups": ["video.oma.ai"], "resources": ["omastacks", "videojobs"], "verbs": ["get", "list"]}
    ]
    pod = kinds[("CronJob", "s-backup-objects")]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "s-backup-objects" and pod["automountServiceAccountToken"] is True
    container = pod["containers"][0]
    assert container["command"] == ["oma", "stack", "export-objects", "--namespace", "ns"]
    assert container["image"] == stack().spec.dashboard.image
    assert pod["securityContext"]["runAsUser"] == 999  # the claim's files keep the data uid as owner
    assert not b.build_backup_objects_rbac(stack(backups={"enabled": False}))
