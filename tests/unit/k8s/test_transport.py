"""The aiohttp transport's pure parts: the proxy from the environment, and the Authorization header."""

from __future__ import annotations

from pathlib import Path

import pytest

from oma.k8s import ApiFailure
from oma.k8s.transport import Bearer, env_proxy

pytestmark = pytest.mark.unit


def test_the_proxy_comes_from_the_environment_unless_no_proxy_names_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    assert env_proxy("https://10.0.0.1:6443") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert env_proxy("https://api.example.com:6443") == "http://proxy.corp:3128"
    monkeypatch.setenv("NO_PROXY", "localhost,.cluster.local,api.example.com")
    assert env_proxy("https://api.example.com:6443") is None
    assert env_proxy("https://kubernetes.default.svc.cluster.local") is None
    assert env_proxy("https://other.example.com") == "http://proxy.corp:3128"


def test_static_identities() -> None:
    assert Bearer(token="abc").header() == "Bearer abc"
    assert Bearer(basic="Basic eDp5").header() == "Basic eDp5"
    assert Bearer().header() is None and not Bearer(token="abc").rotates


def test_a_token_file_is_read_once_and_again_when_refused(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("one\n")
    bearer = Bearer(token="stale-copy", token_file=str(token))  # in a pod lightkube hands both; the file wins
    assert bearer.rotates and bearer.header() == "Bearer one"
    token.write_text("two\n")
    assert bearer.header() == "Bearer one"  # cached for a minute
    assert bearer.header(stale=True) == "Bearer two"  # after a 401


def test_a_missing_token_file_is_an_api_failure(tmp_path: Path) -> None:
    with pytest.raises(ApiFailure, match="cannot read the token file"):
        Bearer(token_file=str(tmp_path / "absent")).header()
