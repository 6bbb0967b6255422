"""Backup and restore times of a stack's data with the shipped scripts, against Debian's Postgres and Redis.

    .venv/bin/python bench/backup_restore.py [--rows 100000] [--keys 100000] [--runs 3]

Postgres holds the dashboard's schema with `--rows` jobs (plus tokens and sessions); Redis holds `--keys` keys
(strings, some expiring, hashes and lists). Each run: the backup CronJobs' scripts (pg_dump, redis-cli --rdb),
then the data is dropped and the restore Jobs' scripts load it back, and the counts are checked. The scripts
come from the builders, as in tests/integration/operator/omastack/test_backup_restore.py. Prints medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from oma.devservices import LocalPostgres, LocalRedis, free_port, seed_dashboard
from oma.models.omastack import OmaStack
from oma.operator.common.labels import LABEL_COMPONENT
from oma.operator.omastack import builders as b

STACK = OmaStack.model_validate({"metadata": {"name": "bench", "namespace": "ns", "uid": "u"}})


def shell(manifest: dict[str, Any]) -> str:
    spec = manifest["spec"]
    pod = (spec["jobTemplate"]["spec"] if "jobTemplate" in spec else spec)["template"]["spec"]
    return str(pod["containers"][0]["command"][-1])


def scripts() -> dict[str, str]:
    out = {c["metadata"]["labels"][LABEL_COMPONENT]: shell(c) for c in b.build_backup_cronjobs(STACK)}
    for target in ("postgres", "redis"):
        out[f"restore-{target}"] = shell(b.build_restore_job(STACK, target, "latest", "bench"))
    return out


def timed_sh(script: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"script failed ({done.returncode}):\n{done.stderr}")
    return took


def psql(pg: LocalPostgres, sql: str) -> str:
    done = pg.psql(sql)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return done.stdout.strip()


def fill_redis(redis: LocalRedis, keys: int) -> None:
    """80 % strings (a tenth of them expiring), 10 % hashes, 10 % lists; sent with redis-cli --pipe."""
    lines = []
    for i in range(keys):
        kind = i % 10
        if kind == 8:
            lines.append(f"HSET job:{i}:progress phase Running percent {i % 100} fps 59.9 eta 12")
        elif kind == 9:
            lines.append(f"RPUSH queue:{i} a{i} b{i} c{i} d{i} e{i}")
        elif kind == 7:
            lines.append(f"SET ratelimit:{i} {i}.125 PX 86400000")
        else:
            lines.append(f"SET cache:{i} {'v' * 48}{i}")
    pipe = ["redis-cli", "-p", str(redis.port), "--pipe"]
    subprocess.run(pipe, input="\r\n".join(lines) + "\r\n", text=True, check=True, capture_output=True)


def dbsize(redis: LocalRedis) -> int:
    out = subprocess.run(["redis-cli", "-p", str(redis.port), "DBSIZE"], capture_output=True, text=True, check=True)
    return int(out.stdout)


def one_run(pg: LocalPostgres, redis: LocalRedis, work: Path, rows: int, keys: int) -> dict[str, float]:
    s = scripts()
    backups = work / "backups"
    path = {"PATH": os.environ["PATH"], "BACKUP_DIR": str(backups), "KEEP": "1", "TMPDIR": str(work)}
    pg_env = {**pg.env, **path, "PGDATABASE": pg.database, "BACKUP_FILE": "latest"}
    redis_env = {**path, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis.port), "BACKUP_FILE": "latest"}
    redis_env["RESTORE_PORT"] = str(free_port())
    t: dict[str, float] = {}
    t["postgres backup"] = timed_sh(s["backup-postgres"], pg_env)
    t["redis backup"] = timed_sh(s["backup-redis"], redis_env)
    psql(pg, "DROP TABLE jobs, sessions, tokens, app_secret")
    subprocess.run(["redis-cli", "-p", str(redis.port), "FLUSHALL"], check=True, capture_output=True)
    t["postgres restore"] = timed_sh(s["restore-postgres"], pg_env)
    t["redis restore"] = timed_sh(s["restore-redis"], redis_env)
    restored_rows = int(psql(pg, "SELECT count(*) FROM jobs"))
    if restored_rows != rows or dbsize(redis) != keys:
        raise SystemExit(f"restored {restored_rows}/{rows} rows and {dbsize(redis)}/{keys} keys")
    t["postgres dump MiB"] = sum(f.stat().st_size for f in (backups / "postgres").glob("*.dump")) / 2**20
    t["redis snapshot MiB"] = sum(f.stat().st_size for f in (backups / "redis").glob("*.rdb")) / 2**20
    return t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--keys", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="oma-bench-backup-") as tmp:
        work = Path(tmp)
        work.chmod(0o777)  # the restore's temporary files, whoever runs it
        pg = LocalPostgres().init()
        redis = LocalRedis(work / "redis").start()
        try:
            seed_dashboard(pg, jobs=args.rows, tokens=100, sessions=1000)
            fill_redis(redis, args.keys)
            if dbsize(redis) != args.keys:
                raise SystemExit(f"filled {dbsize(redis)} of {args.keys} keys")
            runs = [one_run(pg, redis, work, args.rows, args.keys) for _ in range(args.runs)]
        finally:
            redis.stop()
            pg.destroy()
    print(f"{args.rows} Postgres rows (jobs) and {args.keys} Redis keys, median of {args.runs} runs:")
    for name in runs[0]:
        values = [r[name] for r in runs]
        unit = "" if "MiB" in name else " s"
        print(f"  {name:20} {statistics.median(values):8.2f}{unit}   (min {min(values):.2f}, max {max(values):.2f})")


if __name__ == "__main__":
    main()
