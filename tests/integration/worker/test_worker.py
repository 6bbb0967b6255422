"""Each operation through the real worker, its outputs checked with ffprobe."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from oma.models.videojob import Progress, VideoJobSpec
from oma.worker.execute import Volumes, execute
from oma.worker.exitcodes import Exit, WorkerError
from oma.worker.probe import probe


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Progress] = []

    def progress(self, progress: Progress) -> None:
        self.seen.append(progress)


pytestmark = pytest.mark.ffmpeg


def run(media: Path, out: Path, **spec: Any) -> tuple[list[Any], Recorder]:
    full = {
        "inputs": [{"pvc": {"claimName": "media", "path": "clip.mp4"}}],
        "destination": {"claimName": "media"},
        **spec,
    }
    rec = Recorder()
    results = execute(VideoJobSpec.model_validate(full), out, Volumes(media.parent, {"media": media}), rec)
    return results, rec


def test_mp4_ladder_outputs_match_the_request(media: Path, tmp_path: Path) -> None:
    results, rec = run(
        media,
        tmp_path,
        outputs={
            "mp4": [
                {"name": "small", "width": 320, "height": 180, "crf": 30, "preset": "ultrafast"},
                {
                    "name": "hevc",
                    "codec": "hevc",
                    "width": 640,
                    "height": 360,
                    "bitrate": "500k",
                    "preset": "ultrafast",
                },
            ]
        },
    )
    assert [r.uri for r in results] == ["small.mp4", "hevc.mp4"]
    small, hevc = probe(str(tmp_path / "small.mp4")), probe(str(tmp_path / "hevc.mp4"))
    assert (small.video_codec, small.width, small.height) == ("h264", 320, 180)
    assert (hevc.video_codec, hevc.width, hevc.height) == ("hevc", 640, 360)
    assert abs(small.duration - 4.0) <= 0.1 and small.has_audio
    assert results[0].sha256 and results[0].size_bytes == (tmp_path / "small.mp4").stat().st_size
    percents = [p.percent for p in rec.seen]
    assert percents == sorted(percents) and percents[-1] == 100
    assert rec.seen[-1].phase == "Done"
    assert not list(tmp_path.glob(".*partial*")), "no partial files are left behind"


def test_hls_ladder_has_master_variants_and_every_segment(media: Path, tmp_path: Path) -> None:
    results, _ = run(
        media,
        tmp_path,
        outputs={
            "hls": {
                "segmentSeconds": 1,
                "renditions": [
                    {"name": "lo", "width": 320, "height": 180, "bitrate": "300k", "preset": "ultrafast"},
                    {"name": "hi", "width": 640, "height": 360, "bitrate": "800k", "preset": "ultrafast"},
                ],
            }
        },
    )
    master = (tmp_path / "hls" / "master.m3u8").read_text().splitlines()
    assert master[0] == "#EXTM3U"
    variants = [ln for ln in master if ln and not ln.startswith("#")]
    assert variants == ["lo/index.m3u8", "hi/index.m3u8"]
    assert "RESOLUTION=320x180" in master[2] and "RESOLUTION=640x360" in master[4]
    for v in variants:
        playlist = tmp_path / "hls" / v
        lines = playlist.read_text().splitlines()
        segments = [ln for ln in lines if ln and not ln.startswith("#")]
        durations = [float(ln[8:].split(",")[0]) for ln in lines if ln.startswith("#EXTINF:")]
        assert len(segments) >= 4 and all((playlist.parent / s).exists() for s in segments)
        assert abs(sum(durations) - 4.0) < 0.2
        assert "#EXT-X-ENDLIST" in lines
    assert {r.kind for r in results} == {"hls-master", "hls-variant"}


def test_thumbnails_every_second_and_a_sprite(media: Path, tmp_path: Path) -> None:
    results, _ = run(media, tmp_path, outputs={"thumbnails": {"everySeconds": 1, "width": 160, "sprite": True}})
    thumbs = sorted((tmp_path / "thumbs").glob("thumb_*.jpg"))
    assert len(thumbs) == 4
    assert probe(str(thumbs[0])).width == 160
    sprite = probe(str(tmp_path / "thumbs" / "sprite.jpg"))
    assert sprite.width == 160 * 10
    assert [r.kind for r in results].count("thumbnail") == 4


def test_trim_keeps_the_asked_span(media: Path, tmp_path: Path) -> None:
    run(
        media,
        tmp_path,
        trim={"startSeconds": 1, "durationSeconds": 2},
        outputs={"mp4": [{"name": "cut", "width": 320, "height": 180, "preset": "ultrafast"}]},
    )
    assert abs(probe(str(tmp_path / "cut.mp4")).duration - 2.0) <= 0.1


def test_title_card_followed_by_the_input(media: Path, tmp_path: Path) -> None:
    run(
        media,
        tmp_path,
        inputs=[
            {"titleCard": {"text": "Intro", "durationSeconds": 1.5, "width": 320, "height": 240}},
            {"pvc": {"claimName": "media", "path": "clip.mp4"}},
        ],
        outputs={"mp4": [{"name": "joined", "width": 640, "height": 360, "preset": "ultrafast"}]},
    )
    info = probe(str(tmp_path / "joined.mp4"))
    assert abs(info.duration - 5.5) <= 0.1 and (info.width, info.height) == (640, 360)


def _frame(path: Path, at: float) -> bytes:
    return subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-ss",
            str(at),
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout


def test_hostile_title_text_is_shown_not_interpreted(tmp_path: Path) -> None:
    text = "It's 100%: a \\ backslash\n%{pts} %{localtime} %{eif:n:d} ${HOME} \"quoted\" ; [x] 'end"
    execute(
        VideoJobSpec.model_validate(
            {
                "inputs": [{"titleCard": {"text": text, "durationSeconds": 2, "width": 640, "height": 360, "fps": 10}}],
                "outputs": {"mp4": [{"name": "card", "width": 640, "height": 360, "crf": 0, "preset": "ultrafast"}]},
                "destination": {"claimName": "x"},
            }
        ),
        tmp_path,
        Volumes(tmp_path, {}),
        Recorder(),
    )
    card = tmp_path / "card.mp4"
    early, late = _frame(card, 0.2), _frame(card, 1.7)
    # %{pts} or %{eif:n} would render a different number on every frame; verbatim text renders the same
    # (crf 0 is lossless, so equal frames mean equal pictures).
    assert early == late
    assert len(set(early)) > 1, "the frame has text on it, not only background"


def test_corrupt_input_fails_permanently_with_the_ffmpeg_message(tmp_path: Path) -> None:
    (tmp_path / "bad.mp4").write_bytes(b"\x00not a video\xff" * 1000)
    with pytest.raises(WorkerError) as e:
        execute(
            VideoJobSpec.model_validate(
                {
                    "inputs": [{"pvc": {"claimName": "m", "path": "bad.mp4"}}],
                    "outputs": {"mp4": [{"name": "a", "width": 320, "height": 180}]},
                    "destination": {"claimName": "m"},
                }
            ),
            tmp_path / "out",
            Volumes(tmp_path, {"m": tmp_path}),
            Recorder(),
        )
    assert e.value.code == Exit.INPUT_UNREADABLE
    assert "Invalid data" in e.value.message or "moov atom" in e.value.message
    assert not (tmp_path / "out" / "a.mp4").exists()


def test_input_limits_refuse_oversized_inputs(media: Path, tmp_path: Path) -> None:
    with pytest.raises(WorkerError) as e:
        run(
            media,
            tmp_path,
            limits={"maxInputSeconds": 1},
            outputs={"mp4": [{"name": "a", "width": 320, "height": 180}]},
        )
    assert e.value.code == Exit.INPUT_REFUSED and "maxInputSeconds" in e.value.message


def test_two_jobs_writing_to_one_destination_do_not_clobber_each_other(media: Path, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> list[Any]:
        return run(
            media, tmp_path, outputs={"mp4": [{"name": "same", "width": 320, "height": 180, "preset": "ultrafast"}]}
        )[0]

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, range(2)))
    assert all(r[0].uri == "same.mp4" for r in results)
    assert abs(probe(str(tmp_path / "same.mp4")).duration - 4.0) <= 0.1
    assert not list(tmp_path.glob(".*")), "no partial files are left behind"
