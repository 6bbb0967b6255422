"""Where one local cluster lives and what it tells its clients.

Everything of a cluster sits in one state directory (PKI, kubeconfig, etcd data, per-component logs and pid
files, pod and volume directories); `cluster.json` in it is what tests and tools read to reuse a running
cluster. The names every part agrees on (its two nodes, the taint, the default StorageClass) live here too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

PROCESS_NODE = "oma-local"
FAKE_NODE = "kwok-node-0"
PROCESS_TAINT_KEY = "oma.dev/process-backed"
STORAGE_CLASS = "standard"
PROVISIONER = "oma.dev/local-dir"


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

    @property
    def node_ready(self) -> Path:
        """Written by the node runner once it has listed its pods; `up` waits for it."""
        return self.state / "oma-node.ready"

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
    # "process": KWOK's simulated node and the process-backed one; "real": kubelet + containerd (`oma-node`).
    node: str = "process"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @classmethod
    def load(cls, path: Path) -> ClusterInfo:
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n")
