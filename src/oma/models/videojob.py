"""VideoJob (video.oma.ai/v1alpha1): the typed spec the worker executes and the operator reconciles.

These models are the single source of the API: field descriptions become `kubectl explain` text.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

GROUP = "video.oma.ai"
VERSION = "v1alpha1"
KIND = "VideoJob"
PLURAL = "videojobs"

DnsLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
Color = Annotated[
    str,
    Field(
        max_length=32,
        pattern=r"^(#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?|[a-zA-Z]+)$",
        description="A colour name (white, black, navy, ...) or #RRGGBB[AA].",
    ),
]
Bitrate = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,5}[kM]$", max_length=8, description="e.g. 2500k or 5M.")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TitleCard(_Model):
    """A generated source: text rendered on a solid background, with silent audio."""

    text: str = Field(
        min_length=1,
        max_length=2000,
        description="Text to show, verbatim: quotes, colons, backslashes, %{...} and newlines are displayed, "
        "never interpreted.",
    )
    duration_seconds: float = Field(alias="durationSeconds", gt=0, le=600, description="Length of the card.")
    width: int = Field(default=1280, ge=16, le=3840, multiple_of=2, description="Width in pixels (even).")
    height: int = Field(default=720, ge=16, le=2160, multiple_of=2, description="Height in pixels (even).")
    fps: int = Field(default=30, ge=1, le=60, description="Frames per second.")
    font_size: int = Field(default=64, alias="fontSize", ge=8, le=400, description="Font size in pixels.")
    font_color: Color = Field(default="white", alias="fontColor")
    background_color: Color = Field(default="black", alias="backgroundColor")


class PvcFile(_Model):
    """A file on a PersistentVolumeClaim in the VideoJob's namespace."""

    claim_name: DnsLabel = Field(alias="claimName", description="The PVC's name.")
    path: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[^/].*",
        description="Path inside the volume, relative; '..' segments and symlinks leaving the volume are refused.",
    )


class Input(_Model):
    """One source. Exactly one of url, pvc or titleCard. Several inputs are joined in order."""

    url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description="An http(s) URL. Addresses resolving to loopback, link-local, private or metadata ranges "
        "are refused.",
    )
    pvc: PvcFile | None = None
    title_card: TitleCard | None = Field(default=None, alias="titleCard")

    @model_validator(mode="after")
    def _exactly_one(self) -> Input:
        if sum(x is not None for x in (self.url, self.pvc, self.title_card)) != 1:
            raise ValueError("an input sets exactly one of url, pvc or titleCard")
        return self


class Trim(_Model):
    """Keep only part of the joined input."""

    start_seconds: float = Field(default=0, alias="startSeconds", ge=0, le=86400)
    duration_seconds: float | None = Field(default=None, alias="durationSeconds", gt=0, le=86400)


class Rendition(_Model):
    """One encoded video stream (and AAC audio)."""

    name: DnsLabel = Field(description="Used in file names: <name>.mp4, or the HLS variant directory.")
    codec: Literal["h264", "hevc"] = Field(default="h264", description="Video codec (libx264 or libx265).")
    width: int = Field(ge=16, le=3840, multiple_of=2)
    height: int = Field(ge=16, le=2160, multiple_of=2)
    crf: int | None = Field(default=None, ge=0, le=51, description="Constant quality; excludes bitrate.")
    bitrate: Bitrate | None = Field(default=None, description="Target video bitrate; excludes crf.")
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"] = (
        "veryfast"
    )
    fps: int | None = Field(default=None, ge=1, le=120, description="Output frame rate; default: the input's.")
    audio_bitrate: Bitrate = Field(default="128k", alias="audioBitrate")

    @model_validator(mode="after")
    def _rate_control(self) -> Rendition:
        if self.crf is not None and self.bitrate is not None:
            raise ValueError(f"rendition {self.name}: set crf or bitrate, not both")
        return self


class Hls(_Model):
    """An HLS ladder: one variant playlist per rendition and a master playlist."""

    name: DnsLabel = Field(default="hls", description="Directory for the ladder under the destination.")
    segment_seconds: int = Field(default=6, alias="segmentSeconds", ge=1, le=60)
    renditions: list[Rendition] = Field(min_length=1, max_length=8)


class Thumbnails(_Model):
    """JPEG stills every N seconds, optionally tiled into one sprite sheet."""

    name: DnsLabel = Field(default="thumbs")
    every_seconds: float = Field(alias="everySeconds", gt=0, le=3600)
    width: int = Field(default=320, ge=16, le=1920, multiple_of=2)
    sprite: bool = Field(default=False, description="Also write <name>/sprite.jpg, 10 thumbnails per row.")


class Outputs(_Model):
    mp4: list[Rendition] = Field(default_factory=list, max_length=8, description="MP4 files, one per rendition.")
    hls: Hls | None = None
    thumbnails: Thumbnails | None = None

    @model_validator(mode="after")
    def _something(self) -> Outputs:
        if not self.mp4 and self.hls is None and self.thumbnails is None:
            raise ValueError("outputs must ask for at least one of mp4, hls or thumbnails")
        names = [r.name for r in self.mp4]
        if len(set(names)) != len(names):
            raise ValueError("mp4 rendition names must be unique")
        return self


class Destination(_Model):
    """Where outputs go: a PVC and a path prefix inside it."""

    claim_name: DnsLabel = Field(alias="claimName")
    path_prefix: str = Field(default="", alias="pathPrefix", max_length=512, pattern=r"^([^/].*)?$")


class Limits(_Model):
    """Guards against hostile or mistaken inputs."""

    max_input_seconds: float = Field(default=4 * 3600, alias="maxInputSeconds", gt=0, le=86400)
    max_input_pixels: int = Field(default=3840 * 2160, alias="maxInputPixels", gt=0)
    max_input_bytes: int = Field(default=50 * 1024**3, alias="maxInputBytes", gt=0)


class VideoJobSpec(_Model):
    inputs: list[Input] = Field(min_length=1, max_length=16, description="Sources, joined in order.")
    trim: Trim | None = None
    outputs: Outputs
    destination: Destination
    limits: Limits = Field(default_factory=Limits)


class ObjectMeta(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = "videojob"
    namespace: str = "default"
    uid: str | None = None


class VideoJob(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    api_version: str = Field(default=f"{GROUP}/{VERSION}", alias="apiVersion")
    kind: Literal["VideoJob"] = "VideoJob"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: VideoJobSpec


# --- status written by the worker ---------------------------------------------------------------------------


class Progress(_Model):
    phase: Literal["Probing", "Encoding", "Packaging", "Publishing", "Done"]
    percent: float = Field(ge=0, le=100)
    fps: float | None = None
    speed: float | None = Field(default=None, description="Encoding speed as a multiple of real time.")
    eta_seconds: float | None = Field(default=None, alias="etaSeconds")


class OutputFile(_Model):
    uri: str
    kind: Literal["mp4", "hls-master", "hls-variant", "thumbnail", "sprite"]
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = Field(default=None, alias="durationSeconds")
    size_bytes: int = Field(alias="sizeBytes")
    sha256: str
