"""What the node runner reports for a pod: container and pod status dicts, from what it knows of its processes.

Pure on purpose (no I/O, no clock: `now` is passed in as the timestamp to write), so the Kubernetes rules the
Job controller depends on (terminated reasons, exit codes, phases, Ready conditions) are unit-tested.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

# Reported for a container whose process was killed, or lost, before it exited on its own (SIGKILL).
KILLED = 137


def timestamp(moment: dt.datetime) -> str:
    """A status timestamp as the apiserver writes them (RFC 3339, seconds, UTC)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerRun:
    """What the runner knows of one container: set as its process starts, exits and restarts."""

    name: str
    image: str
    started_at: str = ""
    finished_at: str = ""
    exit_code: int | None = None
    restarts: int = 0
    message: str = ""
    pid: int | None = None


def container_runs(containers: list[dict[str, Any]]) -> list[ContainerRun]:
    """Fresh records for the `containers` (or `initContainers`) of a pod spec."""
    return [ContainerRun(c["name"], c.get("image", "")) for c in containers]


def exited_runs(containers: list[dict[str, Any]], code: int, now: str, message: str = "") -> list[ContainerRun]:
    """Records for containers that ended without this runner watching them exit (killed, or lost)."""
    return [
        ContainerRun(c["name"], c.get("image", ""), exit_code=code, finished_at=now, message=message)
        for c in containers
    ]


def container_status(c: ContainerRun) -> dict[str, Any]:
    st: dict[str, Any] = {"name": c.name, "image": c.image, "imageID": "", "restartCount": c.restarts}
    if c.pid is not None:
        st["containerID"] = f"process://{c.pid}"
    if c.exit_code is not None:
        term: dict[str, Any] = {
            "exitCode": c.exit_code,
            "reason": terminated_reason(c.exit_code),
            "startedAt": c.started_at or None,
            "finishedAt": c.finished_at,
        }
        if c.message:
            term["message"] = c.message
        st.update(ready=False, started=False, state={"terminated": term})
    elif c.started_at:
        st.update(ready=True, started=True, state={"running": {"startedAt": c.started_at}})
    else:
        st.update(ready=False, started=False, state={"waiting": {"reason": c.message or "ContainerCreating"}})
    return st


def running_status(containers: list[ContainerRun], inits: list[ContainerRun], now: str) -> dict[str, Any]:
    """The status patch of a pod whose processes run (Ready while none of its containers has exited)."""
    ready = "True" if all(c.exit_code is None for c in containers) else "False"
    conds = [
        {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": now},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": ready, "lastTransitionTime": now},
        {"type": "Ready", "status": ready, "lastTransitionTime": now},
    ]
    return {
        "status": {
            "phase": "Running",
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": now,
            "conditions": conds,
            "containerStatuses": [container_status(c) for c in containers],
            "initContainerStatuses": [container_status(c) for c in inits],
        }
    }


def terminal_status(
    containers: list[ContainerRun],
    inits: list[ContainerRun],
    phase: str,
    now: str,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """The status patch of a pod that is done; a container still without an exit code is reported killed."""
    ended = [
        c if c.exit_code is not None else dataclasses.replace(c, exit_code=KILLED, finished_at=now) for c in containers
    ]
    cond_reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            {"type": "ContainersReady", "status": "False", "reason": cond_reason, "lastTransitionTime": now},
            {"type": "Ready", "status": "False", "reason": cond_reason, "lastTransitionTime": now},
        ],
        "containerStatuses": [container_status(c) for c in ended],
        "initContainerStatuses": [container_status(c) for c in inits],
    }
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    return {"status": status}


def config_error_status(containers: list[ContainerRun], message: str) -> dict[str, Any]:
    """The status patch of a pod waiting for a ConfigMap, Secret or PVC it names (kubelet retries, so do we)."""
    not_ready = {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": message}
    return {"status": {"conditions": [not_ready], "containerStatuses": [container_status(c) for c in containers]}}


def exit_code(returncode: int) -> int:
    """A process's return code as a container exit code (a signal N becomes 128+N, like a shell)."""
    return 128 - returncode if returncode < 0 else returncode


def terminated_reason(code: int, oom: bool = False) -> str:
    if oom:
        return "OOMKilled"
    return "Completed" if code == 0 else "Error"


def pod_phase(restart_policy: str, exit_codes: list[int]) -> str:
    """Terminal phase once every container has exited for good."""
    if restart_policy == "Always":
        return "Running"
    return "Succeeded" if all(c == 0 for c in exit_codes) else "Failed"


def tail_message(log: str, max_lines: int = 80, max_bytes: int = 2048) -> str:
    """FallbackToLogsOnError: the end of the log, as kubelet takes it."""
    lines = log.splitlines()[-max_lines:]
    text = "\n".join(lines)
    return text[-max_bytes:]
