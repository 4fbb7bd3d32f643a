"""Pixels for the fast paths: a cached halving pyramid of each picture, and colour as lookup tables.

Shared by the lesson's fast path (augtune.sampling) and the warp path of pipelines of steps (augtune.warp).
OpenCV does the pixel work on 4-byte RGBX arrays: it lets go of the GIL, so the tile threads run at once.
"""

from __future__ import annotations

import itertools
import math
import threading
import weakref
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image, ImageStat
from torchvision.transforms.v2 import functional as F

_THUMB_SIDE = 256  # the pyramid's smallest level
# The side of the thumbnail whole-picture statistics come from: the mean grey, which its box filter keeps...
_GREY_SIDE = 256
# ...but not after a jitter step: a brightening step clips each pixel, and averaged ones clip less. At 64 px the
# grey contrast blends towards, and a low-contrast tile with it, was off by up to 5 levels (astronaut, brightness
# x1.9 then contrast x0.03). So the steps before contrast run on this many of the picture's own pixels (`colours`).
_COLOUR_SAMPLES = 250_000
# A work image, jittered and then averaged down to its tile, takes at most this many of the photo's pixels (a side)
# into each of its own: fewer, and a detailed 12-MP photo replayed 2.5 grey levels from v2 with a jitter that did
# nothing, 3.6 with the lesson's (a mosaic of the bundled photos at their own size, 16 draws); at 4, within 1.5.
# Blur, not aliasing: the pyramid's averaging before the tile's own antialiased resize smooths more than v2's one
# resize (the work image area-averaged from its level, with less aliasing and more blur, was 4.3 levels off).
# A 1600-px photo's grid took 15-20 % more CPU.
SUPERSAMPLE_AVERAGED = 4.0
# Colour steps that amplify differences (a jitter factor above this, a posterize's steps) clip or jump on each of
# the photo's pixels, and an average of pixels clips less: see `photo_pixels_averaged`.
_AMPLIFIES_FROM = 1.25
_LESSONS_MOST = 1.5  # the lesson's jitter draws factors up to this
# A work image is at least this many pixels a side: a small tile squeezes more of the photo into each pixel, and
# the work image's own resampling (pyramid, warp, then the tile's filter, where v2 filters once) shows more. At
# 192, 128-px tiles of the lesson's jitter came 2.03 grey levels off v2, of rotation, jitter and crop as steps
# 2.04, and 96-px tiles of strong jitter 3.69; at 256, 1.36, 1.07 and 1.95 (bench/replay.py, session 13).
SUPERSAMPLE_MIN_SIDE = 256
# Images up to this size keep their full level as an array too (16 MB at most): most of their crops
# are cut from it, and copying the rectangle out of Pillow for each was a tenth of a tile's time.
_WHOLE_ARRAY_PIXELS = 2048 * 2048



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
        # The levels as arrays for OpenCV, each made on first use: a third of the image's pixels again
        # for the reduced ones, and all of them for an image up to _WHOLE_ARRAY_PIXELS (the full level of
        # a 12-MP photo would take 48 MB more: `sample` cuts what it needs from it instead).
        self._arrays: dict[int, np.ndarray] = {}
        self._arrays_lock = threading.Lock()
        self._colours: _Colours | None = None

    def array(self, level: int) -> np.ndarray:
        """A level as an RGBX array (see `_rgbx`), kept."""
        pixels = self._arrays.get(level)
        if pixels is None:
            with self._arrays_lock:
                pixels = self._arrays.get(level)
                if pixels is None:
                    pixels = self._arrays[level] = _rgbx(self.levels[level])
        return pixels

    @property
    def thumbnail_array(self) -> np.ndarray:
        """The smallest level, at most _GREY_SIDE on its long side (a box filter keeps the mean grey that
        contrast blends towards)."""
        pixels = self._arrays.get(-1)
        if pixels is None:
            pixels = self.array(len(self.reduced))
            factor = max(1, math.ceil(max(pixels.shape[:2]) / _GREY_SIDE))
            if factor > 1:
                smallest = self.levels[-1].reduce(factor)
                pixels = _rgbx(smallest)
            self._arrays[-1] = pixels
        return pixels

    @property
    def colours(self) -> _Colours:
        """The picture's colours (`_Colours`), for the grey contrast blends towards: every tile jitters them.
        From up to _COLOUR_SAMPLES of its own pixels, evenly spread (a nearest-neighbour shrink), not averaged ones:
        a brightening step clips each pixel, and averaged ones clip less. From the 256-px thumbnail of a detailed
        12-MP picture, one tile's grey was so far off that it replayed 2.95 grey levels from v2 (brightness x2.14,
        then contrast x2.06)."""
        colours = self._colours
        if colours is None:
            image = self.image()
            shrink = math.sqrt(image.width * image.height / _COLOUR_SAMPLES)
            if shrink > 1:
                image = image.resize((max(1, round(image.width / shrink)), max(1, round(image.height / shrink))),
                                     Image.Resampling.NEAREST)
            # The picture's own grey exactly as v2 takes it (12 MP: 20 ms, once): from the thumbnail it was a level
            # off on a detailed 12-MP picture, which contrast x0.09 then saturation and brightness x4.4 made 1.93.
            colours = self._colours = _Colours.of(_rgbx(image), grey=_mean_grey(self.image()))
        return colours

    @property
    def levels(self) -> list[Image.Image]:
        return [self.image(), *self.reduced]

    def _level(self, geometry: _Geometry, size: tuple[int, int], oversample: float) -> tuple[int, float, float]:
        """The smallest level with at least `oversample` pixels per output pixel (side) over the geometry's
        rectangle: its index, and its scale (x, y) from the full image."""
        levels = self.levels
        full_w, full_h = levels[0].size
        box_w, box_h = geometry.x1 - geometry.x0, geometry.y1 - geometry.y0
        index = 0
        for candidate in range(1, len(levels)):
            factor = full_w / levels[candidate].size[0]
            if box_w / factor < oversample * size[0] or box_h / factor < oversample * size[1]:
                break
            index = candidate
        return index, levels[index].size[0] / full_w, levels[index].size[1] / full_h

    def resample(self, geometry: _Geometry, size: tuple[int, int], oversample: float = 2) -> Image.Image:
        # Twice the output resolution (by default), so the result matches a full-size resample.
        index, fx, fy = self._level(geometry, size, oversample=oversample)
        level = self.levels[index]
        box = (geometry.x0 * fx, geometry.y0 * fy, geometry.x1 * fx, geometry.y1 * fy)
        if level.size == size and box == (0, 0, *level.size):
            tile = level.copy()
        else:
            tile = level.resize(size, Image.Resampling.BILINEAR, box=box)
        return _mirrored(tile, geometry)

    def sample(self, geometry: _Geometry, size: tuple[int, int]) -> np.ndarray:
        """The geometry's rectangle at `size` (an RGBX array) by plain bilinear interpolation, from the
        smallest level with at least one pixel per output pixel: for the supersampled work image, which
        is averaged down to the tile afterwards, so it needs no filter of its own."""
        index, fx, fy = self._level(geometry, size, oversample=1)
        x0, y0 = geometry.x0 * fx, geometry.y0 * fy
        sx, sy = (geometry.x1 * fx - x0) / size[0], (geometry.y1 * fy - y0) / size[1]
        full = self.levels[0]
        if index == 0 and full.width * full.height > _WHOLE_ARRAY_PIXELS:  # the rectangle and a margin
            left, top = max(0, math.floor(x0) - 2), max(0, math.floor(y0) - 2)
            right, bottom = min(full.width, math.ceil(geometry.x1) + 2), min(full.height, math.ceil(geometry.y1) + 2)
            pixels = _rgbx(full.crop((left, top, right, bottom)))
            x0, y0 = x0 - left, y0 - top
        else:
            pixels = self.array(index)
        if sx == sy == 1 and float(x0).is_integer() and float(y0).is_integer():  # pixels as they are: cut, not warped
            left, top = int(x0), int(y0)
            cut = pixels[top:top + size[1], left:left + size[0]]
            if cut.shape[:2] == (size[1], size[0]):
                flip = {(True, False): 1, (False, True): 0, (True, True): -1}.get((geometry.mirror_x, geometry.mirror_y))
                return cut.copy() if flip is None else cv2.flip(cut, flip)
        # Output pixel centres mapped to input pixel centres (PIL's convention in OpenCV's coordinates);
        # a flip is the same map run backwards along its axis, so it costs no copy of its own.
        column = [sx, 0.0, x0 + 0.5 * sx - 0.5]
        row = [0.0, sy, y0 + 0.5 * sy - 0.5]
        if geometry.mirror_x:
            column = [-sx, 0.0, column[2] + sx * (size[0] - 1)]
        if geometry.mirror_y:
            row = [0.0, -sy, row[2] + sy * (size[1] - 1)]
        return cv2.warpAffine(pixels, np.array([column, row]), size,
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT_101)


