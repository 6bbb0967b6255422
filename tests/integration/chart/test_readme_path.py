"""The README's path for a cluster admin (install, a first VideoJob, watch it, uninstall) runs as written on the
local cluster. Only two things are added: values that run the operator's pod and its workers as local processes
(the local cluster pulls no images) and --take-ownership (this session applied the CRDs without Helm)."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Namespace

from oma.devcluster.fixtures import install_crds

from .conftest import REPO, process_backed_values, tool_env, values_file

pytestmark = pytest.mark.cluster
BEGIN, END = "<!-- user-path:begin -->", "<!-- user-path:end -->"


def readme_commands() -> list[str]:
    block = (REPO / "README.md").read_text().split(BEGIN, 1)[1].split(END, 1)[0]
    commands: list[str] = []
    continued = False
    for line in block.splitlines():
        if not line or line.startswith("```"):
            continue
        if continued:
            commands[-1] += " " + line.strip()
        else:
            commands.append(line)
        continued = commands[-1].endswith("\\")
        commands[-1] = commands[-1].removesuffix("\\").rstrip()
    return commands


def test_the_readme_names_every_step() -> None:
    commands = readme_commands()
    joined = "\n".join(commands)
    for step in ("helm install", "rollout status", "apply -f examples/first-videojob.yaml",
                 "wait --for=condition=Succeeded", "helm uninstall"):  # fmt: skip
        assert step in joined, step
    assert all(shlex.split(c)[0] in ("kubectl", "helm") for c in commands)


def operator_report(tools: dict[str, str]) -> str:
    """For a failed step: the release's pods and Events, and the end of each of its process-backed containers'
    logs and of the node's log (the local cluster keeps them under its state directory)."""
    state = Path(tools["kubeconfig"]).parent
    get = [tools["kubectl"], "-n", "oma-system", "get", "pods,events", "-o", "wide"]
    parts = [subprocess.run(get, env=tool_env(tools), capture_output=True, text=True, check=False).stdout]
    for log in [*sorted((state / "pods").glob("oma-system_*/*.log")), state / "logs" / "oma-node.log"]:
        if not log.is_file():
            continue
        lines = log.read_text(errors="replace").splitlines()
        if log.name == "oma-node.log":
            lines = [line for line in lines if "oma-system/" in line]
        parts.append(f"--- {log.relative_to(state)}\n" + "\n".join(lines[-60:]))
    return "\n".join(parts)


@pytest.fixture
def leaves_nothing(kube: Client, tools: dict[str, str]) -> Iterator[None]:
    """Whatever the outcome: the release, both namespaces and the session's CRDs as they were."""
    yield
    subprocess.run([tools["helm"], "uninstall", "oma-operator", "-n", "oma-system"], env=tool_env(tools),
                   capture_output=True, check=False)  # fmt: skip
    for ns in ("video", "oma-system"):
        try:
            kube.delete(Namespace, ns)
        except ApiError as e:
            if e.status.code != 404:
                raise
    install_crds(tools["kubeconfig"])


def test_the_readme_path_runs_as_written(
    tools: dict[str, str], crds: None, no_session_operators: None, leaves_nothing: None, tmp_path: Path
) -> None:
    local = values_file(tmp_path, process_backed_values())
    for command in readme_commands():
        argv = shlex.split(command)
        if argv[:2] == ["helm", "install"]:
            argv += ["-f", local, "--take-ownership"]
        out = subprocess.run([tools[argv[0]], *argv[1:]], cwd=REPO, env=tool_env(tools), capture_output=True,
                             text=True, check=False, timeout=900)  # fmt: skip
        assert out.returncode == 0, f"{command}\n{out.stdout}\n{out.stderr}\n{operator_report(tools)}"
        if "jsonpath" in command:  # the verified outputs, by kind: the MP4 and the thumbnails asked for
            kinds = {line.split()[0] for line in out.stdout.splitlines() if line.strip()}
            assert {"mp4", "thumbnail"} <= kinds, out.stdout
