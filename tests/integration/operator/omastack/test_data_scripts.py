"""The shell an OmaStack's pods run against Postgres and Redis, run here against Debian's real servers.

KWOK only pretends to run the stack's pods, so the backup CronJobs' scripts and Postgres' password hook are
taken from the builders and executed here: pg_dump/pg_restore, redis-cli --rdb, ALTER ROLE over the socket.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from oma.devservices import LocalPostgres, LocalRedis, free_port, wait_for
from oma.models.omastack import OmaStack
from oma.operator.common.labels import LABEL_COMPONENT
from oma.operator.omastack import builders as b

pytestmark = pytest.mark.services


def script(component: str) -> str:
    stack = OmaStack.model_validate({"metadata": {"name": "s", "uid": "u"}})
    for cronjob in b.build_backup_cronjobs(stack):
        if cronjob["metadata"]["labels"][LABEL_COMPONENT] == component:
            return str(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][-1])
    raise AssertionError(component)


def clock(tmp_path: Path) -> dict[str, str]:
    """A `date` that moves one minute per call, as the schedule would between runs (file names are per second)."""
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    counter = tmp_path / "minutes"
    counter.write_text("0")
    body = (
        f'n=$(cat {counter}); echo $((n + 1)) > {counter}\nprintf "20261126T%02d%02d00Z\\n" $((n / 60)) $((n % 60))\n'
    )
    (shim / "date").write_text("#!/bin/sh\n" + body)
    (shim / "date").chmod(0o755)
    return {"PATH": f"{shim}:{os.environ['PATH']}"}


def run_backup(component: str, env: dict[str, str]) -> str:
    out = subprocess.run(["sh", "-c", script(component)], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_postgres_dumps_restore_and_only_the_newest_are_kept(postgres: LocalPostgres, tmp_path: Path) -> None:
    assert postgres.psql("CREATE TABLE clips (name text); INSERT INTO clips VALUES ('intro')").returncode == 0
    backups = tmp_path / "backups"
    # As the CronJob runs it: the password in a file (the mounted Secret), not in the environment.
    password = tmp_path / "password"
    password.write_text(postgres.env["PGPASSWORD"])
    env = {k: v for k, v in postgres.env.items() if k != "PGPASSWORD"} | {"PGPASSWORD_FILE": str(password)}
    env |= {"PGDATABASE": "oma", "BACKUP_DIR": str(backups), "KEEP": "2", **clock(tmp_path)}
    for _ in range(3):
        assert "wrote" in run_backup("backup-postgres", env)
    dumps = sorted((backups / "postgres").iterdir())
    assert [d.name for d in dumps] == ["20261126T000100Z.dump", "20261126T000200Z.dump"]

    assert postgres.psql("CREATE DATABASE restored", database="postgres").returncode == 0
    restore = ["pg_restore", "--no-owner", "-d", "restored", str(dumps[-1])]
    done = subprocess.run(restore, env={**postgres.env, "PGDATABASE": "restored"}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert postgres.psql("SELECT name FROM clips", database="restored").stdout.strip() == "intro"


def test_a_failed_dump_leaves_no_file_that_looks_good(postgres: LocalPostgres, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    env = {**postgres.env, "PGDATABASE": "no_such_db", "BACKUP_DIR": str(backups), "KEEP": "2"}
    out = subprocess.run(["sh", "-c", script("backup-postgres")], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "no_such_db" in out.stderr
    assert not list((backups / "postgres").glob("*.dump"))


def test_redis_snapshots_load_back(redis: LocalRedis, tmp_path: Path) -> None:
    assert (
        subprocess.run(["redis-cli", "-p", str(redis.port), "SET", "queue:1", "clip"], capture_output=True).returncode
        == 0
    )
    backups = tmp_path / "backups"
    env = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis.port), "BACKUP_DIR": str(backups), "KEEP": "1"}
    env |= clock(tmp_path)
    for _ in range(2):
        run_backup("backup-redis", env)
    snapshots = list((backups / "redis").iterdir())
    assert [s.name for s in snapshots] == ["20261126T000100Z.rdb"]
    assert snapshots[0].read_bytes()[:5] == b"REDIS"
    # Restore as docs/backups.md says: the snapshot as dump.rdb in a fresh Redis' directory.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(snapshots[0], fresh / "dump.rdb")
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--dir", str(fresh)], stdout=subprocess.DEVNULL)
    try:
        get = ["redis-cli", "-p", str(port), "GET", "queue:1"]
        wait_for(
            "the restored key", lambda: subprocess.run(get, capture_output=True, text=True).stdout.strip() == "clip"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_postgres_adopts_a_rotated_password_on_start(postgres: LocalPostgres, tmp_path: Path) -> None:
    stack = OmaStack.model_validate({"metadata": {"name": "s", "uid": "u"}})
    container = b.build_postgres_statefulset(stack)["spec"]["template"]["spec"]["containers"][0]
    hook = container["lifecycle"]["postStart"]["exec"]["command"]
    env = {
        "PATH": os.environ["PATH"],
        "PGPORT": str(postgres.port),
        "PGSOCKET": str(postgres.socket_dir),
        "POSTGRES_USER": "oma",
        "POSTGRES_DB": "oma",
        "POSTGRES_PASSWORD_FILE": str(tmp_path / "password"),  # the mounted Secret
    }
    (tmp_path / "password").write_text("rotated-password")  # what the new Secret holds
    out = subprocess.run(hook, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert postgres.psql("SELECT 1", password="rotated-password").stdout.strip() == "1"
    old = postgres.psql("SELECT 1", password="first-password")
    assert old.returncode != 0 and "password authentication failed" in old.stderr
