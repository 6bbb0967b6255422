"""The ffmpeg invocation: one decode, split into every output."""

from __future__ import annotations

from pathlib import Path

from oma.models.videojob import VideoJobSpec
from oma.worker import plan
from oma.worker.probe import MediaInfo

INFO = MediaInfo(duration=10.0, width=1920, height=1080, fps=30.0, video_codec="h264", has_audio=True, size_bytes=1000)


def spec(**outputs: object) -> VideoJobSpec:
    return VideoJobSpec.model_validate(
        {
            "inputs": [{"pvc": {"claimName": "media", "path": "in.mp4"}}],
            "outputs": outputs,
            "destination": {"claimName": "media"},
        }
    )


def test_a_ladder_decodes_once_and_splits(tmp_path: Path) -> None:
    s = spec(mp4=[{"name": f"r{h}", "width": h * 16 // 9 // 2 * 2, "height": h} for h in (360, 720, 1080)])
    p = plan.build(s, [plan.Source(location="/in.mp4", info=INFO, protocols="file")], tmp_path, tmp_path / "out")
    assert p.argv.count("-i") == 1
    graph = p.argv[p.argv.index("-filter_complex") + 1]
    assert "split=3" in graph and "asplit=3" in graph
    assert [o.final.name for o in p.outputs] == ["r360.mp4", "r720.mp4", "r1080.mp4"]
    assert p.argv[p.argv.index("-protocol_whitelist") + 1] == "file"
    assert p.expected_seconds == 10.0


def test_trim_of_a_single_file_seeks_on_the_input(tmp_path: Path) -> None:
    s = VideoJobSpec.model_validate(
        {
            "inputs": [{"pvc": {"claimName": "media", "path": "in.mp4"}}],
            "trim": {"startSeconds": 2, "durationSeconds": 3},
            "outputs": {"mp4": [{"name": "a", "width": 640, "height": 360}]},
            "destination": {"claimName": "media"},
        }
    )
    p = plan.build(s, [plan.Source(location="/in.mp4", info=INFO)], tmp_path, tmp_path)
    i = p.argv.index("-i")
    assert p.argv[i - 4 : i] == ["-ss", "2.0", "-t", "3.0"]
    assert p.expected_seconds == 3.0


def test_a_title_card_before_an_input_is_joined_after_normalising(tmp_path: Path) -> None:
    s = VideoJobSpec.model_validate(
        {
            "inputs": [
                {"titleCard": {"text": "hi", "durationSeconds": 2}},
                {"pvc": {"claimName": "media", "path": "in.mp4"}},
            ],
            "outputs": {"mp4": [{"name": "a", "width": 1280, "height": 720}]},
            "destination": {"claimName": "media"},
        }
    )
    sources = [plan.Source(title=s.inputs[0].title_card), plan.Source(location="/in.mp4", info=INFO)]
    p = plan.build(s, sources, tmp_path, tmp_path)
    graph = p.argv[p.argv.index("-filter_complex") + 1]
    assert "concat=a=1:n=2:v=1" in graph
    assert "expansion=none" in graph and "textfile=" in graph
    assert (tmp_path / "title-0.txt").read_text() == "hi"
    assert p.expected_seconds == 12.0


def _spec(inputs: list[dict[str, object]], **outputs: object) -> VideoJobSpec:
    return VideoJobSpec.model_validate(
        {
            "inputs": inputs,
            "outputs": outputs or {"mp4": [{"name": "a", "width": 320, "height": 180}]},
            "destination": {"claimName": "media"},
        }
    )


def _sources(s: VideoJobSpec, info: MediaInfo = INFO) -> list[plan.Source]:
    return [
        plan.Source(title=i.title_card)
        if i.title_card
        else plan.Source(location="/in.mp4", info=info, protocols="file")
        for i in s.inputs
    ]


# ffmpeg-python merges equal nodes; these specs used to end in "ValueError: ... multiple outgoing edges" (exit 1).
def test_two_identical_title_cards_open_one_input_and_split_it(tmp_path: Path) -> None:
    card = {"titleCard": {"text": "same", "durationSeconds": 1}}
    s = _spec([card, card])
    p = plan.build(s, _sources(s), tmp_path, tmp_path / "out")
    graph = p.argv[p.argv.index("-filter_complex") + 1]
    assert p.argv.count("-i") == 2  # one colour source, one silence
    assert "[0:v]split=2" in graph and "[1:a]asplit=2" in graph
    assert "concat=a=1:n=2:v=1" in graph


def test_the_same_file_twice_is_decoded_once(tmp_path: Path) -> None:
    pvc = {"pvc": {"claimName": "media", "path": "in.mp4"}}
    s = _spec([pvc, pvc, pvc])
    p = plan.build(s, _sources(s), tmp_path, tmp_path / "out")
    graph = p.argv[p.argv.index("-filter_complex") + 1]
    assert p.argv.count("-i") == 1 and "split=3" in graph and "asplit=3" in graph


def test_silent_files_of_one_length_get_their_silence_split(tmp_path: Path) -> None:
    silent = MediaInfo(duration=2.0, width=640, height=360, fps=25.0, video_codec="h264", has_audio=False, size_bytes=1)
    s = _spec([{"pvc": {"claimName": "media", "path": "in.mp4"}}] * 2)
    p = plan.build(s, _sources(s, silent), tmp_path, tmp_path / "out")
    assert "anullsrc=r=48000:cl=stereo" in p.argv
    assert p.argv.count("anullsrc=r=48000:cl=stereo") == 1


def test_joined_format_is_the_single_source_or_the_normalised_one(tmp_path: Path) -> None:
    one = _spec([{"pvc": {"claimName": "media", "path": "in.mp4"}}])
    assert plan.joined_format(one, _sources(one)) == (1920, 1080, 30.0)
    card = {"titleCard": {"text": "t", "durationSeconds": 1, "fps": 24}}
    two = _spec([card, {"pvc": {"claimName": "media", "path": "in.mp4"}}])
    assert plan.joined_format(two, _sources(two)) == (320, 180, 30.0)  # the largest rung, the first known rate
