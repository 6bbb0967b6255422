"""cluster-up is idempotent and recovers from a half-dead cluster; cluster-down leaves no process behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from oma.devcluster import cluster as devcluster

from ..conftest import wait_for

pytestmark = pytest.mark.cluster


def marked_processes(state: Path) -> list[int]:
    marker = f"{devcluster.STATE_ENV}={state}\0".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "environ").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def test_up_is_idempotent_recovers_and_down_leaves_nothing(tmp_path: Path, cluster: devcluster.ClusterInfo) -> None:
    state = tmp_path / "second"
    bin_dir = Path(cluster.bin_dir)
    first = devcluster.up(state, bin_dir=bin_dir)
    again = devcluster.up(state, bin_dir=bin_dir)
    assert again.ports == first.ports, "a healthy cluster is reused, not restarted"

    # Kill one component: the next `up` notices, cleans up and starts a working cluster again.
    layout = devcluster.Layout(state)
    os.kill(int(layout.pidfile("kube-scheduler").read_text()), signal.SIGKILL)
    wait_for("the scheduler to die", lambda: devcluster.status(state) is None, timeout=10)
    recovered = devcluster.up(state, bin_dir=bin_dir)
    assert devcluster.status(state) == recovered
    assert recovered.ports != first.ports

    stopped = devcluster.down(state)
    assert set(stopped) == set(devcluster.COMPONENTS)
    wait_for("no process of the second cluster to remain", lambda: not marked_processes(state), timeout=10)
    assert devcluster.status(state) is None
