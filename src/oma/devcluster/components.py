"""What each control-plane component runs as: its binary, command line, admin kubeconfig and health endpoint.

The binaries come from hack/build-tools.sh (pinned Go modules); the flags are tuned for one machine running
tests and bench/ bursts, not for production.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from .errors import ClusterError
from .layout import ClusterInfo, Layout
from .pki import Pki

# Start order matters only for etcd -> apiserver; the rest start together once the apiserver is ready.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "oma-node")
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
REPO_ROOT = Path(__file__).resolve().parents[3]


def find_bin_dir() -> Path:
    """The binaries' cache directory: $OMA_BIN_DIR, or what hack/build-tools.sh reports (building if needed)."""
    env = os.environ.get("OMA_BIN_DIR")
    if env:
        return Path(env)
    script = REPO_ROOT / "hack" / "build-tools.sh"
    if not script.exists():
        raise ClusterError("set OMA_BIN_DIR to a directory holding etcd, kube-apiserver, ... (see hack/build-tools.sh)")
    out = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True, check=False)
    if out.returncode != 0:
        raise ClusterError(f"hack/build-tools.sh failed (exit {out.returncode}); its messages above say why")
    return Path(out.stdout.strip().splitlines()[-1])


def require_binaries(bin_dir: Path) -> None:
    for binary in BINARIES:
        if not (bin_dir / binary).exists():
            raise ClusterError(f"{bin_dir / binary} is missing; run `bash hack/build-tools.sh` to build it")


def write_kubeconfig(path: Path, server: str, pki: Pki) -> None:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "oma-local", "cluster": {"server": server, "certificate-authority": str(pki.ca_crt)}}],
        "users": [
            {"name": "oma-admin", "user": {"client-certificate": str(pki.admin_crt), "client-key": str(pki.admin_key)}}
        ],
        "contexts": [{"name": "oma-local", "context": {"cluster": "oma-local", "user": "oma-admin"}}],
        "current-context": "oma-local",
    }
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    path.chmod(0o600)


# --- command lines ----------------------------------------------------------------------------------------


def etcd_argv(b: Path, layout: Layout, p: dict[str, int]) -> list[str]:
    client, peer = f"http://127.0.0.1:{p['etcd']}", f"http://127.0.0.1:{p['etcd-peer']}"
    return [
        str(b / "etcd"),
        "--name=oma",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=oma={peer}",
        "--initial-cluster-state=new",
        "--unsafe-no-fsync=true",  # test data only; fsync dominates apiserver write latency otherwise
        "--auto-compaction-retention=1",
        "--quota-backend-bytes=4294967296",
        "--log-level=warn",
    ]


def apiserver_argv(b: Path, layout: Layout, pki: Pki, p: dict[str, int], advertise: str | None = None) -> list[str]:
    """`advertise`: the real node's bridge gateway; only that mode changes the control plane's flags."""
    return [
        str(b / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{p['etcd']}",
        *(_real_node_apiserver_flags(pki, advertise) if advertise else _LOOPBACK_ONLY),
        f"--secure-port={p['apiserver']}",
        f"--tls-cert-file={pki.serving_crt}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_crt}",
        "--authorization-mode=Node,RBAC",
        f"--service-account-issuer=https://127.0.0.1:{p['apiserver']}",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        # Bursts of hundreds of Jobs (bench/) should measure the operator, not the default in-flight limits.
        "--max-requests-inflight=800",
        "--max-mutating-requests-inflight=400",
        f"--cert-dir={layout.state / 'apiserver-certs'}",
        "--v=1",
    ]


_LOOPBACK_ONLY = ["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"]


def _real_node_apiserver_flags(pki: Pki, advertise: str) -> list[str]:
    # The `kubernetes` Service cannot have a loopback endpoint, so pods would never reach the API: advertise
    # the bridge gateway (and listen there too). logs/exec/port-forward reach the kubelet as the admin.
    return [
        "--bind-address=0.0.0.0",
        f"--advertise-address={advertise}",
        f"--kubelet-client-certificate={pki.admin_crt}",
        f"--kubelet-client-key={pki.admin_key}",
        f"--kubelet-certificate-authority={pki.ca_crt}",
        "--kubelet-preferred-address-types=InternalIP",
        "--enable-admission-plugins=NodeRestriction",
    ]


def _component_kubeconfig_flags(layout: Layout) -> list[str]:
    kc = str(layout.kubeconfig)
    return [
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
    ]


def kcm_argv(b: Path, layout: Layout, pki: Pki, p: dict[str, int]) -> list[str]:
    return [
        str(b / "kube-controller-manager"),
        *_component_kubeconfig_flags(layout),
        f"--secure-port={p['kcm']}",
        "--controllers=*",
        f"--service-account-private-key-file={pki.sa_key}",
        f"--root-ca-file={pki.ca_crt}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # The default 20 qps would make the Job controller, not the operator, the bottleneck in bench/.
        "--kube-api-qps=300",
        "--kube-api-burst=600",
        "--concurrent-job-syncs=20",
        "--concurrent-gc-syncs=20",
        "--v=1",
    ]


def scheduler_argv(b: Path, layout: Layout, p: dict[str, int]) -> list[str]:
    cfg = layout.state / "scheduler.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kubescheduler.config.k8s.io/v1",
                "kind": "KubeSchedulerConfiguration",
                "clientConnection": {"kubeconfig": str(layout.kubeconfig), "qps": 300, "burst": 600},
                "leaderElection": {"leaderElect": False},
            }
        )
    )
    flags = [f for f in _component_kubeconfig_flags(layout) if not f.startswith(("--kubeconfig=", "--leader-elect"))]
    return [str(b / "kube-scheduler"), f"--config={cfg}", *flags, f"--secure-port={p['scheduler']}", "--v=1"]


