"""The real local control plane for integration tests: brought up once per session (or reused if running)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Namespace

from oma.devcluster import cluster as devcluster
from oma.devcluster import fixtures
from oma.devcluster.fixtures import claim
from oma.devcluster.operator_process import OperatorProcess
from oma.devservices import LocalPostgres, LocalRedis, wait_for

REPO = Path(__file__).resolve().parents[2]
__all__ = ["wait_for"]  # the tests import it from here


@pytest.fixture(scope="session")
def cluster() -> Iterator[devcluster.ClusterInfo]:
    state = Path(os.environ.get("OMA_CLUSTER_DIR") or devcluster.default_state_dir())
    already = devcluster.status(state)
    info = already or devcluster.up(state)
    yield info
    if already is None and not os.environ.get("OMA_KEEP_CLUSTER"):
        devcluster.down(state)


@pytest.fixture(scope="session")
def kube(cluster: devcluster.ClusterInfo) -> Client:
    return Client(KubeConfig.from_file(cluster.kubeconfig), field_manager="oma-tests")


@pytest.fixture(scope="session")
def crds(cluster: devcluster.ClusterInfo) -> None:
    fixtures.install_crds(cluster.kubeconfig)


@pytest.fixture
def make_namespace(kube: Client) -> Iterator[Callable[[str], str]]:
    """Fresh namespaces (`prefix-xxxxxx`), deleted after the test (the real namespace controller finishes)."""
    created: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix[:40].strip('-')}-{uuid.uuid4().hex[:6]}"
        kube.create(Namespace(metadata=ObjectMeta(name=name, labels={"oma.dev/test": "true"})))
        created.append(name)
        return name

    yield make
    fixtures.delete_namespaces(kube, *created)


@pytest.fixture
def namespace(make_namespace: Callable[[str], str], request: pytest.FixtureRequest) -> str:
    """A fresh namespace named after the test."""
    return make_namespace(request.node.name.lower().replace("_", "-"))


@pytest.fixture
def prometheus_operator_crds(kube: Client, cluster: devcluster.ClusterInfo) -> Iterator[None]:
    """prometheus-operator's own CRDs (from its Go module), removed again (and waited for) afterwards."""
    script = REPO / "hack" / "fetch-prometheus-operator-crds.sh"
    out = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True, check=True)
    crds = [yaml.safe_load(p.read_text()) for p in sorted(Path(out.stdout.strip().splitlines()[-1]).glob("*.yaml"))]
    names = [crd["metadata"]["name"] for crd in crds]

    def terminating_or_gone(name: str) -> str | None:
        try:
            crd = kube.get(CustomResourceDefinition, name)
        except ApiError as e:
            return "gone" if e.status.code == 404 else None
        return "terminating" if crd.metadata.deletionTimestamp else None

    def gone(name: str) -> bool:
        return terminating_or_gone(name) == "gone"

    # Applying over a CRD that is still being deleted would "succeed" and then vanish.
    for name in names:
        if terminating_or_gone(name) == "terminating":
            wait_for(f"{name} to finish terminating", lambda name=name: gone(name))
    for crd in crds:
        kube.apply(from_dict(crd), field_manager="oma-tests", force=True)
    for name in names:
        wait_for(
            f"{name} Established",
            lambda name=name: any(
                c.type == "Established" and c.status == "True"
                for c in (kube.get(CustomResourceDefinition, name).status.conditions or [])
            ),
        )
    yield
    for name in names:
        kube.delete(CustomResourceDefinition, name)
    for name in names:
        wait_for(f"{name} deleted", lambda name=name: gone(name))


@pytest.fixture
def no_session_operators() -> Iterator[None]:
    """Stop the operators this test session started (they watch every namespace), so the operators a test
    runs itself are the only ones acting; start them again afterwards."""
    paused = OperatorProcess.running()
    for op in paused:
        op.stop()
    yield
    for op in paused:
        op.start()


@pytest.fixture
def postgres() -> Iterator[LocalPostgres]:
    """A Postgres server of its own (a test may stop, restart or reconfigure it), removed after the test."""
    pg = LocalPostgres().init()
    yield pg
    pg.destroy()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    """One Postgres for the session; tests that only need an empty database take `postgres_db`."""
    pg = LocalPostgres().init()
    yield pg
    pg.destroy()


@pytest.fixture
def postgres_db(postgres_server: LocalPostgres) -> LocalPostgres:
    """A fresh, empty database on the session's server (its handle cannot stop the server)."""
    return postgres_server.new_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[LocalRedis]:
    server = LocalRedis(tmp_path / "redis").start()
    yield server
    server.stop()


# --- the operator, shared by the operator and dashboard tests -------------------------------------------------
# Defined once here: a conftest that imports a session fixture from another defines a second one, and two
# session operators then share one Lease, so the one a test scrapes may be the standby.


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
