"""The real node: containerd, a kubelet registered as `oma-node`, kube-proxy and the CoreDNS add-on.

`cluster.up(node="real")` calls `prepare` before the control plane starts (the bridge must exist: the
apiserver advertises its gateway address for the `kubernetes` Service) and `start` once it is healthy;
`cluster.down` calls `stop`. Binaries come from hack/build-node.sh, images from hack/build-images.sh (imported
into containerd's k8s.io namespace, never pulled). Settings and their reasons: docs/decisions.md.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path

import yaml
from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Node

from . import nodehost
from .components import REPO_ROOT
from .errors import ClusterError
from .layout import ClusterInfo, Layout
from .nodeconfig import (
    REAL_NODE,
    NodePaths,
    PodNetwork,
    cni_conflist,
    containerd_config,
    coredns_manifests,
    kube_proxy_config,
    kubelet_config,
)
from .pki import Pki, issue_from_ca
from .ports import free_port
from .processes import running_pid, start, stop, wait_until

NODE_COMPONENTS = ("containerd", "kubelet", "kube-proxy")
NODE_BINARIES = ("containerd", "containerd-shim-runc-v2", "ctr", "kubelet", "kube-proxy")


def _script_output(script: str, *args: str) -> str:
    out = subprocess.run(["bash", str(REPO_ROOT / "hack" / script), *args], stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise ClusterError(f"hack/{script} {' '.join(args)} failed (exit {out.returncode}); its messages above say why")
    return out.stdout


def node_bin_dir() -> Path:
    """$OMA_NODE_BIN_DIR, or what hack/build-node.sh reports (building if needed)."""
    env = os.environ.get("OMA_NODE_BIN_DIR")
    return Path(env) if env else Path(_script_output("build-node.sh").strip().splitlines()[-1])


def built_images(*names: str) -> dict[str, tuple[str, Path]]:
    """name -> (reference, OCI archive) from hack/build-images.sh (cached by content; builds what is missing)."""
    found = {}
    for line in _script_output("build-images.sh", *names).splitlines():
        parts = line.split()
        if len(parts) == 3:
            found[parts[0]] = (parts[1], Path(parts[2]))
    return found


def ctr(paths: NodePaths, bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # ctr wants an absolute socket path ("invalid (non-empty) authority" otherwise).
    argv = [str(bin_dir / "ctr"), "--address", str(paths.containerd_sock.resolve()), "--namespace", "k8s.io", *args]
    return subprocess.run(argv, capture_output=True, text=True)


def import_images(layout: Layout, archives: list[Path]) -> None:
    """Import OCI archives into the running node's containerd (the archive's ref name becomes the image name)."""
    paths, bin_dir = NodePaths(layout.state), node_bin_dir()
    for archive in archives:
        out = ctr(paths, bin_dir, "images", "import", "--no-unpack=false", str(archive))
        if out.returncode != 0:
            raise ClusterError(f"ctr images import {archive} failed: {out.stderr.strip()}")


def prepare(layout: Layout) -> PodNetwork:
    """Claim the machine (one real node at a time), save what teardown restores, and bring the bridge up."""
    paths = NodePaths(layout.state)
    nodehost.claim_machine(paths)
    net_file = paths.root / "network.json"
    if net_file.exists():
        net = PodNetwork(ipaddress.IPv4Network(json.loads(net_file.read_text())["subnet"]))
    else:
        net = PodNetwork.for_tag(paths.tag, nodehost.routed_networks())
        net_file.write_text(json.dumps({"subnet": str(net.subnet)}) + "\n")
    nodehost.network_up(paths, net)
    nodehost.make_cgroup_root(paths)
    return net


def _write_identity(layout: Layout, paths: NodePaths, pki: Pki, net: PodNetwork, server: str) -> None:
    d = paths.root / "pki"
    issue_from_ca(pki, d / "kubelet.crt", d / "kubelet.key", f"system:node:{REAL_NODE}", "system:nodes")
    names = [REAL_NODE, net.gateway, "127.0.0.1"]
    issue_from_ca(pki, d / "kubelet-serving.crt", d / "kubelet-serving.key", REAL_NODE, server_names=names)
    issue_from_ca(pki, d / "kube-proxy.crt", d / "kube-proxy.key", "system:kube-proxy")
    for who in ("kubelet", "kube-proxy"):
        _kubeconfig(paths.root / f"{who}.kubeconfig", server, pki.ca_crt, d / f"{who}.crt", d / f"{who}.key")


def _kubeconfig(path: Path, server: str, ca: Path, crt: Path, key: Path) -> None:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "oma", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": "node", "user": {"client-certificate": str(crt), "client-key": str(key)}}],
        "contexts": [{"name": "oma", "context": {"cluster": "oma", "user": "node"}}],
        "current-context": "oma",
    }
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    path.chmod(0o600)


# long: the start-up sequence reads best in one place, each step with its wait
def start_node(layout: Layout, info: ClusterInfo, pki: Pki, net: PodNetwork, timeout: float) -> None:
    """containerd, then the kubelet (wait for the node Ready), kube-proxy, and the CoreDNS add-on."""
    paths, b = NodePaths(layout.state), node_bin_dir()
    for binary in NODE_BINARIES:
        if not (b / binary).exists():
            raise ClusterError(f"{b / binary} is missing; run `bash hack/build-node.sh`")
    images = built_images("pause", "coredns")
    for d in (paths.cni_conf_dir, paths.kubelet_dir, paths.pod_logs):
        d.mkdir(parents=True, exist_ok=True)
    _write_identity(layout, paths, pki, net, info.server)
    paths.containerd_config.write_text(containerd_config(paths, images["pause"][0]))
    (paths.cni_conf_dir / "10-oma.conflist").write_text(cni_conflist(paths, net))

    # The shim is found on containerd's PATH; runc and the CNI plugins come from Debian.
    env = {"PATH": f"{b}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"}
    start(layout, "containerd", [str(b / "containerd"), f"--config={paths.containerd_config}"], env=env)
    wait_until(
        "containerd's socket",
        lambda: ctr(paths, b, "version").returncode == 0,
        layout,
        "containerd",
        timeout,
    )
    for ref, archive in images.values():
        out = ctr(paths, b, "images", "import", str(archive))
        if out.returncode != 0:
            raise ClusterError(f"ctr images import {archive} ({ref}) failed: {out.stderr.strip()}")

    kubelet_cfg = paths.root / "kubelet.yaml"
    kubelet_cfg.write_text(kubelet_config(paths, net, pki.ca_crt))
    kubelet = [
        str(b / "kubelet"),
        f"--config={kubelet_cfg}",
        f"--kubeconfig={paths.root / 'kubelet.kubeconfig'}",
        f"--hostname-override={REAL_NODE}",
        f"--node-ip={net.gateway}",
        f"--root-dir={paths.kubelet_dir}",
        f"--cert-dir={paths.root / 'pki'}",
        "--v=1",
    ]
    start(layout, "kubelet", kubelet, env=env)
    client = Client(KubeConfig.from_file(info.kubeconfig), field_manager="oma-devcluster")
    wait_until(f"node {REAL_NODE} Ready", lambda: _node_ready(client), layout, "kubelet", timeout)

    ports = {"kube-proxy-healthz": free_port(), "kube-proxy-metrics": free_port()}
    info.ports.update(ports)
    info.save(layout.info)
    proxy_cfg = paths.root / "kube-proxy.yaml"
    proxy_cfg.write_text(kube_proxy_config(paths, net, paths.root / "kube-proxy.kubeconfig", ports))
    start(layout, "kube-proxy", [str(b / "kube-proxy"), f"--config={proxy_cfg}", "--v=1"], env=env)
    wait_until(
        "kube-proxy /healthz",
        lambda: _http_ok(f"http://127.0.0.1:{ports['kube-proxy-healthz']}/healthz"),
        layout,
        "kube-proxy",
        timeout,
    )

    for obj in coredns_manifests(images["coredns"][0]):
        client.apply(from_dict(obj), force=True)
    wait_until("the CoreDNS add-on available", lambda: _coredns_available(client), layout, "kubelet", timeout)


def _node_ready(client: Client) -> bool:
    try:
        node = client.get(Node, REAL_NODE)
    except Exception:  # not registered yet
        return False
    conds = {c.type: c.status for c in (node.status.conditions or [])} if node.status else {}
    return conds.get("Ready") == "True"


def _coredns_available(client: Client) -> bool:
    dep = client.get(Deployment, "coredns", namespace="kube-system")
    return bool(dep.status and (dep.status.availableReplicas or 0) >= 1)


def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (local URL)
            return bool(resp.status == 200)
    except OSError:
        return False


def stop_node(layout: Layout) -> list[str]:
    """Stop the node and take back what it changed on the machine; safe to call when nothing runs."""
    paths = NodePaths(layout.state)
    stopped = []
    for component in ("kubelet", "kube-proxy"):
        pid = running_pid(layout, component)
        if pid:
            stop(pid, grace=10)
            stopped.append(component)
        layout.pidfile(component).unlink(missing_ok=True)
    nodehost.kill_cgroup_processes(paths)
    pid = running_pid(layout, "containerd")
    if pid:
        stop(pid, grace=10)
        stopped.append("containerd")
    layout.pidfile("containerd").unlink(missing_ok=True)
    _kube_proxy_cleanup(layout)
    return stopped


def _kube_proxy_cleanup(layout: Layout) -> None:
    """`kube-proxy --cleanup` removes its iptables rules (when the binary is at hand)."""
    cfg = NodePaths(layout.state).root / "kube-proxy.yaml"
    env = os.environ.get("OMA_NODE_BIN_DIR")
    candidates = [Path(env)] if env else sorted(_cache_dirs())
    for d in candidates:
        if (d / "kube-proxy").exists() and cfg.exists():
            subprocess.run([str(d / "kube-proxy"), f"--config={cfg}", "--cleanup"], capture_output=True)
            return


def _cache_dirs() -> list[Path]:
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache = Path(os.environ.get("OMA_CACHE") or xdg / "oma")
    return [d / "bin" for d in cache.glob("node-*")]


def finish_teardown(layout: Layout) -> None:
    """After every process is gone: mounts, bridge, chains, sysctls, cgroups and fixed paths."""
    paths = NodePaths(layout.state)
    nodehost.unmount_all(layout.state)
    nodehost.restore_machine(paths)
