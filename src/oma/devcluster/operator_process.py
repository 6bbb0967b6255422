"""`oma operator` as a child process wired to the local cluster's process-backed node (demo and tests)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import ClassVar

from .layout import PROCESS_TAINT_KEY
from .ports import free_port


class OperatorProcess:
    """Restartable, so tests can kill it mid-run; workers are scheduled onto the process-backed node."""

    # Every instance started in this process: a test that runs another operator (the Helm chart's) pauses them,
    # because two operators watching the same objects would both act.
    _started: ClassVar[list[OperatorProcess]] = []

    def __init__(
        self, kubeconfig: str, log: Path, extra_args: list[str] | None = None, process_backed: bool = True
    ) -> None:
        self.kubeconfig, self.log = kubeconfig, log
        self.extra_args = extra_args or []
        # Without process-backed workers, worker pods land on the KWOK node and "succeed" after a second.
        self.process_backed = process_backed
        self.proc: subprocess.Popen[bytes] | None = None
        self.health_port = 0
        self.metrics_port = 0

    def start(self, timeout: float = 60) -> None:
        self.health_port, self.metrics_port = free_port(), free_port()
        placement = [
            "--worker-node-selector",
            f"{PROCESS_TAINT_KEY}=true",
            "--worker-toleration",
            f"{PROCESS_TAINT_KEY}:NoSchedule",
        ]
        argv = [
            sys.executable,
            "-m",
            "oma.cli.main",
            "operator",
            *(placement if self.process_backed else []),
            "--metrics-port",
            str(self.metrics_port),
            "--health-port",
            str(self.health_port),
            "--log-format",
            "plain",
            *self.extra_args,
        ]
        env = {**os.environ, "KUBECONFIG": self.kubeconfig}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        if self not in OperatorProcess._started:
            OperatorProcess._started.append(self)
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"the operator was not healthy within {timeout:.0f}s; see {self.log}")
            time.sleep(0.2)

    @classmethod
    def running(cls) -> list[OperatorProcess]:
        return [op for op in cls._started if op.proc is not None and op.proc.poll() is None]

    @property
    def identity(self) -> str:
        """Its name in the leader Lease (host and pid, as `oma operator` names itself outside a pod)."""
        assert self.proc is not None
        return f"{socket.gethostname()}-{self.proc.pid}"

    def probe(self, path: str) -> tuple[int, dict[str, object]]:
        """(status, JSON body) of /healthz or /readyz; (0, {}) when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}{path}", timeout=5) as r:
                return int(r.status), json.loads(r.read())
        except urllib.error.HTTPError as e:
            return int(e.code), json.loads(e.read() or b"{}")
        except OSError:
            return 0, {}

    def pause(self) -> None:
        """SIGSTOP: the process keeps its state and sockets but does nothing, as if cut off."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"the operator exited with {self.proc.returncode}; see {self.log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
