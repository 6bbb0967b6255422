"""Bring a real Kubernetes control plane up and down as local processes: `up`, `down`, `status`, and one
component at a time (`stop_component`, `start_component`) for tests of the control plane's bad days.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the kwok controller run from binaries that
hack/build-tools.sh built; `oma.devcluster.node` runs pods scheduled to the `oma-local` node as local
processes. Everything lives in one state directory (layout.py). This module is also the public face of the
package: callers use `cluster.up()`, `cluster.Layout`, `cluster.PROCESS_TAINT_KEY`, ... from here.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from . import realnode
from .bootstrap import create_bootstrap_objects, wait_bootstrap_ready
from .components import (
    COMPONENTS,
    apiserver_argv,
    component_env,
    etcd_argv,
    find_bin_dir,
    health_description,
    healthy,
    kcm_argv,
    kwok_argv,
    node_argv,
    node_env,
    require_binaries,
    scheduler_argv,
    write_kubeconfig,
)
from .errors import ClusterError
from .layout import (
    FAKE_NODE,
    PROCESS_NODE,
    PROCESS_TAINT_KEY,
    PROVISIONER,
    STORAGE_CLASS,
    ClusterInfo,
    Layout,
    default_state_dir,
)
from .pki import Pki, ensure_pki
from .ports import choose_ports
from .processes import STATE_ENV, kill_strays, running_pid, start, stop, wait_until

__all__ = [
    "COMPONENTS",
    "FAKE_NODE",
    "PROCESS_NODE",
    "PROCESS_TAINT_KEY",
    "PROVISIONER",
    "STATE_ENV",
    "STORAGE_CLASS",
    "ClusterError",
    "ClusterInfo",
    "Layout",
    "default_state_dir",
    "down",
    "find_bin_dir",
    "running_components",
    "start_component",
    "status",
    "stop_component",
    "up",
]


def components_of(layout: Layout) -> tuple[str, ...]:
    """The control plane's components, plus the real node's when the cluster in `layout` has one."""
    if layout.info.exists() and ClusterInfo.load(layout.info).node == "real":
        return (*COMPONENTS, *realnode.NODE_COMPONENTS)
    return COMPONENTS


def running_components(layout: Layout) -> dict[str, int]:
    found = {}
    for c in components_of(layout):
        pid = running_pid(layout, c)
        if pid:
            found[c] = pid
    return found


def status(state_dir: Path | None = None) -> ClusterInfo | None:
    """The running cluster in `state_dir`, or None when it is not (entirely) up and healthy."""
    layout = Layout(state_dir or default_state_dir())
    if not layout.info.exists():
        return None
    if set(running_components(layout)) != set(components_of(layout)):
        return None
    info = ClusterInfo.load(layout.info)
    if not healthy("kube-apiserver", info, Pki(layout.pki)):
        return None
    return info


def down(state_dir: Path | None = None) -> list[str]:
    """Stop every component of the cluster in `state_dir`; returns the names of those that were running."""
    layout = Layout(state_dir or default_state_dir())
    # The real node first (its pods, kubelet, kube-proxy, containerd), while the apiserver still answers.
    stopped = realnode.stop_node(layout)
    # The node runner next, so its pods' processes end with it; etcd last.
    for c in reversed(COMPONENTS):
        pid = running_pid(layout, c)
        if pid:
            stop(pid, grace=10 if c == "oma-node" else 5)
            stopped.append(c)
        layout.pidfile(c).unlink(missing_ok=True)
    kill_strays(layout)
    realnode.finish_teardown(layout)
    return stopped


def up(
    state_dir: Path | None = None, bin_dir: Path | None = None, timeout: float = 120, node: str = "process"
) -> ClusterInfo:
    """Start the cluster, or return the one already running in `state_dir` (idempotent).

    `node`: "process" (KWOK's simulated node and the process-backed `oma-local`) or "real" (kubelet +
    containerd as `oma-node`, root only). A running cluster of the other kind is stopped and started afresh."""
    if node not in ("process", "real"):
        raise ClusterError(f"unknown node mode {node!r}: choose process or real")
    layout = Layout(state_dir or default_state_dir())
    running = status(layout.state)
    if running and running.node == node:
        return running
    _start_afresh(layout)
    b = bin_dir or find_bin_dir()
    require_binaries(b)

    pki = ensure_pki(layout.pki)
    ports = choose_ports()
    info = ClusterInfo(str(layout.state), str(b), str(layout.kubeconfig), ports["apiserver"], ports, node)
    write_kubeconfig(layout.kubeconfig, info.server, pki)
    info.save(layout.info)  # the node runner reads it; status() still needs every component healthy
    layout.node_ready.unlink(missing_ok=True)
    try:
        net = realnode.prepare(layout) if node == "real" else None
        _start_components(layout, info, pki, timeout, net.gateway if net else None)
        if net:
            realnode.start_node(layout, info, pki, net, timeout)
    except BaseException:
        down(layout.state)
        raise
    return info


def _start_afresh(layout: Layout) -> None:
    # Anything half-up from an earlier run is stopped and its data wiped: a fresh start is never a mystery.
    down(layout.state)
    for d in (layout.etcd_data, layout.pods, layout.volumes, layout.logs, layout.pids):
        shutil.rmtree(d, ignore_errors=True)
    for d in (layout.state, layout.logs, layout.pids, layout.pods, layout.volumes):
        d.mkdir(parents=True, exist_ok=True)


# What `stop_component`/`start_component` may touch: the control plane, for tests of its bad days.
RESTARTABLE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def _component_argv(component: str, layout: Layout, info: ClusterInfo, pki: Pki) -> list[str]:
    b, ports = Path(info.bin_dir), info.ports
    return {
        "etcd": lambda: etcd_argv(b, layout, ports),
        "kube-apiserver": lambda: apiserver_argv(b, layout, pki, ports, _advertised(layout, info)),
        "kube-controller-manager": lambda: kcm_argv(b, layout, pki, ports),
        "kube-scheduler": lambda: scheduler_argv(b, layout, ports),
        "kwok": lambda: kwok_argv(b, layout, ports),
    }[component]()


def _advertised(layout: Layout, info: ClusterInfo) -> str | None:
    return realnode.prepare(layout).gateway if info.node == "real" else None


def stop_component(component: str, state_dir: Path | None = None) -> bool:
    """Stop one control-plane component of a running cluster (SIGTERM, then SIGKILL); False if it was not up."""
    if component not in RESTARTABLE:
        raise ClusterError(f"{component} cannot be stopped alone; choose one of {', '.join(RESTARTABLE)}")
    layout = Layout(state_dir or default_state_dir())
    pid = running_pid(layout, component)
    if pid is None:
        return False
    stop(pid, grace=10)
    return True


def start_component(component: str, state_dir: Path | None = None, timeout: float = 120) -> None:
    """Start a stopped component again with the same flags, ports and data, and wait until it is healthy."""
    if component not in RESTARTABLE:
        raise ClusterError(f"{component} cannot be started alone; choose one of {', '.join(RESTARTABLE)}")
    layout = Layout(state_dir or default_state_dir())
    if not layout.info.exists():
        raise ClusterError(f"no cluster in {layout.state}: run `python -m oma.devcluster up` first")
    info, pki = ClusterInfo.load(layout.info), Pki(layout.pki)
    if running_pid(layout, component) is None:
        start(layout, component, _component_argv(component, layout, info, pki), env=component_env(component))
    check = functools.partial(healthy, component, info, pki)
    wait_until(health_description(component, info), check, layout, component, timeout)


def _start_components(layout: Layout, info: ClusterInfo, pki: Pki, timeout: float, advertise: str | None) -> None:
    b, ports = Path(info.bin_dir), info.ports

    def wait_healthy(component: str) -> None:
        check = functools.partial(healthy, component, info, pki)
        wait_until(health_description(component, info), check, layout, component, timeout)

    start(layout, "etcd", etcd_argv(b, layout, ports))
    wait_healthy("etcd")
    apiserver = apiserver_argv(b, layout, pki, ports, advertise)
    start(layout, "kube-apiserver", apiserver, env=component_env("kube-apiserver"))
    wait_healthy("kube-apiserver")
    start(layout, "kube-controller-manager", kcm_argv(b, layout, pki, ports))
    start(layout, "kube-scheduler", scheduler_argv(b, layout, ports))
    create_bootstrap_objects(info, fake_nodes=advertise is None)
    start(layout, "kwok", kwok_argv(b, layout, ports))
    start(layout, "oma-node", node_argv(layout), env=node_env())
    for component in ("kube-controller-manager", "kube-scheduler", "kwok"):
        wait_healthy(component)
    wait_bootstrap_ready(info, layout, timeout, fake_nodes=advertise is None)
    wait_until("the process-backed pod runner", layout.node_ready.exists, layout, "oma-node", timeout)
