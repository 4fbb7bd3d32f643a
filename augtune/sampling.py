"""Sampled grids: draw the pipeline's random parameters apart from the pixel work, then render them fast.

Parameters are drawn by the very transform objects of `build_pipeline(spec)`, consuming torch's RNG in
the order their `forward` does, so `torch.manual_seed(seed)` followed by the exported pipeline replays
the grid. The pixels take a fast path that gives the same picture within rounding: every geometric step
(flips, crop, resize, centre crop) composes into one source rectangle that is resampled once, from a
cached pyramid of the image, straight to the output size; the colour jitter then runs on that small
tile with torchvision's own PIL kernels. Contrast blends towards the mean grey of the image the jitter
saw, so where the jitter runs before the crop that mean comes from a thumbnail of the whole image, and
the jitter runs on a supersampled copy of the rectangle (see `_render`) that is then averaged down.
"""

from __future__ import annotations

import math
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image, ImageStat
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from .pipeline import build_pipeline
from .spec import AugSpec

MAX_TILE_SIDE = 1024  # larger outputs (no crop on a big photo) are shown downscaled to this
_THUMB_SIDE = 256  # where the mean grey for contrast comes from
_JITTER_NAMES = ("brightness", "contrast", "saturation", "hue")

# Torch's global RNG is process-wide: without this lock two requests seeding it at once would
# interleave their draws and neither grid would be reproducible.
_rng_lock = threading.Lock()
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="augtune-tiles")


@dataclass(frozen=True)
class Tile:
    image: Image.Image
    params: dict[str, Any]


@dataclass
class _Geometry:
    """The current image as a view of the original: a rectangle, mirrored or not, at some pixel size."""

    x0: float
    y0: float
    x1: float
    y1: float
    width: int
    height: int
    mirror_x: bool = False
    mirror_y: bool = False
    crops: int = 0

    def crop(self, top: int, left: int, height: int, width: int) -> None:
        sx = (self.x1 - self.x0) / self.width
        sy = (self.y1 - self.y0) / self.height
        if self.mirror_x:
            self.x0, self.x1 = self.x1 - (left + width) * sx, self.x1 - left * sx
        else:
            self.x0, self.x1 = self.x0 + left * sx, self.x0 + (left + width) * sx
        if self.mirror_y:
            self.y0, self.y1 = self.y1 - (top + height) * sy, self.y1 - top * sy
        else:
            self.y0, self.y1 = self.y0 + top * sy, self.y0 + (top + height) * sy
        self.width, self.height = width, height
        self.crops += 1

    def rescale(self, sx: float, sy: float) -> None:
        self.x0, self.x1, self.y0, self.y1 = self.x0 * sx, self.x1 * sx, self.y0 * sy, self.y1 * sy

    @property
    def box(self) -> list[int]:
        return [round(self.x0), round(self.y0), round(self.x1), round(self.y1)]


@dataclass
class _Plan:
    """Everything drawn for one tile: what to report and how to render it."""

    params: dict[str, Any] = field(default_factory=dict)
    geometry: _Geometry | None = None
    output_size: tuple[int, int] = (0, 0)  # (width, height) the pipeline would return
    jitter: list[tuple[str, float]] = field(default_factory=list)
    # Colour before the crop: it ran on the whole image, at full resolution (see _render).
    color_before_crop: bool = False


