"""Geometric steps as 3x3 matrices: where each output pixel of a step comes from in its input.

Coordinates are Pillow's: continuous, a pixel (i, j) covering [i, i+1) x [j, j+1), which is what v2's kernels
on PIL pictures use (`Image.transform`, `Image.rotate`, `resize`), so each matrix here is the very one the
exact kernel runs. A pipeline's geometric steps compose by multiplying them (output -> input of the last
step, ... -> the original picture), and the composed map is resampled once (augtune.fast).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2.functional import _geometry as G

IDENTITY = np.eye(3)


@dataclass(frozen=True)
class Move:
    """One geometric step: `matrix` maps its output (of `size`, width and height) to its input.

    fill: the grey the step shows where its input does not reach (None: it never leaves its input).
    crops: the output sees only part of the input (what came before a later fill must be masked to it).
    interpolation: "nearest", "bilinear" or "bicubic" for Pillow's `transform` (rotation, affine,
    perspective: no antialiasing), None for the rest. resize: a Pillow resize (bilinear, antialiased).
    fast: the warp reproduces the kernel within rounding (else the matrix serves only the outline).
    """

    matrix: np.ndarray
    size: tuple[int, int]
    fill: int | None = None
    crops: bool = False
    interpolation: str | None = None
    resize: bool = False
    fast: bool = True


def _translate(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])


def scaling(sx: float, sy: float) -> np.ndarray:
    return np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]])


def _affine(values) -> np.ndarray:
    a, b, c, d, e, f = values
    return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])


def _mode(transform) -> str:
    mode = getattr(transform, "interpolation", InterpolationMode.BILINEAR)
    return mode.value if isinstance(mode, InterpolationMode) else str(mode)


def _fill(transform) -> int:
    fill = getattr(transform, "fill", 0)
    if isinstance(fill, dict):  # v2 keeps {type: fill}; our ops give one grey for every type
        fill = next(iter(fill.values()), 0)
    if isinstance(fill, (list, tuple)):
        fill = fill[0] if fill else 0
    return int(fill or 0)


def move(name: str, transform, params: dict, size: tuple[int, int]) -> Move | None:
    """The step `name` (a registry op, v2 `transform` with its drawn `params`) on an input of `size`, or None
    where it is no matrix (ElasticTransform, colour, ...)."""
    width, height = size
    if name == "RandomHorizontalFlip":
        return Move(np.array([[-1.0, 0, width], [0, 1, 0], [0, 0, 1]]), size)
    if name == "RandomVerticalFlip":
        return Move(np.array([[1.0, 0, 0], [0, -1, height], [0, 0, 1]]), size)
    if name in ("RandomResizedCrop", "Resize"):
        if name == "Resize":
            new_h, new_w = G._compute_resized_output_size((height, width), size=list(transform.size),
                                                          max_size=transform.max_size)
            top, left, crop_h, crop_w = 0, 0, height, width
        else:
            new_h, new_w = transform.size
            top, left, crop_h, crop_w = (int(params[key]) for key in ("top", "left", "height", "width"))
        matrix = _translate(left, top) @ scaling(crop_w / new_w, crop_h / new_h)
        # Pillow always antialiases; a nearest or bicubic resize is its own filter, not the pyramid's.
        return Move(matrix, (new_w, new_h), crops=name != "Resize", resize=True, fast=_mode(transform) == "bilinear")
    if name == "CenterCrop":
        crop_h, crop_w = transform.size
        pad_left, pad_top, _, _ = (G._center_crop_compute_padding(crop_h, crop_w, height, width)
                                   if crop_h > height or crop_w > width else (0, 0, 0, 0))
        padded_h, padded_w = max(height, crop_h), max(width, crop_w)
        top, left = G._center_crop_compute_crop_anchor(crop_h, crop_w, padded_h, padded_w)
        padded = crop_h > height or crop_w > width
        return Move(_translate(left - pad_left, top - pad_top), (crop_w, crop_h), fill=0 if padded else None,
                    crops=crop_h < height or crop_w < width)
    if name in ("Pad", "RandomCrop", "RandomZoomOut"):
        if name == "Pad":
            pad = int(transform.padding)
            left_pad, top_pad, right_pad, bottom_pad = pad, pad, pad, pad
            mode = transform.padding_mode
        elif name == "RandomZoomOut":
            left_pad, top_pad, right_pad, bottom_pad = params["padding"]
            mode = "constant"
        else:
            left_pad, top_pad, right_pad, bottom_pad = params["padding"] if params["needs_pad"] else (0, 0, 0, 0)
            mode = transform.padding_mode
        padded = (width + left_pad + right_pad, height + top_pad + bottom_pad)
        if name == "RandomCrop":
            matrix = _translate(params["left"] - left_pad, params["top"] - top_pad)
            out = (params["width"], params["height"]) if params["needs_crop"] else padded
        else:
            matrix, out = _translate(-left_pad, -top_pad), padded
        pads = any((left_pad, top_pad, right_pad, bottom_pad))
        return Move(matrix, out, fill=_fill(transform) if pads else None, crops=out != padded,
                    fast=mode == "constant" or not pads)
    if name == "RandomRotation":
        if transform.center is not None:
            return None
        turned = _quarter_turn(float(params["angle"]), size, transform.expand)
        if turned is not None:
            return turned
        matrix, out = rotation(float(params["angle"]), size, transform.expand)
        # Rotating inside the same frame cuts the corners off: a crop, as far as a later fill is concerned.
        return Move(matrix, out, fill=_fill(transform), crops=True, interpolation=_mode(transform))
    if name == "RandomAffine":
        center = [width * 0.5, height * 0.5] if transform.center is None else list(transform.center)
        values = G._get_inverse_affine_matrix(center, float(params["angle"]), [float(v) for v in params["translate"]],
                                              float(params["scale"]), [float(v) for v in params["shear"]])
        return Move(_affine(values), size, fill=_fill(transform), crops=True, interpolation=_mode(transform))
    if name == "RandomPerspective":
        a, b, c, d, e, f, g, h = (float(v) for v in params["coefficients"])
        return Move(np.array([[a, b, c], [d, e, f], [g, h, 1.0]]), size, fill=_fill(transform), crops=True,
                    interpolation=_mode(transform))
    return None


def _quarter_turn(angle: float, size: tuple[int, int], expand: bool) -> Move | None:
    """Pillow's `rotate` shortcuts: 0 and 180 degrees, and 90 and 270 when expanding or square, are transposes
    (no resampling, no fill, and 90 degrees of a 451 x 300 picture is 300 x 451, not the general 301 x 452)."""
    width, height = size
    angle %= 360.0
    if angle == 0:
        return Move(IDENTITY.copy(), size)
    if angle == 180:
        return Move(np.array([[-1.0, 0, width], [0, -1.0, height], [0, 0, 1]]), size)
    if angle in (90, 270) and (expand or width == height):
        if angle == 90:  # counter-clockwise: the top-right corner comes to the top left
            return Move(np.array([[0, -1.0, width], [1.0, 0, 0], [0, 0, 1]]), (height, width))
        return Move(np.array([[0, 1.0, 0], [-1.0, 0, height], [0, 0, 1]]), (height, width))
    return None


def rotation(angle: float, size: tuple[int, int], expand: bool) -> tuple[np.ndarray, tuple[int, int]]:
    """Pillow's `Image.rotate` about the centre: its matrix (output -> input) and output size."""
    width, height = size
    angle = -math.radians(angle % 360.0)
    a, b = round(math.cos(angle), 15), round(math.sin(angle), 15)
    d, e = round(-math.sin(angle), 15), round(math.cos(angle), 15)
    cx, cy = width / 2, height / 2
    c = a * -cx + b * -cy + cx
    f = d * -cx + e * -cy + cy
    if expand:
        xs = [a * x + b * y + c for x, y in ((0, 0), (width, 0), (width, height), (0, height))]
        ys = [d * x + e * y + f for x, y in ((0, 0), (width, 0), (width, height), (0, height))]
        new_w, new_h = math.ceil(max(xs)) - math.floor(min(xs)), math.ceil(max(ys)) - math.floor(min(ys))
        dx, dy = -(new_w - width) / 2.0, -(new_h - height) / 2.0
        c, f = a * dx + b * dy + c, d * dx + e * dy + f
        width, height = new_w, new_h
    return _affine((a, b, c, d, e, f)), (width, height)


