"""A user of the dashboard's API on the real control plane: the job renders, streams progress, downloads."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from lightkube import Client

from oma.devservices import LocalPostgres, LocalRedis
from oma.k8s.resources import VideoJobResource

from .conftest import StackDashboard
from .harness import Dashboard, create_token, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.services, pytest.mark.ffmpeg]
FINISHED = ("Succeeded", "Failed", "Cancelled")


def read_events(client: httpx.Client, job_id: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every SSE event of a job's stream, until the server ends it."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    with client.stream("GET", f"/api/jobs/{job_id}/events", headers=headers or {}, timeout=300) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line:
                if current:
                    events.append(current)
                current = {}
            elif line.startswith(("event:", "id:", "data:")):
                field, _, value = line.partition(":")
                current[field] = json.loads(value) if field == "data" else value.strip()
    return events


def videojobs(kube: Client, ns: str) -> list[Any]:
    return list(kube.list(VideoJobResource, namespace=ns))


def finished_in_history(c: httpx.Client, job_id: str) -> dict[str, Any] | None:
    job = c.get(f"/api/jobs/{job_id}").json()
    return job if job.get("phase") in FINISHED and job.get("cost_usd") is not None else None


# long: the acceptance scenario end to end, one assertion block per thing the user sees
def test_a_generated_title_renders_streams_progress_downloads_by_range_and_has_its_cost(
    stack: StackDashboard, kube: Client
) -> None:
    with stack.dashboard.client(stack.token) as c:
        r = c.post("/api/generate", json={"title": "Hello from the dashboard"})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert r.headers["Location"] == f"/api/jobs/{job_id}"
        assert r.headers["RateLimit-Remaining"].isdigit()
        events: list[dict[str, Any]] = []
        reader = threading.Thread(target=lambda: events.extend(read_events(c, job_id)))
        reader.start()
        reader.join(timeout=240)
        assert not reader.is_alive(), "the event stream did not end"

        assert events[-1]["event"] == "end" and events[-1]["data"]["phase"] == "Succeeded", events[-1]
        percents = [e["data"]["percent"] for e in events if e["data"]["percent"] is not None]
        assert percents == sorted(percents) and percents[-1] == 100, percents
        assert all(e["event"] == "progress" for e in events[:-1])
        assert {"fps", "speed", "etaSeconds"} <= set(events[0]["data"])

        # Reconnecting with the last id: the job is finished, so only its final state comes back.
        again = read_events(c, job_id, {"Last-Event-ID": events[-1]["id"]})
        assert [e["event"] for e in again] == ["end"]

        job = wait_for("the job's cost in history", lambda: finished_in_history(c, job_id))
        assert job["phase"] == "Succeeded" and job["title"] == "Hello from the dashboard"
        assert job["encode_seconds"] > 0
        expected = round(job["encode_seconds"] * 1 * 0.05 / 3600, 6)  # default CPU request 1, $0.05/CPU-hour
        assert job["cost_usd"] == pytest.approx(expected, abs=2e-6)

        status = kube.get(VideoJobResource, job_id, namespace=stack.namespace).to_dict()["status"]
        mp4 = next(o for o in status["outputs"] if o["kind"] == "mp4")
        url = f"/api/jobs/{job_id}/outputs/{mp4['uri']}"
        part = c.get(url, headers={"Range": "bytes=0-1023"})
        assert part.status_code == 206, part.text
        assert part.headers["Content-Range"] == f"bytes 0-1023/{mp4['sizeBytes']}"
        assert part.headers["Content-Type"] == "video/mp4" and len(part.content) == 1024
        whole = c.get(url)
        assert whole.status_code == 200 and hashlib.sha256(whole.content).hexdigest() == mp4["sha256"]
        assert whole.content[:1024] == part.content
        assert any(o["kind"] == "sprite" for o in job["outputs"])


def test_outputs_are_confined_to_the_jobs_directory(stack: StackDashboard) -> None:
    with stack.dashboard.client(stack.token) as c:
        job_id = c.post("/api/generate", json={"title": "confined"}).json()["id"]
        wait_for("the job to finish", lambda: finished_in_history(c, job_id), timeout=180)
        (stack.media / "secret.txt").write_text("not yours")
        (stack.media / job_id / "escape.txt").symlink_to(stack.media / "secret.txt")
        for name in ("..%2Fsecret.txt", "%2E%2E/secret.txt", "escape.txt", "..%2F..%2F..%2Fetc%2Fpasswd"):
            r = c.get(f"/api/jobs/{job_id}/outputs/{name}")
            assert r.status_code == 404, (name, r.status_code)
            assert "not yours" not in r.text


def test_the_same_idempotency_key_returns_the_same_job(stack: StackDashboard, kube: Client) -> None:
    with stack.dashboard.client(stack.token) as c:
        headers = {"Idempotency-Key": "retry-me-1"}
        first = c.post("/api/generate", json={"title": "once"}, headers=headers)
        second = c.post("/api/generate", json={"title": "once"}, headers=headers)
        other = c.post("/api/generate", json={"title": "different"}, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert [vj.metadata.name for vj in videojobs(kube, stack.namespace)] == [first.json()["id"]]


def test_cancel_stops_a_running_job_and_retry_makes_a_new_one(
    stack: StackDashboard, kube: Client, stalling_server: str
) -> None:
    with stack.dashboard.client(stack.token) as c:
        r = c.post("/api/jobs", json={"preset": "tiny", "source": {"kind": "url", "url": stalling_server}})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        wait_for("the job to run", lambda: c.get(f"/api/jobs/{job_id}").json()["phase"] == "Running", timeout=120)
        cancelled = c.post(f"/api/jobs/{job_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        wait_for("Cancelled", lambda: c.get(f"/api/jobs/{job_id}").json()["phase"] == "Cancelled", timeout=120)
        assert c.post(f"/api/jobs/{job_id}/cancel").status_code == 409

        retried = c.post(f"/api/jobs/{job_id}/retry")
        assert retried.status_code == 202, retried.text
        new_id = retried.json()["id"]
        assert new_id != job_id
        old = kube.get(VideoJobResource, job_id, namespace=stack.namespace).to_dict()["spec"]
        new = kube.get(VideoJobResource, new_id, namespace=stack.namespace).to_dict()["spec"]
        assert new["inputs"] == old["inputs"] and new["outputs"] == old["outputs"]
        assert new["destination"]["pathPrefix"] == new_id and not new.get("cancel")
        assert c.post(f"/api/jobs/{new_id}/cancel").status_code == 200


def test_redis_stopped_submit_answers_503_and_creates_nothing_then_recovers(
    stack: StackDashboard, kube: Client, redis: LocalRedis
) -> None:
    with stack.dashboard.client(stack.token) as c:
        redis.stop()
        r = c.post("/api/generate", json={"title": "not now"})
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        assert videojobs(kube, stack.namespace) == []
        assert c.get("/api/jobs").status_code == 200
        redis.start()
        again = wait_for("submissions to work again", lambda: c.post("/api/generate", json={"title": "now"}))
        assert again.status_code == 202, again.text
        assert [vj.metadata.name for vj in videojobs(kube, stack.namespace)] == [again.json()["id"]]


def test_postgres_stopped_while_jobs_finish_then_history_has_every_job_once(
    stack_env: Callable[[LocalPostgres], dict[str, str]],
    postgres: LocalPostgres,
    start_dashboard: Callable[..., Dashboard],
    kube: Client,
    namespace: str,
) -> None:
    env = stack_env(postgres)
    d = start_dashboard(env)
    token = create_token(env, "outage")
    with d.client(token) as c:
        ids = [c.post("/api/generate", json={"title": f"outage {i}"}).json()["id"] for i in range(3)]
        postgres.stop()

        def all_finished() -> bool:
            return all((vj.status or {}).get("phase") in FINISHED for vj in videojobs(kube, namespace))

        wait_for("the jobs to finish with Postgres down", all_finished, timeout=240)
        postgres.start()
        wait_for("history to catch up", lambda: all(finished_in_history(c, i) for i in ids), timeout=60)
        page = c.get("/api/jobs", params={"limit": 100}).json()["items"]
    assert sorted(j["id"] for j in page) == sorted(ids)
    assert all(j["phase"] == "Succeeded" for j in page)
    counts = postgres.psql("SELECT count(*), count(DISTINCT name) FROM jobs").stdout.strip()
    assert counts == "3|3"


def test_a_job_finished_while_the_dashboard_was_down_is_in_history_after_restart(
    stack: StackDashboard, kube: Client, start_dashboard: Callable[..., Dashboard]
) -> None:
    with stack.dashboard.client(stack.token) as c:
        first = c.post("/api/generate", json={"title": "before"}).json()["id"]
        wait_for("the first job in history", lambda: finished_in_history(c, first), timeout=180)
    stack.dashboard.stop()
    from lightkube.codecs import from_dict

    manifest = {
        "apiVersion": "video.oma.ai/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": "by-kubectl", "labels": {"video.oma.ai/stack": "test"}},
        "spec": {
            "inputs": [{"titleCard": {"text": "kubectl", "durationSeconds": 1, "width": 160, "height": 120}}],
            "outputs": {"mp4": [{"name": "v", "width": 160, "height": 120, "preset": "ultrafast"}]},
            "destination": {"claimName": "media", "pathPrefix": "by-kubectl"},
        },
    }
    kube.create(from_dict(manifest), namespace=stack.namespace)

    def done() -> bool:
        vj = kube.get(VideoJobResource, "by-kubectl", namespace=stack.namespace)
        return (vj.status or {}).get("phase") == "Succeeded"

    wait_for("the kubectl job to finish", done, timeout=180)
    restarted = start_dashboard(stack.env)
    with restarted.client(stack.token) as c:
        wait_for("the job to be recorded", lambda: finished_in_history(c, "by-kubectl"))
        ids = [j["id"] for j in c.get("/api/jobs").json()["items"]]
    assert sorted(ids) == sorted([first, "by-kubectl"])