class _Source:
    """A decoded image with its halving pyramid, built once per image object.

    Only a weak reference to the image itself: the cache entry must not keep alive the very image
    whose death removes it (a class uploads fifty photos in a lesson).
    """

    def __init__(self, image: Image.Image) -> None:
        self.image = weakref.ref(image)
        self.reduced: list[Image.Image] = []
        smallest = image
        while min(smallest.size) >= 64 and max(smallest.size) > _THUMB_SIDE:
            smallest = smallest.reduce(2)
            self.reduced.append(smallest)

    @property
    def thumbnail(self) -> Image.Image:
        return self.reduced[-1] if self.reduced else self.image()

    @property
    def levels(self) -> list[Image.Image]:
        return [self.image(), *self.reduced]

    def _level(self, geometry: _Geometry, size: tuple[int, int], oversample: float) -> tuple[Image.Image, float, float]:
        """The smallest level with at least `oversample` pixels per output pixel (side) over the geometry's
        rectangle, and its scale (x, y) from the full image."""
        full_w, full_h = self.levels[0].size
        box_w, box_h = geometry.x1 - geometry.x0, geometry.y1 - geometry.y0
        level = self.levels[0]
        for candidate in self.levels[1:]:
            factor = full_w / candidate.size[0]
            if box_w / factor < oversample * size[0] or box_h / factor < oversample * size[1]:
                break
            level = candidate
        return level, level.size[0] / full_w, level.size[1] / full_h

    def resample(self, geometry: _Geometry, size: tuple[int, int]) -> Image.Image:
        # Twice the output resolution, so the result matches a full-size resample.
        level, fx, fy = self._level(geometry, size, oversample=2)
        box = (geometry.x0 * fx, geometry.y0 * fy, geometry.x1 * fx, geometry.y1 * fy)
        if level.size == size and box == (0, 0, *level.size):
            tile = level.copy()
        else:
            tile = level.resize(size, Image.Resampling.BILINEAR, box=box)
        return _mirrored(tile, geometry)

    def sample(self, geometry: _Geometry, size: tuple[int, int]) -> Image.Image:
        """The geometry's rectangle at `size` by plain bilinear interpolation, from the smallest level
        with at least one pixel per output pixel: for the supersampled work image, which is averaged down
        to the tile afterwards, so it needs no filter of its own. Measured on a 1600-px photo against
        `resample` here: a grid's rendering took 145 instead of 177 ms on one core, and the worst tile of
        the replay tests' pictures moved from 2.12 to 1.92 grey levels (tests/test_sampling.py holds it
        to 2)."""
        level, fx, fy = self._level(geometry, size, oversample=1)
        x0, y0 = geometry.x0 * fx, geometry.y0 * fy
        sx, sy = (geometry.x1 * fx - x0) / size[0], (geometry.y1 * fy - y0) / size[1]
        # Only the rectangle (and a margin for the interpolation) goes to OpenCV: no second copy of a
        # whole 12-MP photo in memory.
        left, top = max(0, math.floor(x0) - 2), max(0, math.floor(y0) - 2)
        right = min(level.size[0], math.ceil(geometry.x1 * fx) + 2)
        bottom = min(level.size[1], math.ceil(geometry.y1 * fy) + 2)
        pixels = np.asarray(level.crop((left, top, right, bottom)))
        x0, y0 = x0 - left, y0 - top
        # Output pixel centres mapped to input pixel centres, PIL's convention in OpenCV's coordinates.
        to_source = np.array([[sx, 0.0, x0 + 0.5 * sx - 0.5], [0.0, sy, y0 + 0.5 * sy - 0.5]])
        tile = Image.fromarray(cv2.warpAffine(pixels, to_source, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                              borderMode=cv2.BORDER_REFLECT_101))
        return _mirrored(tile, geometry)


def _mirrored(tile: Image.Image, geometry: _Geometry) -> Image.Image:
    if geometry.mirror_x:
        tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if geometry.mirror_y:
        tile = tile.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return tile


# Keyed by id(): PIL images are unhashable. The entry leaves with the image it was built from.
_sources: dict[int, _Source] = {}
_sources_lock = threading.Lock()


def _source_for(image: Image.Image) -> _Source:
    key = id(image)
    with _sources_lock:
        source = _sources.get(key)
        if source is None or source.image() is not image:
            source = _sources[key] = _Source(image)
            weakref.finalize(image, _sources.pop, key, None)
        return source


def sample_grid(
    image: Image.Image,
    spec: AugSpec,
    n: int | None = None,
    seed: int | None = None,
    max_side: int = MAX_TILE_SIDE,
    source_size: tuple[int, int] | None = None,
) -> list[Tile]:
    """`n` samples of `build_pipeline(spec)` on `image`, as after `torch.manual_seed(seed)`.

    `image` must be an RGB PIL image (see `augtune.load_image`). `n` and `seed` default to the spec's.
    A tile whose pipeline output is larger than `max_side` on its long side is that output downscaled.
    `source_size`: when `image` is a reduced copy of a larger photo (`load_image(..., max_side=...)` records
    the photo's size in `image.info["original_size"]`), the parameters and crop boxes are drawn for the
    photo, so that the pipeline run on the photo itself replays them; the pixels come from the copy.
    """
    n = spec.samples if n is None else n
    seed = spec.seed if seed is None else seed
    AugSpec(samples=n, seed=seed)  # the same range checks and messages as the spec's own fields
    if image.mode != "RGB":
        raise ValueError(f"sample_grid needs an RGB image, got mode {image.mode}; use augtune.load_image.")
    source = _source_for(image)
    source_size = tuple(source_size or image.size)
    plans = sample_plans(source_size, spec, n, seed)
    if source_size != image.size:
        for plan in plans:
            plan.geometry.rescale(image.size[0] / source_size[0], image.size[1] / source_size[1])
    return list(_pool.map(lambda plan: _render(source, plan, max_side), plans))


