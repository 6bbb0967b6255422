"""`oma operator`: run the VideoJob operator against the current kubeconfig (or in-cluster identity)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import kopf
import uvloop

from oma.models.videojob import MIN_CHUNK_SECONDS

from .common.lease import ElectionSettings
from .runtime import RUNTIME, Election
from .videojob.builders import WorkerDefaults
from .videojob.controller import Settings


def _pairs(values: list[str] | None) -> dict[str, str]:
    out = {}
    for v in values or []:
        key, sep, value = v.partition("=")
        if not sep:
            raise SystemExit(f"error: expected KEY=VALUE, got {v!r}")
        out[key] = value
    return out


def _identity() -> str:
    """The pod's name in a cluster (unique among replicas); host and pid elsewhere."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def _toleration(value: str) -> dict[str, Any]:
    """KEY[=VALUE][:EFFECT], as kubectl taint writes taints."""
    body, _, effect = value.partition(":")
    key, sep, val = body.partition("=")
    tol: dict[str, Any] = {"key": key, "operator": "Equal" if sep else "Exists"}
    if sep:
        tol["value"] = val
    if effect:
        tol["effect"] = effect
    return tol


def _json(kind: type) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as e:
            raise argparse.ArgumentTypeError(f"not JSON: {e}") from e
        if not isinstance(parsed, kind):
            raise argparse.ArgumentTypeError(f"expected a JSON {kind.__name__}, got {type(parsed).__name__}")
        return parsed

    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    p.add_argument("--namespace", action="append", help="watch only this namespace (repeatable); default: all")
    _add_worker_arguments(p)
    p.add_argument(
        "--max-concurrent-per-namespace",
        type=int,
        default=int(env("OMA_MAX_CONCURRENT_PER_NAMESPACE", "10")),
        help="default concurrency limit; a namespace annotation video.oma.ai/max-concurrent-jobs overrides",
    )
    p.add_argument("--metrics-port", type=int, default=int(env("OMA_METRICS_PORT", "8080")), help="0 disables")
    p.add_argument("--health-port", type=int, default=int(env("OMA_HEALTH_PORT", "8081")))
    _add_election_arguments(p)
    p.add_argument(
        "--field-manager",
        default="oma-operator",
        help="who the API server records as the writer (give replicas their own to audit who wrote what)",
    )
    p.add_argument("--kubeconfig", default=env("KUBECONFIG"))
    p.add_argument("--log-format", choices=["json", "plain"], default=env("OMA_LOG_FORMAT", "json"))
    p.add_argument("--verbose", action="store_true")


def _add_worker_arguments(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    p.add_argument("--worker-image", default=env("OMA_WORKER_IMAGE", WorkerDefaults.image))
    p.add_argument(
        "--worker-scratch-size",
        default=WorkerDefaults.scratch_size,
        metavar="QUANTITY",
        help="size limit of a worker's scratch emptyDir, and its ephemeral-storage request",
    )
    p.add_argument(
        "--worker-ttl-seconds-after-finished",
        type=int,
        default=WorkerDefaults.ttl_seconds_after_finished,
        metavar="SECONDS",
        help="delete a finished worker Job after this long unless the VideoJob sets its own (-1: never)",
    )
    p.add_argument(
        "--worker-node-selector", action="append", metavar="KEY=VALUE", help="nodeSelector for worker pods (repeatable)"
    )
    p.add_argument(
        "--worker-toleration",
        action="append",
        metavar="KEY[=VALUE][:EFFECT]",
        help="toleration for worker pods (repeatable)",
    )
    p.add_argument(
        "--worker-node-selector-json",
        type=_json(dict),
        default={},
        metavar="JSON",
        help="nodeSelector for worker pods as a JSON object (how the Helm chart passes it)",
    )
    p.add_argument(
        "--worker-tolerations-json",
        type=_json(list),
        default=[],
        metavar="JSON",
        help="tolerations for worker pods as a JSON list of Kubernetes tolerations",
    )
    p.add_argument(
        "--worker-min-chunk-seconds",
        type=float,
        default=MIN_CHUNK_SECONDS,
        help=f"shortest chunk of a split VideoJob (spec.parallelism), default {MIN_CHUNK_SECONDS:g}",
    )
    p.add_argument(
        "--worker-allow-private-inputs",
        action="store_true",
        help="let workers fetch URLs on private/loopback addresses (on-prem media servers)",
    )


def _add_election_arguments(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    p.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=env("OMA_LEADER_ELECT", "true") == "true",
        help="act only while holding a coordination.k8s.io Lease (run several replicas for a hot standby)",
    )
    p.add_argument(
        "--leader-election-namespace",
        default=env("POD_NAMESPACE", "default"),
        help="namespace of the Lease (default: $POD_NAMESPACE, else default)",
    )
    p.add_argument("--leader-election-id", default="oma-operator", help="name of the Lease")
    p.add_argument("--lease-duration", type=float, default=ElectionSettings.duration, metavar="SECONDS")
    p.add_argument("--renew-deadline", type=float, default=ElectionSettings.renew_deadline, metavar="SECONDS")
    p.add_argument("--retry-period", type=float, default=ElectionSettings.retry, metavar="SECONDS")


def run(args: argparse.Namespace) -> int:
    from . import handlers  # noqa: F401  (registers the kopf handlers)

    defaults = WorkerDefaults(
        image=args.worker_image,
        node_selector={**args.worker_node_selector_json, **_pairs(args.worker_node_selector)},
        tolerations=[*args.worker_tolerations_json, *(_toleration(t) for t in args.worker_toleration or [])],
        allow_private_inputs=args.worker_allow_private_inputs,
        min_chunk_seconds=args.worker_min_chunk_seconds,
        scratch_size=args.worker_scratch_size,
        ttl_seconds_after_finished=None
        if args.worker_ttl_seconds_after_finished < 0
        else args.worker_ttl_seconds_after_finished,
    )
    RUNTIME.settings = Settings(
        defaults=defaults, max_concurrent_per_namespace=args.max_concurrent_per_namespace, namespaces=args.namespace
    )
    RUNTIME.metrics_port = args.metrics_port
    RUNTIME.health_port = args.health_port
    RUNTIME.kubeconfig = args.kubeconfig
    RUNTIME.field_manager = args.field_manager
    if args.leader_elect:
        timing = ElectionSettings(args.lease_duration, args.renew_deadline, args.retry_period)
        RUNTIME.election = Election(args.leader_election_namespace, args.leader_election_id, _identity(), timing)
    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    if not args.verbose:
        # kopf logs every handler run at INFO; at hundreds of events a second that is most of our CPU.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # No kopf peering: it pauses every operator of equal priority, so a stray instance would freeze production.
    # Replicas are coordinated by our Lease instead (leader.py); every replica watches, only the holder acts.
    # uvloop: the same burst of VideoJobs had its Jobs about a fifth sooner than on asyncio's own loop.
    operator = kopf.operator(standalone=True, clusterwide=not args.namespace, namespaces=args.namespace or [])
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(operator)
    return 0
