"""Markers say what a test needs. Everything under tests/unit needs only Python (`-m unit`); every test under
tests/integration names the real component it uses, and fails with the command to install it when it is missing,
so a green run never hides a skipped component."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
NEEDS = {
    "cluster": "the local control plane (make cluster-up builds and starts it)",
    "ffmpeg": "Debian's ffmpeg and ffprobe (make deps)",
    "services": "Debian's PostgreSQL and Redis servers (make deps)",
    "tools": "the Go-built tools in ~/.cache/oma (make tools)",
    "promtool": "promtool from Debian's prometheus package (make deps)",
    "linters": "kubeconform, kube-score and Kubernetes' JSON schemas from hack/build-linters.sh (make linters)",
    "browser": "Debian's Chromium at /usr/bin/chromium, driven by Playwright (make deps)",
    "node": "the real node: root, kubelet + containerd from hack/build-node.sh, images from hack/build-images.sh",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        top = item.path.relative_to(TESTS).parts[0]
        if top == "unit":
            item.add_marker(pytest.mark.unit)
            continue
        if top == "e2e":
            item.add_marker(pytest.mark.e2e)
            if not item.get_closest_marker("node"):
                raise pytest.UsageError(f"{item.nodeid}: an e2e test must be marked `node` (it runs on the real node)")
            continue
        item.add_marker(pytest.mark.integration)
        if not any(item.get_closest_marker(n) for n in NEEDS):
            raise pytest.UsageError(f"{item.nodeid}: an integration test must be marked with what it needs: {NEEDS}")


def _missing(marker: str) -> str | None:
    if marker == "ffmpeg":
        return None if shutil.which("ffmpeg") and shutil.which("ffprobe") else "ffmpeg/ffprobe not on PATH"
    if marker == "services":
        pg = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
        return None if pg and shutil.which("redis-server") else "postgres or redis-server not installed"
    if marker == "browser":
        return None if Path("/usr/bin/chromium").exists() else "/usr/bin/chromium not installed"
    if marker == "promtool":
        return None if shutil.which("promtool") else "promtool not on PATH"
    if marker == "linters":
        return None if shutil.which("go") or Path("/usr/local/go/bin/go").exists() else "Go is not installed"
    if marker == "node":
        return None if os.geteuid() == 0 else "not root (containerd, the kubelet and iptables need it)"
    if marker == "tools":
        from oma.devcluster.cluster import ClusterError, find_bin_dir

        try:
            find_bin_dir()
        except ClusterError as e:
            return str(e)
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in ("ffmpeg", "services", "tools", "browser", "node", "promtool", "linters"):
        if item.get_closest_marker(marker) and (why := _missing(marker)):
            pytest.fail(f"needs {NEEDS[marker]}: {why}", pytrace=False)
