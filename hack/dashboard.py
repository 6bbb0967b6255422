"""`make dashboard`: the dashboard on the local control plane, to open in a browser.

Brings the cluster up, runs the operator (process-backed workers: real videos), Debian's Postgres and Redis as
local processes, and `oma dashboard` on http://127.0.0.1:8000 serving the namespace oma-dashboard (its media
PVC mounted from where the local node keeps it). Prints the URL and an admin token to sign in with; Ctrl-C stops
everything it started (the cluster stays: make cluster-down).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim

from oma.devcluster import cluster, fixtures
from oma.devcluster.operator_process import OperatorProcess
from oma.devservices import LocalPostgres, LocalRedis, create_token, dashboard_env, launch, ready, wait_for

NAMESPACE = "oma-dashboard"
PORT = int(os.environ.get("OMA_DASHBOARD_PORT", "8000"))


def media_dir(kube: Client) -> Path:
    def bound() -> bool:
        spec = kube.get(PersistentVolumeClaim, "media", namespace=NAMESPACE).spec
        return bool(spec and spec.volumeName)

    wait_for("the media PVC to bind", bound, 60)
    volume = kube.get(PersistentVolumeClaim, "media", namespace=NAMESPACE).spec.volumeName
    return Path(kube.get(PersistentVolume, volume).spec.hostPath.path)


def main() -> int:
    info = cluster.up()
    kube = Client(KubeConfig.from_file(info.kubeconfig), field_manager="oma-dashboard-dev")
    fixtures.install_crds(info.kubeconfig)
    kube.apply(from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
    kube.apply(from_dict(fixtures.claim("media")), namespace=NAMESPACE)
    state = Path(info.state_dir)
    operator = OperatorProcess(info.kubeconfig, state / "logs" / "operator-dashboard.log")
    pg, redis = LocalPostgres().init(), LocalRedis(state / "dashboard-redis").start()
    dashboard = None
    try:
        operator.start()
        env = dashboard_env(
            pg,
            redis,
            NAMESPACE,
            "local",
            media_dir(kube),
            OMA_KUBECONFIG=info.kubeconfig,
            OMA_DESTINATION_CLAIM="media",
        )
        token = create_token(env, "local-admin", "--scopes", "admin")
        dashboard = launch(env, state / "logs" / "dashboard.log", port=PORT)
        ready(dashboard)
        print(f"dashboard: {dashboard.url}  (log {dashboard.log})")
        print(f"sign in with: {token}")
        print("Ctrl-C stops the dashboard, Postgres, Redis and the operator.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0
    finally:
        if dashboard is not None:
            dashboard.stop()
        operator.stop()
        redis.stop()
        pg.destroy()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C (a blocked signal mask would be inherited by children)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())
