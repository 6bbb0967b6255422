"""OmaStack (video.oma.ai/v1alpha1): one platform instance (Redis, Postgres, dashboard, monitoring, backups).

The operator turns this spec into StatefulSets, Deployments, Services, an HPA, a PDB, CronJobs,
NetworkPolicies, Secrets and ConfigMaps, and keeps them as declared.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import GROUP as GROUP
from .common import VERSION as VERSION
from .common import ConditionBase, DnsLabel, ObjectMeta, Quantity, Resources, _Model, cel, condition_type

KIND = "OmaStack"
PLURAL = "omastacks"
# Child names add up to 16 characters ("-backup-postgres") and StatefulSet pods and claims more; 30 keeps
# every generated name, label value and controller-revision label within 63.
MAX_NAME = 30

Image = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[^\s]+$")]
StorageClassName = Annotated[
    str, Field(max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", description="A StorageClass name.")
]
PgIdentifier = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z_][a-z0-9_]*$")]

_IMMUTABLE_VOLUME = (
    "self == oldSelf",
    "volume settings are immutable (a StatefulSet's volume claims cannot change): resize the PVC itself, "
    "or create a new stack and restore a backup",
)


def section(model: type[BaseModel], description: str) -> Any:
    """An optional section with an explicit, complete default, so the stored object always has every section
    and transition rules always have both old and new values to compare."""
    default = model().model_dump(by_alias=True, exclude_none=True)
    return Field(default_factory=model, description=description, json_schema_extra={"default": default})


def _resources(requests: dict[str, str], limits: dict[str, str], what: str) -> Any:
    default: dict[str, Any] = {"requests": requests, "limits": limits}
    return Field(
        default_factory=lambda: Resources.model_validate(default),
        description=f"Compute resources of the {what} container.",
        json_schema_extra={"default": default},
    )


class RedisPersistence(_Model):
    """Where Redis keeps its append-only file and RDB snapshots."""

    model_config = cel(_IMMUTABLE_VOLUME)

    enabled: bool = Field(
        default=True, description="A PVC per replica; false keeps data in an emptyDir (lost on restart)."
    )
    size: Quantity = Field(default="1Gi", description="Volume size.")
    storage_class_name: StorageClassName | None = Field(
        default=None, alias="storageClassName", description="StorageClass; default: the cluster's default class."
    )


class PostgresStorage(_Model):
    """Where Postgres keeps its data directory."""

    model_config = cel(_IMMUTABLE_VOLUME)

    size: Quantity = Field(default="10Gi", description="Volume size.")
    storage_class_name: StorageClassName | None = Field(
        default=None, alias="storageClassName", description="StorageClass; default: the cluster's default class."
    )


class RedisSpec(_Model):
    """The job queue and cache: one Redis instance in a StatefulSet."""

    image: Image = Field(default="docker.io/library/redis:7.4-bookworm", description="Redis image.")
    persistence: RedisPersistence = section(RedisPersistence, "Data volume.")
    resources: Resources = _resources({"cpu": "100m", "memory": "128Mi"}, {"memory": "512Mi"}, "Redis")


class PostgresSpec(_Model):
    """The metadata database: one Postgres instance in a StatefulSet."""

    model_config = cel(
        (
            "self.version == oldSelf.version",
            "postgres.version cannot change in place: a new major version needs a dump and restore (docs/backups.md)",
        ),
    )

    version: int = Field(default=16, ge=13, le=18, description="Major version; immutable.")
    image: Image | None = Field(
        default=None,
        description="Postgres image; default docker.io/library/postgres:<version>-bookworm. It must run the "
        "major version given in `version`.",
    )
    database: PgIdentifier = Field(default="oma", description="Database created at first start.")
    user: PgIdentifier = Field(default="oma", description="Role created at first start; owns the database.")
    storage: PostgresStorage = section(PostgresStorage, "Data volume.")
    credentials_rotation: str | None = Field(
        default=None,
        alias="credentialsRotation",
        max_length=63,
        description="Change to any new value to generate a new password. The Secret is otherwise generated once "
        "and never rotated; Postgres adopts the new password when its pod restarts, which the change triggers.",
    )
    resources: Resources = _resources({"cpu": "250m", "memory": "256Mi"}, {"memory": "1Gi"}, "Postgres")

    def image_ref(self) -> str:
        return self.image or f"docker.io/library/postgres:{self.version}-bookworm"


class Autoscaling(_Model):
    """A HorizontalPodAutoscaler (autoscaling/v2) on CPU; it owns the replica count while enabled."""

    model_config = cel(("self.minReplicas <= self.maxReplicas", "autoscaling.minReplicas must not exceed maxReplicas"))

    enabled: bool = Field(default=True, description="Create the HPA; false uses dashboard.replicas.")
    min_replicas: int = Field(default=2, alias="minReplicas", ge=1, le=100, description="Fewest replicas.")
    max_replicas: int = Field(default=5, alias="maxReplicas", ge=1, le=100, description="Most replicas.")
    target_cpu_utilization_percentage: int = Field(
        default=70,
        alias="targetCPUUtilizationPercentage",
        ge=10,
        le=100,
        description="Average CPU use, as a share of requests, the HPA aims for.",
    )


class ServiceSpec(_Model):
    """How the dashboard is exposed."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(default="ClusterIP", description="Service type.")
    port: int = Field(default=80, ge=1, le=65535, description="Service port.")


