"""A pipeline of steps rendered fast, from params drawn by v2 (augtune.ops.steps.draw_sample).

v2 runs every step on the whole picture: a rotation of a 12-MP photo, then a perspective of it, then a blur
of it, and only then the crop to 224 px. Here the geometric steps compose into one matrix (augtune.warp)
from the tile's pixels to the photo's, resampled once from the photo's cached pyramid; colour steps that are
per-pixel tables (jitter, invert, posterize, solarize, greyscale, channel order) and the blur wait for that
warp and run on it, at a supersampled size when the pipeline shrinks the picture, so that they see about
the pixels v2's kernels saw, and the result is averaged down to the tile. Statistics of the whole picture
(contrast's mean grey) come from a thumbnail rendered the same way.

Anything else runs v2's own kernel on the picture as it is at that step, rendered at its full size (and
after it the warp starts again from that picture): equalize, autocontrast, sharpness, JPEG, the policies,
ElasticTransform, mixing, a non-bilinear resize, reflected padding. Colour waiting when a step leaves part
of its output uncovered (rotation, padding...) is rendered first too: the fill is not coloured in v2. The
slowest of them that shrinking commutes with (AugMix, ElasticTransform, MixUp, CutMix: Op.on_a_copy) run on
a copy of the picture three tiles wide where their output is the tile's.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from PIL import Image

from .ops.colour import JITTER
from .ops.registry import OPS
from .ops.steps import RANDOM_APPLY, Sample, _render_one
from .ops.steps import _picture as as_picture
from .pixels import (SUPERSAMPLE_MIN_SIDE, _GREY_SIDE, _Geometry, _WHOLE_ARRAY_PIXELS, _grey, _image, _jitter_array,
                     _mean_grey_after, _rgbx, _Source, photo_pixels_averaged, resized, steepest_rise, supersampled)
from .warp import IDENTITY, Move, apply, corners, inverse, move, scales, scaling

_LEVELS = np.arange(256)
_SUPERSAMPLE_STEPS = 2.5  # work pixels per tile pixel (side) under a posterize's or solarize's jumps
_REDUCED_TILES = 3  # how many tile sides the copy an op runs on keeps (_copy_size, Op.on_a_copy)
_CV_INTERPOLATION = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


@dataclass
class _Pixels:
    """A per-pixel (or blur) step waiting for the warp, with the geometry of the picture it ran on."""

    kind: str  # "jitter", "lut", "grey", "permute", "blur"
    value: object
    matrix: np.ndarray
    size: tuple[int, int]
    fill: int | None
    masks: tuple


@dataclass
class _State:
    """The picture after the steps so far: `matrix` maps its pixels (of `size`) to `source`'s."""

    source: _Source
    picture: Image.Image  # keeps `source`'s weakly held image alive
    size: tuple[int, int]
    matrix: np.ndarray = field(default_factory=lambda: IDENTITY)
    fill: int | None = None
    # (matrix to a step's input, its size): a fill after a crop must not show what the crop cut away.
    masks: tuple = ()
    cropped: bool = False
    shrunk: bool = False  # a resize made it smaller: resampling after it must see the small picture
    transformed: bool = False  # a rotation, affine or perspective resampled it
    interpolations: frozenset = frozenset()
    pending: list = field(default_factory=list)
    # How much the steps already rendered into `source` amplified its detail: a strong contrast before a
    # rotation, say, makes the later resampling's small differences from v2's larger (2.73 grey levels).
    amplified: float = 1.0


