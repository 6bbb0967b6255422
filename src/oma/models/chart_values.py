"""The Helm chart's values, typed: the source of charts/oma-operator/values.schema.json.

Every object forbids unknown keys, so a typo in a values file fails `helm install` with the key's path.
Kubernetes-shaped values (resources, tolerations, affinity, ...) stay free-form objects.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

K8sObject = dict[str, Any]
Labels = dict[str, str]


class _Values(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Image(_Values):
    """A container image."""

    repository: str = Field(min_length=1, description="Image repository.")
    tag: str = Field(default="", description="Image tag; empty: the chart's appVersion.")
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", alias="pullPolicy", description="imagePullPolicy."
    )


class Crds(_Values):
    """The VideoJob and OmaStack CRDs, rendered as templates so `helm upgrade` upgrades them."""

    install: bool = Field(default=True, description="Install and upgrade the CRDs with the release.")
    keep: bool = Field(
        default=True,
        description="Annotate them helm.sh/resource-policy: keep, so `helm uninstall` never deletes every "
        "VideoJob and OmaStack in the cluster.",
    )


class WorkerImage(_Values):
    repository: str = Field(min_length=1, description="Worker image repository.")
    tag: str = Field(default="", description="Worker image tag; empty: the chart's appVersion.")


class Worker(_Values):
    """Defaults for worker pods (an OmaStack's workerDefaults override image and resources)."""

    image: WorkerImage = Field(description="The worker image.")
    node_selector: Labels = Field(default_factory=dict, alias="nodeSelector", description="Worker pods' nodeSelector.")
    tolerations: list[K8sObject] = Field(default_factory=list, description="Worker pods' tolerations.")
    allow_private_inputs: bool = Field(
        default=False,
        alias="allowPrivateInputs",
        description="Let workers fetch URLs on private or loopback addresses (on-prem media servers). Opens SSRF "
        "towards the cluster network: pair it with a NetworkPolicy.",
    )
    max_concurrent_per_namespace: int = Field(
        default=10,
        alias="maxConcurrentPerNamespace",
        ge=1,
        le=10000,
        description="Running VideoJobs per namespace; the annotation video.oma.ai/max-concurrent-jobs overrides.",
    )
    min_chunk_seconds: float = Field(
        default=10,
        alias="minChunkSeconds",
        ge=1,
        le=3600,
        description="Shortest chunk of a VideoJob with spec.parallelism > 1; shorter sources get fewer chunks.",
    )
    scratch_size: str = Field(
        default="20Gi",
        alias="scratchSize",
        pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$",
        description="Size limit of each worker's scratch emptyDir, also requested as ephemeral-storage so the "
        "scheduler places the pod where the disk is.",
    )
    ttl_seconds_after_finished: int = Field(
        default=86400,
        alias="ttlSecondsAfterFinished",
        ge=-1,
        le=30 * 86400,
        description="Delete finished worker Jobs and their pods this long after they finish, unless the VideoJob "
        "sets its own; the VideoJob stays. -1 keeps them.",
    )


class ServiceMonitor(_Values):
    enabled: bool = Field(default=False, description="Create a ServiceMonitor (needs prometheus-operator's CRDs).")
    labels: Labels = Field(default_factory=dict, description="Labels your Prometheus selects monitors by.")
    interval: str = Field(default="30s", pattern=r"^[0-9]+(ms|s|m|h)$", description="Scrape interval.")


class PrometheusRule(_Values):
    enabled: bool = Field(
        default=False, description="Create a PrometheusRule with the operator's alerts (needs prometheus-operator)."
    )
    labels: Labels = Field(default_factory=dict, description="Labels your Prometheus selects rules by.")
    job: str = Field(
        default="",
        max_length=253,
        description="The `job` label of the operator's scrape target. Empty: the chart's ServiceMonitor's "
        "(<release>-metrics); without that ServiceMonitor and without this value, OmaOperatorDown is left out "
        "(it would fire forever for a target nobody scrapes).",
    )


class GrafanaDashboard(_Values):
    enabled: bool = Field(default=False, description="Create a ConfigMap with the operator's Grafana dashboard.")
    label_key: str = Field(default="grafana_dashboard", alias="labelKey", description="Grafana sidecar label.")
    label_value: str = Field(default="1", alias="labelValue", description="Grafana sidecar label value.")


class Metrics(_Values):
    """Prometheus metrics on /metrics."""

    port: int = Field(default=8080, ge=1, le=65535, description="Container port of /metrics.")
    service: bool = Field(default=True, description="Create a ClusterIP Service for the metrics port.")
    service_monitor: ServiceMonitor = Field(
        default_factory=ServiceMonitor, alias="serviceMonitor", description="prometheus-operator scraping."
    )
    prometheus_rule: PrometheusRule = Field(
        default_factory=PrometheusRule, alias="prometheusRule", description="The operator's alert rules."
    )
    grafana_dashboard: GrafanaDashboard = Field(
        default_factory=GrafanaDashboard, alias="grafanaDashboard", description="The operator's dashboard."
    )


class Health(_Values):
    port: int = Field(default=8081, ge=1, le=65535, description="Container port of /healthz (liveness, readiness).")


class ServiceAccount(_Values):
    create: bool = Field(default=True, description="Create the operator's ServiceAccount.")
    name: str = Field(default="", description="Its name; empty: the release's full name.")
    annotations: Labels = Field(default_factory=dict, description="Annotations (e.g. for workload identity).")


class PodDisruptionBudget(_Values):
    enabled: bool = Field(default=True, description="Create a PodDisruptionBudget.")
    min_available: int = Field(
        default=1,
        alias="minAvailable",
        ge=0,
        le=10,
        description="Operator pods a drain must leave running: with 2 replicas and 1, a drain evicts one at a "
        "time and the standby takes over. With 1 replica, use 0 (or drains block until you delete the PDB).",
    )


class LeaderElection(_Values):
    enabled: bool = Field(
        default=True, description="Replicas share a coordination.k8s.io Lease; only its holder reconciles."
    )
    lease_duration: float = Field(
        default=15, alias="leaseDuration", gt=0, le=300, description="Seconds before a silent holder is replaced."
    )
    renew_deadline: float = Field(
        default=10,
        alias="renewDeadline",
        gt=0,
        le=300,
        description="Seconds a holder keeps acting without renewing; must be below leaseDuration.",
    )
    retry_period: float = Field(
        default=2, alias="retryPeriod", gt=0, le=60, description="Seconds between renewals and attempts."
    )


class NetworkPolicy(_Values):
    enabled: bool = Field(default=False, description="Restrict the operator pod's traffic.")
    metrics_from: list[K8sObject] = Field(
        default_factory=list,
        alias="metricsFrom",
        description="NetworkPolicy peers allowed to scrape metrics (e.g. a namespaceSelector for monitoring); "
        "empty: any pod.",
    )
    api_server_ports: list[int] = Field(
        default_factory=lambda: [443, 6443],
        alias="apiServerPorts",
        max_length=8,
        description="Egress ports of the Kubernetes API (the Service's 443 and the endpoints' port).",
    )


class Values(_Values):
    """Values of the oma-operator chart."""

    image: Image = Field(description="The operator image.")
    image_pull_secrets: list[K8sObject] = Field(
        default_factory=list, alias="imagePullSecrets", description="Pull secrets for the operator pod."
    )
    name_override: str = Field(default="", alias="nameOverride", max_length=40, description="Replaces the chart name.")
    fullname_override: str = Field(
        default="", alias="fullnameOverride", max_length=50, description="Replaces the release's full name."
    )
    replicas: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Operator pods: one leader reconciles, the others stand by to take over within a lease "
        "(leaderElection). 0 pauses the operator; more than 1 needs leaderElection.enabled.",
    )
    leader_election: LeaderElection = Field(
        default_factory=LeaderElection, alias="leaderElection", description="Leader election between replicas."
    )
    crds: Crds = Field(default_factory=Crds, description="CRD installation and upgrades.")
    watch_namespaces: list[str] = Field(
        default_factory=list,
        alias="watchNamespaces",
        max_length=100,
        description="Empty: every namespace, with a ClusterRole. Listed: only these, with a Role in each and no "
        "cluster-wide access beyond reading those namespaces.",
    )
    worker: Worker = Field(description="Worker pod defaults.")
    log_format: Literal["json", "plain"] = Field(default="json", alias="logFormat", description="Log format.")
    metrics: Metrics = Field(default_factory=Metrics, description="Prometheus metrics.")
    health: Health = Field(default_factory=Health, description="Liveness and readiness endpoint.")
    resources: K8sObject = Field(default_factory=dict, description="The operator container's resources.")
    service_account: ServiceAccount = Field(
        default_factory=ServiceAccount, alias="serviceAccount", description="The operator's identity."
    )
    pod_disruption_budget: PodDisruptionBudget = Field(
        default_factory=PodDisruptionBudget, alias="podDisruptionBudget", description="Voluntary disruptions."
    )
    network_policy: NetworkPolicy = Field(
        default_factory=NetworkPolicy, alias="networkPolicy", description="The operator pod's NetworkPolicy."
    )
    pod_annotations: Labels = Field(default_factory=dict, alias="podAnnotations", description="Pod annotations.")
    pod_labels: Labels = Field(default_factory=dict, alias="podLabels", description="Extra pod labels.")
    priority_class_name: str = Field(default="", alias="priorityClassName", description="The pod's PriorityClass.")
    node_selector: Labels = Field(
        default_factory=dict, alias="nodeSelector", description="The operator pod's nodeSelector."
    )
    tolerations: list[K8sObject] = Field(default_factory=list, description="The operator pod's tolerations.")
    affinity: K8sObject = Field(default_factory=dict, description="The operator pod's affinity.")


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Inline $refs and drop titles, so the schema reads as one document and needs no draft-specific features."""
    if isinstance(node, list):
        return [_inline(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[1]]
        return _inline({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    return {k: _inline(v, defs) for k, v in node.items() if k not in ("title", "$defs")}


def values_schema() -> dict[str, Any]:
    raw = Values.model_json_schema(by_alias=True)
    schema: dict[str, Any] = _inline(raw, raw.get("$defs", {}))
    return {"$schema": "http://json-schema.org/draft-07/schema#", **schema}


def render() -> str:
    return json.dumps(values_schema(), indent=2, sort_keys=False) + "\n"


TABLE_BEGIN = "<!-- values-table:begin (generated by `make generate` from values.yaml and the schema) -->"
TABLE_END = "<!-- values-table:end -->"


def _rows(values: Any, schema: dict[str, Any], path: str) -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) for every leaf of `values`; objects the schema leaves open (resources,
    affinity, ...) and lists are leaves."""
    props = schema.get("properties") or {}
    if isinstance(values, dict) and values and props:
        rows = []
        for key, value in values.items():
            child = props.get(key)
            if child is None:
                raise ValueError(f"values.yaml has {path}{key}, which the schema does not know")
            rows += _rows(value, child, f"{path}{key}.")
        return rows
    kind = schema.get("type") or ("string" if "enum" in schema else "object")
    if "enum" in schema:
        kind = " \\| ".join(json.dumps(v) for v in schema["enum"])
    description = " ".join(schema.get("description", "").split()).replace("|", "\\|")
    default = json.dumps(values).replace("|", "\\|")
    return [(path.rstrip("."), kind, default, description)]


