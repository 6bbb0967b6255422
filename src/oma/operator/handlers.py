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
    apply_settings(settings)
    await RUNTIME.start()


def apply_settings(settings: kopf.OperatorSettings) -> None:
    # Posting an Event per handler run (the default) doubles API writes; we post our own on phase changes.
    settings.posting.level = logging.WARNING
    # Watches that go quiet are re-established (kopf uses bookmarks to tell quiet from dead).
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.watching.inactivity_timeout = 70
    settings.persistence.finalizer = "video.oma.ai/finalizer"
    # Serve only what exists at start-up: no cluster-wide list/watch of CRDs and namespaces (least privilege).
    # RUNTIME.start fails the start-up with a clear message when our CRDs are missing.
    settings.scanning.disabled = True
    # Each kopf worker holds an object's event while it is processed: a bound keeps memory flat on bursts.
    settings.queueing.worker_limit = 2000
    # Only a stack's own children, filtered by the apiserver: without it, kopf listed and watched every ConfigMap,
    # Service, Role... in the cluster (6,000 unrelated ConfigMaps took the operator from 78 to 130 MiB).
    for kind in STACK_CHILD_KINDS:
        settings.watching.label_selectors[kind] = LABEL_STACK


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
STACK_CHILD_KINDS = (
    ("", "v1", "configmaps"),
    ("", "v1", "services"),
    ("", "v1", "persistentvolumeclaims"),
    ("apps", "v1", "statefulsets"),
    ("apps", "v1", "deployments"),
    ("autoscaling", "v2", "horizontalpodautoscalers"),
    ("policy", "v1", "poddisruptionbudgets"),
    ("networking.k8s.io", "v1", "networkpolicies"),
    ("networking.k8s.io", "v1", "ingresses"),
    ("", "v1", "serviceaccounts"),
    ("rbac.authorization.k8s.io", "v1", "roles"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    ("batch", "v1", "cronjobs"),
)


async def stack_child_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    RUNTIME.stacks.observe_child(type, body)


for _group, _version, _plural in STACK_CHILD_KINDS:
    # `labels` alone filters in the operator, after kopf has listed and watched every object of the kind in the
    # cluster; configure() also asks the apiserver for labelled objects only.
    kopf.on.event(_group, _version, _plural, labels={LABEL_STACK: kopf.PRESENT})(stack_child_event)
