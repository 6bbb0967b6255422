"""Running dashboards as real processes (`oma dashboard`) and making tokens with its CLI, for the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from oma import devservices
from oma.devservices import Dashboard, LocalPostgres, LocalRedis, create_token, launch, ready

__all__ = ["Dashboard", "create_token", "dashboard_env", "launch", "ready", "token_cli", "wait_for"]

PRESETS = """
- name: tiny
  description: "A 2 s 320x240 MP4 with a sprite: fast enough for tests."
  titleCard: {durationSeconds: 2, width: 320, height: 240, fps: 10, fontSize: 24}
  outputs:
    mp4: [{name: video, width: 320, height: 240, preset: ultrafast}]
    thumbnails: {name: thumbs, everySeconds: 1, width: 64, sprite: true}
- name: steady
  description: "A 60 s 720p title card at x264's slow preset: long enough to watch its progress move."
  titleCard: {durationSeconds: 60, width: 1280, height: 720, fps: 30, fontSize: 48}
  outputs:
    mp4: [{name: video, width: 1280, height: 720, preset: slow}]
    thumbnails: {name: thumbs, everySeconds: 10, width: 96, sprite: true}
"""


def unreachable_kubeconfig(path: Path) -> str:
    """An apiserver address nothing listens on: for tests of what works without Kubernetes."""
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9', insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: nobody}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    return str(path)


def dashboard_env(pg: LocalPostgres, redis: LocalRedis, tmp: Path, **extra: str) -> dict[str, str]:
    presets = tmp / "presets.yaml"
    presets.write_text(PRESETS)
    env = {
        **os.environ,
        **pg.settings_env(),
        "OMA_REDIS_URL": redis.url,
        "OMA_STACK": "test",
        "OMA_STACK_REF": "false",
        "OMA_PRESETS_FILE": str(presets),
        "OMA_GENERATE_PRESET": "tiny",
        "OMA_MEDIA_ROOT": str(tmp / "media"),
    }
    env.setdefault("OMA_KUBECONFIG", unreachable_kubeconfig(tmp / "kubeconfig"))
    return {**env, **extra}


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    """devservices.wait_for where an HTTP error (the dashboard restarting) counts as "not yet"."""
    return devservices.wait_for(what, probe, timeout, 0.1, tolerate=(httpx.HTTPError, OSError))


def token_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "oma.cli.main", "dashboard", "token", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=60)
