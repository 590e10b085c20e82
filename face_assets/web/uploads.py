"""Checks on an uploaded photo before anything decodes it, then the decode (EXIF orientation applied).

Order matters: the size is enforced while reading (never more than MAX_BYTES + 1 bytes are held), the signature is
checked on the first bytes, the pixel count is read from the header alone (Pillow's lazy open) before the pixels are
decoded. A failure is an UploadError with the HTTP status (400 or 413) and a sentence saying why.
"""

from __future__ import annotations

import io
from typing import BinaryIO

import numpy as np

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000
MAX_SIDE = 2048  # decoded photos are scaled down to this (the detector works at 640 px)
READ_CHUNK = 1024 * 1024

# Formats the face engine is fed, by their leading bytes.
SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("JPEG", b"\xff\xd8\xff", 0),
    ("PNG", b"\x89PNG\r\n\x1a\n", 0),
    ("WEBP", b"WEBP", 8),  # RIFF....WEBP
    ("BMP", b"BM", 0),
    ("TIFF", b"II*\x00", 0),  # little-endian
    ("TIFF", b"MM\x00*", 0),  # big-endian
)


class UploadError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def read_limited(stream: BinaryIO, limit: int = MAX_BYTES) -> bytes:
    """At most `limit` bytes of `stream`; UploadError 413 as soon as there are more."""
    chunks, total = [], 0
    while True:
        chunk = stream.read(READ_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise UploadError(413, f"the file is larger than {limit // (1024 * 1024)} MB")
        chunks.append(chunk)
    return b"".join(chunks)


def image_format(content: bytes) -> str:
    """The format named by the file's signature; UploadError 400 when it is none the app accepts."""
    if not content:
        raise UploadError(400, "the file is empty")
    for name, magic, offset in SIGNATURES:
        if content[offset : offset + len(magic)] == magic and (name != "WEBP" or content[:4] == b"RIFF"):
            return name
    raise UploadError(400, "not a JPEG, PNG, WebP, BMP or TIFF image (by its first bytes)")


def decode_photo(content: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A BGR uint8 image of an uploaded photo, upright (EXIF orientation) and at most MAX_SIDE px on its longer side.

    Checks, before decoding: signature, pixel count from the header. UploadError (400/413) says what is wrong."""
    return decode_photo_sized(content, max_pixels)[0]


def decode_photo_sized(content: bytes, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, tuple[int, int]]:
    """`decode_photo`, and the upright photo's (width, height) before any scaling down: the size as sent, in which
    the face service gives its boxes."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    expected = image_format(content)
    try:
        with Image.open(io.BytesIO(content)) as header:  # reads the header only
            width, height = header.size
            actual = header.format
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise UploadError(400, f"the file starts like a {expected} image but its header cannot be read") from None
    if width * height > max_pixels:
        raise UploadError(
            413,
            f"the image has {width * height / 1e6:.1f} megapixels ({width}x{height}); "
            f"at most {max_pixels / 1e6:.0f} are accepted",
        )
    if actual and actual.upper() != expected:
        raise UploadError(400, f"the file's signature says {expected} but its header says {actual}")
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            rgb = upright.convert("RGB")
            size = rgb.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UploadError(
            400, f"the {expected} image is damaged and cannot be decoded ({exc.__class__.__name__})"
        ) from None
    if max(rgb.size) > MAX_SIDE:
        rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1]), size


def encode_jpeg(image_bgr: np.ndarray, quality: int = 92) -> bytes:
    """The decoded photo as a plain JPEG (no metadata: what is kept on disk as a reference image)."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image_bgr[:, :, ::-1])).save(out, "JPEG", quality=quality)
    return out.getvalue()
