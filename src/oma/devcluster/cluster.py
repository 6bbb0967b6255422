"""Bring a real Kubernetes control plane up and down as local processes.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the kwok controller run from binaries that
hack/build-tools.sh built; `oma.devcluster.node` runs pods scheduled to the `oma-local` node as local
processes. Everything lives in one state directory: PKI, kubeconfig, per-component logs and pid files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .pki import Pki, ensure_pki

PROCESS_NODE = "oma-local"
FAKE_NODE = "kwok-node-0"
PROCESS_TAINT_KEY = "oma.dev/process-backed"
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
STORAGE_CLASS = "standard"
PROVISIONER = "oma.dev/local-dir"

# Start order matters only for etcd -> apiserver; the rest start together once the apiserver is ready.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "oma-node")
REPO_ROOT = Path(__file__).resolve().parents[3]
# Every process of a cluster (components and pod processes) carries this, so `down` finds them all.
STATE_ENV = "OMA_DEVCLUSTER_STATE"


class ClusterError(RuntimeError):
    """A failure a developer can act on; the message says what to do."""


def default_state_dir() -> Path:
    env = os.environ.get("OMA_CLUSTER_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "oma" / "cluster"


@dataclass
class Layout:
    state: Path

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def etcd_data(self) -> Path:
        return self.state / "etcd"

    @property
    def pods(self) -> Path:
        return self.state / "pods"

    @property
    def volumes(self) -> Path:
        return self.state / "volumes"

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def info(self) -> Path:
        return self.state / "cluster.json"

    def pidfile(self, component: str) -> Path:
        return self.pids / f"{component}.pid"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"


@dataclass
class ClusterInfo:
    """What a client needs; written to cluster.json so tests and tools can reuse a running cluster."""

    state_dir: str
    bin_dir: str
    kubeconfig: str
    apiserver_port: int
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @classmethod
    def load(cls, path: Path) -> ClusterInfo:
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def choose_ports() -> dict[str, int]:
    """Free ports, except where OMA_APISERVER_PORT pins the apiserver (then it must be free)."""
    ports = {name: _free_port() for name in ("etcd", "etcd-peer", "kcm", "scheduler", "kwok")}
    pinned = os.environ.get("OMA_APISERVER_PORT")
    if pinned:
        port = int(pinned)
        if _port_in_use(port):
            raise ClusterError(
                f"port {port} (OMA_APISERVER_PORT) is already in use on 127.0.0.1. Stop whatever listens there "
                f"(`ss -ltnp 'sport = :{port}'` shows it), or unset OMA_APISERVER_PORT to pick a free port."
            )
        ports["apiserver"] = port
    else:
        ports["apiserver"] = _free_port()
    return ports


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


# --- process bookkeeping -------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _ours(pid: int, layout: Layout) -> bool:
    """True when pid was started for this state dir (its environment says so; guards against recycled pids)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{STATE_ENV}={layout.state}\0".encode() in environ


def _read_pid(layout: Layout, component: str) -> int | None:
    try:
        return int(layout.pidfile(component).read_text().strip())
    except (OSError, ValueError):
        return None


def running_components(layout: Layout) -> dict[str, int]:
    found = {}
    for c in COMPONENTS:
        pid = _read_pid(layout, c)
        if pid and _alive(pid) and _ours(pid, layout):
            found[c] = pid
    return found


def _stop_pid(pid: int, grace: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)


def down(state_dir: Path | None = None) -> list[str]:
    """Stop every component of the cluster in `state_dir`; returns the names of those that were running."""
    layout = Layout(state_dir or default_state_dir())
    stopped = []
    # The node runner first, so its pods' processes end with it; etcd last.
    for c in reversed(COMPONENTS):
        pid = _read_pid(layout, c)
        if pid and _alive(pid) and _ours(pid, layout):
            _stop_pid(pid, grace=10 if c == "oma-node" else 5)
            stopped.append(c)
        layout.pidfile(c).unlink(missing_ok=True)
    _kill_strays(layout)
    return stopped


def _kill_strays(layout: Layout) -> None:
    """Any process still carrying this state dir (a pod process that escaped its runner) is ended too."""
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        pid = int(proc.name)
        if _ours(pid, layout) and _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


# --- starting -------------------------------------------------------------------------------------------


