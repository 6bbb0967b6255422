"""What an API client sees from `oma dashboard` processes on real Postgres and Redis (no Kubernetes needed
here: the apiserver address is unreachable, which these tests never depend on)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from oma.dashboard.stores.database import migration_files
from oma.devservices import LocalPostgres, LocalRedis

from .harness import Dashboard, create_token, token_cli, wait_for

pytestmark = pytest.mark.services


def test_two_dashboards_starting_together_migrate_an_empty_database_once(
    dash_env: dict[str, str], start_dashboard: Callable[..., Dashboard], postgres_db: LocalPostgres
) -> None:
    first, second = start_dashboard(dash_env, wait=False), start_dashboard(dash_env, wait=False)
    for d in (first, second):
        wait_for(f"{d.url} to serve", d.migrated)
    applied = first.log.read_text().count("applied migration") + second.log.read_text().count("applied migration")
    migrations = [name for _, name, _ in migration_files()]
    assert applied == len(migrations)
    rows = postgres_db.psql("SELECT name FROM schema_migrations ORDER BY number").stdout.split()
    assert rows == migrations


def test_tokens_revoked_expired_readonly_and_unknown(dash_env: dict[str, str], dashboard: Dashboard) -> None:
    writer = create_token(dash_env, "writer")
    reader = create_token(dash_env, "reader", "--scopes", "read")
    with dashboard.client() as anonymous:
        r = anonymous.get("/api/jobs")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    with dashboard.client("oma_nothere_secret") as unknown:
        assert unknown.get("/api/jobs").status_code == 401
    with dashboard.client(reader) as c:
        assert c.get("/api/jobs").status_code == 200
        refused = c.post("/api/generate", json={"title": "hi"})
        assert refused.status_code == 403
        assert "submit" in refused.json()["error"]["message"]
    with dashboard.client(writer) as c:
        assert c.get("/api/jobs").status_code == 200
        token_id = writer.split("_")[1]
        listed = token_cli(dash_env, "list")
        assert token_id in listed.stdout and "writer" in listed.stdout
        assert token_cli(dash_env, "revoke", token_id).returncode == 0
        # A process trusts a verified token for OMA_TOKEN_CACHE_SECONDS (2 s) before asking Postgres again.
        wait_for("the revocation to take effect", lambda: c.get("/api/jobs").status_code == 401, timeout=10)
        assert "revoked" in token_cli(dash_env, "list").stdout


def test_an_expired_token_gets_401(dash_env: dict[str, str], dashboard: Dashboard, postgres_db: LocalPostgres) -> None:
    token = create_token(dash_env, "short", "--expires-in", "1h")
    with dashboard.client(token) as c:
        assert c.get("/api/jobs").status_code == 200
        done = postgres_db.psql(
            f"UPDATE tokens SET expires_at = now() - interval '1 s' WHERE id = '{token.split('_')[1]}'"
        )
        assert done.returncode == 0, done.stderr
        r = wait_for("the expiry to take effect", lambda: (r := c.get("/api/jobs")).status_code == 401 and r, 10)
        assert set(r.json()) == {"error"}


def test_a_burst_past_the_limit_gets_429_with_headers_across_two_processes(
    postgres_db: LocalPostgres, redis: LocalRedis, tmp_path: Path, start_dashboard: Callable[..., Dashboard]
) -> None:
    from .harness import dashboard_env

    env = dashboard_env(postgres_db, redis, tmp_path, OMA_RATE_READ_PER_MINUTE="10")
    a, b = start_dashboard(env), start_dashboard(env)
    token = create_token(env, "bursty")
    statuses, last_ok = [], None
    with a.client(token) as ca, b.client(token) as cb:
        for i in range(14):
            r = (ca if i % 2 else cb).get("/api/jobs")
            statuses.append(r.status_code)
            if r.status_code == 200:
                last_ok = r
            else:
                refused = r
    assert statuses.count(200) == 10, statuses  # one budget, shared through Redis by both processes
    assert statuses[10:] == [429] * 4
    assert last_ok is not None and last_ok.headers["RateLimit-Remaining"] == "0"
    assert last_ok.headers["RateLimit-Limit"] == "10"
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 6  # one request per 6 s refills
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Policy"] == "10;w=60"
    metrics = httpx.get(f"{a.url}/metrics").text + httpx.get(f"{b.url}/metrics").text
    refusals = sum(
        float(v) for v in re.findall(r'oma_dashboard_rate_limited_total\{endpoint_class="read"\} (\S+)', metrics)
    )
    assert refusals == 4


def test_reads_work_without_redis_and_submissions_answer_503(
    dash_env: dict[str, str], dashboard: Dashboard, redis: LocalRedis
) -> None:
    token = create_token(dash_env, "someone")
    with dashboard.client(token) as c:
        assert "RateLimit-Limit" in c.get("/api/jobs").headers
        redis.stop()
        r = c.get("/api/jobs")
        assert r.status_code == 200 and "RateLimit-Limit" not in r.headers  # reads fail open
        refused = c.post("/api/generate", json={"title": "while Redis is down"})
        assert refused.status_code == 503
        assert (
            "Redis" in refused.json()["error"]["message"]
            and "nothing was created" in refused.json()["error"]["message"]
        )
        assert c.get("/readyz").json()["checks"]["redis"] == "unreachable"
        redis.start()
        wait_for("rate limits to come back", lambda: "RateLimit-Limit" in c.get("/api/jobs").headers)


def _finished_job_row(postgres_db: LocalPostgres, token_id: str, cost: str, name: str) -> None:
    sql = (
        "INSERT INTO jobs (uid, name, namespace, token_id, submitted_by, title, source_kind, source_summary, phase, "
        "spec, created_at, finished_at, encode_seconds, cpu_request, cost_usd) VALUES "
        f"('{name}-uid', '{name}', 'ns', '{token_id}', 'x', 't', 'title', 't', 'Succeeded', '{{}}', now(), now(), "
        f"10, 1, {cost})"
    )
    done = postgres_db.psql(sql)
    assert done.returncode == 0, done.stderr


def test_a_token_over_its_budget_gets_402_with_what_it_spent(
    dash_env: dict[str, str], dashboard: Dashboard, postgres_db: LocalPostgres
) -> None:
    token = create_token(dash_env, "thrifty", "--budget", "0.01")
    _finished_job_row(postgres_db, token.split("_")[1], "0.012345", "old-job")
    with dashboard.client(token) as c:
        r = c.post("/api/generate", json={"title": "one more"})
        assert r.status_code == 402
        assert "0.0123" in r.json()["error"]["message"] and "0.01" in r.json()["error"]["message"]
        limits = c.get("/api/limits").json()
        assert limits["budget_usd"] == 0.01
        assert Decimal(str(limits["spent_this_month_usd"])) == Decimal("0.012345")
        assert limits["budget_left_usd"] == 0


def test_invalid_requests_get_422_with_the_reason_and_the_error_shape(
    dash_env: dict[str, str], dashboard: Dashboard
) -> None:
    token = create_token(dash_env, "careless")
    with dashboard.client(token) as c:
        too_long = c.post("/api/generate", json={"title": "x" * 2001})
        assert too_long.status_code == 422
        assert too_long.json()["error"]["message"].endswith("at most 2000 characters")
        empty = c.post("/api/generate", json={"title": ""})
        assert empty.status_code == 422 and "at least 1 character" in empty.json()["error"]["message"]
        preset = c.post("/api/jobs", json={"preset": "nope", "source": {"kind": "title", "text": "a"}})
        assert preset.status_code == 422 and preset.json()["error"]["code"] == "unknown_preset"
        pvc = c.post("/api/jobs", json={"preset": "tiny", "source": {"kind": "pvc", "claim": "secret", "path": "a"}})
        assert pvc.status_code == 422 and "not allowed" in pvc.json()["error"]["message"]
        bad_json = c.post("/api/generate", content=b"{", headers={"content-type": "application/json"})
        assert bad_json.status_code == 422 and set(bad_json.json()["error"]) == {"code", "message"}
        assert c.get("/api/jobs", params={"cursor": "garbage"}).status_code == 422
        missing = c.get("/no/such/page")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_history_pages_newest_first_with_cursor_and_filters(
    dash_env: dict[str, str], dashboard: Dashboard, postgres_db: LocalPostgres
) -> None:
    rows = ", ".join(
        f"('u{i:02d}', 'job-{i:02d}', 'ns', 'title {i:02d}', 'title', 's', "
        f"'{'Failed' if i % 5 == 0 else 'Succeeded'}', '{{}}', now() - interval '{i} minutes')"
        for i in range(45)
    )
    columns = "uid, name, namespace, title, source_kind, source_summary, phase, spec, created_at"
    sql = f"INSERT INTO jobs ({columns}) VALUES {rows}"
    assert postgres_db.psql(sql).returncode == 0
    token = create_token(dash_env, "historian")
    seen: list[str] = []
    cursor = None
    with dashboard.client(token) as c:
        while True:
            page = c.get("/api/jobs", params={"limit": 20, **({"cursor": cursor} if cursor else {})}).json()
            seen += [j["id"] for j in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [f"job-{i:02d}" for i in range(45)]
        failed = c.get("/api/jobs", params={"phase": "Failed", "limit": 100}).json()["items"]
        assert [j["id"] for j in failed] == [f"job-{i:02d}" for i in range(0, 45, 5)]
        text = c.get("/api/jobs", params={"q": "title 3"}).json()["items"]
        assert {j["id"] for j in text} == {f"job-{i:02d}" for i in range(30, 40)}
        since = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2, seconds=30)).isoformat()
        recent = c.get("/api/jobs", params={"since": since}).json()["items"]
        assert [j["id"] for j in recent] == ["job-00", "job-01", "job-02"]


def test_probes_and_metrics_by_route_template(dash_env: dict[str, str], dashboard: Dashboard) -> None:
    token = create_token(dash_env, "observer")
    with dashboard.client(token) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        ready = c.get("/readyz")
        assert ready.status_code == 503  # no apiserver in these tests
        assert ready.json()["checks"] == {"redis": "ok", "postgres": "ok", "kubernetes": "unreachable"}
        c.get("/api/jobs/some-job/outputs/video.mp4")
        text = c.get("/metrics").text
    assert 'oma_dashboard_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="/api/jobs/{job_id}/outputs/{name:path}"' in text
    assert "some-job" not in text
    assert "oma_cost_usd_total" in text


def test_cookies_are_secure_behind_a_tls_ingress(
    dash_env: dict[str, str], start_dashboard: Callable[..., Dashboard]
) -> None:
    """Plain HTTP from the ingress to the pod: the browser still saw HTTPS, so the cookies must say Secure."""
    behind = start_dashboard({**dash_env, "OMA_SECURE_COOKIES": "true"})
    cookie = httpx.get(behind.url + "/login").headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_cli_refuses_bad_token_arguments(dash_env: dict[str, str], dashboard: Dashboard) -> None:
    bad = token_cli(dash_env, "create", "--name", "x", "--scopes", "root")
    assert bad.returncode == 2 and "root" in bad.stderr
    assert token_cli(dash_env, "revoke", "nosuchid").returncode == 1


@pytest.mark.parametrize("path", ["/", "/usage", "/jobs/anything"])
def test_pages_send_signed_out_visitors_to_sign_in(dashboard: Dashboard, path: str) -> None:
    r = httpx.get(dashboard.url + path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = httpx.get(dashboard.url + "/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and 'name="csrf"' in page.text
    assert "HttpOnly" in page.headers["set-cookie"] and "SameSite=strict" in page.headers["set-cookie"]
