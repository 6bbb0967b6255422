"""What the process-backed node reports for a pod, from what it knows of its processes; no cluster needed."""

from __future__ import annotations

import datetime as dt

from oma.devcluster import pod_status
from oma.devcluster.pod_status import ContainerRun

NOW = "2026-11-26T20:00:00Z"
EARLIER = "2026-11-26T19:59:00Z"


def conditions(patch: dict) -> dict[str, str]:
    return {c["type"]: c["status"] for c in patch["status"]["conditions"]}


def test_timestamp_is_utc_seconds_as_the_apiserver_writes_them() -> None:
    moment = dt.datetime(2026, 11, 26, 21, 0, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert pod_status.timestamp(moment) == NOW.replace("00:00", "00:05")


def test_a_container_not_started_yet_is_waiting_with_the_reason_it_was_given() -> None:
    waiting = pod_status.container_status(ContainerRun("main", "img:1"))
    assert waiting["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert (waiting["ready"], waiting["started"], waiting["restartCount"]) == (False, False, 0)
    assert "containerID" not in waiting
    blocked = pod_status.container_status(ContainerRun("main", "img:1", message="CreateContainerConfigError"))
    assert blocked["state"] == {"waiting": {"reason": "CreateContainerConfigError"}}


def test_a_running_container_is_ready_and_names_its_process() -> None:
    st = pod_status.container_status(ContainerRun("main", "img:1", started_at=EARLIER, pid=4242, restarts=2))
    assert st["state"] == {"running": {"startedAt": EARLIER}}
    assert (st["ready"], st["started"], st["restartCount"]) == (True, True, 2)
    assert st["containerID"] == "process://4242"


def test_an_exited_container_is_terminated_with_kubelets_reason() -> None:
    ok = ContainerRun("main", "img:1", started_at=EARLIER, finished_at=NOW, exit_code=0)
    failed = ContainerRun("main", "img:1", started_at=EARLIER, finished_at=NOW, exit_code=42, message="boom")
    assert pod_status.container_status(ok)["state"]["terminated"] == {
        "exitCode": 0,
        "reason": "Completed",
        "startedAt": EARLIER,
        "finishedAt": NOW,
    }
    term = pod_status.container_status(failed)["state"]["terminated"]
    assert (term["exitCode"], term["reason"], term["message"]) == (42, "Error", "boom")
    never_started = ContainerRun("main", "img:1", finished_at=NOW, exit_code=128)
    assert pod_status.container_status(never_started)["state"]["terminated"]["startedAt"] is None


def test_running_pod_is_ready_until_one_of_its_containers_exits() -> None:
    init = ContainerRun("init", "img:1", started_at=EARLIER, finished_at=EARLIER, exit_code=0)
    a = ContainerRun("a", "img:1", started_at=NOW)
    b = ContainerRun("b", "img:1", started_at=NOW)
    patch = pod_status.running_status([a, b], [init], NOW)
    status = patch["status"]
    assert status["phase"] == "Running"
    assert (status["podIP"], status["hostIP"], status["startTime"]) == ("127.0.0.1", "127.0.0.1", NOW)
    assert conditions(patch) == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "ContainersReady": "True",
        "Ready": "True",
    }
    assert all(c["lastTransitionTime"] == NOW for c in status["conditions"])
    assert [s["name"] for s in status["containerStatuses"]] == ["a", "b"]
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"

    b.exit_code, b.finished_at = 1, NOW  # exited, waiting for its restart
    assert conditions(pod_status.running_status([a, b], [], NOW))["Ready"] == "False"


def test_terminal_pod_reports_unfinished_containers_as_killed_without_changing_them() -> None:
    done = ContainerRun("done", "img:1", started_at=EARLIER, finished_at=EARLIER, exit_code=0)
    cut = ContainerRun("cut", "img:1", started_at=EARLIER)
    patch = pod_status.terminal_status([done, cut], [], "Failed", NOW, reason="DeadlineExceeded", message="too long")
    status = patch["status"]
    assert (status["phase"], status["reason"], status["message"]) == ("Failed", "DeadlineExceeded", "too long")
    killed = status["containerStatuses"][1]["state"]["terminated"]
    assert (killed["exitCode"], killed["reason"], killed["finishedAt"]) == (137, "Error", NOW)
    assert status["containerStatuses"][0]["state"]["terminated"]["finishedAt"] == EARLIER
    assert cut.exit_code is None, "building a status does not change what the runner knows"
    assert {c["reason"] for c in status["conditions"]} == {"PodFailed"}
    assert conditions(patch) == {"ContainersReady": "False", "Ready": "False"}


def test_succeeded_pod_says_completed_and_carries_no_reason() -> None:
    ok = ContainerRun("main", "img:1", started_at=EARLIER, finished_at=NOW, exit_code=0)
    status = pod_status.terminal_status([ok], [], "Succeeded", NOW)["status"]
    assert {c["reason"] for c in status["conditions"]} == {"PodCompleted"}
    assert "reason" not in status and "message" not in status


def test_config_error_status_keeps_the_pod_pending_with_the_message() -> None:
    waiting = ContainerRun("main", "img:1", message="CreateContainerConfigError")
    status = pod_status.config_error_status([waiting], 'configmap "cfg" not found')["status"]
    assert "phase" not in status
    assert status["conditions"] == [
        {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": 'configmap "cfg" not found'}
    ]
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "CreateContainerConfigError"}}


def test_runs_are_made_from_the_pod_spec() -> None:
    spec = [{"name": "a", "image": "img:1"}, {"name": "b"}]
    assert pod_status.container_runs(spec) == [ContainerRun("a", "img:1"), ContainerRun("b", "")]
    lost = pod_status.exited_runs(spec, pod_status.KILLED, NOW, "lost")
    assert [(r.name, r.exit_code, r.finished_at, r.message) for r in lost] == [
        ("a", 137, NOW, "lost"),
        ("b", 137, NOW, "lost"),
    ]


def test_exit_codes_and_phases() -> None:
    assert pod_status.exit_code(0) == 0
    assert pod_status.exit_code(42) == 42
    assert pod_status.exit_code(-9) == 137  # SIGKILL, as a shell reports it
    assert pod_status.pod_phase("Never", [0, 0]) == "Succeeded"
    assert pod_status.pod_phase("Never", [0, 1]) == "Failed"
    assert pod_status.pod_phase("Always", [0]) == "Running"
    assert pod_status.terminated_reason(0) == "Completed"
    assert pod_status.terminated_reason(3) == "Error"


def test_tail_message_keeps_the_end() -> None:
    log = "\n".join(f"line {i}" for i in range(200))
    msg = pod_status.tail_message(log)
    assert msg.endswith("line 199")
    assert "line 119" not in msg and "line 120" in msg
