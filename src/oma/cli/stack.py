"""`oma stack restore`: load a backup from a stack's backups claim into its Postgres and Redis, as Jobs.
`oma stack export-objects` / `restore-objects`: a namespace's OmaStacks and VideoJobs as YAML, and back.

The Jobs come from the same builders as the operator's children (pure functions, no operator runtime), so the
scripts are the ones the restore test runs. `--print` shows them instead, for review or a GitOps repository."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from oma.k8s import ApiFailure, Gone, Kube, NotFound, kinds
from oma.k8s.config import kube_config
from oma.models.omastack import OmaStack
from oma.models.videojob import RESTORING_ANNOTATION
from oma.operator.omastack.builders.restore import EXTENSIONS, TARGETS, Target, build_restore_job

from .objects import RestorePlan, backup_document, plan_restore

FROM_HELP = (
    "what to restore: `latest` (the newest dump and the newest snapshot), `postgres/latest`, `redis/latest`, "
    "or a file on the backups claim such as `postgres/20261126T030000Z.dump` or `redis/20261126T030000Z.rdb` "
    "(repeatable, one per database)"
)


def parse_from(values: list[str]) -> list[tuple[Target, str]]:
    """`--from` values as (database, file name or `latest`), one per database."""
    chosen: dict[Target, str] = {}
    for value in values:
        if value == "latest":
            pairs = [(t, "latest") for t in TARGETS]
        else:
            target, sep, name = value.partition("/")
            if not sep or target not in TARGETS or not name:
                raise ValueError(f"--from {value!r}: expected latest, postgres/<file> or redis/<file>")
            t: Target = "postgres" if target == "postgres" else "redis"
            if name != "latest" and not name.endswith(f".{EXTENSIONS[t]}"):
                raise ValueError(f"--from {value!r}: {t} backups end in .{EXTENSIONS[t]}")
            pairs = [(t, name)]
        for t, name in pairs:
            if chosen.get(t, name) != name:
                raise ValueError(f"--from names two {t} backups: {chosen[t]} and {name}")
            chosen[t] = name
    return sorted(chosen.items())


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="stack_cmd", required=True)
    r = sub.add_parser("restore", help="restore Postgres and/or Redis of a stack from its backups claim")
    r.add_argument("stack", help="the OmaStack's name")
    r.add_argument("--from", dest="sources", action="append", required=True, metavar="BACKUP", help=FROM_HELP)
    _common(r)
    r.add_argument("--print", action="store_true", help="print the Jobs as YAML instead of creating them")
    r.add_argument("--timeout", type=float, default=6 * 3600, help="seconds to wait for the Jobs (default 6 h)")
    e = sub.add_parser("export-objects", help="write the namespace's OmaStacks and VideoJobs as YAML")
    _common(e)
    e.add_argument(
        "-o",
        "--output",
        help="a file, or - for stdout; default: $BACKUP_DIR/objects/<UTC time>.yaml (as the "
        "CronJob does), keeping the newest $KEEP",
    )
    i = sub.add_parser("restore-objects", help="re-create OmaStacks and VideoJobs from an export-objects file")
    i.add_argument("file", help="the YAML file (- for stdin)")
    _common(i)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--namespace", help="default: the kubeconfig context's namespace")
    p.add_argument("--kubeconfig", help="default: $KUBECONFIG, ~/.kube/config, or the pod's ServiceAccount")


def _namespace(args: argparse.Namespace) -> str:
    if args.namespace:
        return str(args.namespace)
    config = kube_config(args.kubeconfig).get()
    return (config.namespace if config else None) or "default"


def job_outcome(job: dict[str, Any]) -> str | None:
    """`Complete` or `Failed: <message>` once the Job has finished, else None."""
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("status") != "True":
            continue
        if c.get("type") == "Complete":
            return "Complete"
        if c.get("type") == "Failed":
            return f"Failed: {c.get('reason', '')} {c.get('message', '')}".strip()
    return None


async def _outcomes(kube: Kube, names: list[str], namespace: str) -> dict[str, str]:
    """Each Job's outcome, from a list and a watch of the namespace's restore Jobs (listed again if the watch
    ends or its resourceVersion expires)."""
    outcomes: dict[str, str] = {}
    labels = {"app.kubernetes.io/name": "oma-restore"}

    def record(job: dict[str, Any]) -> bool:
        name = job["metadata"]["name"]
        if name in names and (outcome := job_outcome(job)) is not None:
            outcomes[name] = outcome
        return len(outcomes) == len(names)

    while True:
        items, version = await kube.list_with_version(kinds.JOB, namespace, labels)
        if any([record(j) for j in items]):
            return outcomes
        try:
            async for event, job in kube.watch(kinds.JOB, namespace, labels, version):
                if event in ("ADDED", "MODIFIED") and record(job):
                    return outcomes
        except Gone:
            continue


async def _wait(kube: Kube, names: list[str], namespace: str, seconds: float) -> list[str]:
    try:
        outcomes = await asyncio.wait_for(_outcomes(kube, names, namespace), seconds)
    except TimeoutError:
        return [f"still running after {seconds:.0f}s"] * len(names)
    return [outcomes[n] for n in names]


async def restore(args: argparse.Namespace, wanted: list[tuple[Target, str]]) -> int:
    namespace = _namespace(args)
    kube = Kube.connect(args.kubeconfig, field_manager="oma-cli")
    try:
        try:
            body = await kube.get(kinds.OMASTACK, args.stack, namespace)
        except NotFound:
            print(f"error: no OmaStack {args.stack} in namespace {namespace}", file=sys.stderr)
            return 1
        stack = OmaStack.model_validate(body)
        run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        jobs = [build_restore_job(stack, target, name, run_id) for target, name in wanted]
        if args.print:
            print(yaml.safe_dump_all(jobs, sort_keys=False), end="")
            return 0
        for job in jobs:
            await kube.create(job)
            print(f"job/{job['metadata']['name']} created")
        names = [j["metadata"]["name"] for j in jobs]
        outcomes = await _wait(kube, names, namespace, args.timeout)
    finally:
        await kube.close()
    for name, outcome in zip(names, outcomes, strict=True):
        print(f"job/{name}: {outcome}")
    if any(o != "Complete" for o in outcomes):
        print(f"see: kubectl -n {namespace} logs job/<name>", file=sys.stderr)
        return 1
    return 0


def _utc_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def write_backup(text: str, directory: Path, keep: int, stamp: str) -> Path:
    """As the backup scripts do: a hidden partial file renamed when complete, then only the newest `keep` kept."""
    directory.mkdir(parents=True, exist_ok=True)
    partial, final = directory / f".{stamp}.partial", directory / f"{stamp}.yaml"
    partial.write_text(text, encoding="utf-8")
    partial.replace(final)
    for old in sorted(directory.glob("*.yaml"))[:-keep]:
        old.unlink()
    return final


async def _read_objects(args: argparse.Namespace, namespace: str) -> tuple[list[Any], list[Any]]:
    kube = Kube.connect(args.kubeconfig, field_manager="oma-cli")
    try:
        return await kube.list(kinds.OMASTACK, namespace), await kube.list(kinds.VIDEOJOB, namespace)
    finally:
        await kube.close()


def export_objects(args: argparse.Namespace) -> int:
    namespace = _namespace(args)
    stacks, videojobs = asyncio.run(_read_objects(args, namespace))
    stamp = _utc_stamp()
    text = yaml.safe_dump(backup_document(namespace, stacks, videojobs, stamp), sort_keys=False)
    if args.output == "-":
        print(text, end="")
    elif args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        directory = Path(os.environ.get("BACKUP_DIR") or "/backups") / "objects"
        path = write_backup(text, directory, int(os.environ.get("KEEP") or 7), stamp)
        print(f"wrote {path}: {len(stacks)} OmaStack(s), {len(videojobs)} VideoJob(s)")
    return 0


async def _restore_finished(kube: Kube, manifest: dict[str, Any], status: dict[str, Any], namespace: str) -> str:
    """Create held, write the backed-up status, release. A VideoJob left held by an interrupted restore is
    finished the same way; any other existing one is left alone."""
    name = manifest["metadata"]["name"]
    if not await kube.create(manifest):
        current = await kube.get(kinds.VIDEOJOB, name, namespace)
        held = RESTORING_ANNOTATION in (current["metadata"].get("annotations") or {})
        if not held or (current.get("status") or {}).get("phase"):
            return "exists"
    await kube.patch_status(kinds.VIDEOJOB, name, status, namespace)
    # The release also (re)writes the planned annotations, which a held object an earlier run left may lack.
    annotations = {**manifest["metadata"].get("annotations", {}), RESTORING_ANNOTATION: None}
    await kube.patch(kinds.VIDEOJOB, name, {"metadata": {"annotations": annotations}}, namespace)
    return "adopted"


async def _restore_plan(kube: Kube, plan: RestorePlan, namespace: str) -> tuple[dict[str, int], list[str]]:
    counts: dict[str, int] = {}
    errors: list[str] = []
    gate = asyncio.Semaphore(16)

    async def one(what: str, work: Any) -> None:
        async with gate:
            try:
                outcome = await work
            except ApiFailure as e:
                errors.append(f"{what}: {e}")
                return
        counts[outcome] = counts.get(outcome, 0) + 1

    async def create(manifest: dict[str, Any], verb: str) -> str:
        return verb if await kube.create(manifest) else "exists"

    # Stacks first (VideoJobs may name them); unfinished VideoJobs last, so they queue behind nothing restored.
    await asyncio.gather(*(one(f"OmaStack {m['metadata']['name']}", create(m, "stack")) for m in plan.stacks))
    await asyncio.gather(
        *(
            one(f"VideoJob {m['metadata']['name']}", _restore_finished(kube, m, st, namespace))
            for m, st in plan.finished
        )
    )
    await asyncio.gather(*(one(f"VideoJob {m['metadata']['name']}", create(m, "queued")) for m in plan.unfinished))
    return counts, errors


async def _apply_plan(args: argparse.Namespace, plan: RestorePlan, namespace: str) -> tuple[dict[str, int], list[str]]:
    kube = Kube.connect(args.kubeconfig, field_manager="oma-cli")
    try:
        return await _restore_plan(kube, plan, namespace)
    finally:
        await kube.close()


def restore_objects(args: argparse.Namespace) -> int:
    namespace = _namespace(args)
    source = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    try:
        plan = plan_restore(yaml.safe_load(source), namespace, Path(args.file).name)
    except (ValueError, KeyError, TypeError, yaml.YAMLError) as e:
        print(f"error: {args.file}: {e}", file=sys.stderr)
        return 2
    counts, errors = asyncio.run(_apply_plan(args, plan, namespace))
    print(
        f"{namespace}: {counts.get('stack', 0)} OmaStack(s) created, {counts.get('adopted', 0)} finished "
        f"VideoJob(s) adopted, {counts.get('queued', 0)} unfinished VideoJob(s) created to run again, "
        f"{counts.get('exists', 0)} already there"
    )
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


def run(args: argparse.Namespace) -> int:
    if args.stack_cmd == "export-objects":
        return export_objects(args)
    if args.stack_cmd == "restore-objects":
        return restore_objects(args)
    try:
        wanted = parse_from(args.sources)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return asyncio.run(restore(args, wanted))
