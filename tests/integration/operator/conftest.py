"""The operator under test: the real `oma operator` process against the local control plane."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError

from oma.devcluster import cluster as devcluster
from oma.devcluster.fixtures import claim
from oma.devcluster.operator_process import OperatorProcess
from oma.k8s.resources import VideoJobResource

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def operator(
    cluster: devcluster.ClusterInfo, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    op = OperatorProcess(
        cluster.kubeconfig, log, extra_args=["--worker-allow-private-inputs", "--worker-min-chunk-seconds", "2"]
    )
    op.start()
    yield op
    op.stop()


@pytest.fixture
def media_pvc(kube: Client, namespace: str) -> str:
    kube.create(from_dict(claim("media")), namespace=namespace)
    return "media"


@pytest.fixture(scope="session")
def stalling_server() -> Iterator[str]:
    """An HTTP address that accepts connections and never answers: a worker stays busy without using CPU."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/stalled.mp4"
    stop.set()
    t.join(timeout=5)
    for c in held:
        c.close()
    srv.close()


def videojob(name: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "inputs": [{"titleCard": {"text": name, "durationSeconds": 2, "width": 320, "height": 240, "fps": 10}}],
        "outputs": {"mp4": [{"name": "out", "width": 320, "height": 240, "preset": "ultrafast"}]},
        "destination": {"claimName": "media", "pathPrefix": name},
    }
    base.update(spec)
    return {"apiVersion": "video.oma.ai/v1alpha1", "kind": "VideoJob", "metadata": {"name": name}, "spec": base}


def get_vj(kube: Client, ns: str, name: str) -> dict[str, Any]:
    return kube.get(VideoJobResource, name, namespace=ns).to_dict()  # type: ignore[no-any-return]


def phase_is(kube: Client, ns: str, name: str, *phases: str) -> dict[str, Any] | None:
    try:
        vj = get_vj(kube, ns, name)
    except ApiError:
        return None
    return vj if (vj.get("status") or {}).get("phase") in phases else None


def example(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "examples" / name).read_text())  # type: ignore[no-any-return]