def _start(layout: Layout, component: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    log = layout.log(component).open("ab")
    proc_env = dict(os.environ)
    proc_env.update(env or {})
    proc_env[STATE_ENV] = str(layout.state)
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=proc_env,
        cwd=layout.state,
    )
    log.close()
    layout.pidfile(component).write_text(f"{proc.pid}\n")
    return proc.pid


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait(what: str, check: Callable[[], bool], layout: Layout, component: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _read_pid(layout, component)
        if pid is not None and not _alive(pid):
            raise ClusterError(
                f"{component} exited during start-up; last lines of {layout.log(component)}:\n"
                f"{_tail(layout.log(component))}"
            )
        if check():
            return
        time.sleep(0.1)
    raise ClusterError(
        f"timed out after {timeout:.0f}s waiting for {what}; last lines of {layout.log(component)}:\n"
        f"{_tail(layout.log(component))}"
    )


def _http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:  # noqa: S310 (local URL)
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def _tls(pki: Pki, client: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_crt))
    if client:
        ctx.load_cert_chain(str(pki.admin_crt), str(pki.admin_key))
    return ctx


def _insecure() -> ssl.SSLContext:
    # KCM and the scheduler serve /healthz with self-signed certs of their own.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


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


def _etcd_argv(b: Path, layout: Layout, p: dict[str, int]) -> list[str]:
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


def _apiserver_argv(b: Path, layout: Layout, pki: Pki, p: dict[str, int]) -> list[str]:
    return [
        str(b / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{p['etcd']}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
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


def _kcm_argv(b: Path, layout: Layout, pki: Pki, p: dict[str, int]) -> list[str]:
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


def _scheduler_argv(b: Path, layout: Layout, p: dict[str, int]) -> list[str]:
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


def _kwok_argv(b: Path, layout: Layout, p: dict[str, int]) -> list[str]:
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


def _node_argv(layout: Layout) -> list[str]:
    return [sys.executable, "-m", "oma.devcluster", "--state-dir", str(layout.state), "node"]


def _node_manifest(name: str, process_backed: bool) -> dict[str, Any]:
    # The simulated node holds bursts of a thousand pods (bench/); the process-backed one is bounded by CPU.
    pods = "250" if process_backed else "2000"
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
    }
    spec: dict[str, Any] = {}
    if process_backed:
        labels[PROCESS_TAINT_KEY] = "true"
        # Only pods that ask for it (toleration + nodeSelector) run as real processes.
        spec["taints"] = [{"key": PROCESS_TAINT_KEY, "value": "true", "effect": "NoSchedule"}]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": pods},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": pods},
        },
    }


def install_crds(kubeconfig: str, timeout: float = 60) -> None:
    """Server-side apply oma's generated CRDs and wait until the apiserver serves them (Established)."""
    from lightkube import Client, KubeConfig
    from lightkube.codecs import from_dict
    from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

    from oma.models import crd

    client = Client(KubeConfig.from_file(kubeconfig), field_manager="oma-devcluster")
    names = []
    for manifest in crd.all_crds().values():
        client.apply(from_dict(manifest), force=True)
        names.append(manifest["metadata"]["name"])
    deadline = time.monotonic() + timeout

    def established(name: str) -> bool:
        status = client.get(CustomResourceDefinition, name).status
        return any(
            c.type == "Established" and c.status == "True" for c in (status.conditions if status else None) or []
        )

    for name in names:
        while not established(name):
            if time.monotonic() > deadline:
                raise ClusterError(f"CRD {name} was not Established within {timeout:.0f}s")
            time.sleep(0.1)


