"""The kinds oma reads and writes, as plain data: callers name a kind, the adapter maps it to the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oma.models import omastack, videojob


@dataclass(frozen=True)
class Kind:
    """One API resource: `apiVersion` and `kind` as in a manifest, the plural for the URL path."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


VIDEOJOB = Kind(f"{videojob.GROUP}/{videojob.VERSION}", videojob.KIND, videojob.PLURAL)
OMASTACK = Kind(f"{omastack.GROUP}/{omastack.VERSION}", omastack.KIND, omastack.PLURAL)

JOB = Kind("batch/v1", "Job", "jobs")
CRONJOB = Kind("batch/v1", "CronJob", "cronjobs")
NAMESPACE = Kind("v1", "Namespace", "namespaces", namespaced=False)
SECRET = Kind("v1", "Secret", "secrets")
CONFIGMAP = Kind("v1", "ConfigMap", "configmaps")
SERVICE = Kind("v1", "Service", "services")
SERVICE_ACCOUNT = Kind("v1", "ServiceAccount", "serviceaccounts")
PVC = Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims")
EVENT = Kind("v1", "Event", "events")
STATEFULSET = Kind("apps/v1", "StatefulSet", "statefulsets")
DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments")
HPA = Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
PDB = Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets")
ENDPOINT_SLICE = Kind("discovery.k8s.io/v1", "EndpointSlice", "endpointslices")
NETWORK_POLICY = Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies")
INGRESS = Kind("networking.k8s.io/v1", "Ingress", "ingresses")
ROLE = Kind("rbac.authorization.k8s.io/v1", "Role", "roles")
ROLE_BINDING = Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")
LEASE = Kind("coordination.k8s.io/v1", "Lease", "leases")

MONITORING_GROUP = "monitoring.coreos.com"
SERVICE_MONITOR = Kind(f"{MONITORING_GROUP}/v1", "ServiceMonitor", "servicemonitors")
POD_MONITOR = Kind(f"{MONITORING_GROUP}/v1", "PodMonitor", "podmonitors")
PROMETHEUS_RULE = Kind(f"{MONITORING_GROUP}/v1", "PrometheusRule", "prometheusrules")

ALL = (
    VIDEOJOB, OMASTACK, JOB, CRONJOB, NAMESPACE, SECRET, CONFIGMAP, SERVICE, SERVICE_ACCOUNT, PVC, EVENT,
    STATEFULSET, DEPLOYMENT, HPA, PDB, ENDPOINT_SLICE, NETWORK_POLICY, INGRESS, ROLE, ROLE_BINDING, LEASE,
    SERVICE_MONITOR, POD_MONITOR,
    PROMETHEUS_RULE,
)  # fmt: skip
_BY_TYPE = {(k.api_version, k.kind): k for k in ALL}


def kind_of(manifest: dict[str, Any]) -> Kind:
    """The Kind of a manifest; every manifest oma writes is of a kind listed here."""
    key = (manifest["apiVersion"], manifest["kind"])
    try:
        return _BY_TYPE[key]
    except KeyError:
        raise ValueError(f"oma does not write {key[1]} ({key[0]}): add it to oma.k8s.kinds") from None
