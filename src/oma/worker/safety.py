"""Checks on untrusted input locations: URL schemes and addresses (SSRF), paths confined to their volume."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from .exitcodes import Exit, WorkerError

ALLOWED_SCHEMES = ("http", "https")
# What ffmpeg may open for each kind of input: nothing else (no file://, concat:, subfile:, data:, ...).
HTTP_PROTOCOLS = "http,https,tcp,tls"
FILE_PROTOCOLS = "file"


def _refuse(message: str) -> WorkerError:
    return WorkerError(Exit.INPUT_REFUSED, "InputRefused", message)


def check_url(url: str, allow_private: bool = False, allowed: tuple[str, ...] = ()) -> None:
    """Refuse non-http(s) URLs and hosts that resolve to loopback, link-local, private or metadata addresses,
    except in the `allowed` networks (the namespace's named on-prem networks, which its egress policy allows too)."""
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES:
        raise _refuse(f"input URL scheme {parts.scheme!r} is not allowed; use one of {', '.join(ALLOWED_SCHEMES)}")
    host = parts.hostname
    if not host:
        raise _refuse(f"input URL {url!r} has no host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror as e:
        raise WorkerError(Exit.INPUT_UNREADABLE, "InputUnreachable", f"cannot resolve {host!r}: {e}") from e
    networks = [ipaddress.ip_network(n, strict=False) for n in allowed]
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if not addr.is_global and not any(addr in n for n in networks):
            raise _refuse(
                f"input host {host!r} resolves to {addr}, a non-public address (loopback, private, link-local or "
                "metadata); such inputs are refused unless the worker runs with --allow-private-inputs"
            )


def _lexical(relative: str, field: str) -> PurePosixPath:
    """What the schema already refuses, checked again: a spec may reach us without an apiserver (`oma run`)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in relative):
        raise WorkerError(Exit.INVALID_SPEC, "InvalidPath", f"{field}: {relative!r} contains control characters")
    rel = PurePosixPath(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise WorkerError(
            Exit.INVALID_SPEC, "InvalidPath", f"{field}: path {relative!r} must be relative and must not contain '..'"
        )
    return rel


def confine(root: Path, relative: str, field: str = "path") -> Path:
    """`root/relative`, refusing absolute paths, '..' segments and symlinks that lead outside `root`."""
    rel = _lexical(relative, field)
    real_root = root.resolve()
    target = (real_root / rel).resolve()
    if not target.is_relative_to(real_root):
        raise _refuse(f"{field}: path {relative!r} leaves its volume (through a symlink)")
    return target


def confine_destination(root: Path, prefix: str, entries: dict[str, str]) -> Path:
    """The directory outputs go to: `root/prefix` with no symlink anywhere below `root`.

    Inputs may follow symlinks that stay in their volume; a destination may not follow any, because where it
    leads can change between our check and ffmpeg's writes (another job on the same PVC can swap it in).
    `entries` maps each name the job writes directly under the destination to the field that names it.
    """
    rel = _lexical(prefix, "spec.destination.pathPrefix")
    dest = root.resolve()
    for part in rel.parts:
        dest = dest / part
        if dest.is_symlink():
            raise _refuse(
                f"spec.destination.pathPrefix: {str(dest.relative_to(root.resolve()))!r} is a symlink; "
                "a destination must be a real directory inside its volume"
            )
        if dest.exists() and not dest.is_dir():
            raise WorkerError(
                Exit.DESTINATION_UNWRITABLE,
                "DestinationUnwritable",
                f"spec.destination.pathPrefix: {str(dest.relative_to(root.resolve()))!r} is not a directory",
            )
    for name, field in entries.items():
        if "/" in name or name in ("", ".", ".."):
            raise WorkerError(Exit.INVALID_SPEC, "InvalidPath", f"{field}: {name!r} is not a plain file name")
        if (dest / name).is_symlink():
            raise _refuse(f"{field}: {name!r} exists in the destination as a symlink; refusing to write through it")
    return dest
