from __future__ import annotations

import pytest

from oma.devcluster import podspec
from oma.devcluster.podspec import Mount, PodConfigError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$(A)-$(B)", "1-two"),
        ("$$(A)", "$(A)"),  # escaped reference stays literal
        ("$(MISSING)", "$(MISSING)"),  # unknown names are left as written
        ("cost $$5", "cost $5"),
        ("no refs", "no refs"),
    ],
)
def test_expand_follows_kubernetes_rules(value: str, expected: str) -> None:
    assert podspec.expand(value, {"A": "1", "B": "two"}) == expected


def test_field_value_reads_downward_api_paths() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "x"}},
        "spec": {"nodeName": "oma-local"},
    }
    assert podspec.field_value(pod, "metadata.name") == "p"
    assert podspec.field_value(pod, "metadata.labels['app']") == "x"
    assert podspec.field_value(pod, "spec.nodeName") == "oma-local"
    assert podspec.field_value(pod, "metadata.labels") == 'app="x"'
    with pytest.raises(PodConfigError, match="not supported"):
        podspec.field_value(pod, "status.somethingElse")


def test_argv_requires_a_command_and_expands_args() -> None:
    assert podspec.argv({"name": "c", "command": ["echo"], "args": ["$(X)"]}, {"X": "y"}) == ["echo", "y"]
    with pytest.raises(PodConfigError, match="has no command") as e:
        podspec.argv({"name": "c", "args": ["x"]}, {})
    assert e.value.permanent


def test_mount_script_stages_sources_before_any_target_can_hide_them() -> None:
    # The scratch volume is mounted at /tmp while the PVC's source also lives under /tmp (as on CI).
    mounts = [Mount("/tmp/state/scratch", "/tmp", False), Mount("/tmp/state/vol a", "/data", True)]
    script = podspec.mount_script(mounts, "/work")
    lines = script.splitlines()
    binds = [(i, ln) for i, ln in enumerate(lines) if ln.startswith("mount --bind ")]
    staged = [i for i, ln in binds if ln.rsplit(" ", 1)[1].startswith("/run/oma-stage")]
    targets = [i for i, ln in binds if ln.split(" ")[2].startswith("/run/oma-stage")]
    assert len(staged) == 2 and len(targets) == 2 and max(staged) < min(targets)
    assert "mount --bind '/tmp/state/vol a' /run/oma-stage/$$/1" in script
    assert "mount -o remount,bind,ro /data" in script
    assert script.endswith('exec "$@"') and "cd /work" in script


def test_mount_targets_are_mounted_parents_first() -> None:
    script = podspec.mount_script([Mount("/s/b", "/data/sub", False), Mount("/s/a", "/data", False)], None)
    assert script.index("/run/oma-stage/$$/1 /data\n") < script.index("/run/oma-stage/$$/0 /data/sub")


def test_image_paths_under_a_target_are_bound_back_read_only() -> None:
    # A checkout under /tmp (as CI's) runs `oma` from /tmp/repo/.venv, which a /tmp emptyDir would hide.
    script = podspec.mount_script([Mount("/state/scratch", "/tmp", False)], None, ["/tmp/repo/.venv", "/usr"])
    assert script.index("/run/oma-stage/$$/0 /tmp\n") < script.index("/run/oma-stage/$$/1 /tmp/repo/.venv")
    assert "mount -o remount,bind,ro /tmp/repo/.venv" in script
    assert "mount --bind /usr" not in script  # not covered by any target: left alone
