"""A container's environment as its process gets it: the runner's basics, then envFrom, then env in order."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from lightkube import AsyncClient

from . import podspec
from .config_sources import configmap_data, secret_data
from .podspec import PodConfigError
from .processes import STATE_ENV


def runner_env(pod_name: str, apiserver_port: int, state_dir: Path) -> dict[str, str]:
    """What every process starts with, before its pod spec adds anything."""
    return {
        # The runner's own interpreter directory comes first: a virtualenv's `oma` stands in for the image's.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")]),
        "HOME": os.environ.get("HOME", "/root"),
        "HOSTNAME": pod_name,
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(apiserver_port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(apiserver_port),
        # Marks the process as this cluster's, so `cluster-down` can end strays.
        STATE_ENV: str(state_dir),
    }


async def container_env(
    client: AsyncClient, pod: dict[str, Any], container: dict[str, Any], apiserver_port: int, state_dir: Path
) -> dict[str, str]:
    """The environment of `container`; `$(VAR)` in a value sees the variables defined before it."""
    ns = pod["metadata"]["namespace"]
    env = runner_env(pod["metadata"]["name"], apiserver_port, state_dir)
    for src in container.get("envFrom") or []:
        env.update(await _env_from(client, ns, src))
    for var in container.get("env") or []:
        value = await _env_value(client, pod, container, var, env)
        if value is not None:
            env[var["name"]] = value
    return env


async def _env_from(client: AsyncClient, ns: str, src: dict[str, Any]) -> dict[str, str]:
    prefix = src.get("prefix", "")
    if "configMapRef" in src:
        ref = src["configMapRef"]
        data = await configmap_data(client, ns, ref["name"], bool(ref.get("optional")))
    else:
        ref = src["secretRef"]
        data = await secret_data(client, ns, ref["name"], bool(ref.get("optional")))
    return {prefix + k: v.decode() for k, v in data.items()}


async def _env_value(
    client: AsyncClient, pod: dict[str, Any], container: dict[str, Any], var: dict[str, Any], env: dict[str, str]
) -> str | None:
    """The value of one `env` entry; None when it sets nothing (an optional key that is missing)."""
    if "value" in var or "valueFrom" not in var:
        return podspec.expand(var.get("value", ""), env)
    vf = var["valueFrom"]
    if "fieldRef" in vf:
        return podspec.field_value(pod, vf["fieldRef"]["fieldPath"])
    if "configMapKeyRef" in vf or "secretKeyRef" in vf:
        ref = vf.get("configMapKeyRef") or vf["secretKeyRef"]
        getter = configmap_data if "configMapKeyRef" in vf else secret_data
        data = await getter(client, pod["metadata"]["namespace"], ref["name"], bool(ref.get("optional")))
        if ref["key"] in data:
            return data[ref["key"]].decode()
        if not ref.get("optional"):
            raise PodConfigError(f"couldn't find key {ref['key']} in {ref['name']}")
        return None
    if "resourceFieldRef" in vf:
        res = vf["resourceFieldRef"]["resource"]
        value = (container.get("resources") or {}).get(res.split(".")[0], {}).get(res.split(".", 1)[1], "0")
        return str(value)
    return None
