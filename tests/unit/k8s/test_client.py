"""The adapter's pure parts: REST paths, label selectors, error answers as our errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from oma.k8s import ApiFailure, Conflict, Gone, NotFound, kinds
from oma.k8s.client import failure_of, json_lines, path, selector
from oma.k8s.kinds import kind_of


def test_paths_of_core_grouped_and_cluster_scoped_kinds() -> None:
    assert path(kinds.SECRET, "ns", "s") == "/api/v1/namespaces/ns/secrets/s"
    assert path(kinds.JOB, None) == "/apis/batch/v1/jobs"  # every namespace
    assert path(kinds.VIDEOJOB, "ns", "v", "status") == "/apis/video.oma.ai/v1alpha1/namespaces/ns/videojobs/v/status"
    assert path(kinds.NAMESPACE, "ignored", "team") == "/api/v1/namespaces/team"


def test_label_selectors() -> None:
    assert selector({"a": "1", "b": "x"}) == "a=1,b=x"
    assert selector(None) is None and selector({}) is None


@pytest.mark.parametrize(("code", "klass"), [(404, NotFound), (409, Conflict), (410, Gone), (500, ApiFailure)])
def test_status_answers_become_our_errors_with_the_servers_message(code: int, klass: type[ApiFailure]) -> None:
    body = json.dumps({"kind": "Status", "message": 'jobs.batch "x" already exists', "reason": "AlreadyExists"})
    e = failure_of(code, body)
    assert type(e) is klass and e.code == code and e.message == 'jobs.batch "x" already exists'
    assert e.reason == "AlreadyExists"


def test_a_plain_text_answer_keeps_its_text() -> None:
    e = failure_of(404, "404 page not found\n")
    assert isinstance(e, NotFound) and e.message == "404 page not found"


def test_every_manifest_the_operator_writes_has_a_kind() -> None:
    assert kind_of({"apiVersion": "batch/v1", "kind": "Job"}) is kinds.JOB
    with pytest.raises(ValueError, match=r"add it to oma\.k8s\.kinds"):
        kind_of({"apiVersion": "v1", "kind": "Pod"})


def test_a_watch_stream_is_split_on_newlines_only() -> None:
    """U+0085, U+2028 and the like travel raw inside JSON strings; only a newline ends an event, wherever the
    chunks of the stream happen to be cut."""
    events = [
        {"type": "MODIFIED", "object": {"metadata": {"annotations": {"title": "a\u0085b\u2028c\x1e"}}}},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "7"}}},
    ]
    stream = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events).encode()

    async def chunks(size: int) -> AsyncIterator[bytes]:
        for i in range(0, len(stream), size):
            yield stream[i : i + size]

    async def read(size: int) -> list[dict[str, Any]]:
        return [json.loads(line) async for line in json_lines(chunks(size))]

    for size in (1, 7, len(stream)):
        assert asyncio.run(read(size)) == events
