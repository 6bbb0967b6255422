"""Ports on 127.0.0.1 for the components and for processes started beside them (the operator under test)."""

from __future__ import annotations

import os
import socket

from .errors import ClusterError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def choose_ports() -> dict[str, int]:
    """Free ports, except where OMA_APISERVER_PORT pins the apiserver (then it must be free)."""
    ports = {name: free_port() for name in ("etcd", "etcd-peer", "kcm", "scheduler", "kwok")}
    pinned = os.environ.get("OMA_APISERVER_PORT")
    if pinned:
        port = int(pinned)
        if port_in_use(port):
            raise ClusterError(
                f"port {port} (OMA_APISERVER_PORT) is already in use on 127.0.0.1. Stop whatever listens there "
                f"(`ss -ltnp 'sport = :{port}'` shows it), or unset OMA_APISERVER_PORT to pick a free port."
            )
        ports["apiserver"] = port
    else:
        ports["apiserver"] = free_port()
    return ports