def render(image: Image.Image, sample: Sample, source: _Source, max_side: int, partner=None):
    """(picture, outline): the sample's picture, at most `max_side` on its long side, and the corners of its
    output rectangle in `image`'s pixels (None where a step is not a map of pixels, e.g. ElasticTransform)."""
    state = _State(source, image, image.size)
    outline = IDENTITY
    exact = None  # once a step hands on a tensor, the rest runs v2's kernels on it
    for index, (step, transform, drawn) in enumerate(sample.drawn):
        if step.op == RANDOM_APPLY or drawn.params is None:
            continue
        op = OPS[step.op]
        size = state.size if exact is None else _size_of(exact)
        found = move(step.op, transform, drawn.params, size) if op.family == "geometry" else None
        if outline is not None:
            moves_pixels = op.family in ("geometry", "policy", "mixing")
            outline = outline @ found.matrix if found is not None else None if moves_pixels else outline
        if exact is not None:
            exact = _render_one(op, transform, exact, drawn, partner)
        elif found is not None and found.fast:
            state = _moved(state, found, shrinks_later=_shrinks(sample.drawn[index + 1:], found.size))
        elif (pixels := _pixel_steps(step.op, transform, drawn.params)) is not None:
            state.pending += [_Pixels(kind, value, state.matrix, state.size, state.fill, state.masks)
                              for kind, value in pixels]
        elif (reduced := _copy_size(state, sample.drawn[index + 1:], max_side)) \
                and (on_copy := op.on_a_copy(transform, drawn, state.size, reduced)) is not None:
            smaller = _image(_render_state(state, reduced))
            result = as_picture(_render_one(op, transform, smaller, on_copy, partner))
            to_copy = scaling(reduced[0] / state.size[0], reduced[1] / state.size[1])
            state = _State(_Source(result), result, state.size, matrix=to_copy, amplified=_amplification(state) * op.amplifies(transform))
        else:
            result = _render_one(op, transform, _picture(state), drawn, partner)
            if isinstance(result, Image.Image) and not _last(sample.drawn[index + 1:]):
                state = _State(_Source(result), result, result.size, amplified=_amplification(state) * op.amplifies(transform))
            else:  # a tensor, or the output: shrunk to the tile as v2's is, without building a pyramid for it
                exact = result
    if exact is not None:
        picture, size = fitted(as_picture(exact), max_side), _size_of(exact)
    else:
        picture = _image(_render_state(state, capped(state.size, max_side)))
        size = state.size
    return picture, None if outline is None else apply(outline, corners(size)).tolist()


def _size_of(picture) -> tuple[int, int]:
    return picture.size if isinstance(picture, Image.Image) else (picture.shape[-1], picture.shape[-2])


