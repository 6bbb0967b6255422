"""kopf handlers: parse what arrives, hand it to the controller. Nothing else happens here.

VideoJobs and their Jobs are not here: they are the hot kinds, followed by our own informers (runtime.py),
which skip kopf's per-event machinery and filter Jobs by label on the server.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from oma.k8s import connection_fields
from oma.models import omastack

from .common.labels import LABEL_STACK
from .runtime import RUNTIME


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Posting an Event per handler run (the default) doubles API writes; we post our own on phase changes.
    settings.posting.level = logging.WARNING
    # Watches that go quiet are re-established (kopf uses bookmarks to tell quiet from dead).
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.watching.inactivity_timeout = 70
    settings.persistence.finalizer = "video.oma.ai/finalizer"
    # Serve only what exists at start-up: no cluster-wide list/watch of CRDs and namespaces (least privilege).
    # The runtime checks below fail the start-up with a clear message when our CRDs are missing.
    settings.scanning.disabled = True
    # Each kopf worker holds an object's event while it is processed: a bound keeps memory flat on bursts.
    settings.batching.worker_limit = 2000
    await RUNTIME.start()


@kopf.on.login()
async def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    fields = await asyncio.to_thread(connection_fields, RUNTIME.kubeconfig)
    if fields is None:
        return kopf.login_with_kubeconfig(**kwargs)
    return kopf.ConnectionInfo(**fields)


@kopf.on.cleanup()
async def stop(**_: Any) -> None:
    await RUNTIME.stop()


@kopf.on.event(omastack.GROUP, omastack.VERSION, omastack.PLURAL)
async def omastack_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    RUNTIME.stacks.observe_stack(type, body)


# An OmaStack's children: any change (a hand edit, a deletion, a rollout step) makes the stack reconcile.
_STACK_CHILD = {LABEL_STACK: kopf.PRESENT}


@kopf.on.event("", "v1", "configmaps", labels=_STACK_CHILD)
@kopf.on.event("", "v1", "services", labels=_STACK_CHILD)
@kopf.on.event("", "v1", "persistentvolumeclaims", labels=_STACK_CHILD)
@kopf.on.event("apps", "v1", "statefulsets", labels=_STACK_CHILD)
@kopf.on.event("apps", "v1", "deployments", labels=_STACK_CHILD)
@kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers", labels=_STACK_CHILD)
@kopf.on.event("policy", "v1", "poddisruptionbudgets", labels=_STACK_CHILD)
@kopf.on.event("networking.k8s.io", "v1", "networkpolicies", labels=_STACK_CHILD)
@kopf.on.event("networking.k8s.io", "v1", "ingresses", labels=_STACK_CHILD)
@kopf.on.event("", "v1", "serviceaccounts", labels=_STACK_CHILD)
@kopf.on.event("rbac.authorization.k8s.io", "v1", "roles", labels=_STACK_CHILD)
@kopf.on.event("rbac.authorization.k8s.io", "v1", "rolebindings", labels=_STACK_CHILD)
@kopf.on.event("batch", "v1", "cronjobs", labels=_STACK_CHILD)
async def stack_child_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    RUNTIME.stacks.observe_child(type, body)
