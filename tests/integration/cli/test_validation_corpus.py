"""One validator: `oma run` accepts exactly the manifests the apiserver accepts (kubectl's server-side dry run,
with kubectl's default strict field validation), over a corpus of valid and invalid VideoJobs."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from oma.cli.main import load
from oma.devcluster.cluster import ClusterInfo
from oma.worker.exitcodes import WorkerError

CORPUS = Path(__file__).with_name("videojob_corpus.yaml")
DOCUMENTS = CORPUS.read_text().split("\n---\n")

pytestmark = pytest.mark.cluster


def name_of(document: str) -> str:
    return str(yaml.safe_load(document)["metadata"]["name"])


def apiserver_accepts(cluster: ClusterInfo, namespace: str, document: str) -> tuple[bool, str]:
    kubectl = str(Path(cluster.bin_dir) / "kubectl")
    done = subprocess.run(
        [kubectl, "--kubeconfig", cluster.kubeconfig, "-n", namespace, "apply", "--dry-run=server", "-f", "-"],
        input=document,
        capture_output=True,
        text=True,
    )
    return done.returncode == 0, done.stderr


def oma_run_accepts(tmp_path: Path, document: str) -> tuple[bool, str]:
    path = tmp_path / "job.yaml"
    path.write_text(document, encoding="utf-8")
    try:
        load(path)
    except WorkerError as e:
        return False, e.message
    return True, ""


def test_the_corpus_is_large_and_has_both_verdicts() -> None:
    expected = [yaml.safe_load(d)["metadata"]["annotations"]["corpus.oma.dev/expect"] for d in DOCUMENTS]
    assert len(DOCUMENTS) >= 40
    assert len(set(map(name_of, DOCUMENTS))) == len(DOCUMENTS)
    assert expected.count("accept") >= 15 and expected.count("reject") >= 25


@pytest.fixture(scope="module")
def server_verdicts(cluster: ClusterInfo, crds: None, namespace_shared: str) -> dict[str, tuple[bool, str]]:
    """Every document's dry run, a few at a time (each is a kubectl process)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        verdicts = pool.map(lambda d: apiserver_accepts(cluster, namespace_shared, d), DOCUMENTS)
        return dict(zip(map(name_of, DOCUMENTS), verdicts, strict=True))


@pytest.mark.parametrize("document", DOCUMENTS, ids=[name_of(d) for d in DOCUMENTS])
def test_oma_run_and_the_apiserver_give_the_same_verdict(
    server_verdicts: dict[str, tuple[bool, str]], tmp_path: Path, document: str
) -> None:
    expected = yaml.safe_load(document)["metadata"]["annotations"]["corpus.oma.dev/expect"] == "accept"
    server, server_says = server_verdicts[name_of(document)]
    local, local_says = oma_run_accepts(tmp_path, document)
    assert server == local, f"apiserver {'accepts' if server else 'refuses'}: {server_says}\noma run: {local_says}"
    assert server == expected, server_says or "accepted"