def cached_bytes(size: tuple[int, int]) -> int:
    """What sample_grid keeps beside an image of `size` while it lives: the halving pyramid (1/3 of its
    pixels, Pillow's 4 bytes each) and the levels again as arrays for OpenCV (4 bytes a pixel; the full
    level only up to _WHOLE_ARRAY_PIXELS)."""
    pixels = size[0] * size[1]
    return pixels * 4 // 3 + (pixels * 4 * 4 // 3 if pixels <= _WHOLE_ARRAY_PIXELS else pixels * 4 // 3)


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


def _mean_grey(image: Image.Image) -> int:
    # PIL's ImageEnhance.Contrast rounds the mean of the L image the same way.
    return int(ImageStat.Stat(image.convert("L")).mean[0] + 0.5)


def _mean_grey_after(thumbnail: np.ndarray, jitter: list[tuple[str, float]]) -> int:
    """Mean grey of the whole image as the contrast step saw it: after the jitter steps before it."""
    return _mean_grey_array(_jitter_array(thumbnail, _before_contrast(jitter)))


def _before_contrast(jitter: list[tuple[str, float]]) -> list[tuple[str, float]]:
    return list(itertools.takewhile(lambda step: step[0] != "contrast", jitter))


class _Colours:
    """A picture's pixels as colours and how many pixels have each: one per cell of a 32-level grid of the RGB
    cube, the mean colour of its pixels. The jitter is per pixel, so the mean grey of the jittered colours,
    weighted, is the picture's within rounding (a cell is 8 levels a side: clipping moves its mean by less
    than that, and in few cells). The bundled photos, and 250 000 pixels of a 12-MP one, have 1 000 to 5 000,
    made once per picture in 2-11 ms."""

    def __init__(self, colours: np.ndarray, counts: np.ndarray, grey: int) -> None:
        self.colours, self.counts, self.total = colours, counts, float(counts.sum())
        self.grey = grey  # the picture's own, where no step comes before contrast

    @classmethod
    def of(cls, pixels: np.ndarray, grey: int) -> _Colours:
        """`pixels`' colours; `grey`: the picture's mean grey."""
        rgb = pixels.reshape(-1, pixels.shape[2])[:, :3]
        cell = (rgb[:, 0].astype(np.int32) >> 3 << 10) | (rgb[:, 1].astype(np.int32) >> 3 << 5) | (rgb[:, 2] >> 3)
        counts = np.bincount(cell, minlength=1 << 15)
        used = np.flatnonzero(counts)
        means = [np.bincount(cell, weights=rgb[:, channel], minlength=1 << 15)[used] / counts[used] for channel in range(3)]
        colours = np.clip(np.rint(np.stack(means, axis=1)), 0, 255).astype(np.uint8).reshape(-1, 1, 3)
        return cls(colours, counts[used].astype(np.float64), grey)

    def grey_after(self, jitter: list[tuple[str, float]]) -> int:
        """`_mean_grey_after`, from the colours: the mean grey of the whole picture after the steps before contrast."""
        steps = _before_contrast(jitter)
        if not steps:
            return self.grey
        grey = _grey(_jitter_array(self.colours, steps))
        return int(float(np.dot(grey[:, 0], self.counts)) / self.total + 0.5)


