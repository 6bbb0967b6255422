"""`oma stack restore`: load a backup from a stack's backups claim into its Postgres and Redis, as Jobs.

The Jobs come from the same builders as the operator's children (pure functions, no operator runtime), so the
scripts are the ones the restore test runs. `--print` shows them instead, for review or a GitOps repository."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import Any

import yaml

from oma.k8s import Gone, Kube, NotFound, kinds
from oma.k8s.config import kube_config
from oma.models.omastack import OmaStack
from oma.operator.omastack.builders.restore import EXTENSIONS, TARGETS, Target, build_restore_job

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
    r.add_argument("-n", "--namespace", help="the stack's namespace (default: the kubeconfig context's)")
    r.add_argument("--kubeconfig", help="default: $KUBECONFIG, ~/.kube/config, or the pod's ServiceAccount")
    r.add_argument("--print", action="store_true", help="print the Jobs as YAML instead of creating them")
    r.add_argument("--timeout", type=float, default=6 * 3600, help="seconds to wait for the Jobs (default 6 h)")


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
    namespace = args.namespace or kube_config(args.kubeconfig).get().namespace or "default"  # type: ignore[union-attr]
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


def run(args: argparse.Namespace) -> int:
    try:
        wanted = parse_from(args.sources)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return asyncio.run(restore(args, wanted))
