"""Sampled grids: draw the pipeline's random parameters apart from the pixel work, then render them fast.

Parameters are drawn by the very transform objects of `build_pipeline(spec)`, consuming torch's RNG in
the order their `forward` does, so `torch.manual_seed(seed)` followed by the exported pipeline replays
the grid. The pixels take a fast path that gives the same picture within rounding: every geometric step
(flips, crop, resize, centre crop) composes into one source rectangle that is resampled once, from a
cached pyramid of the image, straight to the output size. Where the jitter runs after the crop, it runs
on that small tile with torchvision's own PIL kernels. Where it runs before (the lesson's order), it
saw every pixel of the full image: so it runs, in OpenCV, on a supersampled copy of the rectangle (see
`_render_all`) that is then averaged down, and contrast blends towards the mean grey of a thumbnail of the
whole image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from . import fast
from .ops.base import _proxy
from .ops.registry import OPS
from .ops.steps import (_flat, build_steps, draw_sample, sample_steps, seeded, sample_values, steps_params,
                         steps_values, tile_pool)
from .pipeline import build_pipeline
from .pixels import (SUPERSAMPLE_MIN_SIDE, _Geometry, _image, _jitter, _jitter_array, _Source, _source_for,
                     cached_bytes, photo_pixels_averaged, resized, supersampled)  # noqa: F401 - cached_bytes: for the service (memory accounting)
from .spec import AugSpec

MAX_TILE_SIDE = 1024  # larger outputs (no crop on a big photo) are shown downscaled to this
_JITTER_NAMES = ("brightness", "contrast", "saturation", "hue")


@dataclass(frozen=True)
class Tile:
    image: Image.Image
    params: dict[str, Any]

    @property
    def outline(self) -> list[list[float]] | None:
        """For a spec of steps: the corners of the tile's output (top left, top right, bottom right, bottom
        left) in the photo's pixels, as the steps' geometry maps them; None where a step is no such map."""
        return self.params.get("outline")


@dataclass
class _Plan:
    """Everything drawn for one tile: what to report and how to render it."""

    params: dict[str, Any] = field(default_factory=dict)
    geometry: _Geometry | None = None
    output_size: tuple[int, int] = (0, 0)  # (width, height) the pipeline would return
    jitter: list[tuple[str, float]] = field(default_factory=list)
    # Colour before the crop: it ran on the whole image, at full resolution (see _render_all).
    color_before_crop: bool = False




def sample_grid(
    image: Image.Image,
    spec: AugSpec,
    n: int | None = None,
    seed: int | None = None,
    max_side: int = MAX_TILE_SIDE,
    source_size: tuple[int, int] | None = None,
    partner: Image.Image | None = None,
) -> list[Tile]:
    """`n` samples of `build_pipeline(spec)` on `image`, as after `torch.manual_seed(seed)`.

    `image` must be an RGB PIL image (see `augtune.load_image`). `n` and `seed` default to the spec's.
    A tile whose pipeline output is larger than `max_side` on its long side is that output downscaled.
    `source_size`: when `image` is a reduced copy of a larger photo (`load_image(..., max_side=...)` records
    the photo's size in `image.info["original_size"]`), the parameters and crop boxes are drawn for the
    photo, so that the pipeline run on the photo itself replays them; the pixels come from the copy.

    A spec of steps (any ops, augtune.ops) draws for `image`'s own size, renders each tile through the warp
    path (augtune.fast: the geometry as one warp, colour on the warped tile, v2's kernels for the rest);
    `partner` is the picture MixUp and CutMix mix with (default: the image mirrored). Each tile's params are
    then {"steps": [{"op": name, <what was drawn>}, ...], "outline": <its output's corners in the photo>}.
    """
    n = spec.samples if n is None else n
    seed = spec.seed if seed is None else seed
    AugSpec(samples=n, seed=seed)  # the same range checks and messages as the spec's own fields
    if image.mode != "RGB":
        raise ValueError(f"sample_grid needs an RGB image, got mode {image.mode}; use augtune.load_image.")
    if spec.steps is not None and not _fast_steps(spec.steps):
        return _steps_grid(image, spec.steps, n, seed, max_side, partner, tuple(source_size or image.size))
    source = _source_for(image)
    source_size = tuple(source_size or image.size)
    pipeline, outlines = build_pipeline(spec), []

    def drawn(count: int) -> list[_Plan]:
        plans = [_draw(pipeline.transforms, source_size) for _ in range(count)]
        outlines.extend(_outline(plan.geometry) for plan in plans)  # in the photo's pixels
        if source_size != image.size:
            for plan in plans:
                plan.geometry.rescale(image.size[0] / source_size[0], image.size[1] / source_size[1])
        return plans

    with seeded(seed):  # two shares: a tile thread renders the first while this thread draws the second
        rendering = tile_pool().submit(_render_all, source, drawn((n + 1) // 2), max_side)
        second = drawn(n // 2)
    tiles = _render_all(source, second, max_side)  # and then renders it
    tiles = rendering.result() + tiles
    if spec.steps is not None:  # the lesson's kind of ops, each once: the fast path, told as the steps' values
        tiles = [Tile(tile.image, {"steps": _as_steps_params(spec.steps, tile.params), "crop_box": tile.params.get("crop_box"),
                                   "outline": outline}) for tile, outline in zip(tiles, outlines)]
    return tiles


def sample_plans(image_size: tuple[int, int], spec: AugSpec, n: int, seed: int) -> list[_Plan]:
    """What is drawn for each of `n` samples: the params to report and how to render them."""
    pipeline = build_pipeline(spec)
    with seeded(seed):
        return [_draw(pipeline.transforms, image_size) for _ in range(n)]


def sample_params(image_size: tuple[int, int], spec: AugSpec, n: int, seed: int) -> list[dict[str, Any]]:
    """Only the parameters of `n` samples, for many draws without pixel work (the distributions). For a spec
    of steps: one flat dict per sample, "Op.value" -> value ("Op#2.value" for an op's second step)."""
    if spec.steps is not None:
        return [steps_values(sample) for sample in sample_values(spec.steps, image_size, n, seed)]
    return [plan.params for plan in sample_plans(image_size, spec, n, seed)]


# The ops the fast path (_draw, _render_all) knows. A spec of steps made only of these, each at most once, is
# drawn and rendered by it: the lesson's pipelines cost the same whichever form they are written in.
_FAST_OPS = ("RandomHorizontalFlip", "RandomVerticalFlip", "ColorJitter", "RandomResizedCrop", "Resize", "CenterCrop")


def _fast_steps(steps) -> bool:
    names = [step.op for step in steps]
    if not all(name in _FAST_OPS for name in names) or len(set(names)) != len(names):
        return False
    if "Resize" in names and "RandomResizedCrop" in names:  # a second resize sees the first one's small picture
        return False
    # The fast path resamples as the lesson's pipelines do: bilinear and antialiased.
    return all(step.values.get("antialias", True) and step.values.get("interpolation", "bilinear") == "bilinear"
               for step in steps)


def _as_steps_params(steps, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The fast path's flat params as each op's own `shown` values (augtune.ops), in the steps' order."""
    shown = []
    for step in steps:
        if step.op in ("RandomHorizontalFlip", "RandomVerticalFlip"):
            values = {"applied": params["hflip" if step.op == "RandomHorizontalFlip" else "vflip"]}
        elif step.op == "ColorJitter":
            values = {name: params[name] for name in _JITTER_NAMES if name in params}
            values["order"] = " → ".join(params["jitter_order"])
        elif step.op == "RandomResizedCrop":
            values = {**params["crop"], "scale": params["crop_scale"], "ratio": params["crop_ratio"]}
        else:
            values = {}
        shown.append({"op": step.op, **values})
    return shown


def _steps_grid(image: Image.Image, steps, n: int, seed: int, max_side: int, partner,
                source_size: tuple[int, int]) -> list[Tile]:
    """Params drawn by v2 (ops.steps), pixels by the warp path (augtune.fast); each tile's outline is where
    its output rectangle lies in the photo (in `source_size` pixels, like the crop boxes)."""
    if any(OPS[step.op].draws_in_kernel for step in _flat(steps) if step.op in OPS):
        # v2 draws in the kernel (noise): each step is rendered as it is drawn, by v2's kernels.
        return [Tile(image=fast.fitted(picture, max_side), params={"steps": steps_params(sample), "outline": None})
                for picture, sample in sample_steps(image, steps, n, seed, partner)]
    transforms = list(build_steps(steps).transforms)
    with seeded(seed):
        samples = [draw_sample(steps, transforms, image.size) for _ in range(n)]
    source = _source_for(image)
    scale = (source_size[0] / image.width, source_size[1] / image.height)

    def tile(sample) -> Tile:
        picture, outline = fast.render(image, sample, source, max_side, partner)
        if outline is not None:
            outline = [[x * scale[0], y * scale[1]] for x, y in outline]
        return Tile(image=picture, params={"steps": steps_params(sample), "outline": outline})

    return list(tile_pool().map(tile, samples))


def _outline(geometry: _Geometry) -> list[list[float]]:
    """The output's corners (top left, top right, bottom right, bottom left) in the photo: a mirror swaps them."""
    left, right = (geometry.x1, geometry.x0) if geometry.mirror_x else (geometry.x0, geometry.x1)
    top, bottom = (geometry.y1, geometry.y0) if geometry.mirror_y else (geometry.y0, geometry.y1)
    return [[left, top], [right, top], [right, bottom], [left, bottom]]


def _draw(transforms: list[Any], image_size: tuple[int, int]) -> _Plan:
    width, height = image_size
    geometry = _Geometry(0.0, 0.0, float(width), float(height), width, height)
    plan = _Plan(geometry=geometry)
    params = plan.params
    for transform in transforms:
        proxy = [_proxy(geometry.width, geometry.height)]
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


def _render_all(source: _Source, plans: list[_Plan], max_side: int) -> list[Tile]:
    """The tiles of `plans`, drawn beforehand and rendered a kernel at a time across the tiles: all the work
    images, then all the jitters, then all the resizes (in groups of _GROUP_PIXELS). Each library's code and
    tables then stay in the core's caches: drawing and rendering tile by tile, in turn, took 34 ms of CPU for
    the lesson's grid of the cat where this takes 26 (one thread; a cold call of torch's resize alone took
    0.27 ms, a warm one 0.14)."""
    sizes = [fast.capped(plan.output_size, max_side) for plan in plans]
    tiles: list[Tile | None] = [None] * len(plans)
    supersampled_ones = []
    for index, (plan, size) in enumerate(zip(plans, sizes)):
        if not plan.jitter:
            tiles[index] = Tile(image=source.resample(plan.geometry, size), params=plan.params)
        elif not plan.color_before_crop:
            tiles[index] = Tile(image=_jitter(source.resample(plan.geometry, size), plan.jitter), params=plan.params)
        else:
            supersampled_ones.append(index)
    # The pipeline jittered every pixel of the full image and then averaged them down into the tile.
    # Jitter is not linear (clipping, hue sectors), so jittering after averaging would differ by several
    # grey levels on textured photos (3.45 at the tile's own resolution, bench/replay.py): the jitter runs on a
    # work image of more pixels (pixels.supersampled), in OpenCV on arrays, then averaged down by Pillow's
    # antialiased filter (OpenCV's INTER_AREA moved the worst replayed tile from 1.9 to 2.9 grey levels, its
    # linear downscale reached 2.04 on the astronaut).
    works, greys = {}, {}
    for index in supersampled_ones:
        plan = plans[index]
        factor = supersampled(max(plan.params.get(name, 1.0) for name in ("brightness", "contrast", "saturation")))
        works[index] = _supersampled_size(plan.geometry, sizes[index], factor)
        greys[index] = source.colours.grey_after(plan.jitter) if "contrast" in plan.params else None
    for group in _by_pixels(supersampled_ones, works):
        arrays = [source.sample(plans[index].geometry, works[index]) for index in group]
        arrays = [_jitter_array(pixels, plans[index].jitter, greys[index]) for pixels, index in zip(arrays, group)]
        arrays = [pixels if works[index] == sizes[index] else resized(pixels, sizes[index])
                  for pixels, index in zip(arrays, group)]
        for pixels, index in zip(arrays, group):
            tiles[index] = Tile(image=_image(pixels), params=plans[index].params)
    return tiles


# Work images alive at once, in pixels (4 bytes each): 32 tiles of 512 px under a strong jitter would hold 300 MB.
_GROUP_PIXELS = 1 << 22


def _by_pixels(indices: list[int], works: dict[int, tuple[int, int]]) -> list[list[int]]:
    """`indices` in runs of work images of at most _GROUP_PIXELS together (one, however large, at least)."""
    groups: list[list[int]] = []
    total = _GROUP_PIXELS
    for index in indices:
        pixels = works[index][0] * works[index][1]
        if total + pixels > _GROUP_PIXELS:
            groups.append([])
            total = 0
        groups[-1].append(index)
        total += pixels
    return groups


def _supersampled_size(geometry: _Geometry, size: tuple[int, int], factor: float) -> tuple[int, int]:
    box_w, box_h = geometry.x1 - geometry.x0, geometry.y1 - geometry.y0
    averaged = photo_pixels_averaged(factor)
    width = max(1, min(round(box_w), max(round(factor * size[0]), round(box_w / averaged), SUPERSAMPLE_MIN_SIDE)))
    height = max(1, min(round(box_h), max(round(factor * size[1]), round(box_h / averaged), SUPERSAMPLE_MIN_SIDE)))
    return width, height