def sample_plans(image_size: tuple[int, int], spec: AugSpec, n: int, seed: int) -> list[_Plan]:
    pipeline = build_pipeline(spec)
    with _rng_lock, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return [_draw(pipeline.transforms, image_size) for _ in range(n)]


def sample_params(image_size: tuple[int, int], spec: AugSpec, n: int, seed: int) -> list[dict[str, Any]]:
    """Only the parameters of `n` samples, for many draws without pixel work (the distributions)."""
    return [plan.params for plan in sample_plans(image_size, spec, n, seed)]


def _shape_proxy(width: int, height: int) -> torch.Tensor:
    # make_params only asks an input for its size; an expanded scalar has any size for free.
    return torch.empty(1, 1, 1, dtype=torch.uint8).expand(3, height, width)


def _draw(transforms: list[Any], image_size: tuple[int, int]) -> _Plan:
    width, height = image_size
    geometry = _Geometry(0.0, 0.0, float(width), float(height), width, height)
    plan = _Plan(geometry=geometry)
    params = plan.params
    for transform in transforms:
        proxy = [_shape_proxy(geometry.width, geometry.height)]
        if isinstance(transform, (v2.RandomHorizontalFlip, v2.RandomVerticalFlip)):
            # Mirrors _RandomApplyTransform.forward: one torch.rand(1) decides, then make_params.
            applied = bool(torch.rand(1) < transform.p)
            if applied:
                transform.make_params(proxy)
            if isinstance(transform, v2.RandomHorizontalFlip):
                params["hflip"] = applied
                geometry.mirror_x ^= applied
            else:
                params["vflip"] = applied
                geometry.mirror_y ^= applied
        elif isinstance(transform, v2.ColorJitter):
            drawn = transform.make_params(proxy)
            order = [
                _JITTER_NAMES[i] for i in drawn["fn_idx"].tolist() if drawn[f"{_JITTER_NAMES[i]}_factor"] is not None
            ]
            for name in _JITTER_NAMES:
                if drawn[f"{name}_factor"] is not None:
                    params[name] = float(drawn[f"{name}_factor"])
            params["jitter_order"] = order
            plan.jitter = [(name, params[name]) for name in order]
            plan.color_before_crop = geometry.crops == 0
        elif isinstance(transform, v2.RandomResizedCrop):
            drawn = transform.make_params(proxy)
            area = geometry.width * geometry.height
            top, left, h, w = (int(drawn[key]) for key in ("top", "left", "height", "width"))
            params["crop"] = {"top": top, "left": left, "height": h, "width": w}
            params["crop_scale"] = h * w / area
            params["crop_ratio"] = w / h
            geometry.crop(top, left, h, w)
            geometry.width, geometry.height = transform.size[1], transform.size[0]
            params["crop_box"] = geometry.box
        elif isinstance(transform, v2.Resize):
            new_h, new_w = F._geometry._compute_resized_output_size(
                (geometry.height, geometry.width), size=list(transform.size)
            )
            geometry.width, geometry.height = new_w, new_h
            params["resize"] = [new_h, new_w]
        elif isinstance(transform, v2.CenterCrop):
            crop_h, crop_w = transform.size
            top = int(round((geometry.height - crop_h) / 2.0))
            left = int(round((geometry.width - crop_w) / 2.0))
            geometry.crop(top, left, crop_h, crop_w)
            params["crop_box"] = geometry.box
        elif not isinstance(transform, v2.Identity):
            raise TypeError(f"sample_grid cannot replay {type(transform).__name__}")
    plan.output_size = (geometry.width, geometry.height)
    return plan