def claim(name: str, size: str = "1Gi") -> dict[str, Any]:
    """A PersistentVolumeClaim for the default StorageClass (a directory under the state dir)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }


def _storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def _bootstrap_objects(info: ClusterInfo) -> None:
    """Nodes and the default StorageClass, created with the sync client (this is not async code)."""
    from lightkube import Client, KubeConfig
    from lightkube.codecs import from_dict
    from lightkube.core.exceptions import ApiError

    client = Client(KubeConfig.from_file(info.kubeconfig), field_manager="oma-devcluster")
    for obj in (_node_manifest(FAKE_NODE, False), _node_manifest(PROCESS_NODE, True), _storage_class()):
        try:
            client.create(from_dict(obj))
        except ApiError as e:
            if e.status.code != 409:
                raise


def _wait_ready_objects(info: ClusterInfo, layout: Layout, timeout: float) -> None:
    from lightkube import Client, KubeConfig
    from lightkube.core.exceptions import ApiError
    from lightkube.resources.core_v1 import Node, ServiceAccount

    client = Client(KubeConfig.from_file(info.kubeconfig))

    def nodes_ready() -> bool:
        for name in (FAKE_NODE, PROCESS_NODE):
            node = client.get(Node, name)
            conds = {c.type: c.status for c in (node.status.conditions or [])} if node.status else {}
            if conds.get("Ready") != "True":
                return False
        return True

    def default_sa() -> bool:
        try:
            client.get(ServiceAccount, "default", namespace="default")
        except ApiError:
            return False
        return True

    _wait("the kwok nodes to become Ready", nodes_ready, layout, "kwok", timeout)
    _wait("the default ServiceAccount (controller-manager)", default_sa, layout, "kube-controller-manager", timeout)


def status(state_dir: Path | None = None) -> ClusterInfo | None:
    """The running cluster in `state_dir`, or None when it is not (entirely) up and healthy."""
    layout = Layout(state_dir or default_state_dir())
    if not layout.info.exists():
        return None
    if set(running_components(layout)) != set(COMPONENTS):
        return None
    info = ClusterInfo.load(layout.info)
    pki = Pki(layout.pki)
    if not _http_ok(f"{info.server}/readyz", _tls(pki)):
        return None
    return info


# long: the start order, each step with its wait, reads best in one place
def up(state_dir: Path | None = None, bin_dir: Path | None = None, timeout: float = 120) -> ClusterInfo:
    """Start the cluster, or return the one already running in `state_dir` (idempotent)."""
    layout = Layout(state_dir or default_state_dir())
    running = status(layout.state)
    if running:
        return running
    # Anything half-up from an earlier run is stopped and its data wiped: a fresh start is never a mystery.
    down(layout.state)
    for d in (layout.etcd_data, layout.pods, layout.volumes, layout.logs, layout.pids):
        shutil.rmtree(d, ignore_errors=True)
    for d in (layout.state, layout.logs, layout.pids, layout.pods, layout.volumes):
        d.mkdir(parents=True, exist_ok=True)
    b = bin_dir or find_bin_dir()
    for binary in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
        if not (b / binary).exists():
            raise ClusterError(f"{b / binary} is missing; run `bash hack/build-tools.sh` to build it")

    pki = ensure_pki(layout.pki)
    ports = choose_ports()
    info = ClusterInfo(str(layout.state), str(b), str(layout.kubeconfig), ports["apiserver"], ports)
    write_kubeconfig(layout.kubeconfig, info.server, pki)
    info.save(layout.info)  # the node runner reads it; status() still needs every component healthy
    node_ready = layout.state / "oma-node.ready"
    node_ready.unlink(missing_ok=True)

    try:
        _start(layout, "etcd", _etcd_argv(b, layout, ports))
        _wait("etcd /health", lambda: _http_ok(f"http://127.0.0.1:{ports['etcd']}/health"), layout, "etcd", timeout)
        _start(layout, "kube-apiserver", _apiserver_argv(b, layout, pki, ports))
        _wait(
            "kube-apiserver /readyz",
            lambda: _http_ok(f"{info.server}/readyz", _tls(pki)),
            layout,
            "kube-apiserver",
            timeout,
        )
        _start(layout, "kube-controller-manager", _kcm_argv(b, layout, pki, ports))
        _start(layout, "kube-scheduler", _scheduler_argv(b, layout, ports))
        _bootstrap_objects(info)
        _start(layout, "kwok", _kwok_argv(b, layout, ports))
        _start(layout, "oma-node", _node_argv(layout), env={"PYTHONPATH": os.pathsep.join(sys.path)})
        _wait(
            "kube-controller-manager /healthz",
            lambda: _http_ok(f"https://127.0.0.1:{ports['kcm']}/healthz", _insecure()),
            layout,
            "kube-controller-manager",
            timeout,
        )
        _wait(
            "kube-scheduler /healthz",
            lambda: _http_ok(f"https://127.0.0.1:{ports['scheduler']}/healthz", _insecure()),
            layout,
            "kube-scheduler",
            timeout,
        )
        _wait("kwok /healthz", lambda: _http_ok(f"http://127.0.0.1:{ports['kwok']}/healthz"), layout, "kwok", timeout)
        _wait_ready_objects(info, layout, timeout)
        _wait("the process-backed pod runner", node_ready.exists, layout, "oma-node", timeout)
    except BaseException:
        down(layout.state)
        raise
    return info
