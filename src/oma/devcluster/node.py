"""The `oma-local` node: runs the pods scheduled to it as local processes, from watch event to final status.

This is a small kubelet stand-in for a machine without a container runtime. The real Job controller,
scheduler and garbage collector do everything else, so Job semantics (backoffLimit, podFailurePolicy,
activeDeadlineSeconds) are Kubernetes' own. What a process sees, compared with a container:
  - its command/args/env/workingDir from the pod spec; PATH and HOME from this runner (no image is pulled);
  - every volumeMount bind-mounted at its mountPath in a private mount namespace, backed by a directory under
    the state dir (emptyDir, configMap, secret, downwardAPI, projected) or the PVC's provisioned directory;
  - the ServiceAccount token (TokenRequest, bound to the pod) and CA where in-cluster clients look;
  - KUBERNETES_SERVICE_HOST/PORT pointing at the local apiserver.
Not enforced: securityContext (processes run as this runner's user), resource limits, image contents.

The runner keeps its own lightkube client instead of the operator's `oma.k8s` adapter, because it plays the
kubelet (and, in provisioner.py, a storage provisioner) under its own field manager, not the operator.
Here: the pod watch and each pod's lifecycle; volumes.py, container_env.py and pod_status.py do the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from lightkube import ALL_NS, AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from . import podspec
from .container_env import container_env
from .layout import PROCESS_NODE, ClusterInfo, Layout
from .pod_status import (
    KILLED,
    ContainerRun,
    config_error_status,
    container_runs,
    exit_code,
    exited_runs,
    pod_phase,
    running_status,
    tail_message,
    terminal_status,
    timestamp,
)
from .podspec import Mount, PodConfigError
from .provisioner import Provisioner
from .volumes import container_mounts, stage_volumes
from .watch import list_watch

log = logging.getLogger("oma.devnode")

# What stands in for a container image: this runner's Python (virtualenv and base) and the oma package.
IMAGE_PATHS = sorted({sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parents[2])})
RESTART_BACKOFF_MAX = 10.0
# What kubelet reports for a container it stopped because its pod was deleted (SIGTERM).
TERMINATED_BY_DELETE = 143


def api_unavailable(e: BaseException) -> bool:
    """The API server is restarting or overloaded (try again), as opposed to a definite answer."""
    if isinstance(e, httpx2.TransportError):
        return True
    return isinstance(e, ApiError) and (e.status.code or 0) in (429, 500, 502, 503, 504)


def _now() -> str:
    return timestamp(dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class ProcessSetup:
    """What one container's process is started with."""

    env: dict[str, str]
    mounts: list[Mount]


@dataclass
class PodRun:
    """One pod's processes and what we last reported for it."""

    namespace: str
    name: str
    uid: str
    dir: Path
    task: asyncio.Task[None] | None = None
    procs: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    terminating: asyncio.Event = field(default_factory=asyncio.Event)
    containers: list[ContainerRun] = field(default_factory=list)
    inits: list[ContainerRun] = field(default_factory=list)


