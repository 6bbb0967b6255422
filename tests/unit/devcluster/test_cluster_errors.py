"""Bad set-up gives a message that says what to do."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from oma.devcluster import cluster
from oma.devcluster.pki import ensure_pki
from oma.devcluster.ports import choose_ports

REPO = Path(__file__).resolve().parents[3]


def test_pinned_apiserver_port_in_use_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        monkeypatch.setenv("OMA_APISERVER_PORT", str(port))
        with pytest.raises(cluster.ClusterError, match=f"port {port}.*already in use.*unset OMA_APISERVER_PORT"):
            choose_ports()


def test_build_tools_without_go_says_how_to_fix(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    assert not any((Path(d) / "go").exists() for d in env["PATH"].split(":")), "test needs a PATH without go"
    out = subprocess.run(["bash", str(REPO / "hack" / "build-tools.sh")], env=env, capture_output=True, text=True)
    assert out.returncode == 2
    assert "Go is not on PATH" in out.stderr and "Install Go" in out.stderr


def test_missing_binaries_name_the_build_command(tmp_path: Path) -> None:
    with pytest.raises(cluster.ClusterError, match=r"hack/build-tools\.sh"):
        cluster.up(tmp_path / "state", bin_dir=tmp_path / "empty-bin")


def test_pki_is_created_once_and_reused(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    before = pki.ca_crt.read_bytes()
    ensure_pki(tmp_path)
    assert pki.ca_crt.read_bytes() == before
    assert oct(pki.admin_key.stat().st_mode & 0o777) == "0o600"


def test_down_on_an_empty_state_dir_stops_nothing(tmp_path: Path) -> None:
    assert cluster.down(tmp_path) == []