def _rgbx(image: Image.Image) -> np.ndarray:
    """An RGB picture as an array of 4 bytes a pixel, the fourth unused: Pillow's own layout, so one
    plain copy, and OpenCV warps 4 channels 2.8 times faster than 3 (2.35 -> 0.85 ms for a work image
    of 560 x 560)."""
    return np.frombuffer(image.tobytes("raw", "RGBX"), np.uint8).reshape(image.height, image.width, 4)


def _image(pixels: np.ndarray) -> Image.Image:
    """An RGB(X) array back as an RGB picture (an RGBX one read as Pillow's own layout, then converted)."""
    if pixels.shape[2] == 3:
        return Image.fromarray(pixels, "RGB")
    return Image.frombuffer("RGBX", (pixels.shape[1], pixels.shape[0]), np.ascontiguousarray(pixels), "raw", "RGBX", 0,
                            1).convert("RGB")


def resized(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An RGB(X) array at `size` (width, height) by Pillow's antialiased bilinear filter, in torch's uint8 kernel
    (ported from Pillow-SIMD: within one grey level of Pillow's resize). 336 x 336 -> 224 x 224 took Pillow
    1.0 ms, torch 0.2 ms: in a grid of the lesson's pipeline Pillow's resize was 40 % of the CPU."""
    # Channels last, as stored; torch warns about (and may not read) an array it could not write.
    batch = torch.from_numpy(np.require(pixels, requirements=("C", "W"))).permute(2, 0, 1).unsqueeze(0)
    out = np.empty((size[1], size[0], pixels.shape[2]), np.uint8)
    # interpolate() itself returns channels first, and turning that back into an array took as long again.
    torch.ops.aten._upsample_bilinear2d_aa.out(batch, [size[1], size[0]], False, None, None,
                                               out=torch.from_numpy(out).permute(2, 0, 1).unsqueeze(0))
    return out


def photo_pixels_averaged(amplification: float) -> float:
    """How many of the photo's pixels (a side) a work image may average into each of its own before colour steps
    that amplify differences `amplification` times (a jitter's largest factor, a table's steepest rise):
    SUPERSAMPLE_AVERAGED, fewer in proportion from 1.25 times up to the lesson's 1.5, and then as the cube, down
    to the photo's own pixels from about 2.3 times. A detailed 12-MP picture under strong jitter (factors up to
    3) replayed 3.02 grey levels off v2 with fewer only in proportion (and at most 1.5 MP a work image); with
    this, within 1 (bench/replay.py). Falling as the square from 1.25 instead cost the app's 1600-px photos 2-4 %
    more CPU a grid."""
    factor = max(amplification, _AMPLIFIES_FROM)
    return max(1.0, SUPERSAMPLE_AVERAGED * _AMPLIFIES_FROM / factor * min(1.0, _LESSONS_MOST / factor) ** 2)


def supersampled(amplification: float) -> float:
    """How many work pixels (a side) each tile pixel takes, where colour steps run before the picture is
    averaged down: 1.25, and up to 3 as the steps amplify (`amplification` as in photo_pixels_averaged). Over
    the bundled photos, 1.25 times replayed the lesson's jitter within 1.55 grey levels (1.5 times: 1.28, for a
    fifth more CPU); strong jitter, capped at 2.5 times, 2.17 (a wide crop of the rocket squeezed square after
    contrast x2.59), at 3 times 1.98."""
    return min(3.0, max(1.25, amplification))


def steepest_rise(table: np.ndarray) -> float:
    """A lookup table's largest change over 8 levels, per level: 8 for a posterize to 2 bits (jumps of 64)."""
    levels = table.astype(np.int32)
    return float(np.abs(levels[8:] - levels[:-8]).max()) / 8


