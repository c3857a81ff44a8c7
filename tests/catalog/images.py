"""Image files for the media tests, made with Pillow (or by hand, for the malicious ones)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


def image_bytes(
    fmt: str = "PNG",
    size: tuple[int, int] = (40, 30),
    *,
    color: tuple[int, ...] = (200, 30, 30),
    mode: str = "RGB",
    **save_args: object,
) -> bytes:
    """Return a ``size`` image of one colour, encoded as ``fmt``."""
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt, **save_args)
    return out.getvalue()


def upload(
    data: bytes | None = None, name: str = "photo.png", content_type: str = "image/png"
) -> SimpleUploadedFile:
    """Return ``data`` (a small PNG by default) as an uploaded file."""
    return SimpleUploadedFile(name, image_bytes() if data is None else data, content_type)


def noisy_png(size: tuple[int, int] = (64, 64)) -> bytes:
    """Return a PNG of random grey noise: it barely compresses (about 3 bytes a pixel)."""
    out = io.BytesIO()
    Image.effect_noise(size, 90).convert("RGB").save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """
    Return a valid PNG of ``width`` x ``height`` black pixels, 1 bit each.

    20,000 x 20,000 (400 megapixels, 1.6 GB once decoded as RGBA) compresses
    to about 50 KB: a decompression bomb.
    """
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then the packed pixels
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def exif_rotated_jpeg(size: tuple[int, int] = (60, 20)) -> bytes:
    """Return a ``size`` JPEG whose EXIF says: turn it a quarter (orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def stored_files(root: Path) -> list[str]:
    """Every file under ``root``, as sorted paths relative to it."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
