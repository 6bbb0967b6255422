"""Our Python images install exactly the distributions CI tested: the lock is their pip constraint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGES = ["operator-image", "worker-image", "dashboard-image"]


@pytest.mark.parametrize("image", IMAGES)
def test_the_image_installs_with_the_lock(image: str) -> None:
    dockerfile = (REPO / image / "Dockerfile").read_text()
    assert re.search(r"^COPY [^\n]*\brequirements\.lock\b", dockerfile, flags=re.M)
    installs = re.findall(r"pip install --no-cache-dir (?!--upgrade pip)[^\n]*", dockerfile)
    assert installs and all("-c requirements.lock" in line for line in installs), installs


def test_the_lock_is_part_of_each_images_cache_key() -> None:
    """A lock change must rebuild the images (hack/build-images.sh keys each image by its context)."""
    script = (REPO / "hack" / "build-images.sh").read_text()
    for name in ("operator", "worker", "dashboard"):
        entry = re.search(rf'"{name}\|[^|]+\|([^"]+)"', script)
        assert entry and "requirements.lock" in entry.group(1).split(), name
