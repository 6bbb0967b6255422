"""What kopf watches: a stack's children only, filtered by the apiserver rather than in the operator."""

from __future__ import annotations

import kopf
import pytest
from kopf._cogs.structs.references import Resource  # the type kopf resolves a handler's kind to

from oma.operator import handlers
from oma.operator.common.labels import LABEL_STACK

pytestmark = pytest.mark.unit


def test_every_kind_kopf_watches_but_omastacks_is_filtered_by_the_stack_label_on_the_server() -> None:
    settings = kopf.OperatorSettings()
    handlers.apply_settings(settings)
    watched = list(kopf.get_default_registry()._watching.get_all_selectors())
    assert len(watched) == len(handlers.STACK_CHILD_KINDS) + 1
    for selector in watched:
        resource = Resource(selector.group or "", selector.version or "v1", selector.any_name or "")
        wanted = [] if selector.any_name == "omastacks" else [LABEL_STACK]
        assert list(settings.watching.label_selectors.collect(resource)) == wanted, selector
