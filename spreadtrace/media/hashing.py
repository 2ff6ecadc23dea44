"""Perceptual hashes of local image and video files: PDQ for images, PDQ per sampled
frame for video (the vPDQ scheme), sha256 for every file. Never fetches a URL.

Why PDQ: it is Meta's open perceptual hash (ThreatExchange), the format trust-and-safety
teams share; two copies of a picture that were resized, re-compressed, captioned or
brightened stay within a small Hamming distance of each other (out of 256 bits), while
unrelated pictures sit near 128. The ``pdqhash`` package wraps the reference C++.

Hex format: ThreatExchange's (64 hex digits, the 16-bit words w[15] .. w[0]), so a
``pdq:<hex>`` reference written by another PDQ tool means the same hash here.

Video: the ``vpdq`` package needs FFmpeg's C development libraries at build time, which
a plain ``pip install`` cannot provide, so its scheme is done here with Debian's
``ffmpeg`` command: frames sampled once per second (vPDQ's default), each hashed with
PDQ; frames of PDQ quality below 50 are dropped (vPDQ's quality tolerance); matching two
videos compares their sets of frame hashes (spreadtrace.store.media).

Images are shrunk to at most 512 pixels on their long side before hashing (PDQ works on
a 64 x 64 downsample, so the hash barely moves, and big photos hash 10x faster).

References: Meta, "The TMK+PDQF Video-Hashing Algorithm and the PDQ Image Similarity
Algorithm" (2019), https://github.com/facebook/ThreatExchange/tree/main/pdq ; vPDQ,
https://github.com/facebook/ThreatExchange/tree/main/vpdq .

>>> import numpy as np
>>> bits = np.zeros(256, dtype=np.uint8); bits[0] = 1     # the top bit of w[15]
>>> pdq_hex(bits)[:4], len(pdq_hex(bits))
('8000', 64)
>>> hamming(pdq_hex(bits), "0" * 64)
1
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
GIF_SUFFIXES = frozenset({".gif"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".mpg", ".mpeg"})
MAX_SIDE = 512  # images are shrunk to this long side before PDQ
FRAME_SIDE = 256  # video frames are scaled to this square before PDQ (PDQ resamples to 64x64)
SECONDS_PER_FRAME = 1.0  # vPDQ's default sampling rate
MAX_FRAMES = 3600  # an hour of video at one frame per second
FRAME_MIN_QUALITY = 50  # vPDQ's quality tolerance: frames below it are not kept


class MediaError(ValueError):
    """A file that cannot be hashed (its message is the reject reason)."""


@dataclass
class MediaHash:
    """What hashing one file found; ``frames`` only for video."""

    kind: str
    sha256: str
    pdq: str | None = None
    pdq_quality: int | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    frames: list[str] = field(default_factory=list)


def pdq_hex(bits: np.ndarray) -> str:
    """256 PDQ bits (``pdqhash.compute``'s order: bit 255 first) -> 64 hex digits."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes of the same length."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def pdq_of_rgb(rgb: np.ndarray) -> tuple[str, int]:
    """PDQ hex and quality of an RGB uint8 array (height x width x 3)."""
    import pdqhash

    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
    return pdq_hex(bits), int(quality)


def kind_of(path: Path) -> str | None:
    """image, gif or video from the file name; None when not a media file."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in GIF_SUFFIXES:
        return "gif"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def hash_file(path: Path) -> MediaHash:
    """Hash one local file; raise MediaError (the reason) when it cannot be."""
    kind = kind_of(path)
    if kind is None:
        raise MediaError(f"not an image or video ({path.suffix or 'no extension'})")
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise MediaError(f"unreadable file ({exc.strerror or exc})") from None
    if kind == "video":
        return _hash_video(path, digest)
    return _hash_image(path, digest, kind)


def _hash_image(path: Path, digest: str, kind: str) -> MediaHash:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            width, height = img.size
            per_frame = img.info.get("duration") if kind == "gif" else None
            n_frames = getattr(img, "n_frames", 1)
            frame = img.convert("RGB")  # a gif's first frame
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"not a readable image ({type(exc).__name__})") from None
    frame.thumbnail((MAX_SIDE, MAX_SIDE))
    pdq, quality = pdq_of_rgb(np.asarray(frame))
    duration = per_frame * n_frames / 1000 if isinstance(per_frame, int | float) else None
    return MediaHash(
        kind=kind,
        sha256=digest,
        pdq=pdq,
        pdq_quality=quality,
        width=width,
        height=height,
        duration_s=duration if duration else None,
    )


def ffmpeg_available() -> bool:
    """True when Debian's ffmpeg and ffprobe are on PATH (scripts/ensure-ffmpeg.sh)."""
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def _probe(path: Path) -> tuple[int | None, int | None, float | None]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height:format=duration",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if out.returncode != 0:
        raise MediaError("not a readable video (ffprobe failed)")
    info = json.loads(out.stdout or b"{}")
    streams = info.get("streams") or []
    if not streams:
        raise MediaError("not a readable video (no video stream)")
    duration = (info.get("format") or {}).get("duration")
    return (
        streams[0].get("width"),
        streams[0].get("height"),
        float(duration) if duration not in (None, "N/A") else None,
    )


def video_frames(path: Path) -> np.ndarray:
    """Frames sampled every SECONDS_PER_FRAME seconds, as FRAME_SIDE-square RGB arrays
    (frames x side x side x 3), decoded by ffmpeg."""
    side = FRAME_SIDE
    out = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-i",
            str(path),
            "-vf",
            f"fps=1/{SECONDS_PER_FRAME:g},scale={side}:{side}",
            "-frames:v",
            str(MAX_FRAMES),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ],
        capture_output=True,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise MediaError("not a readable video (ffmpeg could not decode it)")
    size = side * side * 3
    n = len(out.stdout) // size
    return np.frombuffer(out.stdout[: n * size], dtype=np.uint8).reshape(n, side, side, 3)


def _hash_video(path: Path, digest: str) -> MediaHash:
    if not ffmpeg_available():
        raise MediaError("video, but ffmpeg is not installed (scripts/ensure-ffmpeg.sh)")
    width, height, duration = _probe(path)
    frames = video_frames(path)
    if not len(frames):
        raise MediaError("not a readable video (no frames decoded)")
    hashes = [pdq_of_rgb(f) for f in frames]
    best = max(range(len(hashes)), key=lambda i: hashes[i][1])
    # Flat or blurred frames (quality < 50) give unstable hashes; vPDQ ignores them too.
    kept = [h for h, q in hashes if q >= FRAME_MIN_QUALITY]
    return MediaHash(
        kind="video",
        sha256=digest,
        pdq=hashes[best][0],  # the best-quality frame stands for the video in image matching
        pdq_quality=hashes[best][1],
        width=width,
        height=height,
        duration_s=duration,
        frames=kept,
    )