class IngressTls(_Model):
    """TLS for the Ingress: a Secret of type kubernetes.io/tls in this namespace."""

    secret_name: DnsLabel = Field(alias="secretName", description="The TLS Secret's name.")


class IngressSpec(_Model):
    """An optional networking.k8s.io/v1 Ingress in front of the dashboard's Service."""

    enabled: bool = Field(default=False, description="Create the Ingress.")
    host: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        description="Host name; default: every host.",
    )
    class_name: str | None = Field(
        default=None, alias="className", max_length=253, description="IngressClass; default: the cluster's."
    )
    tls: IngressTls | None = Field(
        default=None, description="Serve HTTPS with this Secret (session cookies get Secure)."
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, max_length=64, description="Annotations for the ingress controller."
    )


class RateLimitsSpec(_Model):
    """Requests per minute; each request is counted against its token and its client address."""

    submit_per_token: int = Field(default=30, alias="submitPerToken", ge=1, le=100000, description="Submissions.")
    read_per_token: int = Field(default=1200, alias="readPerToken", ge=1, le=1000000, description="Reads.")
    submit_per_ip: int = Field(default=60, alias="submitPerIP", ge=1, le=100000, description="Submissions.")
    read_per_ip: int = Field(default=2400, alias="readPerIP", ge=1, le=1000000, description="Reads.")


class DashboardSpec(_Model):
    """The web UI and REST API (a Deployment behind a Service) with its own ServiceAccount, which may only
    create, read, watch and patch this namespace's VideoJobs."""

    image: Image = Field(default="ghcr.io/oma-video/oma-dashboard:0.1.0", description="Dashboard image.")
    replicas: int = Field(default=2, ge=0, le=100, description="Replicas while autoscaling is disabled.")
    autoscaling: Autoscaling = section(Autoscaling, "CPU autoscaling.")
    service: ServiceSpec = section(ServiceSpec, "The Service in front of the dashboard.")
    resources: Resources = _resources({"cpu": "100m", "memory": "128Mi"}, {"memory": "512Mi"}, "dashboard")
    media_claim: DnsLabel | None = Field(
        default=None,
        alias="mediaClaim",
        description="An existing PVC the dashboard's VideoJobs write to; the dashboard mounts it read-only to serve "
        "outputs (it must allow ReadWriteMany or ReadOnlyMany when workers and dashboard share no node). Unset, "
        "jobs write to a PVC named media and the dashboard serves no files.",
    )
    source_claims: list[DnsLabel] = Field(
        default_factory=list,
        alias="sourceClaims",
        max_length=16,
        description="PVCs in this namespace that submissions may read source files from.",
    )
    presets_config_map: DnsLabel | None = Field(
        default=None,
        alias="presetsConfigMap",
        description="A ConfigMap whose key presets.yaml replaces the built-in presets (same format).",
    )
    price_per_cpu_hour: float = Field(
        default=0.05,
        alias="pricePerCPUHour",
        ge=0,
        le=1000,
        description="USD per CPU-hour of worker time: a job costs its encode seconds x its CPU request x this / 3600.",
    )
    rate_limits: RateLimitsSpec = Field(
        default_factory=RateLimitsSpec,
        alias="rateLimits",
        description="Rate limits per minute.",
        json_schema_extra={"default": RateLimitsSpec().model_dump(by_alias=True)},
    )
    ingress: IngressSpec = section(IngressSpec, "An optional Ingress.")