def capped(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """`size` (width, height) scaled down to `max_side` on its long side where it is longer: a tile's cap."""
    scale = min(1.0, max_side / max(size))
    return max(1, math.floor(size[0] * scale + 0.5)), max(1, math.floor(size[1] * scale + 0.5))


def fitted(picture: Image.Image, max_side: int) -> Image.Image:
    """`picture`, downscaled to `max_side` on its long side where it is longer (a tile's cap)."""
    size = capped(picture.size, max_side)
    return picture if size == picture.size else picture.resize(size, Image.Resampling.BILINEAR)


def _scale(matrix: np.ndarray) -> float:
    return math.sqrt(abs(matrix[0, 0] * matrix[1, 1] - matrix[0, 1] * matrix[1, 0]))


def _shrinks(later, size: tuple[int, int]) -> bool:
    """Whether a later resize shrinks the picture by 1.5 or more: enough to hide a second resampling's blur."""
    for step, transform, drawn in later:
        if drawn.params is None:
            continue
        if step.op == "RandomResizedCrop":
            height, width = transform.size
            return math.sqrt(drawn.params["height"] * drawn.params["width"] / (height * width)) >= 1.5
        if step.op == "Resize":
            return min(size) / transform.size[0] >= 1.5
    return False


def _copy_size(state: _State, later, max_side: int) -> tuple[int, int] | None:
    """The size of the copy an op runs on (Op.on_a_copy) where the picture is over _REDUCED_TILES times the tile's
    side and the op's output goes to the tile as it is. Whole-picture kernels of a 12-MP photo took 16 tiles
    seconds to a minute: v2's AugMix 50 s (near a grid worker's 60-s limit), ElasticTransform's 14 s, MixUp's 5 s.
    From 1536 px for 512-px tiles, an AugMix tile was at most 0.98 grey levels off v2 (mean 0.39) on the detailed
    12-MP mosaic; from 1024 px, 1.72. A colour jitter after it, on the copy, came to 3.3 (2.15 from the full
    picture): only where nothing follows."""
    if not _last(later):
        return None
    reduced = capped(state.size, _REDUCED_TILES * max(capped(state.size, max_side)))
    return None if reduced == state.size else reduced


def _last(later) -> bool:
    """Whether none of the steps `later` does anything: what comes before them is the tile."""
    return not any(step.op != RANDOM_APPLY and drawn.params is not None for step, _, drawn in later)


def _moved(state: _State, found: Move, shrinks_later: bool) -> _State:
    resamples = found.interpolation is not None
    if (found.fill is not None and (state.pending or state.fill not in (None, found.fill))) \
            or ((resamples or found.resize) and state.shrunk) \
            or (resamples and state.transformed and not shrinks_later) \
            or (found.resize and state.transformed and _scale(found.matrix) < 1.5) \
            or (found.resize and "nearest" in state.interpolations):
        # v2 leaves its fill uncoloured and in its own grey, and resamples a shrunk picture at its small size;
        # a transform and then another, or a resize that does not shrink much, blur twice, which shows. A
        # nearest-neighbour transform (v2's default) moves each pixel by up to half a pixel, which a resize
        # after it keeps: one bilinear warp for both came up to 2.25 grey levels off v2 on the astronaut
        # (rotation by 4 degrees, then a crop to 224). Render what came before at its own size and start again
        # from it.
        if found.resize and not found.matrix[2, :2].any():
            # Only the box the resize reads (and, for a blur waiting, its margin: see _render_state).
            state, found = _cut(state, found)
        picture = _picture(state)
        state = _State(_Source(picture), picture, picture.size, amplified=_amplification(state))
    masks = tuple((matrix @ found.matrix, size) for matrix, size in state.masks)
    if found.fill is not None and state.cropped:
        masks += ((found.matrix, state.size),)
    scale_x, scale_y = math.hypot(found.matrix[0, 0], found.matrix[1, 0]), math.hypot(found.matrix[0, 1], found.matrix[1, 1])
    scaled = found.resize and (abs(scale_x - 1) > 1e-9 or abs(scale_y - 1) > 1e-9)
    kinds = {found.interpolation} if resamples else {"bilinear"} if scaled else set()
    moved = copy.copy(state)  # dataclasses.replace took 12 us, a tenth of a tile's bookkeeping
    moved.size, moved.matrix, moved.masks = found.size, state.matrix @ found.matrix, masks
    moved.fill = found.fill if found.fill is not None else state.fill
    moved.cropped = state.cropped or found.crops
    moved.shrunk = state.shrunk or (found.resize and max(scale_x, scale_y) > 1 + 1e-9)
    moved.transformed = state.transformed or resamples
    moved.interpolations, moved.pending = state.interpolations | kinds, list(state.pending)
    return moved


def _cut(state: _State, found: Move) -> tuple[_State, Move]:
    """The state narrowed to the whole pixels `found` reads, and `found` moved to match."""
    points = apply(found.matrix, corners(found.size))
    left, top = (max(0, math.floor(value)) for value in points.min(axis=0))
    right = min(state.size[0], math.ceil(points[:, 0].max()))
    bottom = min(state.size[1], math.ceil(points[:, 1].max()))
    if right - left < 1 or bottom - top < 1:
        return state, found
    shift = np.array([[1.0, 0, left], [0, 1.0, top], [0, 0, 1.0]])
    narrowed = replace(state, matrix=state.matrix @ shift, size=(right - left, bottom - top),
                       masks=tuple((matrix @ shift, size) for matrix, size in state.masks))
    return narrowed, replace(found, matrix=inverse(shift) @ found.matrix)


def _pixel_steps(name: str, transform, params: dict) -> list[tuple[str, object]] | None:
    if name == "ColorJitter":
        order = [JITTER[i] for i in params["fn_idx"].tolist() if params[f"{JITTER[i]}_factor"] is not None]
        return [("jitter", [(key, float(params[f"{key}_factor"])) for key in order])]
    if name == "RandomPhotometricDistort":
        factors = {key: params[f"{key}_factor"] for key in JITTER}
        order = ["brightness", *(["contrast"] if params["contrast_before"] else []), "saturation", "hue",
                 *([] if params["contrast_before"] else ["contrast"])]
        steps = [("jitter", [(key, float(factors[key])) for key in order if factors[key] is not None])]
        if params["channel_permutation"] is not None:
            steps.append(("permute", params["channel_permutation"].tolist()))
        return steps
    if name == "RandomChannelPermutation":
        return [("permute", params["permutation"].tolist())]
    if name in ("Grayscale", "RandomGrayscale"):
        return [("grey", None)]
    if name == "RandomInvert":
        return [("lut", (255 - _LEVELS).astype(np.uint8))]
    if name == "RandomPosterize":
        return [("lut", (_LEVELS & (0xFF ^ ((1 << (8 - transform.bits)) - 1))).astype(np.uint8))]
    if name == "RandomSolarize":
        return [("lut", np.where(_LEVELS >= transform.threshold, 255 - _LEVELS, _LEVELS).astype(np.uint8))]
    if name == "GaussianBlur":
        return [("blur", (list(transform.kernel_size), [float(s) for s in params["sigma"]]))]
    return None


def _picture(state: _State) -> Image.Image:
    """The state's picture at its own size (the image itself where nothing has happened to it yet)."""
    if not state.pending and state.size == state.picture.size and np.array_equal(state.matrix, IDENTITY):
        return state.picture
    return _image(_render_state(state, state.size))


def _render_state(state: _State, size: tuple[int, int], supersample: bool = True) -> np.ndarray:
    """The state's picture scaled to `size`, as an RGB(X) array."""
    to_size = scaling(state.size[0] / size[0], state.size[1] / size[1])
    matrix = state.matrix @ to_size
    if not state.pending and state.fill is None and not matrix[2, :2].any() and not matrix[0, 1] and not matrix[1, 0]:
        # Crops, flips and resizes only: Pillow's own antialiased resize of the box, as v2's resize does.
        x0, x1 = sorted((matrix[0, 2], matrix[0, 2] + matrix[0, 0] * size[0]))
        y0, y1 = sorted((matrix[1, 2], matrix[1, 2] + matrix[1, 1] * size[1]))
        box = _Geometry(x0, y0, x1, y1, *size, mirror_x=matrix[0, 0] < 0, mirror_y=matrix[1, 1] < 0)
        # Four source pixels a tile pixel at least: a picture of fine detail (equalized, say) stays as v2 shrinks it.
        return np.asarray(state.source.resample(box, size, oversample=4))
    low, high = scales(matrix, size)
    work = size
    amplified = _amplification(state)
    least = supersampled(amplified)
    # Posterize and solarize tables jump: averaged down they need more pixels than the jitter's smooth ones.
    if any(step.kind == "lut" for step in state.pending):
        least = max(least, _SUPERSAMPLE_STEPS)
    if supersample and high > 1.0 + 1e-6 and (state.shrunk or size != state.size):
        averaged = photo_pixels_averaged(amplified)
        factor = min(high, max(least, high / averaged, SUPERSAMPLE_MIN_SIDE / min(size)))
        work = (max(1, round(size[0] * factor)), max(1, round(size[1] * factor)))
    if supersample and state.pending:
        # Per side: a crop stretched along one side and squeezed along the other shrinks neither on the whole.
        work = _at_most_native(state.pending[0], matrix, size,
                               (max(work[0], round(least * size[0])), max(work[1], round(least * size[1]))))
    to_work = scaling(size[0] / work[0], size[1] / work[1])
    margin = 0
    blurs = [step for step in state.pending if step.kind == "blur"]
    if blurs:  # v2 blurred a larger picture: the tile's edge sees its neighbours, not a reflection
        margin = max(_blur_radius(step, state.matrix @ to_size @ to_work, work) for step in blurs)
    to_margin = np.array([[1.0, 0, -margin], [0, 1.0, -margin], [0, 0, 1.0]])
    padded = (work[0] + 2 * margin, work[1] + 2 * margin)
    work_matrix = state.matrix @ to_size @ to_work @ to_margin
    # Pillow's transforms do not antialias: only a resize (or the tile's cap) shrinking the picture is
    # averaged, from the pyramid; otherwise the full picture is sampled as the steps' kernels sample it.
    averaged = not supersample or work != size or (state.shrunk and high > 1.0 + 1e-6)
    if averaged:
        interpolation = "bilinear"
    else:
        kinds = state.interpolations or {"bilinear"}
        interpolation = "bicubic" if "bicubic" in kinds else "nearest" if kinds == {"nearest"} else "bilinear"
    pixels = _warp(state.source, work_matrix, padded, state.fill, interpolation, averaged)
    local = to_size @ to_work @ to_margin
    for mask_matrix, mask_size in state.masks:
        pixels = _apply_mask(pixels, mask_matrix @ local, mask_size, state.fill)
    greys = _greys(state)
    for step, grey in zip(state.pending, greys):
        pixels = _apply(pixels, step, grey, work_matrix, padded)
    if margin:
        pixels = pixels[margin:-margin, margin:-margin]
    if work != size:
        return np.ascontiguousarray(resized(pixels, size)[..., :3])
    return pixels


def _at_most_native(step: _Pixels, matrix: np.ndarray, size: tuple[int, int], work: tuple[int, int]) -> tuple[int, int]:
    """`work`, no finer along either side than the pixels of the picture `step` ran on: v2 ran the waiting steps
    on those and interpolated after them, where a finer work image interpolates first. A posterize to 2 bits
    before a crop that enlarged was 4.72 grey levels off v2 on the bundled photos, a strong jitter 2.13."""
    to_step = inverse(step.matrix) @ matrix  # tile pixels to the step's picture's
    native = (size[0] * math.hypot(to_step[0, 0], to_step[1, 0]), size[1] * math.hypot(to_step[0, 1], to_step[1, 1]))
    return min(work[0], max(1, round(native[0]))), min(work[1], max(1, round(native[1])))


def _amplification(state: _State) -> float:
    """How much the steps rendered so far and those waiting amplify differences between neighbouring pixels,
    together (see photo_pixels_averaged)."""
    amplified = state.amplified
    for step in state.pending:
        if step.kind == "jitter":
            amplified *= max([1.0] + [factor for name, factor in step.value if name != "hue"])
        elif step.kind == "lut":
            amplified *= max(1.0, steepest_rise(step.value))
    return amplified


def _warp(source: _Source, matrix: np.ndarray, size: tuple[int, int], fill: int | None,
          interpolation: str, averaged: bool) -> np.ndarray:
    """`size` pixels whose Pillow coordinates `matrix` maps into the source, from the smallest pyramid level
    with at least one pixel per output pixel."""
    levels = source.levels
    full_w, full_h = levels[0].size
    low, _ = scales(matrix, size)
    index = 0
    if averaged:
        for candidate in range(1, len(levels)):
            if full_w / levels[candidate].size[0] > low:
                break
            index = candidate
    level = levels[index]
    matrix = scaling(level.size[0] / full_w, level.size[1] / full_h) @ matrix
    if index == 0 and full_w * full_h > _WHOLE_ARRAY_PIXELS:  # the region and a margin, not 48 MB of array
        points = apply(matrix, corners(size))
        left = int(min(max(math.floor(points[:, 0].min()) - 2, 0), full_w - 1))
        top = int(min(max(math.floor(points[:, 1].min()) - 2, 0), full_h - 1))
        right = int(max(min(math.ceil(points[:, 0].max()) + 2, full_w), left + 1))
        bottom = int(max(min(math.ceil(points[:, 1].max()) + 2, full_h), top + 1))
        array = _rgbx(level.crop((left, top, right, bottom)))
        matrix = np.array([[1.0, 0, -left], [0, 1.0, -top], [0, 0, 1.0]]) @ matrix
    else:
        array = source.array(index)
    # Pillow samples output pixel centres (x + 0.5) at input coordinates whose pixel centres are at + 0.5.
    centred = np.array([[1.0, 0, -0.5], [0, 1.0, -0.5], [0, 0, 1.0]]) @ matrix @ \
        np.array([[1.0, 0, 0.5], [0, 1.0, 0.5], [0, 0, 1.0]])
    flags = _CV_INTERPOLATION[interpolation] | cv2.WARP_INVERSE_MAP
    border = dict(borderMode=cv2.BORDER_REPLICATE) if fill is None else \
        dict(borderMode=cv2.BORDER_CONSTANT, borderValue=(fill, fill, fill, 0))
    if abs(centred[2, 0]) < 1e-12 and abs(centred[2, 1]) < 1e-12:
        return cv2.warpAffine(array, centred[:2] / centred[2, 2], size, flags=flags, **border)
    return cv2.warpPerspective(array, centred, size, flags=flags, **border)


def _apply_mask(pixels: np.ndarray, matrix: np.ndarray, size: tuple[int, int], fill: int) -> np.ndarray:
    """The pixels with `fill` where `matrix` maps their centres outside a step's input of `size`: that
    input's rectangle drawn back into the work image, a convex quadrilateral."""
    moved = np.c_[np.array(corners(size)), np.ones(4)] @ inverse(matrix).T
    if (moved[:, 2] <= 0).any():  # beyond the horizon: no quadrilateral to draw (not from v2's draws)
        return pixels
    quad = moved[:, :2] / moved[:, 2:3] - 0.5  # Pillow's pixel centres are OpenCV's integers
    inside = np.zeros(pixels.shape[:2], np.uint8)
    cv2.fillConvexPoly(inside, np.round(quad * 16).astype(np.int32), 255, cv2.LINE_8, 4)
    if fill == 0:
        return cv2.bitwise_and(pixels, pixels, mask=inside)
    filled = np.empty_like(pixels)
    filled[:] = (fill, fill, fill, 0)[:pixels.shape[2]]
    return cv2.copyTo(pixels, inside, filled)


def _greys(state: _State) -> list[int | None]:
    """Each waiting step's mean grey of the picture it ran on (contrast blends towards it), from a thumbnail
    of that picture with the steps before it applied."""
    greys: list[int | None] = []
    for index, step in enumerate(state.pending):
        if step.kind != "jitter" or not any(name == "contrast" for name, _ in step.value):
            greys.append(None)
            continue
        if not any(before.kind != "blur" for before in state.pending[:index]) and step.fill is None \
                and _whole_picture(step.matrix, step.size, state.picture.size):
            # The picture itself, or mirrored: a brightening step before contrast clips each of its pixels, and a
            # thumbnail's averaged ones clip less (a detailed 12-MP picture replayed 2.07 grey levels off v2).
            greys.append(state.source.colours.grey_after(step.value))
            continue
        # A grey a level off moves every pixel by |1 - contrast|, and the steps after it amplify that: where
        # it would show, the grey comes from the picture at its own size (the rocket, rotated, then contrast
        # x0.19, brightness x2.31 and saturation x2.10: 2.13 grey levels off v2 from the thumbnail's grey).
        side = _GREY_SIDE if _grey_sensitivity(step.value) < 1.0 else max(step.size)
        scale = min(1.0, side / max(step.size))
        size = (max(1, round(step.size[0] * scale)), max(1, round(step.size[1] * scale)))
        thumb_state = _State(state.source, state.picture, step.size, step.matrix, step.fill, step.masks)
        thumb = _render_state(thumb_state, size, supersample=False)
        for before, grey in zip(state.pending[:index], greys):
            if before.kind != "blur":  # a blur hardly moves the mean
                thumb = _apply(thumb, before, grey, None, size)
        greys.append(_mean_grey_after(thumb, step.value))
    return greys


def _whole_picture(matrix: np.ndarray, size: tuple[int, int], picture_size: tuple[int, int]) -> bool:
    """Whether `matrix` maps a picture of `size` onto the whole of one of `picture_size`, pixel for pixel, maybe
    mirrored: the same pixels, so the same mean grey (the lesson's flip before its jitter rendered a thumbnail for
    it, a third of the grid's CPU)."""
    (a, b, c), (d, e, f), (g, h, i) = matrix.tolist()
    return size == picture_size and b == d == g == h == 0 and i == 1 and abs(a) == abs(e) == 1 \
        and c == (0 if a > 0 else size[0]) and f == (0 if e > 0 else size[1])


def _grey_sensitivity(jitter: list[tuple[str, float]]) -> float:
    """How many grey levels a level's error in contrast's grey moves the jitter's output by, at most."""
    names = [name for name, _ in jitter]
    after = names.index("contrast")
    sensitivity = abs(1.0 - jitter[after][1])
    for name, factor in jitter[after + 1:]:
        if name != "hue":
            sensitivity *= max(1.0, factor)
    return sensitivity


def _apply(pixels: np.ndarray, step: _Pixels, grey: int | None, matrix, size) -> np.ndarray:
    if step.kind == "jitter":
        return _jitter_array(pixels, step.value, grey)
    if step.kind == "lut":
        return cv2.LUT(pixels, step.value)
    if step.kind == "grey":
        return cv2.cvtColor(_grey(pixels), cv2.COLOR_GRAY2RGBA if pixels.shape[2] == 4 else cv2.COLOR_GRAY2RGB)
    if step.kind == "permute":
        order = step.value + ([3] if pixels.shape[2] == 4 else [])
        return np.ascontiguousarray(pixels[..., order])
    (kernel_x, kernel_y), (sigma_x, sigma_y) = step.value
    ratio = _ratio(step, matrix, size)
    sigma_x, sigma_y = sigma_x / ratio, sigma_y / ratio
    size_x = 2 * math.ceil((kernel_x // 2) / ratio - 1e-9) + 1
    size_y = 2 * math.ceil((kernel_y // 2) / ratio - 1e-9) + 1
    return cv2.GaussianBlur(pixels, (size_x, size_y), sigmaX=sigma_x, sigmaY=sigma_y, borderType=cv2.BORDER_REFLECT_101)


def _ratio(step: _Pixels, matrix: np.ndarray, size: tuple[int, int]) -> float:
    """The blurred picture's pixels per work pixel (side)."""
    low, high = scales(inverse(step.matrix) @ matrix, size)
    return max(1e-6, (low + high) / 2)


def _blur_radius(step: _Pixels, matrix: np.ndarray, size: tuple[int, int]) -> int:
    (kernel_x, kernel_y), _ = step.value
    return math.ceil(max(kernel_x, kernel_y) // 2 / _ratio(step, matrix, size))
