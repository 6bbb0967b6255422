"""Operator throughput, latency and memory on the local control plane, against a bare baseline in the same run.

    .venv/bin/python bench/operator_throughput.py [--burst 500] [--steady-rate 5 --steady-seconds 60]
                                                   [--memory-count 5000]
    .venv/bin/python bench/operator_throughput.py --history 50000 [--steady-seconds 60]

Worker pods go to the KWOK node and "succeed" after ~1 s, so the operator, not ffmpeg, is measured.
Run it with no other oma operator on the cluster (two operators would share the VideoJobs).
Counting is done with watches (polling lists would load the apiserver and this process alike).
The last line is ours/bare by rate: the operator writes a Job and a status per VideoJob, the bare script
only the Job, so 0.5 is the line to reach.

--history N: a year of work. N VideoJobs exist before the operator starts, 98 % of them finished (status
written as the operator writes it), the rest suspended. Reported: the time from start (and from a restart) to
the first Job of a VideoJob created while the operator was down, memory, writes to finished VideoJobs (their
resourceVersions before the first start and after the restart, from the apiserver), then the steady rate's
latency with that history present. --keep-history leaves the namespace for the next run, which reuses it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Namespace

from oma.devcluster import cluster, fixtures
from oma.devcluster.operator_process import OperatorProcess
from oma.k8s import kinds
from oma.k8s.client import Kube
from oma.k8s.errors import ApiFailure
from oma.k8s.kinds import Kind
from oma.models.videojob import VideoJob
from oma.operator.common.labels import LABEL_MANAGED_BY
from oma.operator.videojob.builders import WorkerDefaults, build_job, build_worker_rbac

POD = Kind("v1", "Pod", "pods")  # only counted here: oma itself never reads pods


def videojob(name: str, suspend: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "video.oma.ai/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": name},
        "spec": {
            "inputs": [{"titleCard": {"text": name, "durationSeconds": 1}}],
            "outputs": {"mp4": [{"name": "out", "width": 320, "height": 240}]},
            "destination": {"claimName": "media", "pathPrefix": name},
            "suspend": suspend,
        },
    }


def bare_job(name: str, namespace: str) -> dict[str, Any]:
    """The same Job the operator would build, without an owner (there is no VideoJob). Its managed-by label
    names the baseline (as many bytes to store): the operator's Job watch selects on that label, and
    had decoded every bare Job's events in the bare phase, taking CPU from the baseline it is measured by."""
    vj = VideoJob.model_validate({**videojob(name), "metadata": {"name": name, "namespace": namespace, "uid": "x"}})
    manifest = build_job(vj, WorkerDefaults())
    del manifest["metadata"]["ownerReferences"]
    manifest["metadata"]["labels"] = {**manifest["metadata"]["labels"], LABEL_MANAGED_BY: "oma-baseline"}
    return manifest


def placed(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}


async def create_all(lean: Kube, objs: list[dict[str, Any]], namespace: str, parallel: int = 50) -> None:
    """Plain JSON through oma's own client, as every call of this bench: its CPU competes with the operator on
    the same two cores, and lightkube's typed models cost several times more per object."""
    sem = asyncio.Semaphore(parallel)

    async def one(obj: dict[str, Any]) -> None:
        async with sem:
            await patiently(lambda: lean.create(placed(obj, namespace)))  # an existing one (a lost answer) is fine

    await asyncio.gather(*(one(o) for o in objs))


async def patiently(call: Callable[[], Awaitable[Any]]) -> Any:
    """One write of a long setup phase, again after a timeout or a 429/5xx: writing 50,000 objects on a busy
    machine meets a few, and losing half an hour of setup to one of them helps nobody."""
    for attempt in range(6):
        try:
            return await call()
        except ApiFailure as e:  # code None: nothing answered
            if attempt == 5 or (e.code is not None and e.code < 429):
                raise
        await asyncio.sleep(2**attempt)
    raise AssertionError("unreachable")