class Node:
    def __init__(self, client: AsyncClient, layout: Layout, info: ClusterInfo) -> None:
        self.client = client
        self.layout = layout
        self.info = info
        self.pods: dict[str, PodRun] = {}

    # --- watching ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow the pods bound to this node; the ready file says the first listing has been handled."""
        first = asyncio.Event()
        watch = asyncio.create_task(
            list_watch(self.client, Pod, self._on_pod, first, namespace=ALL_NS, fields={"spec.nodeName": PROCESS_NODE})
        )
        await first.wait()
        self.layout.node_ready.write_text("ok\n")
        try:
            await watch
        finally:
            self.layout.node_ready.unlink(missing_ok=True)

    async def _on_pod(self, op: str, obj: Pod) -> None:
        pod = obj.to_dict()
        meta = pod["metadata"]
        uid = meta["uid"]
        phase = (pod.get("status") or {}).get("phase")
        run = self.pods.get(uid)
        if op == "DELETED":
            if run:
                await self._terminate(run, pod, delete=False)
            return
        if meta.get("deletionTimestamp"):
            if run:
                await self._terminate(run, pod, delete=True)
            else:
                await self._delete_now(pod)
            return
        if run or phase in ("Succeeded", "Failed"):
            return
        if phase == "Running":
            # Running with no process of ours: this runner restarted and the process is gone with it.
            await self._report_lost(pod)
            return
        run = PodRun(
            meta["namespace"], meta["name"], uid, self.layout.pods / f"{meta['namespace']}_{meta['name']}_{uid}"
        )
        self.pods[uid] = run
        run.task = asyncio.create_task(self._run_pod(run, pod))

    # --- one pod ----------------------------------------------------------------------------------------

    async def _run_pod(self, run: PodRun, pod: dict[str, Any]) -> None:
        spec = pod["spec"]
        run.containers = container_runs(spec["containers"])
        run.inits = container_runs(spec.get("initContainers") or [])
        try:
            setup = await self._prepare_until_ready(run, pod)
            if setup is None:
                return
            await self._report_running(run)
            if not await self._run_within_deadline(run, pod, setup) or run.terminating.is_set():
                return
            codes = [c.exit_code or 0 for c in [*run.inits, *run.containers]]
            phase = pod_phase(spec.get("restartPolicy", "Always"), codes)
            await self._patch_status(run, terminal_status(run.containers, run.inits, phase, _now()))
        except asyncio.CancelledError:
            await self._kill_all(run, grace=0)
            raise
        except Exception:
            log.exception("pod %s/%s: runner error", run.namespace, run.name)

    async def _prepare_until_ready(self, run: PodRun, pod: dict[str, Any]) -> dict[str, ProcessSetup] | None:
        """Volumes, token, env; missing ConfigMaps/PVCs are retried like kubelet does, bad specs fail the pod."""
        delay = 1.0
        while not run.terminating.is_set():
            try:
                return await self._prepare(run, pod)
            except PodConfigError as e:
                if e.permanent:
                    await self._report_start_error(run, str(e))
                    return None
                for c in run.containers:
                    c.message = "CreateContainerConfigError"
                await self._patch_status(run, config_error_status(run.containers, str(e)))
                log.info("pod %s/%s not ready to start: %s", run.namespace, run.name, e)
            except Exception as e:
                if not api_unavailable(e):
                    raise
                # kubelet retries a pod's set-up while the API server is away (a control-plane restart).
                log.info("pod %s/%s waits for the API server: %s", run.namespace, run.name, e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_BACKOFF_MAX)
        return None

    async def _prepare(self, run: PodRun, pod: dict[str, Any]) -> dict[str, ProcessSetup]:
        spec = pod["spec"]
        run.dir.mkdir(parents=True, exist_ok=True)
        volumes = await stage_volumes(self.client, pod, run.dir)
        setup = {}
        for c in [*(spec.get("initContainers") or []), *spec["containers"]]:
            env = await container_env(self.client, pod, c, self.info.apiserver_port, self.layout.state)
            podspec.argv(c, env)  # fails the pod up front when there is no command
            setup[c["name"]] = ProcessSetup(env, container_mounts(c, volumes, env))
        return setup

    async def _run_within_deadline(self, run: PodRun, pod: dict[str, Any], setup: dict[str, ProcessSetup]) -> bool:
        """Run the containers; False when activeDeadlineSeconds ended the pod first (it is reported Failed)."""
        spec = pod["spec"]
        deadline = spec.get("activeDeadlineSeconds")
        work = self._run_all(run, pod, setup)
        try:
            if deadline:
                await asyncio.wait_for(work, timeout=float(deadline))
            else:
                await work
        except TimeoutError:
            await self._kill_all(run, grace=float(spec.get("terminationGracePeriodSeconds", 30)))
            message = f"Pod was active on the node longer than the specified deadline ({deadline}s)"
            status = terminal_status(
                run.containers, run.inits, "Failed", _now(), reason="DeadlineExceeded", message=message
            )
            await self._patch_status(run, status)
            return False
        return True

    async def _run_all(self, run: PodRun, pod: dict[str, Any], setup: dict[str, ProcessSetup]) -> None:
        """Init containers one after another, then every container together."""
        spec = pod["spec"]
        restart_policy = spec.get("restartPolicy", "Always")
        by_name = {c["name"]: c for c in [*(spec.get("initContainers") or []), *spec["containers"]]}
        for cr in run.inits:
            code = await self._run_with_restarts(run, by_name[cr.name], cr, setup[cr.name], restart_policy)
            if code != 0 or run.terminating.is_set():
                now = _now()
                for c in run.containers:
                    c.exit_code, c.finished_at, c.message = 1, now, f"init container {cr.name} failed"
                return
        await asyncio.gather(
            *(
                self._run_with_restarts(run, by_name[cr.name], cr, setup[cr.name], restart_policy)
                for cr in run.containers
            )
        )

    async def _run_with_restarts(
        self, run: PodRun, container: dict[str, Any], cr: ContainerRun, setup: ProcessSetup, restart_policy: str
    ) -> int:
        backoff = 1.0
        while True:
            code = await self._run_container(run, container, cr, setup)
            restart = not run.terminating.is_set() and (
                restart_policy == "Always" or (restart_policy == "OnFailure" and code != 0)
            )
            if not restart:
                return code
            await self._report_running(run)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RESTART_BACKOFF_MAX)
            cr.restarts += 1
            cr.exit_code = None

    async def _run_container(
        self, run: PodRun, container: dict[str, Any], cr: ContainerRun, setup: ProcessSetup
    ) -> int:
        args = podspec.argv(container, setup.env)
        logfile = run.dir / f"{cr.name}.log"
        script = podspec.mount_script(setup.mounts, container.get("workingDir"), IMAGE_PATHS)
        cmd = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", *args]
        with logfile.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                env=setup.env,
                start_new_session=True,
                cwd=run.dir,
            )
        run.procs[cr.name] = proc
        cr.pid, cr.started_at, cr.message = proc.pid, _now(), ""
        log.info("pod %s/%s container %s: started pid %d: %s", run.namespace, run.name, cr.name, proc.pid, args)
        rc = await proc.wait()
        run.procs.pop(cr.name, None)
        code = exit_code(rc)
        cr.exit_code, cr.finished_at = code, _now()
        if code != 0 and container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            cr.message = tail_message(logfile.read_text(errors="replace"))
        log.info("pod %s/%s container %s: exited %d", run.namespace, run.name, cr.name, code)
        return code

    # --- reporting ------------------------------------------------------------------------------------------

    async def _report_running(self, run: PodRun) -> None:
        now = _now()
        # A container counts as started from the pod's first Running report, so its startedAt is never empty.
        for c in run.containers:
            c.started_at = c.started_at or now
        await self._patch_status(run, running_status(run.containers, run.inits, now))

    async def _report_start_error(self, run: PodRun, message: str) -> None:
        now = _now()
        for c in run.containers:
            c.exit_code, c.message, c.finished_at = 128, message, now
        status = terminal_status(run.containers, [], "Failed", now, reason="StartError", message=message)
        await self._patch_status(run, status)

    async def _report_lost(self, pod: dict[str, Any]) -> None:
        meta, now = pod["metadata"], _now()
        message = "the process-backed node restarted and lost this process"
        lost = exited_runs(pod["spec"]["containers"], KILLED, now, message)
        run = PodRun(meta["namespace"], meta["name"], meta["uid"], Path())
        await self._patch_status(run, terminal_status(lost, [], "Failed", now, reason="ProcessLost", message=message))

    async def _patch_status(self, run: PodRun, patch: dict[str, Any]) -> None:
        """Report a pod's status; like kubelet's status manager, keep trying while the API server is away,
        or the pod would stay Running for ever after a control-plane restart."""
        delay = 0.5
        while True:
            try:
                await self.client.patch(
                    Pod.Status, run.name, patch, namespace=run.namespace, patch_type=PatchType.STRATEGIC
                )
                return
            except ApiError as e:
                if e.status.code == 404:
                    return
                if not api_unavailable(e):
                    log.warning("pod %s/%s: status patch failed: %s", run.namespace, run.name, e.status.message)
                    return
            except httpx2.TransportError as e:
                log.info("pod %s/%s: status waits for the API server: %s", run.namespace, run.name, e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    # --- termination ----------------------------------------------------------------------------------------

    async def _kill_all(self, run: PodRun, grace: float) -> None:
        procs = list(run.procs.values())
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        if procs and grace > 0:
            _, pending = await asyncio.wait([asyncio.create_task(p.wait()) for p in procs], timeout=grace)
            if pending:
                for p in procs:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
        for p in procs:
            await p.wait()

    async def _terminate(self, run: PodRun, pod: dict[str, Any], delete: bool) -> None:
        if run.terminating.is_set():
            return
        run.terminating.set()
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        log.info("pod %s/%s: terminating (grace %ss)", run.namespace, run.name, grace)
        await self._kill_all(run, grace=float(grace))
        if run.task:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(run.task, timeout=5)
        self.pods.pop(run.uid, None)
        if delete:
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                # Kubelet reports a terminal phase before the pod goes, so the Job controller counts it.
                now = _now()
                killed = exited_runs(pod["spec"]["containers"], TERMINATED_BY_DELETE, now)
                await self._patch_status(run, terminal_status(killed, [], "Failed", now))
            await self._delete_now(pod)

    async def _delete_now(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        try:
            await self.client.delete(Pod, meta["name"], namespace=meta["namespace"], grace_period=0)
        except ApiError as e:
            if e.status.code != 404:
                raise

    async def shutdown(self) -> None:
        runs = list(self.pods.values())
        for run in runs:
            run.terminating.set()
        await asyncio.gather(*(self._kill_all(r, grace=2) for r in runs), return_exceptions=True)


async def serve(state_dir: Path) -> None:
    """Run the node and the provisioner until SIGTERM/SIGINT, then end every pod process."""
    layout = Layout(state_dir)
    info = ClusterInfo.load(layout.info)
    client = AsyncClient(KubeConfig.from_file(info.kubeconfig), field_manager="oma-devnode")
    node = Node(client, layout, info)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def run_node_and_provisioner() -> None:
        await asyncio.gather(node.run(), Provisioner(client, layout, shared=info.node == "real").run())

    runner = asyncio.create_task(run_node_and_provisioner())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([runner, stopper], return_when=asyncio.FIRST_COMPLETED)
    await node.shutdown()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    if runner.done() and not runner.cancelled() and runner.exception():
        raise runner.exception()  # type: ignore[misc]