def _grey(pixels: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(pixels, cv2.COLOR_RGBA2GRAY if pixels.shape[2] == 4 else cv2.COLOR_RGB2GRAY)


def _mean_grey_array(pixels: np.ndarray) -> int:
    # OpenCV's grey weighs the channels as Pillow's L does, rounded a little differently.
    return int(cv2.mean(_grey(pixels))[0] + 0.5)


def _jitter_array(pixels: np.ndarray, jitter: list[tuple[str, float]], grey: int | None = None) -> np.ndarray:
    """`_jitter` on an RGB array, in OpenCV (which lets go of the GIL, so the tile threads run at
    once). Brightness and contrast are the same tables, a run of them folded into one lookup;
    saturation is Pillow's blend with OpenCV's rounding of the grey (off by one grey level on a few
    pixels); hue is `_shift_hue`'s."""
    table: np.ndarray | None = None
    for name, factor in jitter:
        if name == "brightness" or (name == "contrast" and grey is not None):
            step = _blend_row(factor, 0 if name == "brightness" else grey)
            table = step if table is None else step[table]
            continue
        if table is not None:
            pixels, table = cv2.LUT(pixels, table), None
        if name == "contrast":
            pixels = cv2.LUT(pixels, _blend_row(factor, _mean_grey_array(pixels)))
        elif name == "saturation":
            grey_pixels = cv2.cvtColor(_grey(pixels), cv2.COLOR_GRAY2RGBA if pixels.shape[2] == 4 else cv2.COLOR_GRAY2RGB)
            # Pillow truncates the blend; OpenCV rounds it: half a level less makes the two agree.
            pixels = cv2.addWeighted(pixels, factor, grey_pixels, 1.0 - factor, -0.5)
        else:
            pixels = _shift_hue_array(pixels, factor)
    return pixels if table is None else cv2.LUT(pixels, table)


def _jitter(tile: Image.Image, jitter: list[tuple[str, float]]) -> Image.Image:
    """The colour jitter in the drawn order, pixel for pixel as torchvision's PIL kernels compute it.

    Brightness and contrast are Pillow blends towards a constant, i.e. one lookup table each (exact);
    saturation is torchvision's own kernel; hue goes through OpenCV's float HSV (`_shift_hue_array`), ten
    times faster than torchvision's PIL/numpy round trip and within a hundredth of a grey level of it on average.
    """
    for name, factor in jitter:
        if name == "brightness":
            tile = tile.point(_blend_table(factor, 0))
        elif name == "contrast":
            tile = tile.point(_blend_table(factor, _mean_grey(tile)))
        elif name == "saturation":
            tile = F.adjust_saturation(tile, factor)
        else:
            tile = _shift_hue(tile, factor)
    return tile


_LEVELS = np.arange(256, dtype=np.float32)


def _blend_row(factor: float, base: int) -> np.ndarray:
    # Pillow's Image.blend: float32 base + alpha * (x - base), clipped, truncated to uint8.
    row = np.float32(base) + np.float32(factor) * (_LEVELS - np.float32(base))
    return np.minimum(np.maximum(row, 0, out=row), 255, out=row).astype(np.uint8)  # np.clip's wrapper: half the time


def _blend_table(factor: float, base: int) -> list[int]:
    return _blend_row(factor, base).tolist() * 3


def _shift_hue(tile: Image.Image, factor: float) -> Image.Image:
    return Image.fromarray(_shift_hue_array(np.asarray(tile), factor), "RGB")


def _shift_hue_array(pixels: np.ndarray, factor: float) -> np.ndarray:
    """torchvision's hue shift on PIL (Pillow's HSV: hue and saturation truncated to bytes, the hue moved by
    trunc(factor * 255) and wrapped) in OpenCV's float HSV: off Pillow's on 1-2 % of the pixels, by a rounding.
    OpenCV's byte HSV took 40 % less time, but it rounds hue to 1/256 of a turn where Pillow truncates to 1/255:
    65 % of the pixels came out a level or more off (up to 6), which a strong jitter after the hue amplified to
    2.3-2.4 grey levels per tile (bench/replay.py, strong and crop-then-colour). Pillow's own round trip is exact
    but took 10 times as long.

    A large picture a strip of rows at a time: the float copies of a whole work image (3 MB each for 448 x 448)
    left the core's cache between one OpenCV call and the next, and strips of about _STRIP_PIXELS took 0.80 ms
    where the whole took 1.42 (0.45 vs 0.62 at 336 x 336; one thread, the cat). Not a smaller one: each strip
    is another few calls that let go of the GIL and take it back, and two tile threads then wait on each other
    (a 280 x 280 work image: 0.31 vs 0.35 ms in one thread, but the cat's grid in two took 6 % longer).
    """
    rows = max(1, _STRIP_PIXELS // pixels.shape[1])
    if pixels.shape[0] <= 4 * rows:
        return _shifted_hue(pixels, factor)
    shifted = np.empty((*pixels.shape[:2], 3), np.uint8)
    for top in range(0, pixels.shape[0], rows):
        shifted[top:top + rows] = _shifted_hue(pixels[top:top + rows], factor)
    return shifted


_STRIP_PIXELS = 24_576


def _shifted_hue(pixels: np.ndarray, factor: float) -> np.ndarray:
    # From RGBX at once: OpenCV's HSV skips a fourth channel. cv2.transform scales the channels apart 4-10 times
    # faster than cv2.multiply by a scalar, numpy's broadcasting or a lookup table of three channels.
    as_bytes = cv2.transform(cv2.cvtColor(pixels.astype(np.float32), cv2.COLOR_RGB2HSV), _HSV_TO_BYTES).astype(np.uint8)
    as_bytes[..., 0] += np.uint8(np.int32(factor * 255).astype(np.uint8))  # wraps around, as torchvision's does
    rgb = cv2.cvtColor(cv2.transform(as_bytes.astype(np.float32), _BYTES_TO_HSV), cv2.COLOR_HSV2RGB)
    return cv2.convertScaleAbs(rgb)  # rounded as Pillow rounds (but for ties: half to even)


# OpenCV's float HSV (hue in degrees, saturation 0-1, value 0-255) to Pillow's bytes, and back.
_HSV_TO_BYTES = np.diag([255.0 / 360.0, 255.0, 1.0]).astype(np.float32)
_BYTES_TO_HSV = np.diag([360.0 / 255.0, 1.0 / 255.0, 1.0]).astype(np.float32)

# v2's sharpness blur: ones around a 5, over 13, in float32.
_SHARPNESS_KERNEL = np.array([[1.0 / 13.0] * 3, [1.0 / 13.0, 5.0 / 13.0, 1.0 / 13.0], [1.0 / 13.0] * 3], np.float32)


def sharpened(image: torch.Tensor, factor: float) -> torch.Tensor:
    """`F.adjust_sharpness` of a uint8 image (or batch), pixel for pixel, with its 3 x 3 blur in OpenCV: torch's
    conv2d made it 162 ms a call on a 1600 x 1200 photo (37 ms here, bench/policies.py), a quarter of an AugMix
    grid's time. The blurred sums are k/13 for whole k, never within 1/26 of a half, so both ways round them
    alike; the blend is v2's own code."""
    channels, height, width = image.shape[-3:]
    if image.dtype != torch.uint8 or channels not in (1, 3) or height <= 2 or width <= 2 or factor < 0:
        return F.adjust_sharpness(image, factor)
    output = image.to(dtype=torch.float32, copy=True)
    planes = output.reshape(-1, height, width).numpy()
    blurred = torch.from_numpy(np.stack([cv2.filter2D(plane, -1, _SHARPNESS_KERNEL)[1:-1, 1:-1] for plane in planes]))
    blurred = blurred.reshape(*output.shape[:-2], height - 2, width - 2).round_()
    view = output[..., 1:-1, 1:-1]
    view.add_(blurred.sub_(view), alpha=(1.0 - factor))
    return output.clamp_(0, 255).to(torch.uint8)
