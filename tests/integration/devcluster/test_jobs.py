"""Job semantics on the real control plane with process-backed pods: the Job controller decides, we run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod

from oma.devcluster import cluster as devcluster

from ..conftest import wait_for

pytestmark = pytest.mark.cluster


def process_job(name: str, script: str, **spec: Any) -> dict[str, Any]:
    """A Job whose pod runs `sh -c script` as a local process on the oma-local node."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {devcluster.PROCESS_TAINT_KEY: "true"},
                    "tolerations": [
                        {"key": devcluster.PROCESS_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
                    ],
                    "containers": [{"name": "main", "image": "debian:bookworm-slim", "command": ["sh", "-c", script]}],
                }
            },
            **spec,
        },
    }


def job_condition(kube: Client, ns: str, name: str, cond: str) -> Any:
    job = kube.get(Job, name, namespace=ns)
    for c in (job.status.conditions if job.status else None) or []:
        if c.type == cond and c.status == "True":
            return job
    return None


def job_pods(kube: Client, ns: str, name: str) -> list[Pod]:
    return list(kube.list(Pod, namespace=ns, labels={"job-name": name}))


def test_exit_0_completes(kube: Client, namespace: str) -> None:
    kube.create(from_dict(process_job("ok", "exit 0")), namespace=namespace)
    job = wait_for("Job ok to become Complete", lambda: job_condition(kube, namespace, "ok", "Complete"))
    assert job.status.succeeded == 1
    pods = job_pods(kube, namespace, "ok")
    assert [p.spec.nodeName for p in pods] == [devcluster.PROCESS_NODE]
    term = pods[0].status.containerStatuses[0].state.terminated
    assert (term.exitCode, term.reason) == (0, "Completed")


def test_exit_42_fails_job_without_retry_via_pod_failure_policy(kube: Client, namespace: str) -> None:
    policy = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}
    kube.create(
        from_dict(process_job("permanent", "exit 42", backoffLimit=5, podFailurePolicy=policy)), namespace=namespace
    )
    job = wait_for("Job permanent to Fail", lambda: job_condition(kube, namespace, "permanent", "Failed"))
    failed = next(c for c in job.status.conditions if c.type == "Failed")
    assert failed.reason == "PodFailurePolicy", failed
    assert "exit code 42" in failed.message
    assert len(job_pods(kube, namespace, "permanent")) == 1


def test_exit_1_is_retried_up_to_backoff_limit(kube: Client, namespace: str) -> None:
    kube.create(from_dict(process_job("flaky", "exit 1", backoffLimit=2)), namespace=namespace)
    job = wait_for(
        "Job flaky to Fail after its retries", lambda: job_condition(kube, namespace, "flaky", "Failed"), timeout=120
    )
    failed = next(c for c in job.status.conditions if c.type == "Failed")
    assert failed.reason == "BackoffLimitExceeded"
    assert job.status.failed == 3  # the first run and two retries
    codes = [p.status.containerStatuses[0].state.terminated.exitCode for p in job_pods(kube, namespace, "flaky")]
    assert codes == [1, 1, 1]


def test_active_deadline_kills_the_process(kube: Client, namespace: str, cluster: devcluster.ClusterInfo) -> None:
    # In a pod spec `$$` is the escape for `$`, so the shell sees `echo $$` and prints its pid.
    kube.create(
        from_dict(process_job("slow", "echo $$$$; exec sleep 300", activeDeadlineSeconds=3, backoffLimit=0)),
        namespace=namespace,
    )
    job = wait_for("Job slow to hit its deadline", lambda: job_condition(kube, namespace, "slow", "Failed"), timeout=60)
    assert next(c for c in job.status.conditions if c.type == "Failed").reason == "DeadlineExceeded"
    logs = list((devcluster.Layout(Path(cluster.state_dir)).pods).glob(f"{namespace}_slow-*/main.log"))
    pid = int(logs[0].read_text().split()[0])
    wait_for(f"process {pid} to be gone", lambda: not Path(f"/proc/{pid}").exists(), timeout=40)


def test_fake_node_job_completes_through_kwok(kube: Client, namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "fake"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "registry.example/never-pulled:1"}],
                }
            }
        },
    }
    kube.create(from_dict(job), namespace=namespace)
    wait_for("the fake Job to Complete", lambda: job_condition(kube, namespace, "fake", "Complete"))
    assert [p.spec.nodeName for p in job_pods(kube, namespace, "fake")] == [devcluster.FAKE_NODE]


def test_pod_without_command_fails_with_a_clear_message(kube: Client, namespace: str) -> None:
    job = process_job("nocmd", "true", backoffLimit=0)
    del job["spec"]["template"]["spec"]["containers"][0]["command"]
    kube.create(from_dict(job), namespace=namespace)
    wait_for("Job nocmd to Fail", lambda: job_condition(kube, namespace, "nocmd", "Failed"))
    term = job_pods(kube, namespace, "nocmd")[0].status.containerStatuses[0].state.terminated
    assert term.exitCode == 128
    assert "has no command" in term.message


def test_environment_variables_reach_the_process(kube: Client, namespace: str) -> None:
    script = 'test "$POD_NS" = "$EXPECT_NS" && test "$GREETING" = "hello world" && test "$HOSTNAME" = "$POD_NAME"'
    job = process_job("env", script, backoffLimit=0)
    job["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "EXPECT_NS", "value": namespace},
        {"name": "WHO", "value": "world"},
        {"name": "GREETING", "value": "hello $(WHO)"},
    ]
    kube.create(from_dict(job), namespace=namespace)
    wait_for(
        "Job env to Complete (its script checks the variables)",
        lambda: job_condition(kube, namespace, "env", "Complete") or job_condition(kube, namespace, "env", "Failed"),
    )
    assert job_condition(kube, namespace, "env", "Complete"), "the env check script failed"
