"""The picture size an H.264 sequence parameter set declares (ITU-T H.264, 7.3.2.1.1).

An MP4 sample entry's width and height are only what the muxer wrote; the decoder goes by the SPS. The input
size limit is a safety check, so the in-process reader trusts a size only when both agree.
"""

from __future__ import annotations

# Profiles whose SPS carries chroma format, bit depths and scaling matrices.
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class SpsError(Exception):
    pass


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def bit(self) -> int:
        byte = self.at >> 3
        if byte >= len(self.data):
            raise SpsError("the SPS ends early")
        self.at += 1
        return (self.data[byte] >> (7 - ((self.at - 1) & 7))) & 1

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise SpsError("an Exp-Golomb code is too long")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _unescape(nal: bytes) -> bytes:
    """The RBSP: every 0x000003 emulation-prevention byte removed."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def _skip_scaling_list(b: _Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + b.se()) % 256
        last = nxt or last


# long: the SPS syntax read field by field, in the order the standard writes it
def picture_size(nal: bytes) -> tuple[int, int]:
    """(width, height) after cropping, from an SPS NAL unit (header byte included)."""
    if not nal or nal[0] & 0x1F != 7:
        raise SpsError("not a sequence parameter set")
    b = _Bits(_unescape(nal[1:]))
    profile = b.bits(8)
    b.bits(16)  # constraint flags, level
    b.ue()  # seq_parameter_set_id
    chroma_format, separate_planes = 1, 0
    if profile in _HIGH_PROFILES:
        chroma_format = b.ue()
        if chroma_format > 3:
            raise SpsError(f"chroma_format_idc {chroma_format}")
        if chroma_format == 3:
            separate_planes = b.bit()
        b.ue()  # bit_depth_luma_minus8
        b.ue()  # bit_depth_chroma_minus8
        b.bit()  # qpprime_y_zero_transform_bypass_flag
        if b.bit():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format != 3 else 12):
                if b.bit():
                    _skip_scaling_list(b, 16 if i < 6 else 64)
    b.ue()  # log2_max_frame_num_minus4
    poc_type = b.ue()
    if poc_type == 0:
        b.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif poc_type == 1:
        b.bit()
        b.se()
        b.se()
        for _ in range(b.ue()):
            b.se()
    b.ue()  # max_num_ref_frames
    b.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = b.ue() + 1
    height_units = b.ue() + 1
    frame_mbs_only = b.bit()
    if not frame_mbs_only:
        b.bit()  # mb_adaptive_frame_field_flag
    b.bit()  # direct_8x8_inference_flag
    left = right = top = bottom = 0
    if b.bit():  # frame_cropping_flag
        left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
    chroma_array_type = 0 if separate_planes else chroma_format
    sub_width = 2 if chroma_array_type in (1, 2) else 1
    sub_height = 2 if chroma_array_type == 1 else 1
    crop_x = 1 if chroma_array_type == 0 else sub_width
    crop_y = (2 - frame_mbs_only) * (1 if chroma_array_type == 0 else sub_height)
    width = width_mbs * 16 - crop_x * (left + right)
    height = (2 - frame_mbs_only) * height_units * 16 - crop_y * (top + bottom)
    if width <= 0 or height <= 0:
        raise SpsError(f"cropping leaves {width}x{height}")
    return width, height
