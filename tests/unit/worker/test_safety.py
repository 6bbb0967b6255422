from __future__ import annotations

from pathlib import Path

import pytest

from oma.worker import safety
from oma.worker.exitcodes import Exit, WorkerError


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/video.mp4",
        "http://localhost:8080/video.mp4",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.1.2.3/a.mp4",
        "http://192.168.0.10/a.mp4",
        "http://[::1]/a.mp4",
        "http://100.64.0.1/a.mp4",  # carrier-grade NAT
    ],
)
def test_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(WorkerError) as e:
        safety.check_url(url)
    assert e.value.code == Exit.INPUT_REFUSED
    assert "non-public address" in e.value.message
    safety.check_url(url, allow_private=True)  # an explicit opt-in lets it through


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.mp4", "concat:a.mp4|b.mp4"])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(WorkerError, match="scheme") as e:
        safety.check_url(url, allow_private=True)
    assert e.value.code == Exit.INPUT_REFUSED


def test_confine_refuses_parent_segments_and_absolute_paths(tmp_path: Path) -> None:
    for bad in ("../secret.mp4", "a/../../b.mp4", "/etc/passwd"):
        with pytest.raises(WorkerError, match="relative"):
            safety.confine(tmp_path, bad)


def test_confine_refuses_symlinks_out_of_the_volume(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    (tmp_path / "outside.mp4").write_bytes(b"x")
    (vol / "link.mp4").symlink_to(tmp_path / "outside.mp4")
    with pytest.raises(WorkerError, match="leaves its volume"):
        safety.confine(vol, "link.mp4")
    (vol / "in.mp4").write_bytes(b"x")
    assert safety.confine(vol, "in.mp4") == (vol / "in.mp4").resolve()


@pytest.mark.parametrize("prefix", ["../other-claim", "a/../../b", "/etc", "a/\x00b", "a\nb"])
def test_a_destination_prefix_outside_the_volume_is_refused_naming_the_field(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(WorkerError) as e:
        safety.confine_destination(tmp_path, prefix, {})
    assert e.value.code == Exit.INVALID_SPEC
    assert "spec.destination.pathPrefix" in e.value.message


def test_a_symlinked_destination_directory_is_refused_even_inside_the_volume(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "link").symlink_to(tmp_path / "real")
    with pytest.raises(WorkerError) as e:
        safety.confine_destination(tmp_path, "a/link/deeper", {})
    assert e.value.code == Exit.INPUT_REFUSED
    assert "spec.destination.pathPrefix" in e.value.message and "'a/link' is a symlink" in e.value.message


def test_an_output_name_that_exists_as_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "hls").symlink_to("/etc")
    with pytest.raises(WorkerError) as e:
        safety.confine_destination(tmp_path, "out", {"hls": "spec.outputs.hls.name"})
    assert e.value.code == Exit.INPUT_REFUSED and "spec.outputs.hls.name" in e.value.message


def test_a_plain_destination_is_the_prefix_under_the_real_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    alias = tmp_path / "alias"
    alias.symlink_to(root)  # the volume root itself may be reached through a link (a mount, `oma run -o`)
    assert safety.confine_destination(alias, "a/b/", {"x.mp4": "f"}) == root / "a" / "b"
    assert safety.confine_destination(alias, "", {}) == root


def test_a_named_network_lets_its_private_addresses_through() -> None:
    safety.check_url("http://10.20.3.4/a.mp4", allowed=("10.20.0.0/16",))
    with pytest.raises(WorkerError, match="non-public"):
        safety.check_url("http://10.21.3.4/a.mp4", allowed=("10.20.0.0/16",))
