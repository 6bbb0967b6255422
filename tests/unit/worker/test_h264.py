"""The picture size an H.264 SPS declares, from SPS units x264 wrote (taken from real encodes)."""

from __future__ import annotations

import pytest

from oma.worker import h264

SPS = {
    # Constrained Baseline, 27x16 macroblocks cropped to 426x242 (right and bottom crop).
    "cropped": ("6742c015da06c21e488c0440000003004000000c83c58ba8", (426, 242)),
    # High, field coding (frame_mbs_only_flag 0): heights count in pairs of macroblock rows.
    "interlaced": ("67640015acd941410fcb808800000300080000030190f8a14cb0", (320, 240)),
    # High with the JVT scaling matrices in the SPS, which must be skipped bit by bit.
    "scaling matrices": ("6764000dacd9416096c044000003000400000300c83c50a658", (352, 288)),
}


@pytest.mark.parametrize(("sps", "size"), SPS.values(), ids=SPS.keys())
def test_it_reads_the_cropped_picture_size(sps: str, size: tuple[int, int]) -> None:
    assert h264.picture_size(bytes.fromhex(sps)) == size


def test_what_is_not_a_whole_sps_is_an_error() -> None:
    whole = bytes.fromhex(SPS["cropped"][0])
    with pytest.raises(h264.SpsError, match="not a sequence parameter set"):
        h264.picture_size(b"\x68" + whole[1:])  # a PPS header
    with pytest.raises(h264.SpsError, match="ends early"):
        h264.picture_size(whole[:6])
    with pytest.raises(h264.SpsError, match="too long"):
        h264.picture_size(whole[:4] + b"\x00" * 8 + b"\xff")