class WorkerDefaultsSpec(_Model):
    """Defaults for VideoJobs whose spec.stackRef names this stack; a VideoJob's own fields win."""

    image: Image | None = Field(default=None, description="Worker image; default: the operator's.")
    resources: Resources | None = Field(default=None, description="Worker container resources.")
    max_concurrent_jobs: int | None = Field(
        default=None,
        alias="maxConcurrentJobs",
        ge=1,
        le=1000,
        description="Running VideoJobs of this stack at once; the rest queue. Default: the namespace's limit.",
    )
    priority: int | None = Field(
        default=None, ge=-1000, le=1000, description="Priority of VideoJobs that do not set their own."
    )
    parallelism: int | None = Field(
        default=None, ge=1, le=32, description="spec.parallelism of VideoJobs that do not set their own."
    )


class GrafanaSpec(_Model):
    """Grafana dashboards as ConfigMaps, for Grafana's dashboard sidecar."""

    enabled: bool = Field(default=True, description="Create the dashboards ConfigMap.")
    label_key: str = Field(default="grafana_dashboard", alias="labelKey", max_length=63, description="Sidecar label.")
    label_value: str = Field(default="1", alias="labelValue", max_length=63, description="Sidecar label value.")


class MonitoringSpec(_Model):
    """Prometheus scraping and alerts (prometheus-operator objects) and Grafana dashboards."""

    enabled: bool = Field(
        default=True,
        description="Exporter sidecars, ServiceMonitor, PodMonitor and PrometheusRule. Without the "
        "prometheus-operator CRDs the MonitoringReady condition says so; nothing fails.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        max_length=16,
        description="Labels added to the ServiceMonitor, PodMonitor and PrometheusRule so your Prometheus "
        "selects them (for example release: kube-prometheus-stack).",
    )
    redis_exporter_image: Image = Field(
        default="docker.io/oliver006/redis_exporter:v1.67.0",
        alias="redisExporterImage",
        description="Redis exporter sidecar image.",
    )
    postgres_exporter_image: Image = Field(
        default="quay.io/prometheuscommunity/postgres-exporter:v0.16.0",
        alias="postgresExporterImage",
        description="Postgres exporter sidecar image.",
    )
    grafana: GrafanaSpec = section(GrafanaSpec, "Grafana dashboards.")


class BackupPvc(_Model):
    """A PVC for dumps: an existing claim, or one the operator creates."""

    model_config = cel(
        (
            "has(self.claimName) == has(oldSelf.claimName) && (!has(self.claimName) || "
            "self.claimName == oldSelf.claimName)",
            "backups.destination.pvc.claimName is immutable: copy the dumps, then create a new stack",
        ),
    )

    claim_name: DnsLabel | None = Field(
        default=None,
        alias="claimName",
        description="An existing PVC in this namespace; default: <stack>-backups, created by the operator.",
    )
    size: Quantity = Field(default="20Gi", description="Size of the PVC the operator creates.")
    storage_class_name: StorageClassName | None = Field(
        default=None, alias="storageClassName", description="StorageClass of the PVC the operator creates."
    )


class BackupDestination(_Model):
    """Where dumps go (a PVC for now; object storage later)."""

    pvc: BackupPvc = section(BackupPvc, "The PVC for dumps.")