def values_table(values: dict[str, Any]) -> str:
    """The chart README's table of every value: key, type, default (from values.yaml), description (the schema's)."""
    lines = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    lines += [f"| `{k}` | {t} | `{d}` | {desc} |" for k, t, d, desc in _rows(values, values_schema(), "")]
    return "\n".join(lines) + "\n"


def readme_with_table(readme: str, values: dict[str, Any]) -> str:
    """`readme` with the text between the table markers replaced by the current table."""
    head, found, rest = readme.partition(TABLE_BEGIN + "\n")
    _, found_end, tail = rest.partition(TABLE_END)
    if not (found and found_end):
        raise ValueError(f"the README needs the markers {TABLE_BEGIN!r} and {TABLE_END!r}")
    return head + TABLE_BEGIN + "\n" + values_table(values) + TABLE_END + tail


def main(argv: list[str]) -> int:
    """Writes values.schema.json; with a chart directory instead, the schema and the README's values table."""
    target = Path(argv[1] if len(argv) > 1 else "charts/oma-operator")
    if target.suffix == ".json":
        target.write_text(render())
        print(target)
        return 0
    import yaml

    (target / "values.schema.json").write_text(render())
    readme = target / "README.md"
    values = yaml.safe_load((target / "values.yaml").read_text())
    readme.write_text(readme_with_table(readme.read_text(), values))
    print(target / "values.schema.json", readme)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