def kwok_argv(b: Path, layout: Layout, p: dict[str, int]) -> list[str]:
    cfg = layout.state / "kwok.yaml"
    cfg.write_text(resources.files("oma.devcluster").joinpath("kwok.yaml").read_text())
    return [
        str(b / "kwok"),
        f"--kubeconfig={layout.kubeconfig}",
        f"--config={cfg}",
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        f"--cidr={POD_CIDR}",
        "--node-ip=10.244.0.1",
        "--node-lease-duration-seconds=40",
        f"--server-address=127.0.0.1:{p['kwok']}",
    ]


def node_argv(layout: Layout) -> list[str]:
    return [sys.executable, "-m", "oma.devcluster", "--state-dir", str(layout.state), "node"]


def component_env(component: str) -> dict[str, str]:
    """Go's collector for the apiserver: a quarter of its CPU under the dashboard bench went to GC at the default
    GOGC=100. On these machines CPU is scarce and memory is not, so it collects at 4x the live heap, with a soft
    cap so a 50,000-object history cannot grow it without bound (docs/decisions.md, "The local apiserver
    collects garbage at GOGC=400")."""
    return {"GOGC": "400", "GOMEMLIMIT": "3GiB"} if component == "kube-apiserver" else {}


def node_env() -> dict[str, str]:
    # The node runner imports oma from wherever this process does (a checkout, a virtualenv).
    return {"PYTHONPATH": os.pathsep.join(sys.path)}


# --- health ---------------------------------------------------------------------------------------------


def health_url(component: str, info: ClusterInfo) -> str:
    p = info.ports
    return {
        "etcd": f"http://127.0.0.1:{p['etcd']}/health",
        "kube-apiserver": f"{info.server}/readyz",
        "kube-controller-manager": f"https://127.0.0.1:{p['kcm']}/healthz",
        "kube-scheduler": f"https://127.0.0.1:{p['scheduler']}/healthz",
        "kwok": f"http://127.0.0.1:{p['kwok']}/healthz",
    }[component]


def health_description(component: str, info: ClusterInfo) -> str:
    """`kube-apiserver /readyz`: what a start-up wait names when it times out."""
    return f"{component} {urlsplit(health_url(component, info)).path}"


def healthy(component: str, info: ClusterInfo, pki: Pki) -> bool:
    url = health_url(component, info)
    if component == "kube-apiserver":
        return _http_ok(url, _admin_tls(pki))
    return _http_ok(url, _self_signed() if url.startswith("https://") else None)


def _http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:  # noqa: S310 (local URL)
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def _admin_tls(pki: Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_crt))
    ctx.load_cert_chain(str(pki.admin_crt), str(pki.admin_key))
    return ctx


def _self_signed() -> ssl.SSLContext:
    # KCM and the scheduler serve /healthz with self-signed certs of their own.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
