"""One ffmpeg invocation per job: decode once, `split` into every output. Pure: no process is started here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import ffmpeg

from oma.models.videojob import Hls, Rendition, Thumbnails, TitleCard, VideoJobSpec

from .probe import MediaInfo
from .text import drawtext_args, write_text_file


@dataclass(frozen=True)
class Source:
    """A resolved input: a checked local path or URL with its probe, or a title card."""

    location: str | None = None
    info: MediaInfo | None = None
    protocols: str | None = None
    title: TitleCard | None = None

    @property
    def duration(self) -> float:
        if self.title:
            return self.title.duration_seconds
        return self.info.duration if self.info else 0.0


@dataclass(frozen=True)
class PlannedOutput:
    kind: Literal["mp4", "hls", "thumbnails"]
    name: str
    partial: Path  # where ffmpeg writes (file or directory)
    final: Path  # where it is renamed to once complete and verified
    rendition: Rendition | None = None
    renditions: tuple[Rendition, ...] = ()


@dataclass
class Plan:
    argv: list[str]
    expected_seconds: float
    outputs: list[PlannedOutput] = field(default_factory=list)
    fps: float = 30.0  # of the joined stream, before any rendition's own rate


def expected_seconds(spec: VideoJobSpec, sources: list[Source]) -> float:
    total = sum(s.duration for s in sources)
    if spec.trim:
        total = max(0.0, total - spec.trim.start_seconds)
        if spec.trim.duration_seconds is not None:
            total = min(total, spec.trim.duration_seconds)
    return total


def joined_format(spec: VideoJobSpec, sources: list[Source]) -> tuple[int, int, float]:
    """Width, height and frame rate of the joined stream: a single source keeps its own, several are normalised."""
    if len(sources) == 1:
        only = sources[0]
        if only.title:
            return only.title.width, only.title.height, float(only.title.fps)
        info = only.info
        if info and info.width and info.height:
            return info.width, info.height, info.fps or 30.0
    w, h, fps = _canonical(spec, sources)
    return w, h, float(fps)


def _encoder_args(r: Rendition) -> dict[str, Any]:
    args: dict[str, Any] = {
        "vcodec": "libx264" if r.codec == "h264" else "libx265",
        "preset": r.preset,
        "pix_fmt": "yuv420p",
        "acodec": "aac",
        "audio_bitrate": r.audio_bitrate,
        "ac": 2,
    }
    if r.bitrate:
        value, unit = int(r.bitrate[:-1]), r.bitrate[-1]
        args.update(video_bitrate=r.bitrate, maxrate=r.bitrate, bufsize=f"{2 * value}{unit}")
    else:
        args["crf"] = 23 if r.crf is None else r.crf
    if r.codec == "hevc":
        args["tag:v"] = "hvc1"  # plays in Safari/QuickTime
    return args


def _fit(stream: Any, width: int, height: int, fps: int | None) -> Any:
    """Scale into width x height keeping aspect ratio, pad the rest: the output has exactly the asked size."""
    stream = stream.filter("scale", width, height, force_original_aspect_ratio="decrease")
    stream = stream.filter("pad", width, height, "(ow-iw)/2", "(oh-ih)/2").filter("setsar", "1")
    if fps:
        stream = stream.filter("fps", fps=fps)
    return stream


def _canonical(spec: VideoJobSpec, sources: list[Source]) -> tuple[int, int, int]:
    """The common frame size and rate inputs are normalised to before they are joined."""
    rungs = [*spec.outputs.mp4, *(spec.outputs.hls.renditions if spec.outputs.hls else [])]
    if rungs:
        big = max(rungs, key=lambda r: r.width * r.height)
        w, h = big.width, big.height
    elif sources[0].title:
        w, h = sources[0].title.width, sources[0].title.height
    else:
        info = sources[0].info
        w, h = (info.width or 1280, info.height or 720) if info else (1280, 720)
    fps = max((r.fps or 0 for r in rungs), default=0) or next(
        (round(s.info.fps) for s in sources if s.info and s.info.fps), 30
    )
    return w, h, fps


@dataclass(frozen=True)
class _InputSpec:
    """One ffmpeg `-i` with its options, and which of its streams a source takes."""

    filename: str
    options: tuple[tuple[str, Any], ...]
    stream: Literal["video", "audio"]


class _Inputs:
    """Each distinct input opened once, each of its streams split as often as sources use it.

    ffmpeg-python merges nodes with equal arguments, so two equal inputs (two identical title cards, the same
    file twice, two silent tracks of one length) became one node with two edges out of one stream, and
    `compile` raised ValueError: a traceback and exit 1 for a spec the schema accepts (issue 13).
    """

    def __init__(self, uses: list[_InputSpec]) -> None:
        self._count = {u: uses.count(u) for u in uses}
        self._branches: dict[_InputSpec, list[Any]] = {}

    def take(self, use: _InputSpec) -> Any:
        if use not in self._branches:
            node = ffmpeg.input(use.filename, **dict(use.options))
            stream, n = (node.video if use.stream == "video" else node.audio), self._count[use]
            if n == 1:
                self._branches[use] = [stream]
            else:
                split = stream.split() if use.stream == "video" else stream.filter_multi_output("asplit", n)
                self._branches[use] = [split[i] for i in range(n)]
        return self._branches[use].pop(0)


def _silence(seconds: float) -> _InputSpec:
    return _InputSpec("anullsrc=r=48000:cl=stereo", (("f", "lavfi"), ("t", seconds)), "audio")


def _source_inputs(src: Source, input_args: dict[str, Any]) -> tuple[_InputSpec, _InputSpec]:
    """The video and audio inputs a source reads."""
    if src.title:
        t = src.title
        # Colours are validated by the model's pattern (a name or #hex), so the lavfi string cannot be injected.
        color = f"color=c={t.background_color}:s={t.width}x{t.height}:r={t.fps}:d={t.duration_seconds}"
        return _InputSpec(color, (("f", "lavfi"),), "video"), _silence(t.duration_seconds)
    assert src.location is not None
    args = dict(input_args)
    if src.protocols:
        args["protocol_whitelist"] = src.protocols
    options = tuple(sorted(args.items()))
    video = _InputSpec(src.location, options, "video")
    if src.info and src.info.has_audio:
        return video, _InputSpec(src.location, options, "audio")
    return video, _silence(src.duration)


def _source_streams(src: Source, index: int, workdir: Path, pair: tuple[Any, Any]) -> tuple[Any, Any]:
    v, a = pair
    if src.title:
        textfile = write_text_file(workdir, index, src.title.text)
        v = v.filter("drawtext", **drawtext_args(textfile, src.title.font_size, src.title.font_color))
    return v, a


def _joined(spec: VideoJobSpec, sources: list[Source], workdir: Path) -> tuple[Any, Any]:
    """One video and one audio stream over every source, trimmed as the spec asks."""
    single_file = len(sources) == 1 and sources[0].title is None
    input_args: dict[str, Any] = {}
    if single_file and spec.trim:
        # Seeking on the input is far cheaper than trimming decoded frames.
        input_args["ss"] = spec.trim.start_seconds
        if spec.trim.duration_seconds is not None:
            input_args["t"] = spec.trim.duration_seconds
    uses = [_source_inputs(s, input_args) for s in sources]
    inputs = _Inputs([u for pair in uses for u in pair])
    pairs = [
        _source_streams(s, i, workdir, (inputs.take(vu), inputs.take(au)))
        for i, (s, (vu, au)) in enumerate(zip(sources, uses, strict=True))
    ]
    if len(pairs) == 1:
        v, a = pairs[0]
    else:
        w, h, fps = _canonical(spec, sources)
        flat: list[Any] = []
        for pv, pa in pairs:
            flat.append(_fit(pv, w, h, fps).filter("format", "yuv420p"))
            flat.append(pa.filter("aresample", 48000).filter("aformat", channel_layouts="stereo"))
        joined = ffmpeg.concat(*flat, v=1, a=1).node
        v, a = joined[0], joined[1]
    if spec.trim and not single_file:
        v = v.trim(start=spec.trim.start_seconds, **_dur(spec)).setpts("PTS-STARTPTS")
        a = a.filter("atrim", start=spec.trim.start_seconds, **_dur(spec)).filter("asetpts", "PTS-STARTPTS")
    return v, a


class _Branches:
    """Hands out one branch of the decoded video (and audio) per output: `split` only when there are several."""

    def __init__(self, v: Any, a: Any, n_video: int, n_audio: int) -> None:
        vs = v.split() if n_video > 1 else None
        as_ = a.filter_multi_output("asplit", n_audio) if n_audio > 1 else None
        self._v = [vs[i] for i in range(n_video)] if vs is not None else [v]
        self._a = [as_[i] for i in range(n_audio)] if as_ is not None else [a]

    def video(self) -> Any:
        return self._v.pop(0)

    def audio(self) -> Any:
        return self._a.pop(0)


def _mp4(r: Rendition, b: _Branches, dest: Path, run_id: str) -> tuple[Any, PlannedOutput]:
    partial = dest / f".{r.name}.mp4.{run_id}.partial"
    stream = ffmpeg.output(
        _fit(b.video(), r.width, r.height, r.fps),
        b.audio(),
        str(partial),
        f="mp4",
        movflags="+faststart",
        **_encoder_args(r),
    )
    return stream, PlannedOutput("mp4", r.name, partial, dest / f"{r.name}.mp4", rendition=r)


def _hls(hls: Hls, b: _Branches, dest: Path, run_id: str) -> tuple[list[Any], PlannedOutput]:
    partial = dest / f".{hls.name}.{run_id}.partial"
    seg = hls.segment_seconds
    streams = []
    for r in hls.renditions:
        rung_dir = partial / r.name
        streams.append(
            ffmpeg.output(
                _fit(b.video(), r.width, r.height, r.fps),
                b.audio(),
                str(rung_dir / "index.m3u8"),
                f="hls",
                hls_time=seg,
                hls_playlist_type="vod",
                hls_list_size=0,
                hls_segment_filename=str(rung_dir / "seg_%05d.ts"),
                # Keyframes on segment boundaries in every rung, so players can switch between them.
                force_key_frames=f"expr:gte(t,n_forced*{seg})",
                **_encoder_args(r),
            )
        )
    return streams, PlannedOutput("hls", hls.name, partial, dest / hls.name, renditions=tuple(hls.renditions))


def _thumbnails(th: Thumbnails, b: _Branches, dest: Path, run_id: str) -> tuple[Any, PlannedOutput]:
    partial = dest / f".{th.name}.{run_id}.partial"
    stream = ffmpeg.output(
        b.video().filter("fps", fps=f"1/{th.every_seconds}").filter("scale", th.width, -2),
        str(partial / "thumb_%05d.jpg"),
        f="image2",
        **{"q:v": 3},
    )
    return stream, PlannedOutput("thumbnails", th.name, partial, dest / th.name)


def build(spec: VideoJobSpec, sources: list[Source], workdir: Path, dest: Path, run_id: str = "0") -> Plan:
    """The ffmpeg argv (with `-progress pipe:1`) and where each output is written and then published.

    Partial names carry `run_id`, so two jobs (or attempts) writing to one destination never share a file.
    """
    v, a = _joined(spec, sources, workdir)
    out = spec.outputs
    hls_rungs = len(out.hls.renditions) if out.hls else 0
    branches = _Branches(v, a, len(out.mp4) + hls_rungs + (1 if out.thumbnails else 0), len(out.mp4) + hls_rungs)
    streams: list[Any] = []
    planned: list[PlannedOutput] = []
    for r in out.mp4:
        stream, po = _mp4(r, branches, dest, run_id)
        streams.append(stream)
        planned.append(po)
    if out.hls:
        hls_streams, po = _hls(out.hls, branches, dest, run_id)
        streams += hls_streams
        planned.append(po)
    if out.thumbnails:
        stream, po = _thumbnails(out.thumbnails, branches, dest, run_id)
        streams.append(stream)
        planned.append(po)
    cmd = ffmpeg.merge_outputs(*streams).global_args("-nostdin", "-progress", "pipe:1", "-nostats")
    argv = cmd.overwrite_output().compile()
    return Plan(
        argv=argv,
        expected_seconds=expected_seconds(spec, sources),
        outputs=planned,
        fps=joined_format(spec, sources)[2],
    )


def _dur(spec: VideoJobSpec) -> dict[str, float]:
    assert spec.trim is not None
    return {"duration": spec.trim.duration_seconds} if spec.trim.duration_seconds is not None else {}
