"""What the real node changes on the machine, and how `down` takes each change back.

The bridge, the FORWARD guard, cgroups, mounts, sysctls and the fixed paths containerd and the kubelet use
regardless of their configuration. Before the node starts, the machine's state is saved under the state dir
(`NodePaths.saved`); teardown removes only what did not exist then. Needs root.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from .errors import ClusterError
from .nodeconfig import KUBELET_SYSCTLS, NodePaths, PodNetwork

CGROUP_V1 = Path("/sys/fs/cgroup")
# Paths containerd's shims, the CNI plugins and the kubelet use whatever they are told.
FIXED_PATHS = (
    "/run/containerd",
    "/var/lib/cni",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/kubelet",
    "/opt/cni",
)
# Chains the kubelet and kube-proxy make; none exists before a real node starts (checked by `claim_machine`).
KUBE_CHAIN_PREFIX = "KUBE-"


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name


def nft_tables() -> list[str]:
    out = run("nft", "list", "tables", check=False).stdout
    return sorted(line.removeprefix("table ").strip() for line in out.splitlines() if line.startswith("table "))


def kube_chains() -> list[str]:
    """`<family> <table> <chain>` of every KUBE-* chain on the machine (IPv4 and IPv6)."""
    found = []
    for family, save in (("ip", "iptables-save"), ("ip6", "ip6tables-save")):
        table = ""
        for line in run(save, check=False).stdout.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":" + KUBE_CHAIN_PREFIX):
                found.append(f"{family} {table} {line[1:].split()[0]}")
    return found


def claim_machine(paths: NodePaths) -> None:
    """Refuse a second real node: kube-proxy's and the kubelet's iptables chains have fixed names."""
    if os.geteuid() != 0:
        raise ClusterError("the real node needs root (containerd, the kubelet, iptables, a bridge); run as root")
    if paths.saved.exists():
        return
    chains = kube_chains()
    if chains:
        raise ClusterError(
            "another real node seems to run on this machine (iptables chains "
            f"{', '.join(chains[:3])} exist): only one can, since kube-proxy's chain names are fixed. "
            "Stop it with `python -m oma.devcluster --state-dir <its dir> down`."
        )
    paths.root.mkdir(parents=True, exist_ok=True)
    saved = {
        "sysctls": {n: _sysctl_path(n).read_text().strip() for n in (*KUBELET_SYSCTLS, "net/ipv4/ip_forward")},
        "paths": [p for p in FIXED_PATHS if Path(p).exists()],
        "nft_tables": nft_tables(),
        "cgroups": [str(d) for d in CGROUP_V1.glob("*/k8s.io")],
    }
    paths.saved.write_text(json.dumps(saved, indent=2) + "\n")


def routed_networks() -> list[ipaddress.IPv4Network]:
    routes = json.loads(run("ip", "-j", "-4", "route", "show", "table", "all").stdout or "[]")
    nets = []
    for r in routes:
        dst = r.get("dst", "")
        if dst and dst != "default":
            with contextlib.suppress(ValueError):
                nets.append(ipaddress.IPv4Network(dst, strict=False))
    return nets


def _guard_rule(paths: NodePaths) -> list[str]:
    comment = f"oma-{paths.tag}: pod traffic stays on this machine"
    return ["FORWARD", "-i", paths.bridge, "!", "-o", paths.bridge, "-m", "comment", "--comment", comment, "-j", "DROP"]


def network_up(paths: NodePaths, net: PodNetwork) -> None:
    """The pod bridge with its gateway address (the kubelet checks --node-ip exists), and the FORWARD guard."""
    if run("ip", "link", "show", paths.bridge, check=False).returncode != 0:
        run("ip", "link", "add", paths.bridge, "type", "bridge")
    run("ip", "addr", "replace", f"{net.gateway}/{net.subnet.prefixlen}", "dev", paths.bridge)
    run("ip", "link", "set", paths.bridge, "up")
    if run("iptables", "-C", *_guard_rule(paths), check=False).returncode != 0:
        run("iptables", "-I", *_guard_rule(paths))


def make_cgroup_root(paths: NodePaths) -> None:
    """The kubelet's cgroupRoot in every v1 hierarchy (it refuses to start without it)."""
    for hierarchy in CGROUP_V1.iterdir():
        if hierarchy.name == "unified" or not hierarchy.is_dir():
            continue
        d = hierarchy / paths.cgroup_root.lstrip("/")
        d.mkdir(exist_ok=True)
        if hierarchy.name.startswith("cpuset"):  # a new cpuset has no CPUs or memory nodes until given some
            for f in ("cpuset.cpus", "cpuset.mems"):
                (d / f).write_text((hierarchy / f).read_text())


