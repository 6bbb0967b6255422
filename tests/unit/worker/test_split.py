"""Where a source is cut, and per-chunk progress folded into one: pure, no ffmpeg."""

from __future__ import annotations

from pathlib import Path

from oma.models.chunks import fold_progress
from oma.models.videojob import Progress, VideoJobSpec
from oma.worker import split
from oma.worker.plan import Source
from oma.worker.probe import MediaInfo


def frames(seconds: float, fps: int, keys: set[int]) -> list[split.Frame]:
    return [split.Frame(i / fps, i in keys) for i in range(round(seconds * fps))]


def test_chunks_partition_every_frame_exactly_once() -> None:
    fs = frames(60, 25, set(range(0, 1500, 50)))
    plan = split.plan_split(fs, 60, 4, min_chunk_seconds=10)
    assert len(plan.chunks) == 4
    assert sum(c.frames for c in plan.chunks) == len(fs)
    starts = [round(c.start_seconds * 25) for c in plan.chunks]
    assert starts == sorted(starts) and starts[0] == 0
    for c, nxt in zip(plan.chunks, [*starts[1:], len(fs)], strict=True):
        assert round(c.start_seconds * 25) + c.frames == nxt


def test_cuts_go_just_after_a_nearby_keyframe_and_seek_between_frames() -> None:
    keys = {0, 290, 610, 905}  # near the even cuts of 1200 frames in 4 (300, 600, 900)
    plan = split.plan_split(frames(48, 25, keys), 48, 4, min_chunk_seconds=10)
    # The decoder of a chunk starts at the keyframe before its first frame: one frame decoded in vain.
    assert [round(c.start_seconds * 25) for c in plan.chunks] == [0, 291, 611, 906]
    assert all(c.keyframe for c in plan.chunks)
    assert plan.chunks[0].seek_seconds is None
    # Half-way between frame 290 and frame 291: neither can be taken or dropped by rounding.
    assert plan.chunks[1].seek_seconds == (290 + 291) / 2 / 25


def test_without_a_keyframe_near_the_cut_the_nearest_frame_is_used() -> None:
    plan = split.plan_split(frames(40, 25, {0}), 40, 2, min_chunk_seconds=10)
    assert [c.frames for c in plan.chunks] == [500, 500]
    assert plan.chunks[1].keyframe is False
    assert "0 of 2" not in plan.message and "1 of 2" in plan.message


def test_short_sources_get_fewer_chunks_and_say_why() -> None:
    plan = split.plan_split(frames(25, 25, {0}), 25, 8, min_chunk_seconds=10)
    assert len(plan.chunks) == 2
    assert "25.0s of source makes 2 chunk(s) of at least 10s" in plan.message


def test_with_hls_cuts_fall_on_the_segment_grid() -> None:
    plan = split.plan_split(frames(60, 30, {0, 95, 400}), 60, 3, segment_seconds=6, min_chunk_seconds=10)
    # The grid points nearest the even cuts (20 s and 40 s), not the keyframes at 3.2 s and 13.3 s.
    assert not any(c.keyframe for c in plan.chunks[1:])
    assert [c.start_seconds for c in plan.chunks] == [0, 18, 42]


def test_trimmed_sources_seek_from_the_trim_start() -> None:
    plan = split.plan_split(frames(30, 10, {0, 149}), 30, 2, seek_origin=100.0, min_chunk_seconds=10)
    assert plan.chunks[0].seek_seconds == 100.0
    assert plan.chunks[1].seek_seconds == 100.0 + 14.95
    assert plan.chunks[1].start_seconds == 15.0


def spec(**outputs: object) -> VideoJobSpec:
    return VideoJobSpec.model_validate(
        {
            "inputs": [{"pvc": {"claimName": "m", "path": "a.mp4"}}],
            "outputs": outputs or {"mp4": [{"name": "a", "width": 320, "height": 240}]},
            "destination": {"claimName": "m"},
        }
    )


FILE = Source(location="/m/a.mp4", info=MediaInfo(60, 640, 360, 25, "h264", True, 1000))


def test_what_cannot_be_split_is_named() -> None:
    assert split.unsplittable(spec(), [FILE]) is None
    assert "single file" in (split.unsplittable(spec(), [FILE, FILE]) or "")
    fps = spec(mp4=[{"name": "a", "width": 320, "height": 240, "fps": 24}])
    assert "fps" in (split.unsplittable(fps, [FILE]) or "")
    thumbs = spec(thumbnails={"everySeconds": 5})
    assert "thumbnails" in (split.unsplittable(thumbs, [FILE]) or "")


def test_hls_chunks_force_keyframes_on_the_sources_segment_grid() -> None:
    s = spec(hls={"segmentSeconds": 4, "renditions": [{"name": "lo", "width": 320, "height": 240}]})
    plan = split.plan_split(frames(24, 25, {0}), 24, 2, segment_seconds=4, min_chunk_seconds=10)
    argv = split.chunk_argv(s, FILE, plan.chunks[1], Path("/w"))
    assert "expr:gte(t+12.0,(n_forced+3)*4)" in argv
    assert argv[argv.index("-frames:v") + 1] == str(plan.chunks[1].frames)
    assert "-an" not in argv and "aac" not in argv  # video only: the audio is encoded once, at the stitch


def test_progress_is_weighted_by_frames_and_waits_for_every_chunk() -> None:
    plan = split.plan_split(frames(40, 25, {0, 499}), 40, 2, min_chunk_seconds=10)
    half = Progress.model_validate({"phase": "Encoding", "percent": 50, "fps": 100, "etaSeconds": 4})
    one = fold_progress(plan.chunks, {"0": half})
    assert one.percent == 25 and one.eta_seconds is None
    done = Progress(phase="Done", percent=100)
    both = fold_progress(plan.chunks, {"0": half, "1": done})
    assert both.percent == 75 and both.eta_seconds == 4 and both.fps == 100


def test_a_coarse_segment_grid_gives_fewer_chunks_and_says_so() -> None:
    plan = split.plan_split(frames(100, 10, {0}), 100, 3, segment_seconds=60, min_chunk_seconds=10)
    assert [c.start_seconds for c in plan.chunks] == [0, 60]
    assert plan.message.startswith("only 2 chunk(s): the 60s segment grid has no more cuts")
