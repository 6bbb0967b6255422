"""`down` leaves nothing of the real node on the machine: no process, container, mount, network namespace, veth,
bridge, iptables chain or rule, nft table, cgroup or fixed path it made, and the sysctls as they were.
Runs last in tests/e2e (file order), on the session's cluster after everything else used it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from oma.devcluster import cluster as devcluster
from oma.devcluster.nodeconfig import NodePaths
from oma.devcluster.nodehost import CGROUP_V1, mounts_under
from oma.devcluster.processes import ours

from .conftest import machine_snapshot

pytestmark = pytest.mark.node


def test_down_leaves_nothing_of_the_node(real_cluster: devcluster.ClusterInfo, machine_before: dict[str, Any]) -> None:
    state = Path(real_cluster.state_dir)
    layout, paths = devcluster.Layout(state), NodePaths(state)
    sysctls = {k: v for k, v in json.loads(paths.saved.read_text())["sysctls"].items()}

    devcluster.down(state)

    assert devcluster.status(state) is None
    assert [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and ours(int(p.name), layout)] == []
    assert mounts_under(state) == [], "mounts left (container rootfs, netns, volumes)"
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout)
    assert [x["ifname"] for x in links if x["ifname"] == paths.bridge or x.get("master") == paths.bridge] == []
    assert not paths.saved.exists()
    assert list(CGROUP_V1.glob(f"*/{paths.cgroup_root.lstrip('/')}")) == []
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert f"oma-{paths.tag}" not in rules, "the FORWARD guard is left"
    assert machine_snapshot() == machine_before
    for name, value in sysctls.items():
        assert (Path("/proc/sys") / name).read_text().strip() == value, name
