"""The cluster's processes: started detached with a marker in their environment, found again by pid file.

Every process of a cluster (components and pod processes) carries `STATE_ENV=<state dir>`, so a pid read back
from a file is only trusted when the process still carries it (pids are recycled), and `down` can end strays.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .errors import ClusterError
from .layout import Layout

STATE_ENV = "OMA_DEVCLUSTER_STATE"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ours(pid: int, layout: Layout) -> bool:
    """True when pid was started for this state dir (its environment says so; guards against recycled pids)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{STATE_ENV}={layout.state}\0".encode() in environ


def read_pid(layout: Layout, component: str) -> int | None:
    try:
        return int(layout.pidfile(component).read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(layout: Layout, component: str) -> int | None:
    """The pid of `component` when it is running for this state dir, else None."""
    pid = read_pid(layout, component)
    return pid if pid and alive(pid) and ours(pid, layout) else None


def start(layout: Layout, component: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    """Start `component` in its own session, logging to its log file, and record its pid."""
    log = layout.log(component).open("ab")
    proc_env = dict(os.environ)
    proc_env.update(env or {})
    proc_env[STATE_ENV] = str(layout.state)
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=proc_env,
        cwd=layout.state,
    )
    log.close()
    layout.pidfile(component).write_text(f"{proc.pid}\n")
    return proc.pid


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)


def stop(pid: int, grace: float) -> None:
    """SIGTERM the process group, SIGKILL it after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    _wait_gone(pid, grace)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        _wait_gone(pid, 5)


def kill_strays(layout: Layout) -> None:
    """Any process still carrying this state dir (a pod process that escaped its runner) is ended too."""
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        pid = int(proc.name)
        if ours(pid, layout) and alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(what: str, check: Callable[[], bool], layout: Layout, component: str, timeout: float) -> None:
    """Poll `check`; fail early if `component` died, and show the end of its log either way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = read_pid(layout, component)
        if pid is not None and not alive(pid):
            raise ClusterError(
                f"{component} exited during start-up; last lines of {layout.log(component)}:\n"
                f"{tail(layout.log(component))}"
            )
        if check():
            return
        time.sleep(0.1)
    raise ClusterError(
        f"timed out after {timeout:.0f}s waiting for {what}; last lines of {layout.log(component)}:\n"
        f"{tail(layout.log(component))}"
    )