def _cgroup_dirs(paths: NodePaths) -> list[Path]:
    """Every cgroup of the node, deepest first."""
    found: list[Path] = []
    for hierarchy in CGROUP_V1.iterdir():
        root = hierarchy / paths.cgroup_root.lstrip("/")
        # os.walk, not rglob: cgroups vanish while we walk (runc removes a container's as it exits).
        found.extend(Path(d) for d, _, _ in os.walk(root))
    return sorted(found, key=lambda d: len(d.parts), reverse=True)


def kill_cgroup_processes(paths: NodePaths, timeout: float = 15) -> None:
    """SIGKILL every process in the node's cgroups (containers and sandboxes) and wait until they are gone."""
    deadline = time.monotonic() + timeout
    while True:
        pids: set[int] = set()
        for d in _cgroup_dirs(paths):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        if not pids:
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"processes {sorted(pids)} in {paths.cgroup_root} did not die after SIGKILL")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below `root`, deepest first (from /proc/self/mountinfo)."""
    prefix = str(root.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def unmount_all(root: Path) -> None:
    for _ in range(3):  # a mount can hide another at the same point
        points = mounts_under(root)
        if not points:
            return
        for point in points:
            if run("umount", point, check=False).returncode != 0:
                run("umount", "-l", point, check=False)
    if mounts_under(root):
        raise ClusterError(f"mounts remain under {root}: {mounts_under(root)}")


def veths_on(bridge: str) -> list[str]:
    links = json.loads(run("ip", "-j", "link", "show", "master", bridge, check=False).stdout or "[]")
    return [str(link["ifname"]) for link in links]


def _delete_kube_chains() -> None:
    for family, cmd in (("ip", "iptables"), ("ip6", "ip6tables")):
        chains = [c.split()[1:] for c in kube_chains() if c.startswith(family + " ")]
        tables = sorted({t for t, _ in chains})
        for table in tables:
            # Rules of the built-in chains that jump to KUBE-* go first, then the chains themselves.
            for line in run(f"{cmd}-save", "-t", table, check=False).stdout.splitlines():
                if line.startswith("-A ") and f"-j {KUBE_CHAIN_PREFIX}" in line:
                    chain = line.split()[1]
                    if not chain.startswith(KUBE_CHAIN_PREFIX):
                        run(cmd, "-t", table, "-D", *line.split()[1:], check=False)
            mine = [c for t, c in chains if t == table]
            for chain in mine:
                run(cmd, "-t", table, "-F", chain, check=False)
            for chain in mine:
                run(cmd, "-t", table, "-X", chain, check=False)


def restore_machine(paths: NodePaths) -> None:
    """Take back every machine-wide change the node made (bridge, guard, chains, sysctls, cgroups, paths)."""
    for veth in veths_on(paths.bridge):
        run("ip", "link", "del", veth, check=False)
    run("ip", "link", "del", paths.bridge, check=False)
    while run("iptables", "-D", *_guard_rule(paths), check=False).returncode == 0:
        pass
    if not paths.saved.exists():
        return
    saved = json.loads(paths.saved.read_text())
    _delete_kube_chains()
    for table in nft_tables():
        if table not in saved["nft_tables"]:  # iptables-nft made it for the node's rules; they are gone now
            run("nft", "delete", "table", *table.split(), check=False)
    for name, value in saved["sysctls"].items():
        with contextlib.suppress(OSError):
            if _sysctl_path(name).read_text().strip() != value:
                _sysctl_path(name).write_text(value + "\n")
    for d in _cgroup_dirs(paths):
        with contextlib.suppress(OSError):
            d.rmdir()
    for d in CGROUP_V1.glob("*/k8s.io"):
        if str(d) not in saved["cgroups"]:
            for sub in sorted((Path(s) for s, _, _ in os.walk(d)), key=lambda s: len(s.parts), reverse=True):
                with contextlib.suppress(OSError):
                    sub.rmdir()
            with contextlib.suppress(OSError):
                d.rmdir()
    for p in FIXED_PATHS:
        if p not in saved["paths"]:
            run("rm", "-rf", "--one-file-system", p, check=False)
    paths.saved.unlink()