def _render(source: _Source, plan: _Plan, max_side: int) -> Tile:
    width, height = plan.output_size
    scale = min(1.0, max_side / max(width, height))
    size = (max(1, math.floor(width * scale + 0.5)), max(1, math.floor(height * scale + 0.5)))
    if not plan.jitter:
        return Tile(image=source.resample(plan.geometry, size), params=plan.params)
    if not plan.color_before_crop:
        return Tile(image=_jitter(source.resample(plan.geometry, size), plan.jitter), params=plan.params)
    # The pipeline jittered every pixel of the full image and then averaged them down into the tile.
    # Jitter is not linear (clipping, hue sectors), so jittering after averaging would differ by several
    # grey levels on textured photos; jittering at twice the tile's resolution or more keeps within one.
    work = _supersampled_size(plan.geometry, size)
    grey = _mean_grey_after(source.thumbnail, plan.jitter) if "contrast" in plan.params else None
    tile = _jitter(source.sample(plan.geometry, work), plan.jitter, grey)
    if tile.size != size:
        tile = tile.resize(size, Image.Resampling.BILINEAR)
    return Tile(image=tile, params=plan.params)


_SUPERSAMPLE = 2.5  # at least this many work pixels per tile pixel (side)...
_SUPERSAMPLE_MIN_SIDE = 192  # ...and at least this many, for small tiles cut from big boxes
_SUPERSAMPLE_MAX_PIXELS = 1_500_000


def _supersampled_size(geometry: _Geometry, size: tuple[int, int]) -> tuple[int, int]:
    box_w, box_h = geometry.x1 - geometry.x0, geometry.y1 - geometry.y0
    width = max(1, min(round(box_w), max(round(_SUPERSAMPLE * size[0]), _SUPERSAMPLE_MIN_SIDE)))
    height = max(1, min(round(box_h), max(round(_SUPERSAMPLE * size[1]), _SUPERSAMPLE_MIN_SIDE)))
    if width * height > _SUPERSAMPLE_MAX_PIXELS:
        shrink = math.sqrt(_SUPERSAMPLE_MAX_PIXELS / (width * height))
        width, height = max(size[0], round(width * shrink)), max(size[1], round(height * shrink))
    return width, height


def _mean_grey(image: Image.Image) -> int:
    # PIL's ImageEnhance.Contrast rounds the mean of the L image the same way.
    return int(ImageStat.Stat(image.convert("L")).mean[0] + 0.5)


def _mean_grey_after(thumbnail: Image.Image, jitter: list[tuple[str, float]]) -> int:
    """Mean grey of the whole image as the contrast step saw it: after the jitter steps before it."""
    for name, factor in jitter:
        if name == "contrast":
            break
        thumbnail = _jitter(thumbnail, [(name, factor)])
    return _mean_grey(thumbnail)


def _jitter(tile: Image.Image, jitter: list[tuple[str, float]], grey: int | None = None) -> Image.Image:
    """The colour jitter in the drawn order, pixel for pixel as torchvision's PIL kernels compute it.

    Brightness and contrast are Pillow blends towards a constant, i.e. one lookup table each (exact);
    saturation is torchvision's own kernel; hue goes through OpenCV's HSV, ten times faster than
    torchvision's PIL/numpy round trip and within a third of a grey level of it on average.
    """
    for name, factor in jitter:
        if name == "brightness":
            tile = tile.point(_blend_table(factor, 0))
        elif name == "contrast":
            tile = tile.point(_blend_table(factor, _mean_grey(tile) if grey is None else grey))
        elif name == "saturation":
            tile = F.adjust_saturation(tile, factor)
        else:
            tile = _shift_hue(tile, factor)
    return tile


_LEVELS = np.arange(256, dtype=np.float32)


def _blend_table(factor: float, base: int) -> list[int]:
    # Pillow's Image.blend: float32 base + alpha * (x - base), clipped, truncated to uint8.
    row = np.clip(np.float32(base) + np.float32(factor) * (_LEVELS - np.float32(base)), 0, 255).astype(np.uint8)
    return row.tolist() * 3


# Pillow stores hue as trunc(h * 255); OpenCV's full-range HSV as round(h * 256). These tables move a
# hue between the two scales so that the shift is the one torchvision applies: trunc(factor * 255).
_OPENCV_TO_PIL_HUE = np.floor(np.arange(256) * 255 / 256 + 0.5).astype(np.int64)


def _shift_hue(tile: Image.Image, factor: float) -> Image.Image:
    shift = int(np.int32(factor * 255).astype(np.uint8))
    back_to_opencv = np.floor(((np.arange(256) + shift) % 256) * 256 / 255).astype(np.int64) % 256
    table = back_to_opencv[_OPENCV_TO_PIL_HUE].astype(np.uint8)
    hsv = cv2.cvtColor(np.asarray(tile), cv2.COLOR_RGB2HSV_FULL)
    hsv[..., 0] = cv2.LUT(hsv[..., 0], table)
    return Image.fromarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL), "RGB")