class BackupsSpec(_Model):
    """Scheduled pg_dump of Postgres and RDB snapshots of Redis, as CronJobs."""

    enabled: bool = Field(default=True, description="Create the backup CronJobs.")
    schedule: str = Field(
        default="0 3 * * *",
        max_length=64,
        pattern=r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$",
        description="Cron schedule (five fields, or @daily and friends), in the controller-manager's time zone "
        "unless timeZone is set.",
    )
    time_zone: str | None = Field(
        default=None, alias="timeZone", max_length=64, description="IANA time zone of the schedule, e.g. Europe/Paris."
    )
    retention: int = Field(default=7, ge=1, le=1000, description="Dumps kept per database; older ones are deleted.")
    suspend: bool = Field(default=False, description="Pause the schedule without deleting anything.")
    destination: BackupDestination = section(BackupDestination, "Where dumps go.")


class NetworkPolicySpec(_Model):
    """Only what must talk to Redis and Postgres can."""

    enabled: bool = Field(
        default=True,
        description="NetworkPolicies: Redis and Postgres accept the dashboard, their backup jobs, pods labelled "
        "video.oma.ai/client-of=<stack>, and metrics scrapes.",
    )


class OmaStackSpec(_Model):
    """A platform instance; every part has defaults, so `spec: {}` is a working stack."""

    redis: RedisSpec = section(RedisSpec, "Redis (queue and cache).")
    postgres: PostgresSpec = section(PostgresSpec, "Postgres (metadata).")
    dashboard: DashboardSpec = section(DashboardSpec, "The dashboard Deployment.")
    worker_defaults: WorkerDefaultsSpec = Field(
        default_factory=WorkerDefaultsSpec,
        alias="workerDefaults",
        description="Defaults for this stack's VideoJobs.",
        json_schema_extra={"default": {}},
    )
    monitoring: MonitoringSpec = section(MonitoringSpec, "Metrics, alerts and dashboards.")
    backups: BackupsSpec = section(BackupsSpec, "Scheduled backups.")
    network_policies: NetworkPolicySpec = Field(
        default_factory=NetworkPolicySpec,
        alias="networkPolicies",
        description="Network isolation of the data services.",
        json_schema_extra={"default": {"enabled": True}},
    )
    volumes_on_delete: Literal["Retain", "Delete"] = Field(
        default="Retain",
        alias="volumesOnDelete",
        description="What happens to the Redis and Postgres PVCs and the operator-created backups PVC when the "
        "stack is deleted. Retain (default) keeps the data; Delete removes it with the stack.",
    )


class StackCondition(ConditionBase):
    """A Kubernetes-style condition: `kubectl wait --for=condition=Ready omastack/<name>` works."""

    type: str = condition_type("Ready, RedisReady, PostgresReady, DashboardReady, MonitoringReady or BackupsScheduled.")


class Endpoints(_Model):
    """What a user or an app needs to connect."""

    redis: str | None = Field(default=None, max_length=512, description="host:port of Redis.")
    postgres: str | None = Field(default=None, max_length=512, description="host:port of Postgres.")
    postgres_secret: str | None = Field(
        default=None,
        alias="postgresSecret",
        max_length=253,
        description="The Secret with keys username, password, database, host, port and uri.",
    )
    dashboard: str | None = Field(default=None, max_length=512, description="The dashboard Service, host:port.")
    backups_claim: str | None = Field(
        default=None, alias="backupsClaim", max_length=253, description="The PVC the dumps go to."
    )


class OmaStackStatus(_Model):
    """Observed state, written by the operator."""

    conditions: list[StackCondition] = Field(
        default_factory=list,
        max_length=16,
        description="One condition per component and an overall Ready.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(
        default=None, alias="observedGeneration", description="The spec generation the children were built from."
    )
    endpoints: Endpoints | None = Field(default=None, description="Service names and the credentials Secret.")
    credentials_rotation: str | None = Field(
        default=None,
        alias="credentialsRotation",
        max_length=63,
        description="The spec.postgres.credentialsRotation the current Secret was generated for (never the "
        "credentials themselves).",
    )


class OmaStack(BaseModel):
    """A whole OmaStack object as the API serves it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    api_version: str = Field(default=f"{GROUP}/{VERSION}", alias="apiVersion")
    kind: Literal["OmaStack"] = "OmaStack"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: OmaStackSpec = Field(default_factory=OmaStackSpec)
    status: OmaStackStatus | None = None
