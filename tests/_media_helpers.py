"""Drawn test pictures and ffmpeg test clips for the media tests (no files are shipped).

Scenes are drawn, not solid colours: a gradient sky, a horizon, random shapes and
lines, so that PDQ has structure to hash (a flat image has PDQ quality near 0).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A random drawn scene: gradient background, a horizon and 6-12 shapes."""
    rng = np.random.default_rng(seed)
    w, h = size
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, h)[:, None, None]
    angle = rng.uniform(-1, 1)
    x = np.linspace(0, 1, w)[None, :, None]
    mix = np.clip(t + angle * (x - 0.5), 0, 1)
    img = (top * (1 - mix) + bottom * mix).astype(np.uint8)
    img = np.broadcast_to(img, (h, w, 3)).copy()
    im = Image.fromarray(img)
    draw = ImageDraw.Draw(im)
    horizon = int(rng.uniform(0.3, 0.7) * h)
    draw.polygon(
        [
            (0, horizon),
            *[(int(i * w / 6), horizon + int(rng.integers(-30, 30))) for i in range(7)],
            (w, h),
            (0, h),
        ],
        fill=tuple(int(c) for c in rng.integers(0, 256, 3)),
    )
    for _ in range(int(rng.integers(10, 20))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(10, w // 2)), y0 + int(rng.integers(10, h // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        elif shape == 1:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        else:
            draw.line([x0, y0, x1, y1], fill=colour, width=int(rng.integers(2, 8)))
    return im


def resized(im: Image.Image, factor: float) -> Image.Image:
    return im.resize((int(im.width * factor), int(im.height * factor)), Image.LANCZOS)


def jpeg(im: Image.Image, path: Path, quality: int) -> Image.Image:
    im.save(path, "JPEG", quality=quality)
    return Image.open(path).convert("RGB")


def captioned(
    im: Image.Image,
    text: str = "BREAKING: you won't believe this",
    *,
    height_frac: int = 24,
    outline: int = 0,
) -> Image.Image:
    """A one-line caption along the bottom edge: white text 1/``height_frac`` of the
    picture's height, with a black ``outline`` (pixels) as memes draw it."""
    out = im.copy()
    draw = ImageDraw.Draw(out)
    size = max(10, im.height // height_frac)
    font = ImageFont.load_default(size=size)
    draw.text(
        (im.width // 20, im.height - size - 6),
        text,
        fill="white",
        font=font,
        stroke_width=outline,
        stroke_fill="black",
    )
    return out


def brightened(im: Image.Image, factor: float = 1.3) -> Image.Image:
    return ImageEnhance.Brightness(im).enhance(factor)


def noised(im: Image.Image, sigma: float = 12.0, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    a = np.asarray(im).astype(np.float64) + rng.normal(0, sigma, (im.height, im.width, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


# ffmpeg test sources that draw from a random seed unless given one (default -1):
# unseeded, their picture changed from run to run, and a copy near the match threshold
# matched in some runs and not in others
_SEEDED_SOURCES = frozenset({"sierpinski", "gradients", "life", "cellauto"})


def clip(path: Path, source: str, seconds: int = 6, size: str = "320x240", seed: int = 1) -> Path:
    """A short clip from one of ffmpeg's test sources (lavfi), H.264; the same every run."""
    seeded = f":seed={seed}" if source in _SEEDED_SOURCES else ""
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"{source}=size={size}:rate=25{seeded}",
            "-t",
            str(seconds),
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


def reencoded(src: Path, path: Path, scale: str = "160:120", crf: int = 35) -> Path:
    """The clip scaled and re-encoded at a low quality."""
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(src),
            "-vf",
            f"scale={scale}",
            "-c:v",
            "libx264",
            "-crf",
            str(crf),
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path
