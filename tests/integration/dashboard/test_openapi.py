"""schemathesis over the dashboard's own OpenAPI document, against a running dashboard with real Postgres,
Redis and apiserver: no 5xx, every status documented, every body as documented. Bounded and seeded, so it is
the same short run every time. No operator runs here, so the jobs it creates stay Pending."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from oma.devcluster import cluster as devcluster
from oma.devservices import LocalPostgres, LocalRedis

from .harness import Dashboard, create_token, dashboard_env

pytestmark = [pytest.mark.cluster, pytest.mark.services]
EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# A live stream stays open until its job finishes; its 404s and 422s are still fuzzed (ids that do not exist).


def test_every_operation_answers_as_documented(
    cluster: devcluster.ClusterInfo,
    crds: None,
    namespace: str,
    postgres_db: LocalPostgres,
    redis: LocalRedis,
    tmp_path: Path,
    start_dashboard: Callable[..., Dashboard],
) -> None:
    env = dashboard_env(postgres_db, redis, tmp_path, OMA_KUBECONFIG=cluster.kubeconfig, OMA_NAMESPACE=namespace)
    d = start_dashboard(env)
    headers = {"Authorization": f"Bearer {create_token(env, 'fuzzer', '--scopes', 'admin')}"}
    schema = schemathesis.openapi.from_url(f"{d.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=d.url, headers=headers, checks=CHECKS, timeout=30)

        fuzz()
    served = httpx.get(f"{d.url}/metrics").text
    counts = re.findall(
        r'^oma_dashboard_http_request_duration_seconds_count\{[^}]*route="(/api[^"]*)"[^}]*\} (\S+)', served, re.M
    )
    by_route: dict[str, float] = {}
    for route, n in counts:
        by_route[route] = by_route.get(route, 0) + float(n)
    # Every API route was called; those with inputs with many generated cases (a parameterless GET has one).
    documented = {op.path for op in operations if op.path.startswith("/api")}
    assert {r.replace(":path", "") for r in by_route} == documented, by_route
    assert all(n >= 10 for route, n in by_route.items() if route not in ("/api/presets", "/api/limits")), by_route