def make_namespace(kube: Client, prefix: str, limit: int) -> str:
    """A namespace with the concurrency limit and the destination PVC every worker pod mounts."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    annotations = {"video.oma.ai/max-concurrent-jobs": str(limit)}
    kube.create(
        from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "annotations": annotations}})
    )
    kube.create(from_dict(fixtures.claim("media")), namespace=name)
    return name


def phase(body: dict[str, Any]) -> str | None:
    return (body.get("status") or {}).get("phase")  # type: ignore[no-any-return]


class Watcher:
    """Records when each object in a namespace first satisfies `done`. Plain JSON, as in `create_all`: typed
    lightkube models for every event of 500 Jobs and VideoJobs took CPU from the operator in its phase only."""

    def __init__(self, lean: Kube, kind: Kind, namespace: str, done: Callable[[dict[str, Any]], bool]):
        self.seen: dict[str, float] = {}
        self.lean, self.kind, self.namespace, self.done = lean, kind, namespace, done
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        version = None
        while True:  # a watch ends after a few minutes; the next goes on from the last version seen
            async for kind, body in self.lean.watch(self.kind, self.namespace, resource_version=version):
                version = body["metadata"].get("resourceVersion") or version
                if kind == "BOOKMARK":
                    continue
                name = body["metadata"]["name"]
                if name not in self.seen and self.done(body):
                    self.seen[name] = time.monotonic()

    async def wait(self, what: str, want: int, timeout: float) -> float:
        t0 = time.monotonic()
        while len(self.seen) < want:
            if time.monotonic() - t0 > timeout:
                raise SystemExit(f"timed out waiting for {what}: {len(self.seen)}/{want}")
            await asyncio.sleep(0.05)
        self.task.cancel()
        return max(self.seen.values())


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def burst(kube: Client, lean: Kube, n: int, op: OperatorProcess) -> float:
    names = [f"vj-{i:05d}" for i in range(n)]
    ns = make_namespace(kube, "bench-burst", n)
    jobs = Watcher(lean, kinds.JOB, ns, lambda b: True)
    done = Watcher(lean, kinds.VIDEOJOB, ns, lambda b: phase(b) == "Succeeded")
    await asyncio.sleep(1)  # the watches are established before the clock starts
    assert op.proc is not None
    cpu0 = cpu_seconds(op.proc.pid)
    t0 = time.monotonic()
    await create_all(lean, [videojob(x) for x in names], ns)
    applied = time.monotonic()
    jobs_at = await jobs.wait("Jobs", n, 300)
    cpu_jobs = cpu_seconds(op.proc.pid) - cpu0
    pods = len(await lean.list(POD, ns))
    done_at = await done.wait("Succeeded VideoJobs", n, 300)
    cpu_done = cpu_seconds(op.proc.pid) - cpu0
    rss, peak = rss_mib(op.proc.pid)
    ours = n / (jobs_at - t0)
    print(
        f"burst: {n} VideoJobs applied in {applied - t0:.1f}s; all Jobs exist after {jobs_at - t0:.1f}s "
        f"({ours:.1f} VideoJobs/s), {pods} pods by then; all Succeeded after {done_at - t0:.1f}s; operator RSS "
        f"{rss:.0f} MiB (peak {peak:.0f} MiB)",
        flush=True,
    )
    print(
        f"operator CPU per VideoJob: {1000 * cpu_jobs / n:.2f} ms until its Job exists, "
        f"{1000 * cpu_done / n:.2f} ms until Succeeded",
        flush=True,
    )

    fixtures.quiet_namespaces(kube, ns)  # the bare run starts on the same empty cluster ours did
    bare_ns = make_namespace(kube, "bench-bare", n)
    # The workers' ServiceAccount and Role, as the operator makes them in a namespace before its first Job there.
    # Without the ServiceAccount, admission refused every bare Job's pod, so the baseline was spared the pods'
    # creation, scheduling and start that ours pays for inside its window.
    for manifest in build_worker_rbac(bare_ns):
        await lean.create(manifest)
    bare_jobs = Watcher(lean, kinds.JOB, bare_ns, lambda b: True)
    await asyncio.sleep(1)
    cpu0 = cpu_seconds(op.proc.pid)
    t0 = time.monotonic()
    await create_all(lean, [bare_job(x, bare_ns) for x in names], bare_ns)
    bare_at = await bare_jobs.wait("bare Jobs", n, 300)
    bare = n / (bare_at - t0)
    bare_pods = len(await lean.list(POD, bare_ns))
    print(
        f"bare: {n} Jobs created directly in {bare_at - t0:.1f}s ({bare:.1f} Jobs/s), {bare_pods} pods by then; "
        f"operator CPU meanwhile {cpu_seconds(op.proc.pid) - cpu0:.2f}s",
        flush=True,
    )
    if pods and not bare_pods:
        # Both windows must hold the same downstream work; a baseline whose pods are refused is not one.
        raise SystemExit(f"the bare Jobs made no pods (see the Events in {bare_ns}): the ratio would flatter ours")
    fixtures.quiet_namespaces(kube, bare_ns)
    return ours / bare


async def steady(kube: Client, lean: Kube, rate: float, seconds: float) -> None:
    ns = make_namespace(kube, "bench-steady", 10_000)
    jobs = Watcher(lean, kinds.JOB, ns, lambda b: True)
    await asyncio.sleep(1)
    created: dict[str, float] = {}
    n = int(rate * seconds)
    t0 = time.monotonic()
    for i in range(n):
        await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        name = f"s-{i:05d}"
        created[name] = time.monotonic()
        await lean.create(placed(videojob(name), ns))
    await jobs.wait("steady Jobs", n, 120)
    lat = sorted(jobs.seen[f"{k}-vj"] - created[k] for k in created)
    p95 = lat[int(0.95 * (len(lat) - 1))]
    print(
        f"steady: {n} VideoJobs at {rate}/s for {seconds:.0f}s; VideoJob-to-Job latency "
        f"p50 {statistics.median(lat) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms",
        flush=True,
    )
    fixtures.quiet_namespaces(kube, ns)


async def memory(kube: Client, lean: Kube, count: int, op: OperatorProcess) -> None:
    ns = make_namespace(kube, "bench-memory", 10)
    assert op.proc is not None
    before, _ = rss_mib(op.proc.pid)
    seen = Watcher(lean, kinds.VIDEOJOB, ns, lambda b: phase(b) == "Suspended")
    await asyncio.sleep(1)
    await create_all(lean, [videojob(f"m-{i:05d}", suspend=True) for i in range(count)], ns)
    await seen.wait("all VideoJobs Suspended", count, 300)
    rss, peak = rss_mib(op.proc.pid)
    print(
        f"memory: {count} VideoJobs present: operator RSS {rss:.0f} MiB (peak {peak:.0f} MiB; "
        f"{before:.0f} MiB before them)",
        flush=True,
    )
    fixtures.quiet_namespaces(kube, ns)


FINISHED_STATUS: dict[str, Any] = {
    "phase": "Succeeded",
    "attempts": 1,
    "observedGeneration": 1,
    "startTime": "2026-01-01T00:00:00Z",
    "completionTime": "2026-01-01T00:00:09Z",
    "progress": {"phase": "Done", "percent": 100, "encodeSeconds": 1.2, "secondsPerOutputMinute": 72.0},
    "conditions": [
        {
            "type": t,
            "status": "True" if t == "Succeeded" else "False",
            "reason": "Completed" if t == "Succeeded" else "Finished",
            "message": "every output was verified and published",
            "lastTransitionTime": "2026-01-01T00:00:09Z",
        }
        for t in ("Ready", "Running", "Succeeded", "Failed")
    ],
    "outputs": [
        {
            "uri": "out.mp4",
            "kind": "mp4",
            "codec": "h264",
            "width": 320,
            "height": 240,
            "durationSeconds": 1.0,
            "sizeBytes": 24109,
            "sha256": "9f2c" * 16,
        }
    ],
}


async def write_history(lean: Kube, ns: str, count: int) -> dict[str, str]:
    """`count` VideoJobs, 98 % finished; returns the finished ones' resourceVersions."""
    finished = [f"h-{i:05d}" for i in range(count * 98 // 100)]
    waiting = [f"w-{i:05d}" for i in range(count - len(finished))]
    t0 = time.monotonic()
    await create_all(lean, [videojob(x) for x in finished] + [videojob(x, suspend=True) for x in waiting], ns)
    sem = asyncio.Semaphore(50)
    versions: dict[str, str] = {}

    async def finish(name: str) -> None:
        async with sem:
            version = await patiently(lambda: lean.patch_status(kinds.VIDEOJOB, name, FINISHED_STATUS, ns))
            assert version is not None, f"VideoJob {name} vanished while the history was written"
            versions[name] = version

    await asyncio.gather(*(finish(n) for n in finished))
    print(
        f"history: {count} VideoJobs written ({len(finished)} Succeeded, {len(waiting)} suspended) in "
        f"{time.monotonic() - t0:.0f}s",
        flush=True,
    )
    return versions


async def finished_versions(lean: Kube, ns: str) -> dict[str, str]:
    versions = {}
    async for page, _ in lean.list_pages(kinds.VIDEOJOB, ns):
        versions.update((o["metadata"]["name"], o["metadata"]["resourceVersion"]) for o in page)
    return {name: version for name, version in versions.items() if name.startswith("h-")}


HISTORY_LABEL = "video.oma.ai/bench-history"


async def history_namespace(kube: Client, lean: Kube, count: int) -> tuple[str, dict[str, str]]:
    """A namespace holding `count` VideoJobs of history: one left by an earlier run is reused (writing 50,000
    objects takes the apiserver many minutes), else it is written. Returns it with the finished ones' versions."""
    for ns in kube.list(Namespace, labels={HISTORY_LABEL: str(count)}):
        name = ns.metadata.name
        versions = await finished_versions(lean, name)
        if len(versions) == count * 98 // 100:
            print(f"history: reusing {name} ({count} VideoJobs, {len(versions)} finished)", flush=True)
            return name, versions
        kube.delete(Namespace, name)
    name = make_namespace(kube, "bench-history", 10)
    kube.patch(Namespace, name, {"metadata": {"labels": {HISTORY_LABEL: str(count)}}})
    return name, await write_history(lean, name, count)


async def first_job_after_start(lean: Kube, ns: str, name: str, op: OperatorProcess) -> float:
    """Seconds from starting the operator to the Job of VideoJob `name`, created while it was down."""
    jobs = Watcher(lean, kinds.JOB, ns, lambda b: b["metadata"]["name"] == f"{name}-vj")
    await lean.create(placed(videojob(name), ns))
    await asyncio.sleep(1)
    t0 = time.monotonic()
    op.start(timeout=300)
    return await jobs.wait(f"the Job of {name}", 1, 300) - t0


async def history(kube: Client, lean: Kube, count: int, op: OperatorProcess, steady_seconds: float, keep: bool) -> None:
    ns, before = await history_namespace(kube, lean, count)
    waiting = count - len(before)
    reported = Watcher(lean, kinds.VIDEOJOB, ns, lambda b: phase(b) == "Suspended")
    fresh = [f"fresh-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    first = await first_job_after_start(lean, ns, fresh[0], op)
    await reported.wait("every unfinished VideoJob reported Suspended", waiting, 600)
    assert op.proc is not None
    rss, peak = rss_mib(op.proc.pid)
    print(
        f"history start: first new Job {first:.1f}s after start; operator RSS {rss:.0f} MiB (peak {peak:.0f} MiB)",
        flush=True,
    )

    op.stop()
    first = await first_job_after_start(lean, ns, fresh[1], op)
    done = Watcher(lean, kinds.VIDEOJOB, ns, lambda b: b["metadata"]["name"] == fresh[1] and phase(b) == "Succeeded")
    await done.wait("the new VideoJob to succeed", 1, 300)
    after = await finished_versions(lean, ns)
    written = sum(1 for name, version in before.items() if after.get(name) != version)
    rss, peak = rss_mib(op.proc.pid)
    print(
        f"history restart: first new Job {first:.1f}s after start; {written} of {len(before)} finished "
        f"VideoJobs written to since before the first start; operator RSS {rss:.0f} MiB (peak {peak:.0f} MiB)",
        flush=True,
    )
    if steady_seconds > 0:
        await steady(kube, lean, 5, steady_seconds)
    for name in fresh:
        await lean.delete(kinds.VIDEOJOB, name, ns)
    if not keep:
        fixtures.quiet_namespaces(kube, ns)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--burst", type=int, default=500)
    ap.add_argument("--steady-rate", type=float, default=5)
    ap.add_argument("--steady-seconds", type=float, default=60)
    ap.add_argument("--memory-count", type=int, default=5000)
    ap.add_argument("--history", type=int, default=0, help="run the history mode with this many VideoJobs")
    ap.add_argument("--keep-history", action="store_true", help="leave the history namespace for the next run")
    args = ap.parse_args()
    info = cluster.up()
    kube = Client(KubeConfig.from_file(info.kubeconfig), field_manager="oma-bench")
    fixtures.install_crds(info.kubeconfig)
    lean = Kube.connect(info.kubeconfig, field_manager="oma-bench")
    log = Path(info.state_dir) / "logs" / "operator-bench.log"
    op = OperatorProcess(info.kubeconfig, log, process_backed=False, extra_args=["--log-format", "json"])
    if args.history:
        try:
            await history(kube, lean, args.history, op, args.steady_seconds, args.keep_history)
        finally:
            op.stop()
            await lean.close()
        return
    fixtures.quiet_namespaces(kube)  # an earlier run's namespaces may still be going
    op.start()
    try:
        ratio = await burst(kube, lean, args.burst, op)
        if args.steady_seconds > 0:
            await steady(kube, lean, args.steady_rate, args.steady_seconds)
        if args.memory_count > 0:
            await memory(kube, lean, args.memory_count, op)
    finally:
        op.stop()
        await lean.close()
    print(f"ours/bare (VideoJobs/s to Jobs/s): {ratio:.2f}")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except ApiError as e:
        raise SystemExit(f"API error: {e.status.message}") from e
