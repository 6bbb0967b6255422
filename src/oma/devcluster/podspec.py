"""Pure helpers that turn a Pod into what a local process needs: variable expansion, field values, argv, mounts.

No I/O here, so the Kubernetes rules (variable expansion, field paths, mount order) are unit-tested. What the
process's exit turns into (exit codes, reasons, phases) is pod_status.py's.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: defined names are replaced, `$$` escapes, unknown refs stay as written."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env.get(name, m.group(0))

    return _VAR.sub(sub, value)


_FIELD = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_value(pod: dict[str, Any], path: str) -> str:
    """The downward-API value of `path` (fieldRef.fieldPath) for `pod`."""
    meta = pod.get("metadata", {})
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": pod.get("spec", {}).get("nodeName"),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName"),
        "status.hostIP": "127.0.0.1",
        "status.podIP": "127.0.0.1",
        "status.hostIPs": "127.0.0.1",
        "status.podIPs": "127.0.0.1",
    }
    if path in simple:
        return str(simple[path] or "")
    m = _FIELD.match(path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = sorted((meta.get(path.split(".")[1]) or {}).items())
        return "\n".join(f'{k}="{v}"' for k, v in items)
    raise PodConfigError(f"fieldRef {path!r} is not supported by process-backed pods")


class PodConfigError(Exception):
    """The pod cannot start yet or at all; the message is what a user sees in the pod's status."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def argv(container: dict[str, Any], env: dict[str, str]) -> list[str]:
    """command + args with `$(VAR)` expansion; the image's entrypoint is unknown here, so command is required."""
    command = container.get("command") or []
    if not command:
        raise PodConfigError(
            f"container {container.get('name')!r} has no command: process-backed pods run the command "
            "locally and cannot read an image's entrypoint; set spec.containers[].command",
            permanent=True,
        )
    return [expand(a, env) for a in [*command, *(container.get("args") or [])]]


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def _staging_base(mounts: list[Mount]) -> str:
    """A directory no mount target covers, so staged sources stay reachable while targets are mounted."""
    for base in ("/run/oma-stage", "/var/lib/oma-stage", "/opt/oma-stage"):
        if not any(base == m.target or base.startswith(m.target.rstrip("/") + "/") for m in mounts):
            return base
    raise PodConfigError("every staging directory for volume mounts is covered by a mountPath", permanent=True)


def _covered(path: str, mounts: list[Mount]) -> bool:
    return any(path == m.target or path.startswith(m.target.rstrip("/") + "/") for m in mounts)


def mount_script(mounts: list[Mount], workdir: str | None, image_paths: list[str] | None = None) -> str:
    """The shell run inside a private mount namespace before exec'ing the container's command.

    Two phases: every source is first bound to a staging directory, then staged mounts are bound to their
    targets, parents first. A target such as /tmp would otherwise hide sources that live under /tmp.
    `image_paths` stand in for the image's own files (the runner's Python, the package): where a target
    covers one of them, it is bound back on top, read-only, as a container would still see its image there.
    """
    lines = ["set -e"]
    keep = [p for p in image_paths or [] if _covered(p, mounts)]
    mounts = [*mounts, *(Mount(p, p, True) for p in keep)]
    if mounts:
        stage = f"{_staging_base(mounts)}/$$"
        lines.append(f"mkdir -p {stage}")
        for i, m in enumerate(mounts):
            src, staged = shlex.quote(m.source), f"{stage}/{i}"
            lines.append(f"if [ -d {src} ]; then mkdir -p {staged}; else : > {staged}; fi")
            lines.append(f"mount --bind {src} {staged}")
        volumes = len(mounts) - len(keep)
        order = sorted(range(volumes), key=lambda i: mounts[i].target.count("/")) + list(range(volumes, len(mounts)))
        for i in order:
            m = mounts[i]
            staged, dst = f"{stage}/{i}", shlex.quote(m.target)
            make_target = f'mkdir -p "$(dirname {dst})"; [ -e {dst} ] || : > {dst}'
            lines.append(f"if [ -d {staged} ]; then mkdir -p {dst}; else {make_target}; fi")
            lines.append(f"mount --bind {staged} {dst}")
            if m.read_only:
                lines.append(f"mount -o remount,bind,ro {dst}")
        # The staging mounts were only a way through; the namespace keeps the targets.
        lines.append(f'for s in {stage}/*; do umount "$s"; rm -rf "$s"; done; rmdir {stage}')
    if workdir:
        lines.append(f"mkdir -p {shlex.quote(workdir)} && cd {shlex.quote(workdir)}")
    lines.append('exec "$@"')
    return "\n".join(lines)
