"""`python -m oma.devcluster up|down|status|stop|start|restart|logs`: the local control plane's command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from .cluster import (
    RESTARTABLE,
    ClusterError,
    Layout,
    default_state_dir,
    down,
    start_component,
    status,
    stop_component,
    up,
)


def _logs(state: Path, ref: str) -> int:
    ns, _, name = ref.rpartition("/")
    ns = ns or "default"
    # A prefix match, so a Job's name finds its pods' logs too.
    matches = sorted(Layout(state).pods.glob(f"{ns}_{name}*/*.log"))
    if not matches:
        print(f"no logs for pod {ns}/{name} under {Layout(state).pods}", file=sys.stderr)
        return 1
    for m in matches:
        print(f"==> {m} <==")
        print(m.read_text(errors="replace"), end="")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m oma.devcluster", description=__doc__)
    p.add_argument(
        "--state-dir", type=Path, default=None, help="default: $OMA_CLUSTER_DIR or ~/.local/state/oma/cluster"
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="start (or reuse) the cluster; the last line is `export KUBECONFIG=...`")
    u.add_argument(
        "--node",
        choices=("process", "real"),
        default=os.environ.get("OMA_NODE") or "process",
        help="process: KWOK + process-backed pods (default); real: kubelet + containerd (root). Env: OMA_NODE",
    )
    sub.add_parser("down", help="stop every process of the cluster")
    sub.add_parser("status", help="exit 0 when the cluster is up and healthy")
    sub.add_parser("node", help="(internal) run the process-backed node")
    for verb, what in (("stop", "stop"), ("start", "start again"), ("restart", "stop, then start again")):
        c = sub.add_parser(verb, help=f"{what} one control-plane component (the rest keeps running)")
        c.add_argument("component", choices=RESTARTABLE)
    lg = sub.add_parser("logs", help="print a process-backed pod's logs")
    lg.add_argument("pod", help="[NAMESPACE/]NAME of a pod, or a prefix such as its Job's name")
    return p


def _up(state: Path, node: str) -> int:
    t0 = time.monotonic()
    info = up(state, node=node)
    print(f"cluster up in {time.monotonic() - t0:.1f}s: {info.server} (state {info.state_dir})", file=sys.stderr)
    print(f"export KUBECONFIG={info.kubeconfig}")
    return 0


def _down(state: Path) -> int:
    stopped = down(state)
    print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


def _status(state: Path) -> int:
    found = status(state)
    if found is None:
        print(f"no healthy cluster in {state}")
        return 1
    print(f"up: {found.server}\nexport KUBECONFIG={found.kubeconfig}")
    return 0


def _component(verb: str, component: str, state: Path) -> int:
    if verb in ("stop", "restart"):
        print(f"{component}: {'stopped' if stop_component(component, state) else 'was not running'}")
    if verb in ("start", "restart"):
        t0 = time.monotonic()
        start_component(component, state)
        print(f"{component}: healthy in {time.monotonic() - t0:.1f}s")
    return 0


def _node(state: Path) -> int:
    from .node import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    asyncio.run(serve(state))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    state = args.state_dir or default_state_dir()
    try:
        if args.cmd in ("stop", "start", "restart"):
            return _component(args.cmd, args.component, state)
        if args.cmd == "logs":
            return _logs(state, args.pod)
        if args.cmd == "up":
            return _up(state, args.node)
        commands = {"down": _down, "status": _status, "node": _node}
        return commands[args.cmd](state)
    except ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