def inverse(matrix: np.ndarray) -> np.ndarray:
    """The inverse map; an affine one in closed form (np.linalg.inv took 29 us of a tile's few hundred)."""
    (a, b, c), (d, e, f), (g, h, i) = matrix.tolist()
    if g or h or i != 1:
        return np.linalg.inv(matrix)
    det = a * e - b * d
    return np.array([[e / det, -b / det, (b * f - c * e) / det], [-d / det, a / det, (c * d - a * f) / det],
                     [0.0, 0.0, 1.0]])


def apply(matrix: np.ndarray, points) -> np.ndarray:
    """Points (n x 2) through a 3x3 matrix, projectively. In Python's floats: a tile's few corners went through
    numpy's small-array calls at 13 us a time."""
    (a, b, c), (d, e, f), (g, h, i) = matrix.tolist()
    moved = []
    for x, y in (points.tolist() if isinstance(points, np.ndarray) else points):
        w = g * x + h * y + i
        moved.append(((a * x + b * y + c) / w, (d * x + e * y + f) / w))
    return np.array(moved, dtype=np.float64).reshape(-1, 2)


def corners(size: tuple[int, int]) -> list[tuple[float, float]]:
    """The output rectangle's corners: top left, top right, bottom right, bottom left."""
    width, height = size
    return [(0.0, 0.0), (float(width), 0.0), (float(width), float(height)), (0.0, float(height))]


def scales(matrix: np.ndarray, size: tuple[int, int]) -> tuple[float, float]:
    """The least and greatest input pixels per output pixel (side) over the output: sqrt of the Jacobian's
    determinant at the corners and the centre (a perspective's varies across the picture)."""
    (a, b, c), (d, e, f), (g, h, i) = matrix.tolist()
    width, height = size
    # For x' = (a x + b y + c) / w, y' = (d x + e y + f) / w, w = g x + h y + i: det J = det(M) / w^3.
    det = abs(a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g))
    found = [math.sqrt(det / abs(g * x + h * y + i) ** 3)
             for x, y in ((0, 0), (width, 0), (width, height), (0, height), (width / 2, height / 2))]
    return min(found), max(found)
