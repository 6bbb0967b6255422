"""Debian's Postgres and Redis, and `oma dashboard`, as local processes for tests and benchmarks (no Docker).

Postgres refuses to run as root, so as root (CI) it runs as nobody. Both can be stopped and started again on
the same data and port, which is how outage tests take them away and bring them back."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

NOBODY = 65534
T = TypeVar("T")


def postgres_bin() -> Path | None:
    return next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float = 60,
    interval: float = 0.2,
    tolerate: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll `probe` until it returns something truthy, and return that. An exception in `tolerate` counts as
    "not yet". On timeout, fail with `what` and the last value (or exception) seen: the one wait of the tests,
    the benches and the dev scripts."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = probe()
        except tolerate as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last!r}")
        time.sleep(interval)


def _as_postgres_user(argv: list[str]) -> list[str]:
    if os.getuid() != 0:
        return argv
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]


@dataclass
class LocalPostgres:
    """initdb'd like the official image: role `oma` with `password`, database `oma`; TCP on 127.0.0.1."""

    password: str = "first-password"  # noqa: S105 (a throw-away local server)
    database: str = "oma"
    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="oma-pg-")))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def bin(self) -> Path:
        found = postgres_bin()
        assert found is not None, "needs Debian's postgresql (hack/install-deps.sh)"
        return found

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def env(self) -> dict[str, str]:
        """libpq's variables for the `oma` role (what the stack's pods get from the credentials Secret)."""
        return {
            "PATH": os.environ["PATH"],
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": "oma",
            "PGPASSWORD": self.password,
            "PGDATABASE": "postgres",
        }

    def init(self) -> LocalPostgres:
        # Not under pytest's tmp_path: that is private to root, and the server runs as nobody.
        self.root.chmod(0o755)
        (self.root / "sock").mkdir()
        (self.root / "pw").write_text(self.password + "\n")
        if os.getuid() == 0:
            for path in (self.root, self.root / "sock", self.root / "pw"):
                os.chown(path, NOBODY, NOBODY)
        init = [str(self.bin / "initdb"), "-D", str(self.root / "data"), "-U", "oma", "--pwfile", str(self.root / "pw")]
        init += ["--auth-local=trust", "--auth-host=scram-sha-256"]
        subprocess.run(_as_postgres_user(init), check=True, capture_output=True)
        self.start()
        created = self.psql("CREATE DATABASE oma", database="postgres")
        assert created.returncode == 0, created.stderr
        return self

    def start(self) -> None:
        server = [str(self.bin / "postgres"), "-D", str(self.root / "data"), "-p", str(self.port)]
        server += ["-k", str(self.root / "sock"), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
        log = (self.root / "server.log").open("a")
        self.proc = subprocess.Popen(_as_postgres_user(server), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        ready = [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        wait_for("postgres to accept connections", lambda: subprocess.run(ready, check=False).returncode == 0, 30, 0.05)

    def stop(self) -> None:
        if self.proc is not None:
            # SIGINT is Postgres' "fast" shutdown; SIGTERM ("smart") would wait for every client to leave.
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=30)
            self.proc = None

    def psql(
        self, sql: str, password: str | None = None, database: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "PGPASSWORD": password or self.password, "PGDATABASE": database or self.database}
        argv = ["psql", "-h", "127.0.0.1", "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql]
        return subprocess.run(argv, env=env, capture_output=True, text=True, check=False)

    def settings_env(self) -> dict[str, str]:
        """The dashboard's OMA_POSTGRES_* for this server."""
        return {
            "OMA_POSTGRES_HOST": "127.0.0.1",
            "OMA_POSTGRES_PORT": str(self.port),
            "OMA_POSTGRES_DB": self.database,
            "OMA_POSTGRES_USER": "oma",
            "OMA_POSTGRES_PASSWORD": self.password,
        }

    def new_database(self, name: str) -> LocalPostgres:
        """The same server seen through a new, empty database (cheaper than a server per test)."""
        created = self.psql(f'CREATE DATABASE "{name}"', database="postgres")
        assert created.returncode == 0, created.stderr
        return LocalPostgres(password=self.password, database=name, port=self.port, root=self.root, proc=None)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class LocalRedis:
    data: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> LocalRedis:
        self.data.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data)]
        # No RDB at shutdown, and no 5 s wait for more replicas before each `redis-cli --rdb` transfer.
        argv += ["--save", "", "--repl-diskless-sync-delay", "0"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        ping = ["redis-cli", "-p", str(self.port), "ping"]
        wait_for(
            "redis to answer",
            lambda: subprocess.run(ping, capture_output=True, check=False).stdout.strip() == b"PONG",
            30,
            0.05,
        )
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


@dataclass
class Dashboard:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def migrated(self) -> bool:
        """Serving and done migrating: an unauthenticated API call gets 401 (not 503)."""
        return httpx.get(f"{self.url}/api/jobs", timeout=5).status_code == 401

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def dashboard_env(
    pg: LocalPostgres, redis: LocalRedis, namespace: str, stack: str, media_root: Path, **extra: str
) -> dict[str, str]:
    """The environment `oma dashboard` reads, for one outside a stack (no stackRef on what it submits)."""
    return {
        **os.environ,
        **pg.settings_env(),
        "OMA_REDIS_URL": redis.url,
        "OMA_NAMESPACE": namespace,
        "OMA_STACK": stack,
        "OMA_STACK_REF": "false",
        "OMA_MEDIA_ROOT": str(media_root),
        **extra,
    }


def launch(env: dict[str, str], log: Path, port: int = 0) -> Dashboard:
    """Start `oma dashboard` (on a free port unless given) without waiting for it."""
    port = port or free_port()
    out = log.open("ab")
    argv = [sys.executable, "-m", "oma.cli.main", "dashboard", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    return Dashboard(f"http://127.0.0.1:{port}", proc, log)


def ready(d: Dashboard, timeout: float = 60) -> Dashboard:
    def serving() -> bool:
        try:
            return d.migrated()
        except httpx.HTTPError:
            return False

    wait_for(f"the dashboard at {d.url} (log: {d.log})", serving, timeout, 0.05)
    return d


DASHBOARD_SCHEMA = Path(__file__).parent / "dashboard" / "migrations" / "001_initial.sql"


def seed_dashboard(pg: LocalPostgres, jobs: int, tokens: int, sessions: int) -> None:
    """The dashboard's real schema filled as a busy stack's would be: tokens, sessions and finished jobs with
    outputs, specs and costs (for the backup and restore test and bench)."""
    jobs, tokens, sessions = int(jobs), int(tokens), int(sessions)  # only integers are interpolated below
    rows = f"""
        INSERT INTO app_secret VALUES (1, 'secret');
        INSERT INTO tokens (id, name, secret_hash, scopes, budget_usd)
          SELECT 't' || i, 'token ' || i, sha256(i::text::bytea), ARRAY['jobs:write'], i * 1.5
          FROM generate_series(1, {tokens}) i;
        INSERT INTO sessions SELECT sha256(('s' || i)::bytea), 't' || (i % {tokens} + 1), now() + interval '1 day'
          FROM generate_series(1, {sessions}) i;
        INSERT INTO jobs (uid, name, namespace, token_id, source_kind, source_summary, preset, phase, percent,
                          outputs, spec, created_at, started_at, finished_at, encode_seconds, cpu_request,
                          output_seconds, cost_usd)
          SELECT md5(i::text), 'job-' || i, 'media', 't' || (i % {tokens} + 1), 'url',
                 'https://media.example.com/uploads/' || md5(i::text) || '.mp4', 'web-720p', 'Succeeded', 100,
                 jsonb_build_array(jsonb_build_object('uri', 'out/' || i || '/720p.mp4', 'bytes', i * 1000,
                                                      'sha256', encode(sha256(i::text::bytea), 'hex'))),
                 jsonb_build_object('inputs', jsonb_build_array(jsonb_build_object('url', 'https://x/' || i)),
                                    'outputs', jsonb_build_array(jsonb_build_object('height', 720))),
                 timestamptz '2026-01-01' + i * interval '1 minute',
                 timestamptz '2026-01-01' + i * interval '1 minute' + interval '5 s',
                 timestamptz '2026-01-01' + i * interval '1 minute' + interval '65 s', 60, 2, 30, i / 1000.0
          FROM generate_series(1, {jobs}) i;
        ANALYZE;
    """  # noqa: S608
    for sql in (DASHBOARD_SCHEMA.read_text(), rows):
        done = pg.psql(sql)
        if done.returncode != 0:
            raise RuntimeError(f"seeding the dashboard's database failed: {done.stderr}")


def create_token(env: dict[str, str], name: str, *flags: str) -> str:
    argv = [sys.executable, "-m", "oma.cli.main", "dashboard", "token", "create", "--name", name, *flags]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"oma dashboard token create failed: {done.stderr}")
    return done.stdout.strip().splitlines()[-1]
