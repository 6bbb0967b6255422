"""The dashboard's pure parts: cost, the VideoJob a submission becomes, history rows, cursors, presets, charts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from oma.dashboard.models import Scope, SubmitRequest, Token, UsageDay
from oma.dashboard.routes.charts import usage_chart
from oma.dashboard.services.cost import cpu_cores, job_cost
from oma.dashboard.services.errors import Refused
from oma.dashboard.services.presets import load_presets
from oma.dashboard.services.record import record_of
from oma.dashboard.services.submit import build_videojob
from oma.dashboard.settings import Settings
from oma.dashboard.stores.history import decode_cursor, encode_cursor
from oma.dashboard.stores.tokens import split_token
from oma.models.videojob import VideoJob

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
TOKEN = Token(id="abc123", name="alice", scopes=[Scope.SUBMIT, Scope.READ], created_at=NOW)


def test_cost_is_encode_seconds_times_cores_times_price_per_cpu_hour() -> None:
    assert cpu_cores("500m") == 0.5 and cpu_cores("2") == 2.0 and cpu_cores("1.5") == 1.5
    assert job_cost(3600, 1, 0.05) == Decimal("0.050000")
    assert job_cost(90, 0.5, 0.04) == Decimal("0.000500")  # 90 s x 0.5 core = 1/80 CPU-hour


def test_every_packaged_preset_makes_a_valid_videojob() -> None:
    presets = load_presets(None)
    assert "title-card" in presets
    settings = Settings(stack="s", namespace="ns", destination_claim="media")
    for preset in presets.values():
        request = SubmitRequest.model_validate({"preset": preset.name, "source": {"kind": "title", "text": "Hi"}})
        manifest = build_videojob("vj-1", request, preset, TOKEN, settings)
        job = VideoJob.model_validate(manifest)
        assert job.spec.destination.path_prefix == "vj-1"
        assert job.spec.stack_ref is not None and job.spec.stack_ref.name == "s"
        assert manifest["metadata"]["labels"]["video.oma.ai/token"] == "abc123"


def test_the_generate_preset_asks_for_mp4_hls_and_a_sprite() -> None:
    outputs = load_presets(None)["title-card"].outputs
    assert outputs["mp4"][0]["height"] == 720
    assert len(outputs["hls"]["renditions"]) >= 2
    assert outputs["thumbnails"]["sprite"] is True


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ({"kind": "title", "text": ""}, "at least 1 character"),
        ({"kind": "title", "text": "x" * 2001}, "at most 2000 characters"),
        ({"kind": "url", "url": "ftp://example.com/a.mp4"}, "should match pattern"),
        ({"kind": "pvc", "claim": "other", "path": "a.mp4"}, "not allowed"),
    ],
)
def test_a_submission_the_videojob_schema_refuses_is_422_with_the_reason(source: dict[str, str], reason: str) -> None:
    preset = load_presets(None)["web-720p"]
    request = SubmitRequest.model_validate({"preset": "web-720p", "source": source})
    with pytest.raises(Refused) as refused:
        build_videojob("vj-1", request, preset, TOKEN, Settings(source_claims=["uploads"]))
    assert refused.value.status == 422
    assert reason in refused.value.message


def test_hostile_titles_pass_through_unchanged() -> None:
    title = "\"quotes' <script>alert(1)</script> %{pts} \u202eright-to-left\u202c 🎬"
    preset = load_presets(None)["title-card"]
    request = SubmitRequest.model_validate({"preset": "title-card", "source": {"kind": "title", "text": title}})
    manifest = build_videojob("vj-1", request, preset, TOKEN, Settings())
    assert manifest["spec"]["inputs"][0]["titleCard"]["text"] == title
    assert manifest["metadata"]["annotations"]["video.oma.ai/title"] == title


def _videojob(phase: str, **status: object) -> dict[str, object]:
    return {
        "metadata": {
            "name": "vj-1",
            "namespace": "ns",
            "uid": "u-1",
            "creationTimestamp": "2026-11-26T11:00:00Z",
            "labels": {"video.oma.ai/token": "abc123", "video.oma.ai/stack": "s"},
            "annotations": {"video.oma.ai/submitted-by": "alice", "video.oma.ai/preset": "tiny"},
        },
        "spec": {"inputs": [{"titleCard": {"text": "Hello"}}], "resources": {"requests": {"cpu": "500m"}}},
        "status": {"phase": phase, **status},
    }


def test_a_finished_job_is_recorded_with_its_cost() -> None:
    body = _videojob(
        "Succeeded",
        startTime="2026-11-26T11:00:05Z",
        completionTime="2026-11-26T11:00:35Z",
        progress={"phase": "Done", "percent": 100, "encodeSeconds": 20},
        outputs=[{"uri": "video.mp4", "kind": "mp4", "durationSeconds": 4, "sizeBytes": 1, "sha256": "x"}],
    )
    rec = record_of(body, "1", 0.05, NOW)
    assert (rec.phase, rec.token_id, rec.submitted_by, rec.title, rec.preset) == (
        "Succeeded", "abc123", "alice", "Hello", "tiny",
    )  # fmt: skip
    assert rec.encode_seconds == 20 and rec.cpu_request == 0.5 and rec.output_seconds == 4
    assert rec.cost_usd == job_cost(20, 0.5, 0.05)
    assert rec.finished_at == dt.datetime(2026, 11, 26, 11, 0, 35, tzinfo=dt.UTC)


def test_a_running_job_has_no_cost_yet_and_a_failed_one_is_charged_its_running_time() -> None:
    running = record_of(_videojob("Running", progress={"phase": "Encoding", "percent": 40}), "1", 0.05, NOW)
    assert running.cost_usd is None and running.finished_at is None and running.percent == 40
    failed = _videojob("Failed", startTime="2026-11-26T11:00:00Z", completionTime="2026-11-26T11:01:00Z")
    rec = record_of(failed, "1", 0.05, NOW)
    assert rec.encode_seconds == 60 and rec.cost_usd == job_cost(60, 0.5, 0.05)


def test_cursors_round_trip_and_garbage_is_refused() -> None:
    assert decode_cursor(encode_cursor(NOW, "u-1")) == (NOW, "u-1")
    for garbage in ("", "abc", "!!!", encode_cursor(NOW, "")):
        with pytest.raises(ValueError, match="cursor"):
            decode_cursor(garbage)


def test_token_format() -> None:
    assert split_token("oma_abc_s3cr_et") == ("abc", "s3cr_et")
    assert split_token("abc_def") is None and split_token("oma_") is None and split_token("oma_abc_") is None


def test_usage_chart_scales_bars_to_the_largest_day() -> None:
    days = [
        UsageDay(day=dt.date(2026, 11, d), jobs=1, output_minutes=d, encode_minutes=1, cost_usd=d / 10)
        for d in (1, 2, 4)
    ]
    chart = usage_chart(days)
    heights = [b.height for b in chart.bars]
    assert heights[0] < heights[1] < heights[2]
    assert heights[1] == pytest.approx(2 * heights[0])
    assert all(b.y + b.height == pytest.approx(chart.baseline) for b in chart.bars)
    assert len(chart.line.split()) == 3


def test_the_postgres_password_file_wins_over_the_variable(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("from-the-secret\n")
    settings = Settings(postgres_password="from-env", postgres_password_file=tmp_path / "password")
    assert settings.password() == "from-the-secret"
    assert "password=from-the-secret" in settings.postgres_conninfo()
    assert Settings(postgres_password="from-env").password() == "from-env"
