from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace


@pytest.fixture(scope="module")
def namespace_shared(kube: Client) -> Iterator[str]:
    """One namespace for a module's dry runs (nothing is stored in it)."""
    name = f"corpus-{uuid.uuid4().hex[:6]}"
    kube.create(Namespace(metadata=ObjectMeta(name=name, labels={"oma.dev/test": "true"})))
    yield name
    kube.delete(Namespace, name)
