"""Pure: the real node's names, addresses and configuration files, from its state directory alone.

Every name the real node leaves on the machine (bridge, cgroup root, iptables comment) carries a short hash of
the state directory, so two clusters' leftovers can never be confused and teardown removes only its own.
Why each non-default setting is there: docs/decisions.md, "The real node".
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REAL_NODE = "oma-node"
CLUSTER_DOMAIN = "cluster.local"
DNS_SERVICE_IP = "10.96.0.10"
SERVICE_CIDR = "10.96.0.0/16"
DNS_PORT = 1053  # CoreDNS listens unprivileged; the kube-dns Service maps 53 to it
# Every machine-wide sysctl the kubelet rewrites at start (protectKernelDefaults=false); restored by `down`.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)


@dataclass(frozen=True)
class NodePaths:
    """Where the real node keeps its files, all under the cluster's state dir."""

    state: Path

    @property
    def root(self) -> Path:
        return self.state / "node"

    @property
    def tag(self) -> str:
        """Six hex digits naming this cluster's bridge, cgroups and iptables comments."""
        return hashlib.sha256(str(self.state.resolve()).encode()).hexdigest()[:6]

    @property
    def bridge(self) -> str:
        return f"omabr{self.tag}"  # 11 characters: interface names stop at 15

    @property
    def cgroup_root(self) -> str:
        return f"/oma-{self.tag}"

    @property
    def containerd_sock(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def saved(self) -> Path:
        """What the machine looked like before the node started (sysctls, fixed paths), for `down`."""
        return self.root / "machine-before.json"


@dataclass(frozen=True)
class PodNetwork:
    subnet: ipaddress.IPv4Network

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    @classmethod
    def for_tag(cls, tag: str, taken: list[ipaddress.IPv4Network]) -> PodNetwork:
        """A /24 in 10.200.0.0/13, picked by the tag and skipping subnets already routed on this machine.
        Separate from KWOK's 10.244.0.0/16, so a Service never points at a simulated pod's address."""
        start = int(tag, 16) % 2048
        for i in range(2048):
            n = (start + i) % 2048
            subnet = ipaddress.IPv4Network(f"10.{200 + n // 256}.{n % 256}.0/24")
            if not any(subnet.overlaps(t) for t in taken):
                return cls(subnet)
        raise ValueError("no free /24 in 10.200.0.0/13 for the pod network")


def containerd_config(paths: NodePaths, sandbox_image: str) -> str:
    """containerd's config (version 3); TOML written by hand, the values are all simple strings and bools."""
    c = paths.root / "containerd"
    cri_rt = "plugins.'io.containerd.cri.v1.runtime'"
    return f"""version = 3
root = '{c / "root"}'
state = '{c / "state"}'
temp = '{c / "tmp"}'
imports = []
# NRI would listen under /var/run; we run no NRI plugins.
disabled_plugins = ['io.containerd.nri.v1.nri']

[grpc]
  address = '{paths.containerd_sock}'

[ttrpc]
  address = '{paths.containerd_sock}.ttrpc'

[plugins.'io.containerd.internal.v1.opt']
  path = '{c / "opt"}'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '{sandbox_image}'

[{cri_rt}]
  # runc cannot lower oom_score_adj here (root lacks CAP_SYS_RESOURCE): every pod failed to start without it.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true

[{cri_rt}.containerd]
  default_runtime_name = 'runc'

[{cri_rt}.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'

[{cri_rt}.containerd.runtimes.runc.options]
  BinaryName = '/usr/sbin/runc'
  Root = '{c / "runc"}'
  SystemdCgroup = false

[{cri_rt}.cni]
  bin_dirs = ['/usr/lib/cni']
  conf_dir = '{paths.cni_conf_dir}'
  max_conf_num = 1
"""


def cni_conflist(paths: NodePaths, net: PodNetwork) -> str:
    """One bridge network; no masquerade and no default route: pods reach only this machine's own addresses."""
    conf = {
        "cniVersion": "1.0.0",
        "name": f"oma-{paths.tag}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": paths.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(net.subnet), "gateway": net.gateway}]],
                    "routes": [{"dst": SERVICE_CIDR}],
                    "dataDir": str(paths.root / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "loopback"},
        ],
    }
    return json.dumps(conf, indent=2) + "\n"


def kubelet_config(paths: NodePaths, net: PodNetwork, ca_crt: Path) -> str:
    cfg: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # The VM runs cgroup v1: kubelet 1.36 refuses it unless told, and cgroupfs is the driver without systemd.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": paths.cgroup_root,
        "containerRuntimeEndpoint": f"unix://{paths.containerd_sock}",
        "imageServiceEndpoint": f"unix://{paths.containerd_sock}",
        "address": net.gateway,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 0,
        "tlsCertFile": str(paths.root / "pki" / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(paths.root / "pki" / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_crt)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [DNS_SERVICE_IP],
        # The host's resolver is a private address off this machine: pods get cluster DNS only.
        "resolvConf": "",
        "podCIDR": str(net.subnet),
        "failSwapOn": False,
        "podLogsDir": str(paths.pod_logs),
        "maxPods": 60,
        "serializeImagePulls": False,
        # Images are imported, never pulled: garbage collecting them would lose them for good.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "nodeStatusReportFrequency": "10s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "5s",
        "localStorageCapacityIsolation": True,
    }
    return yaml.safe_dump(cfg, sort_keys=False)


def kube_proxy_config(paths: NodePaths, net: PodNetwork, kubeconfig: Path, ports: dict[str, int]) -> str:
    cfg = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": REAL_NODE,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{ports['kube-proxy-healthz']}",
        "metricsBindAddress": f"127.0.0.1:{ports['kube-proxy-metrics']}",
        "clusterCIDR": str(net.subnet),
        # runc cannot lower oom_score_adj here, and kube-proxy would try to set -999 for itself.
        "oomScoreAdj": 0,
        # Leave the host's conntrack sysctls alone (zero: do not set).
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        # Otherwise it sets route_localnet on the host so NodePorts answer on 127.0.0.1.
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
        "nodePortAddresses": [f"{net.gateway}/32"],
    }
    return yaml.safe_dump(cfg, sort_keys=False)


def corefile() -> str:
    # No `forward`: there is no upstream resolver pods may use; names outside the cluster do not resolve.
    return f""".:{DNS_PORT} {{
    errors
    health 0.0.0.0:8080
    ready 0.0.0.0:8181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    cache 30
    loadbalance
}}
"""


def _coredns_container(image: str) -> dict[str, Any]:
    return {
        "name": "coredns",
        "image": image,
        "imagePullPolicy": "Never",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [
            {"name": "dns", "containerPort": DNS_PORT, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": DNS_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
    }


def _coredns_rbac() -> list[dict[str, Any]]:
    rules = [
        {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ]
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "oma:coredns"},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "oma:coredns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "oma:coredns"},
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}],
        },
    ]


def coredns_manifests(image: str) -> list[dict[str, Any]]:
    """The DNS add-on: CoreDNS as a Deployment in kube-system behind the kube-dns Service at 10.96.0.10."""
    labels = {"k8s-app": "kube-dns"}
    meta = {"name": "coredns", "namespace": "kube-system", "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        *_coredns_rbac(),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"Corefile": corefile()}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "priorityClassName": "system-cluster-critical",
                        "dnsPolicy": "Default",
                        "containers": [_coredns_container(image)],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
            "spec": {
                "clusterIP": DNS_SERVICE_IP,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": DNS_PORT, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": DNS_PORT, "protocol": "TCP"},
                ],
            },
        },
    ]
