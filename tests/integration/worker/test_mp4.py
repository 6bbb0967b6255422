"""The worker's in-process MP4 reader agrees with ffprobe on what the worker checks, and gives up cleanly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from oma.models.videojob import VideoJobSpec
from oma.worker import mp4
from oma.worker.execute import Volumes, resolve_sources
from oma.worker.exitcodes import Exit, WorkerError
from oma.worker.probe import MediaInfo, probe

pytestmark = pytest.mark.ffmpeg

CASES = {
    "h264 with audio": ["-c:v", "libx264", "-preset", "ultrafast"],
    "h264 with B-frames": ["-c:v", "libx264", "-preset", "fast", "-bf", "3"],
    "hevc tagged hvc1": ["-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1", "-x265-params", "log-level=0"],
    "moov at the end": ["-c:v", "libx264", "-preset", "ultrafast", "-movflags", "0"],
}


def assert_agree(ours: MediaInfo | None, theirs: MediaInfo) -> None:
    """What the worker checks, read in-process, is what ffprobe reads."""
    assert ours is not None
    assert (ours.video_codec, ours.width, ours.height, ours.has_audio, ours.size_bytes) == (
        theirs.video_codec,
        theirs.width,
        theirs.height,
        theirs.has_audio,
        theirs.size_bytes,
    )
    assert theirs.fps is not None and ours.fps is not None
    assert abs(ours.duration - theirs.duration) < 1 / theirs.fps
    assert abs(ours.fps - theirs.fps) < 0.01


@pytest.mark.parametrize("args", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize(("size", "rate", "seconds"), [("320x240", "25", "2.2"), ("426x240", "30000/1001", "1.5")])
def test_it_reads_what_ffprobe_reads(tmp_path: Path, args: list[str], size: str, rate: str, seconds: str) -> None:
    out = tmp_path / "o.mp4"
    lavfi = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    audio = ["-f", "lavfi", "-i", f"sine=duration={seconds}", "-c:a", "aac"]
    faststart = [] if "-movflags" in args else ["-movflags", "+faststart"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *lavfi, *audio, *args, *faststart, str(out)], check=True)
    ours, theirs = mp4.read(out), probe(str(out))
    assert_agree(ours, theirs)


def test_it_gives_up_on_what_it_does_not_know(tmp_path: Path) -> None:
    ts = tmp_path / "o.ts"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x36:duration=0.5",
            "-c:v",
            "libx264",
            str(ts),
        ],
        check=True,
    )
    good = tmp_path / "good.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(ts), "-c", "copy", str(good)], check=True)
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(good.read_bytes()[:200])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert mp4.read(good) is not None
    for path in (ts, truncated, empty, tmp_path / "missing.mp4"):
        assert mp4.read(path) is None, path


def _encode(out: Path, size: str, *args: str, seconds: str = "1.2", audio: bool = True) -> Path:
    lavfi = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
    sound = ["-f", "lavfi", "-i", f"sine=duration={seconds}", "-c:a", "aac"] if audio else []
    subprocess.run(["ffmpeg", "-v", "error", "-y", *lavfi, *sound, *args, str(out)], check=True)
    return out


# What an SPS can hold that changes how its size is read: cropping, field coding, scaling matrices, 4:4:4,
# 10-bit, and the Baseline profile's other picture-order type.
SPS_CASES = {
    "cropped odd size": ("426x242", ["-c:v", "libx264", "-preset", "ultrafast"]),
    "interlaced": ("320x240", ["-c:v", "libx264", "-flags", "+ildct+ilme", "-x264-params", "tff=1"]),
    "scaling matrices": ("352x288", ["-c:v", "libx264", "-x264-params", "cqm=jvt"]),
    "4:4:4": ("322x180", ["-c:v", "libx264", "-pix_fmt", "yuv444p"]),
    "10-bit": ("320x180", ["-c:v", "libx264", "-pix_fmt", "yuv420p10le"]),
    "baseline": ("176x144", ["-c:v", "libx264", "-profile:v", "baseline"]),
}


@pytest.mark.parametrize(("size", "args"), SPS_CASES.values(), ids=SPS_CASES.keys())
def test_an_input_is_read_as_ffprobe_reads_it(tmp_path: Path, size: str, args: list[str]) -> None:
    path = _encode(tmp_path / "in.mp4", size, *args)
    ours, theirs = mp4.read_input(path), probe(str(path))
    assert_agree(ours, theirs)


def test_an_input_whose_sample_entry_lies_about_its_size_goes_to_ffprobe(tmp_path: Path) -> None:
    """The sample entry says 64x36, the SPS 1280x720: the input size limit must see what is decoded."""
    path = _encode(tmp_path / "in.mp4", "1280x720", "-c:v", "libx264", "-preset", "ultrafast")
    data = bytearray(path.read_bytes())
    at = data.index(b"avc1", data.index(b"stsd")) + 4 + 24
    data[at : at + 4] = (64).to_bytes(2, "big") + (36).to_bytes(2, "big")
    path.write_bytes(bytes(data))
    assert mp4.read_input(path) is None
    spec = VideoJobSpec.model_validate(
        {
            "inputs": [{"pvc": {"claimName": "media", "path": "in.mp4"}}],
            "outputs": {"mp4": [{"name": "o", "width": 320, "height": 180}]},
            "destination": {"claimName": "media"},
            "limits": {"maxInputPixels": 640 * 360},
        }
    )
    with pytest.raises(WorkerError) as refused:
        resolve_sources(spec, Volumes(tmp_path, {"media": tmp_path}), False, ())
    assert refused.value.code == Exit.INPUT_REFUSED
    assert "1280x720, over limits.maxInputPixels" in str(refused.value)


def test_inputs_it_does_not_read_go_to_ffprobe(tmp_path: Path) -> None:
    x264 = ["-c:v", "libx264", "-preset", "ultrafast"]
    plain = _encode(tmp_path / "plain.mp4", "320x240", *x264)
    fragmented = _encode(tmp_path / "frag.mp4", "320x240", *x264, "-movflags", "frag_keyframe+empty_moov")
    hevc = _encode(tmp_path / "hevc.mp4", "320x240", "-c:v", "libx265", "-tag:v", "hvc1", "-x265-params", "log-level=0")
    shifted = tmp_path / "shifted.mp4"  # starts with an empty edit: ffprobe's duration is not the media's
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(plain), "-c", "copy", "-output_ts_offset", "1", str(shifted)],
        check=True,
    )
    two_videos = tmp_path / "two.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(plain), "-map", "0:v", "-map", "0:v", "-c", "copy", str(two_videos)],
        check=True,
    )
    assert mp4.read_input(plain) is not None
    for path in (fragmented, hevc, shifted, two_videos):
        assert mp4.read_input(path) is None, path.name
    assert mp4.read(hevc) is not None  # our own HEVC outputs are still read in-process
