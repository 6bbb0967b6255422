"""A stack's data through a backup and a restore, with the shipped scripts, against Debian's Postgres and Redis.

The backup scripts are the CronJobs' (from the builder), the restore scripts the restore Jobs' (from the builder):
fill both stores, back up, lose data (and write some that the backup never saw), restore, compare everything.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from oma.devservices import LocalPostgres, LocalRedis, free_port, seed_dashboard
from oma.models.omastack import OmaStack
from oma.operator.common.labels import LABEL_COMPONENT
from oma.operator.omastack import builders as b

pytestmark = pytest.mark.services

STACK = OmaStack.model_validate({"metadata": {"name": "s", "namespace": "ns", "uid": "u"}})
TABLES = ("tokens", "sessions", "app_secret", "jobs")


def shell(manifest: dict[str, Any]) -> str:
    spec = manifest["spec"]
    pod = (spec["jobTemplate"]["spec"] if "jobTemplate" in spec else spec)["template"]["spec"]
    return str(pod["containers"][0]["command"][-1])


def backup_script(component: str) -> str:
    found = [c for c in b.build_backup_cronjobs(STACK) if c["metadata"]["labels"][LABEL_COMPONENT] == component]
    return shell(found[0])


def restore_script(target: b.restore.Target) -> str:
    return shell(b.build_restore_job(STACK, target, "latest", "t"))


def sh(script: str, env: dict[str, str]) -> str:
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


def sql(pg: LocalPostgres, query: str) -> str:
    done = pg.psql(query)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def rcli(redis: LocalRedis, *args: str, db: int = 0) -> str:
    argv = ["redis-cli", "-p", str(redis.port), "-n", str(db), *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def postgres_state(pg: LocalPostgres) -> dict[str, str]:
    """Each table's row count and a digest of its rows, in key order."""
    out = {}
    for table in TABLES:
        out[table] = sql(
            pg, f"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
        )
    return out


def fill_redis(redis: LocalRedis, keys: int) -> None:
    """Every type the stack's Redis holds or might: strings (some expiring), a hash, a list, a set, a sorted set,
    a stream; and a second database."""
    commands = [f"SET job:{i} payload-{i}\n" for i in range(keys)]
    commands += [f"SET limit:{i} {i}.5 PX 3600000\n" for i in range(20)]
    commands += ["HSET meta:1 phase Running percent 42\n", "RPUSH queue a b c\n", "SADD tags x y\n"]
    commands += ["ZADD prio 1 a 2 b\n", "XADD events 1-1 kind created\n"]
    subprocess.run(
        ["redis-cli", "-p", str(redis.port)], input="".join(commands), text=True, check=True, capture_output=True
    )
    rcli(redis, "SET", "other:db", "kept", db=1)


def redis_state(redis: LocalRedis) -> dict[str, Any]:
    """Per database: every key with its type and whether it expires; plus a few values."""
    state: dict[str, Any] = {}
    for db in (0, 1):
        keys = sorted(rcli(redis, "--scan", db=db).splitlines())
        asked = "".join(f"TYPE {k}\nPTTL {k}\n" for k in keys)
        argv = ["redis-cli", "-p", str(redis.port), "-n", str(db)]
        answers = subprocess.run(argv, input=asked, capture_output=True, text=True, check=True).stdout.split()
        state[f"db{db}"] = {k: (answers[2 * i], int(answers[2 * i + 1]) > 0) for i, k in enumerate(keys)}
    state["values"] = [
        rcli(redis, "GET", "job:7"),
        rcli(redis, "HGETALL", "meta:1"),
        rcli(redis, "LRANGE", "queue", "0", "-1"),
        rcli(redis, "ZRANGE", "prio", "0", "-1", "WITHSCORES"),
        rcli(redis, "XRANGE", "events", "-", "+"),
        rcli(redis, "GET", "other:db", db=1),
    ]
    return state


def test_postgres_and_redis_come_back_as_they_were_backed_up(
    postgres: LocalPostgres, redis: LocalRedis, tmp_path: Path
) -> None:
    seed_dashboard(postgres, jobs=500, tokens=20, sessions=50)
    fill_redis(redis, keys=500)
    pg_before, redis_before = postgres_state(postgres), redis_state(redis)
    assert pg_before["jobs"].startswith("500 ") and len(redis_before["db0"]) == 500 + 20 + 5

    backups = tmp_path / "backups"
    pg_env = {**postgres.env, "PGDATABASE": "oma", "BACKUP_DIR": str(backups), "KEEP": "3"}
    redis_env = {"PATH": os.environ["PATH"], "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis.port)}
    redis_env |= {"BACKUP_DIR": str(backups), "KEEP": "3"}
    assert "wrote" in sh(backup_script("backup-postgres"), pg_env)
    assert "wrote" in sh(backup_script("backup-redis"), redis_env)

    # Data lost after the backup, and data written after it that a restore must not keep.
    sql(
        postgres,
        "DELETE FROM jobs; DROP TABLE sessions; INSERT INTO tokens (id, name, secret_hash, scopes) "
        "VALUES ('late', 'after the backup', '\\x00', '{}')",
    )
    rcli(redis, "FLUSHALL")
    rcli(redis, "SET", "written:after", "backup")
    assert sql(postgres, "SELECT count(*) FROM jobs") == "0"

    tmp = tmp_path / "restore-tmp"
    tmp.mkdir()
    restore_env = {"TMPDIR": str(tmp), "BACKUP_FILE": "latest"}
    out = sh(restore_script("postgres"), {**pg_env, **restore_env})
    assert "restored" in out
    out = sh(restore_script("redis"), {**redis_env, **restore_env, "RESTORE_PORT": str(free_port())})
    assert "db 0: 525 keys" in out and "db 1: 1 keys" in out

    assert postgres_state(postgres) == pg_before
    assert redis_state(redis) == redis_before
    assert not list(tmp.iterdir()), "the restore's private Redis left files behind"


def test_a_named_backup_that_is_not_there_restores_nothing(
    postgres: LocalPostgres, redis: LocalRedis, tmp_path: Path
) -> None:
    sql(postgres, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)")
    rcli(redis, "SET", "kept", "1")
    env = {**postgres.env, "PGDATABASE": "oma", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis.port)}
    env |= {"BACKUP_DIR": str(tmp_path), "BACKUP_FILE": "20261126T030000Z.dump"}
    for target in b.restore.TARGETS:
        done = subprocess.run(["sh", "-c", restore_script(target)], env=env, capture_output=True, text=True)
        assert done.returncode != 0 and "no such backup" in done.stderr
    assert sql(postgres, "SELECT n FROM kept") == "1"
    assert rcli(redis, "GET", "kept") == "1"
