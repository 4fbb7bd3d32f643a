"""Turning whatever a student uploads into one RGB picture, or one sentence saying why not.

Every failure is an `ImageError` (a ValueError) whose message is fit to show in the UI as it is.
"""

from __future__ import annotations

import io
import re
import os
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Formats a phone or a browser produces. Pillow is only allowed to try these decoders, so an upload
# cannot reach the rarer, less-audited ones. (Phones' MPO files open through the JPEG decoder.)
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
SUPPORTED_NAMES = "JPEG, PNG, WebP, GIF, BMP or TIFF"

# Refused before decoding: a 30000 x 30000 header would otherwise ask for 2.7 GB of RAM.
MAX_PIXELS = int(os.environ.get("AUGTUNE_MAX_PIXELS", 50_000_000))

ImageSource = Union[str, os.PathLike, bytes, BinaryIO, Image.Image]


class ImageError(ValueError):
    """An image that cannot be used; the message is one sentence for the user."""


def load_image(source: ImageSource, max_side: int | None = None) -> Image.Image:
    """Decode `source` into an RGB image: first frame, EXIF orientation applied, transparency on white.

    With `max_side`, an image longer than that is reduced to fit (JPEG decodes at reduced scale,
    which is much faster than decoding at full size and shrinking).
    """
    if isinstance(source, Image.Image):
        upright = ImageOps.exif_transpose(source)
        result = _to_rgb(_fit(upright, max_side))
        result.info["original_size"] = upright.size
        return result
    data = read_image_bytes(source)
    if not data:
        raise ImageError("The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except Image.DecompressionBombError as error:
        # Pillow's own guard fired while reading the header; its message carries the pixel count.
        pixels = re.search(r"\((\d+) pixels\)", str(error))
        raise ImageError(_too_many_pixels_message(int(pixels.group(1)) if pixels else None)) from None
    except UnidentifiedImageError:
        raise ImageError(_unsupported_message(data)) from None
    except Exception as error:  # Pillow raises assorted errors on malformed headers
        raise ImageError(f"The image could not be read ({_short(error)}).") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError("The image has no pixels.")
    if width * height > MAX_PIXELS:
        raise ImageError(_too_many_pixels_message(width * height))
    try:
        image.seek(0)
        if max_side and image.format in ("JPEG", "MPO") and max(image.size) > max_side:
            scale = max_side / max(image.size)
            image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
        image.load()
        decoded_size = image.size
        ImageOps.exif_transpose(image, in_place=True)  # a copy of the whole photo otherwise, even upright
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        if "truncated" in str(error).lower():
            raise ImageError("The image file is incomplete (truncated); please upload it again.") from None
        raise ImageError(f"The image file is damaged and could not be decoded ({_short(error)}).") from None
    rotated = image.size != decoded_size
    result = _to_rgb(_fit(image, max_side))
    # The photo's own size, the right way up, even when a reduced copy is returned: sample_grid draws
    # crop boxes for it so that they are the photo's pixels (see sample_grid's source_size).
    result.info["original_size"] = (height, width) if rotated else (width, height)
    return result


def read_image_bytes(source: ImageSource) -> bytes:
    """The file's bytes, refusing a missing or absurdly large file with one sentence."""
    if isinstance(source, bytes):
        return source
    if hasattr(source, "read"):
        return source.read()
    path = Path(source)
    if not path.is_file():
        raise ImageError(f"No image file at {path.name!r}.")
    size = path.stat().st_size
    if size > 200 * 1024 * 1024:
        raise ImageError(f"The file is too large ({size // (1024 * 1024)} MB).")
    return path.read_bytes()


def _fit(image: Image.Image, max_side: int | None) -> Image.Image:
    if not max_side or max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = _to_rgb(image)
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image), mode), "L").convert("RGB")
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    values = values.astype(np.float64)
    if mode == "F":
        top = 1.0 if values.size and np.nanmax(values) <= 1.0 else 255.0
    elif mode.startswith("I;16") or (values.size and values.max() > 255):
        top = 65535.0
    else:
        top = 255.0
    return np.clip(np.nan_to_num(values) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)


def _too_many_pixels_message(pixels: int | None = None) -> str:
    size = f" ({pixels / 1e6:.3g} megapixels)" if pixels else ""
    return f"The image is too large{size}: at most {MAX_PIXELS / 1e6:g} megapixels are accepted."


def _unsupported_message(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith(b"<?xml") or head.startswith(b"<svg") or b"<svg" in head:
        kind = "SVG"
    elif data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1", b"ftyphevc"):
        kind = "HEIC"
    elif data[4:12] in (b"ftypavif",):
        kind = "AVIF"
    else:
        return f"This file is not an image augtune can read; please upload a {SUPPORTED_NAMES} file."
    return f"{kind} images are not supported; please upload a {SUPPORTED_NAMES} file."


def _short(error: Exception) -> str:
    text = str(error).strip().rstrip(".") or type(error).__name__
    return text[:120]
