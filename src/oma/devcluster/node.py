"""The `oma-local` node: runs the pods scheduled to it as local processes, and provisions PVCs as directories.

This is a small kubelet stand-in for a machine without a container runtime. The real Job controller,
scheduler and garbage collector do everything else, so Job semantics (backoffLimit, podFailurePolicy,
activeDeadlineSeconds) are Kubernetes' own. What a process sees, compared with a container:
  - its command/args/env/workingDir from the pod spec; PATH and HOME from this runner (no image is pulled);
  - every volumeMount bind-mounted at its mountPath in a private mount namespace, backed by a directory under
    the state dir (emptyDir, configMap, secret, downwardAPI, projected) or the PVC's provisioned directory;
  - the ServiceAccount token (TokenRequest, bound to the pod) and CA where in-cluster clients look;
  - KUBERNETES_SERVICE_HOST/PORT pointing at the local apiserver.
Not enforced: securityContext (processes run as this runner's user), resource limits, image contents.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import os
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightkube import ALL_NS, AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.models.authentication_v1 import BoundObjectReference, TokenRequestSpec
from lightkube.models.core_v1 import (
    HostPathVolumeSource,
    ObjectReference,
    PersistentVolumeSpec,
)
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import (
    ConfigMap,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    Secret,
    ServiceAccount,
)
from lightkube.types import PatchType

from . import podspec
from .layout import PROCESS_NODE, PROVISIONER, STORAGE_CLASS, ClusterInfo, Layout
from .podspec import Mount, PodConfigError

log = logging.getLogger("oma.devnode")

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# What stands in for a container image: this runner's Python (virtualenv and base) and the oma package.
IMAGE_PATHS = sorted({sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parents[2])})
RESTART_BACKOFF_MAX = 10.0


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerRun:
    name: str
    image: str
    started_at: str = ""
    finished_at: str = ""
    exit_code: int | None = None
    restarts: int = 0
    message: str = ""
    pid: int | None = None

    def status(self) -> dict[str, Any]:
        st: dict[str, Any] = {"name": self.name, "image": self.image, "imageID": "", "restartCount": self.restarts}
        if self.pid is not None:
            st["containerID"] = f"process://{self.pid}"
        if self.exit_code is not None:
            term: dict[str, Any] = {
                "exitCode": self.exit_code,
                "reason": podspec.terminated_reason(self.exit_code),
                "startedAt": self.started_at or None,
                "finishedAt": self.finished_at,
            }
            if self.message:
                term["message"] = self.message
            st.update(ready=False, started=False, state={"terminated": term})
        elif self.started_at:
            st.update(ready=True, started=True, state={"running": {"startedAt": self.started_at}})
        else:
            st.update(ready=False, started=False, state={"waiting": {"reason": self.message or "ContainerCreating"}})
        return st


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


class Node:
    def __init__(self, client: AsyncClient, layout: Layout, info: ClusterInfo) -> None:
        self.client = client
        self.layout = layout
        self.info = info
        self.pods: dict[str, PodRun] = {}

    # --- watching ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        ready = self.layout.state / "oma-node.ready"
        first = asyncio.Event()
        tasks = [
            asyncio.create_task(self._watch_pods(first)),
            asyncio.create_task(self._watch_pvcs()),
            asyncio.create_task(self._watch_pvs()),
        ]
        await first.wait()
        ready.write_text("ok\n")
        try:
            await asyncio.gather(*tasks)
        finally:
            ready.unlink(missing_ok=True)

    async def _list_watch(self, res: Any, handle: Any, first: asyncio.Event | None = None, **kw: Any) -> None:
        """List, then watch from the list's resourceVersion; relist after any error (410 Gone included)."""
        while True:
            try:
                listing = self.client.list(res, **kw)
                async for obj in listing:
                    await handle("ADDED", obj)
                if first is not None:
                    first.set()
                async for op, obj in self.client.watch(res, resource_version=listing.resourceVersion, **kw):
                    await handle(op, obj)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watch of %s failed; relisting", res.__name__)
                await asyncio.sleep(1)

    async def _watch_pods(self, first: asyncio.Event) -> None:
        await self._list_watch(Pod, self._on_pod, first, namespace=ALL_NS, fields={"spec.nodeName": PROCESS_NODE})

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
        restart_policy = spec.get("restartPolicy", "Always")
        containers = [ContainerRun(c["name"], c.get("image", "")) for c in spec["containers"]]
        inits = [ContainerRun(c["name"], c.get("image", "")) for c in spec.get("initContainers") or []]
        try:
            prepared = await self._prepare_until_ready(run, pod, containers)
            if prepared is None:
                return
            env_by_name, mounts_by_name = prepared
            await self._patch_status(run, self._running_status(pod, containers, inits))
            deadline = spec.get("activeDeadlineSeconds")
            work = self._run_all(run, pod, env_by_name, mounts_by_name, containers, inits)
            try:
                if deadline:
                    await asyncio.wait_for(work, timeout=float(deadline))
                else:
                    await work
            except TimeoutError:
                await self._kill_all(run, grace=float(spec.get("terminationGracePeriodSeconds", 30)))
                await self._patch_status(
                    run,
                    self._terminal_status(
                        pod,
                        containers,
                        inits,
                        "Failed",
                        reason="DeadlineExceeded",
                        message=f"Pod was active on the node longer than the specified deadline ({deadline}s)",
                    ),
                )
                return
            if run.terminating.is_set():
                return
            codes = [c.exit_code or 0 for c in [*inits, *containers]]
            phase = podspec.pod_phase(restart_policy, codes)
            await self._patch_status(run, self._terminal_status(pod, containers, inits, phase))
        except asyncio.CancelledError:
            await self._kill_all(run, grace=0)
            raise
        except Exception:
            log.exception("pod %s/%s: runner error", run.namespace, run.name)

    async def _prepare_until_ready(
        self, run: PodRun, pod: dict[str, Any], containers: list[ContainerRun]
    ) -> tuple[dict[str, dict[str, str]], dict[str, list[Mount]]] | None:
        """Volumes, token, env; missing ConfigMaps/PVCs are retried like kubelet does, bad specs fail the pod."""
        delay = 1.0
        while not run.terminating.is_set():
            try:
                return await self._prepare(run, pod)
            except PodConfigError as e:
                if e.permanent:
                    for c in containers:
                        c.exit_code, c.message, c.finished_at = 128, str(e), _now()
                    await self._patch_status(
                        run, self._terminal_status(pod, containers, [], "Failed", reason="StartError", message=str(e))
                    )
                    return None
                for c in containers:
                    c.message = "CreateContainerConfigError"
                await self._patch_status(
                    run,
                    {
                        "status": {
                            "conditions": [
                                {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": str(e)}
                            ],
                            "containerStatuses": [c.status() for c in containers],
                        }
                    },
                )
                log.info("pod %s/%s not ready to start: %s", run.namespace, run.name, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESTART_BACKOFF_MAX)
        return None

    async def _run_all(
        self,
        run: PodRun,
        pod: dict[str, Any],
        envs: dict[str, dict[str, str]],
        mounts: dict[str, list[Mount]],
        containers: list[ContainerRun],
        inits: list[ContainerRun],
    ) -> None:
        spec = pod["spec"]
        restart_policy = spec.get("restartPolicy", "Always")
        by_name = {c["name"]: c for c in [*(spec.get("initContainers") or []), *spec["containers"]]}
        for cr in inits:
            code = await self._run_with_restarts(
                run, pod, by_name[cr.name], cr, envs, mounts, restart_policy, containers, inits
            )
            if code != 0 or run.terminating.is_set():
                for c in containers:
                    c.exit_code, c.finished_at, c.message = 1, _now(), f"init container {cr.name} failed"
                return
        await asyncio.gather(
            *(
                self._run_with_restarts(run, pod, by_name[cr.name], cr, envs, mounts, restart_policy, containers, inits)
                for cr in containers
            )
        )

    async def _run_with_restarts(
        self,
        run: PodRun,
        pod: dict[str, Any],
        container: dict[str, Any],
        cr: ContainerRun,
        envs: dict[str, dict[str, str]],
        mounts: dict[str, list[Mount]],
        restart_policy: str,
        containers: list[ContainerRun],
        inits: list[ContainerRun],
    ) -> int:
        backoff = 1.0
        while True:
            code = await self._run_container(run, container, cr, envs[cr.name], mounts[cr.name])
            restart = not run.terminating.is_set() and (
                restart_policy == "Always" or (restart_policy == "OnFailure" and code != 0)
            )
            if not restart:
                return code
            await self._patch_status(run, self._running_status(pod, containers, inits))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RESTART_BACKOFF_MAX)
            cr.restarts += 1
            cr.exit_code = None

    async def _run_container(
        self,
        run: PodRun,
        container: dict[str, Any],
        cr: ContainerRun,
        env: dict[str, str],
        mounts: list[Mount],
    ) -> int:
        args = podspec.argv(container, env)
        logfile = run.dir / f"{cr.name}.log"
        script = podspec.mount_script(mounts, container.get("workingDir"), IMAGE_PATHS)
        cmd = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", *args]
        with logfile.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                cwd=run.dir,
            )
        run.procs[cr.name] = proc
        cr.pid, cr.started_at, cr.message = proc.pid, _now(), ""
        log.info("pod %s/%s container %s: started pid %d: %s", run.namespace, run.name, cr.name, proc.pid, args)
        rc = await proc.wait()
        run.procs.pop(cr.name, None)
        code = podspec.exit_code(rc)
        cr.exit_code, cr.finished_at = code, _now()
        if code != 0 and container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            cr.message = podspec.tail_message(logfile.read_text(errors="replace"))
        log.info("pod %s/%s container %s: exited %d", run.namespace, run.name, cr.name, code)
        return code

    # --- status ---------------------------------------------------------------------------------------------

    def _running_status(
        self, pod: dict[str, Any], containers: list[ContainerRun], inits: list[ContainerRun]
    ) -> dict[str, Any]:
        now = _now()
        ready = "True" if all(c.exit_code is None for c in containers) else "False"
        conds = [
            {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": now},
            {"type": "Ready", "status": ready, "lastTransitionTime": now},
        ]
        for c in containers:
            if not c.started_at:
                c.started_at = now
        return {
            "status": {
                "phase": "Running",
                "hostIP": "127.0.0.1",
                "hostIPs": [{"ip": "127.0.0.1"}],
                "podIP": "127.0.0.1",
                "podIPs": [{"ip": "127.0.0.1"}],
                "startTime": now,
                "conditions": conds,
                "containerStatuses": [c.status() for c in containers],
                "initContainerStatuses": [c.status() for c in inits],
            }
        }

    def _terminal_status(
        self,
        pod: dict[str, Any],
        containers: list[ContainerRun],
        inits: list[ContainerRun],
        phase: str,
        reason: str | None = None,
        message: str | None = None,
    ) -> dict[str, Any]:
        now = _now()
        for c in containers:
            if c.exit_code is None:
                c.exit_code, c.finished_at = 137, now
        cond_reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": [
                {"type": "ContainersReady", "status": "False", "reason": cond_reason, "lastTransitionTime": now},
                {"type": "Ready", "status": "False", "reason": cond_reason, "lastTransitionTime": now},
            ],
            "containerStatuses": [c.status() for c in containers],
            "initContainerStatuses": [c.status() for c in inits],
        }
        if reason:
            status["reason"] = reason
        if message:
            status["message"] = message
        return {"status": status}

    async def _patch_status(self, run: PodRun, patch: dict[str, Any]) -> None:
        try:
            await self.client.patch(
                Pod.Status, run.name, patch, namespace=run.namespace, patch_type=PatchType.STRATEGIC
            )
        except ApiError as e:
            if e.status.code != 404:
                log.warning("pod %s/%s: status patch failed: %s", run.namespace, run.name, e.status.message)

    async def _report_lost(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        lost = [
            ContainerRun(
                c["name"],
                c.get("image", ""),
                exit_code=137,
                finished_at=_now(),
                message="the process-backed node restarted and lost this process",
            )
            for c in pod["spec"]["containers"]
        ]
        run = PodRun(meta["namespace"], meta["name"], meta["uid"], Path())
        await self._patch_status(
            run, self._terminal_status(pod, lost, [], "Failed", reason="ProcessLost", message=lost[0].message)
        )

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
        meta = pod["metadata"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        log.info("pod %s/%s: terminating (grace %ss)", run.namespace, run.name, grace)
        await self._kill_all(run, grace=float(grace))
        if run.task:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(run.task, timeout=5)
        self.pods.pop(run.uid, None)
        if delete:
            phase = (pod.get("status") or {}).get("phase")
            if phase not in ("Succeeded", "Failed"):
                # Kubelet reports a terminal phase before the pod goes, so the Job controller counts it.
                containers = [
                    ContainerRun(c["name"], c.get("image", ""), exit_code=143, finished_at=_now())
                    for c in pod["spec"]["containers"]
                ]
                await self._patch_status(run, self._terminal_status(pod, containers, [], "Failed"))
            await self._delete_now(pod)

    async def _delete_now(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        try:
            await self.client.delete(Pod, meta["name"], namespace=meta["namespace"], grace_period=0)
        except ApiError as e:
            if e.status.code != 404:
                raise

    # --- preparing a pod: volumes, token, env ---------------------------------------------------------------

    async def _prepare(
        self, run: PodRun, pod: dict[str, Any]
    ) -> tuple[dict[str, dict[str, str]], dict[str, list[Mount]]]:
        spec = pod["spec"]
        run.dir.mkdir(parents=True, exist_ok=True)
        volumes: dict[str, str] = {}
        for vol in spec.get("volumes") or []:
            volumes[vol["name"]] = await self._volume(run, pod, vol)
        envs: dict[str, dict[str, str]] = {}
        mounts: dict[str, list[Mount]] = {}
        for c in [*(spec.get("initContainers") or []), *spec["containers"]]:
            env = await self._env(pod, c)
            podspec.argv(c, env)  # fails the pod up front when there is no command
            envs[c["name"]] = env
            ms = []
            for vm in c.get("volumeMounts") or []:
                if vm["name"] not in volumes:
                    raise PodConfigError(f"volumeMount {vm['name']!r} names no volume", permanent=True)
                src = volumes[vm["name"]]
                if vm.get("subPath"):
                    src = str(Path(src) / podspec.expand(vm["subPath"], env))
                    Path(src).mkdir(parents=True, exist_ok=True)
                ms.append(Mount(src, vm["mountPath"], bool(vm.get("readOnly"))))
            mounts[c["name"]] = ms
        return envs, mounts

    async def _volume(self, run: PodRun, pod: dict[str, Any], vol: dict[str, Any]) -> str:
        name = vol["name"]
        ns = run.namespace
        target = run.dir / "volumes" / name
        if "emptyDir" in vol:
            target.mkdir(parents=True, exist_ok=True)
            return str(target)
        if "hostPath" in vol:
            path = vol["hostPath"]["path"]
            if vol["hostPath"].get("type") == "DirectoryOrCreate":
                Path(path).mkdir(parents=True, exist_ok=True)
            return str(path)
        if "persistentVolumeClaim" in vol:
            return await self._pvc_dir(ns, vol["persistentVolumeClaim"]["claimName"])
        files: dict[str, bytes] = {}
        if "configMap" in vol or "secret" in vol:
            files = await self._keyed_files(ns, vol)
        elif "downwardAPI" in vol:
            files = {
                i["path"]: podspec.field_value(pod, i["fieldRef"]["fieldPath"]).encode()
                for i in vol["downwardAPI"].get("items", [])
                if "fieldRef" in i
            }
        elif "projected" in vol:
            for source in vol["projected"].get("sources") or []:
                files.update(await self._projected(pod, source))
        else:
            kind = next((k for k in vol if k != "name"), "?")
            raise PodConfigError(
                f"volume {name!r}: {kind} volumes are not supported by process-backed pods", permanent=True
            )
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for rel, data in files.items():
            p = target / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        return str(target)

    async def _keyed_files(self, ns: str, vol: dict[str, Any]) -> dict[str, bytes]:
        if "configMap" in vol:
            src = vol["configMap"]
            data = await self._configmap_data(ns, src["name"], bool(src.get("optional")))
        else:
            src = vol["secret"]
            data = await self._secret_data(ns, src["secretName"], bool(src.get("optional")))
        items = src.get("items")
        if not items:
            return dict(data)
        out = {}
        for i in items:
            if i["key"] not in data:
                raise PodConfigError(f"key {i['key']!r} not found for volume {vol['name']!r}")
            out[i["path"]] = data[i["key"]]
        return out

    async def _configmap_data(self, ns: str, name: str, optional: bool) -> dict[str, bytes]:
        try:
            cm = await self.client.get(ConfigMap, name, namespace=ns)
        except ApiError as e:
            if e.status.code == 404 and optional:
                return {}
            raise PodConfigError(f'configmap "{name}" not found') from e
        return {k: v.encode() for k, v in (cm.data or {}).items()}

    async def _secret_data(self, ns: str, name: str, optional: bool) -> dict[str, bytes]:
        try:
            s = await self.client.get(Secret, name, namespace=ns)
        except ApiError as e:
            if e.status.code == 404 and optional:
                return {}
            raise PodConfigError(f'secret "{name}" not found') from e
        data = {k: base64.b64decode(v) for k, v in (s.data or {}).items()}
        data.update({k: v.encode() for k, v in (s.stringData or {}).items()})
        return data

    async def _projected(self, pod: dict[str, Any], source: dict[str, Any]) -> dict[str, bytes]:
        ns = pod["metadata"]["namespace"]
        if "serviceAccountToken" in source:
            sat = source["serviceAccountToken"]
            token = await self._token(pod, sat.get("audience"), sat.get("expirationSeconds", 3607))
            return {sat["path"]: token.encode()}
        if "configMap" in source or "secret" in source:
            return await self._keyed_files(ns, {"name": "projected", **source})
        if "downwardAPI" in source:
            return {
                i["path"]: podspec.field_value(pod, i["fieldRef"]["fieldPath"]).encode()
                for i in source["downwardAPI"].get("items", [])
                if "fieldRef" in i
            }
        raise PodConfigError(f"projected source {next(iter(source))!r} is not supported", permanent=True)

    async def _token(self, pod: dict[str, Any], audience: str | None, seconds: int) -> str:
        meta = pod["metadata"]
        sa = pod["spec"].get("serviceAccountName") or "default"
        req = ServiceAccount.Token(
            metadata=ObjectMeta(name=sa, namespace=meta["namespace"]),
            spec=TokenRequestSpec(
                audiences=[audience] if audience else [],
                expirationSeconds=seconds,
                boundObjectRef=BoundObjectReference(apiVersion="v1", kind="Pod", name=meta["name"], uid=meta["uid"]),
            ),
        )
        try:
            resp = await self.client.create(req, sa, namespace=meta["namespace"])
        except ApiError as e:
            raise PodConfigError(f"token for serviceaccount {sa!r}: {e.status.message}") from e
        assert resp.status is not None
        return str(resp.status.token)

    async def _env(self, pod: dict[str, Any], c: dict[str, Any]) -> dict[str, str]:
        ns = pod["metadata"]["namespace"]
        env: dict[str, str] = {
            # The runner's own interpreter directory comes first: a virtualenv's `oma` stands in for the image's.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")]),
            "HOME": os.environ.get("HOME", "/root"),
            "HOSTNAME": pod["metadata"]["name"],
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.info.apiserver_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(self.info.apiserver_port),
            # Marks the process as this cluster's, so `cluster-down` can end strays.
            "OMA_DEVCLUSTER_STATE": str(self.layout.state),
        }
        for src in c.get("envFrom") or []:
            prefix = src.get("prefix", "")
            if "configMapRef" in src:
                ref = src["configMapRef"]
                data = await self._configmap_data(ns, ref["name"], bool(ref.get("optional")))
            else:
                ref = src["secretRef"]
                data = await self._secret_data(ns, ref["name"], bool(ref.get("optional")))
            env.update({prefix + k: v.decode() for k, v in data.items()})
        for e in c.get("env") or []:
            if "value" in e or "valueFrom" not in e:
                env[e["name"]] = podspec.expand(e.get("value", ""), env)
                continue
            vf = e["valueFrom"]
            if "fieldRef" in vf:
                env[e["name"]] = podspec.field_value(pod, vf["fieldRef"]["fieldPath"])
            elif "configMapKeyRef" in vf or "secretKeyRef" in vf:
                ref = vf.get("configMapKeyRef") or vf["secretKeyRef"]
                getter = self._configmap_data if "configMapKeyRef" in vf else self._secret_data
                data = await getter(ns, ref["name"], bool(ref.get("optional")))
                if ref["key"] in data:
                    env[e["name"]] = data[ref["key"]].decode()
                elif not ref.get("optional"):
                    raise PodConfigError(f"couldn't find key {ref['key']} in {ref['name']}")
            elif "resourceFieldRef" in vf:
                res = vf["resourceFieldRef"]["resource"]
                value = (c.get("resources") or {}).get(res.split(".")[0], {}).get(res.split(".", 1)[1], "0")
                env[e["name"]] = str(value)
        return env

    # --- PVC provisioning ----------------------------------------------------------------------------------

    async def _pvc_dir(self, ns: str, claim: str) -> str:
        try:
            pvc = await self.client.get(PersistentVolumeClaim, claim, namespace=ns)
        except ApiError as e:
            raise PodConfigError(f'persistentvolumeclaim "{claim}" not found') from e
        if not pvc.spec or not pvc.spec.volumeName:
            raise PodConfigError(f'persistentvolumeclaim "{claim}" is not bound yet')
        pv = await self.client.get(PersistentVolume, pvc.spec.volumeName)
        if not pv.spec or not pv.spec.hostPath:
            raise PodConfigError(f"volume {pvc.spec.volumeName} is not a local directory", permanent=True)
        return pv.spec.hostPath.path

    async def _watch_pvcs(self) -> None:
        await self._list_watch(PersistentVolumeClaim, self._on_pvc, namespace=ALL_NS)

    async def _on_pvc(self, op: str, pvc: PersistentVolumeClaim) -> None:
        if op == "DELETED" or not pvc.spec or pvc.spec.volumeName or pvc.metadata is None:
            return
        if (pvc.spec.storageClassName or STORAGE_CLASS) != STORAGE_CLASS or pvc.metadata.deletionTimestamp:
            return
        meta = pvc.metadata
        assert meta.uid and meta.name and meta.namespace
        path = self.layout.volumes / f"{meta.namespace}_{meta.name}_{meta.uid[:8]}"
        path.mkdir(parents=True, exist_ok=True)
        requests = (pvc.spec.resources.requests if pvc.spec.resources else None) or {}
        pv = PersistentVolume(
            metadata=ObjectMeta(name=f"pvc-{meta.uid}", annotations={"pv.kubernetes.io/provisioned-by": PROVISIONER}),
            spec=PersistentVolumeSpec(
                capacity={"storage": requests.get("storage", "1Gi")},
                accessModes=pvc.spec.accessModes or ["ReadWriteOnce"],
                persistentVolumeReclaimPolicy="Delete",
                storageClassName=STORAGE_CLASS,
                volumeMode=pvc.spec.volumeMode or "Filesystem",
                hostPath=HostPathVolumeSource(path=str(path), type="Directory"),
                claimRef=ObjectReference(
                    kind="PersistentVolumeClaim",
                    apiVersion="v1",
                    namespace=meta.namespace,
                    name=meta.name,
                    uid=meta.uid,
                ),
            ),
        )
        try:
            await self.client.create(pv)
            log.info(
                "provisioned %s for pvc %s/%s at %s",
                pv.metadata.name if pv.metadata else "?",
                meta.namespace,
                meta.name,
                path,
            )
        except ApiError as e:
            if e.status.code != 409:
                log.warning("provisioning pvc %s/%s failed: %s", meta.namespace, meta.name, e.status.message)

    async def _watch_pvs(self) -> None:
        await self._list_watch(PersistentVolume, self._on_pv)

    async def _on_pv(self, op: str, pv: PersistentVolume) -> None:
        if op == "DELETED" or pv.metadata is None or pv.status is None or pv.spec is None:
            return
        if (pv.metadata.annotations or {}).get("pv.kubernetes.io/provisioned-by") != PROVISIONER:
            return
        if pv.status.phase == "Released" and pv.spec.persistentVolumeReclaimPolicy == "Delete":
            if pv.spec.hostPath and Path(pv.spec.hostPath.path).is_relative_to(self.layout.volumes):
                shutil.rmtree(pv.spec.hostPath.path, ignore_errors=True)
            assert pv.metadata.name
            with contextlib.suppress(ApiError):
                await self.client.delete(PersistentVolume, pv.metadata.name)

    async def shutdown(self) -> None:
        runs = list(self.pods.values())
        for run in runs:
            run.terminating.set()
        await asyncio.gather(*(self._kill_all(r, grace=2) for r in runs), return_exceptions=True)


async def serve(state_dir: Path) -> None:
    layout = Layout(state_dir)
    info = ClusterInfo.load(layout.info)
    client = AsyncClient(KubeConfig.from_file(info.kubeconfig), field_manager="oma-devnode")
    node = Node(client, layout, info)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = asyncio.create_task(node.run())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([runner, stopper], return_when=asyncio.FIRST_COMPLETED)
    await node.shutdown()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    if runner.done() and not runner.cancelled() and runner.exception():
        raise runner.exception()  # type: ignore[misc]
