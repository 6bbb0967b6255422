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


def check_url(url: str, allow_private: bool = False) -> None:
    """Refuse non-http(s) URLs and hosts that resolve to loopback, link-local, private or metadata addresses."""
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
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if not addr.is_global:
            raise _refuse(
                f"input host {host!r} resolves to {addr}, a non-public address (loopback, private, link-local or "
                "metadata); such inputs are refused unless the worker runs with --allow-private-inputs"
            )


def confine(root: Path, relative: str) -> Path:
    """`root/relative`, refusing absolute paths, '..' segments and symlinks that lead outside `root`."""
    rel = PurePosixPath(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise _refuse(f"path {relative!r} must be relative and must not contain '..'")
    real_root = root.resolve()
    target = (real_root / rel).resolve()
    if not target.is_relative_to(real_root):
        raise _refuse(f"path {relative!r} leaves its volume (through a symlink)")
    return target
