"""Pictures that explain a grid: where each crop came from, and how the sampled values are spread.

Figures are built with `matplotlib.figure.Figure`, not pyplot, so nothing is registered globally and a
figure is freed as soon as the caller drops it: a server drawing one per click does not grow.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator
from PIL import Image, ImageDraw, ImageFont

from .spec import AugSpec

# Matplotlib's tab10: distinct on photos, and the same colour means the same tile number everywhere.
BOX_COLOURS = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)


def box_colour(number: int) -> tuple[int, int, int]:
    """The colour of the box of tile `number` (counted from 1)."""
    return BOX_COLOURS[(number - 1) % len(BOX_COLOURS)]


def draw_crop_boxes(
    image: Image.Image,
    tiles: Iterable[Any],
    max_side: int | None = None,
    source_size: tuple[int, int] | None = None,
) -> Image.Image:
    """`image` with the crop box of every tile drawn on it, numbered from 1 in the tiles' order.

    `tiles` are `augtune.Tile`s or their `params` dicts; boxes come from `params["crop_box"]` (original
    image pixels), or for a pipeline of steps the polygon `params["outline"]` (the output's corners in the
    original, see `Tile.outline`), and tiles with neither (no crop) are skipped. With `max_side`, the picture is shrunk to
    fit first and the boxes scaled with it, so a 12-megapixel photo stays cheap to send. `source_size`: the
    photo `image` is a reduced copy of, whose pixels the boxes are in (as given to `sample_grid`).
    """
    canvas = shrunk_copy(image, max_side)  # a copy: never the caller's image
    scale = image.width / source_size[0] if source_size else 1.0
    if max_side and max(image.size) > max_side:
        scale *= max_side / max(image.size)
    draw = ImageDraw.Draw(canvas)
    line, font_size, pad = mark_sizes(canvas.size)
    font = ImageFont.load_default(size=font_size)
    for number, params in enumerate((getattr(tile, "params", tile) for tile in tiles), start=1):
        points = mark_points(params, scale)
        if points is None:
            continue
        colour = box_colour(number)
        if params.get("outline") is not None:  # the number sits at the output's top-left corner
            draw.polygon(points, outline=colour, width=line)
        else:
            (x0, y0), (x1, y1) = points[0], points[2]
            draw.rectangle((x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)), outline=colour, width=line)  # pixels x0..x1-1
        x0, y0 = points[0]
        label = str(number)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        # A rotated output's corner may lie off the photo: the number stays on it.
        x0 = min(max(x0, 0), canvas.width - (right - left + 2 * pad))
        y0 = min(max(y0, 0), canvas.height - (bottom - top + 2 * pad))
        draw.rectangle((x0, y0, x0 + right - left + 2 * pad, y0 + bottom - top + 2 * pad), fill=colour)
        draw.text((x0 + pad - left, y0 + pad - top), label, fill=(255, 255, 255), font=font)
    return canvas


def mark_points(params: dict[str, Any], scale: float) -> list[tuple[float, float]] | None:
    """A tile's mark on the original, in the picture's pixels (`scale`: picture pixels per photo pixel): the corners
    of its output (`params["outline"]`, a pipeline of steps, wherever rotations put them) or of its crop box
    (`params["crop_box"]`), top left first; None for a tile with neither (no crop)."""
    box, outline = params.get("crop_box"), params.get("outline")
    if outline is not None:
        return [(x * scale, y * scale) for x, y in outline]
    if box is not None:
        x0, y0, x1, y1 = (value * scale for value in box)
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return None


def mark_sizes(size: tuple[int, int]) -> tuple[int, int, int]:
    """(line width, font size, label padding) of the marks on a picture of `size`, in its pixels: as readable on
    a thumbnail as on a photo shown full screen."""
    side = max(size)
    line = max(2, round(side / 250))
    return line, max(11, round(side / 36)), max(2, line)


def shrunk_copy(image: Image.Image, max_side: int | None) -> Image.Image:
    """An RGB copy of `image`, shrunk to `max_side` on its long side where it is longer (for showing a photo)."""
    if not max_side or max(image.size) <= max_side:
        return image.convert("RGB")
    shrink = max_side / max(image.size)
    size = (max(1, round(image.width * shrink)), max(1, round(image.height * shrink)))
    return image.convert("RGB").resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def distributions_figure(params_list: Sequence[Mapping[str, Any]], spec: AugSpec) -> Figure:
    """One panel per randomly drawn parameter of `spec`: a histogram of the draws with the range the
    pipeline draws from shaded, so "uniform on [0.5, 1.5]" can be seen. `params_list` comes from
    `augtune.sample_params`."""
    panels = [panel for panel in _panels(spec) if any(panel.key in params for params in params_list)]
    columns = min(3, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    figure = Figure(figsize=(4.2 * columns, 3.0 * rows), layout="constrained")
    if not panels:
        axis = figure.add_subplot()
        axis.set_axis_off()
        axis.text(0.5, 0.5, "Nothing is drawn at random with these settings:\nevery sample is the same.",
                  ha="center", va="center", fontsize=12)
        return figure
    for index, panel in enumerate(panels, start=1):
        axis = figure.add_subplot(rows, columns, index)
        values = [params[panel.key] for params in params_list if panel.key in params]
        panel.draw(axis, values)
    figure.suptitle(f"{len(params_list):,} draws", fontsize=11)
    return figure


def figure_to_image(figure: Figure, dpi: int = 100) -> Image.Image:
    """Render a figure to an RGB picture (for UIs that show images, and to free the figure at once)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


class _Panel:
    """How to draw one parameter: its key in the params, a title, and the range it is drawn from."""

    def __init__(self, key: str, title: str, low: float, high: float, kind: str = "uniform") -> None:
        self.key, self.title, self.low, self.high, self.kind = key, title, low, high, kind

    def draw(self, axis: Any, values: list[Any]) -> None:
        if self.kind == "category" or (self.kind == "observed" and any(isinstance(v, (str, bool)) for v in values)):
            counts: dict[str, int] = {}
            for value in values:
                counts[str(value)] = counts.get(str(value), 0) + 1
            shown = sorted(counts.items(), key=lambda item: -item[1])[:12]
            axis.barh([label[:28] for label, _ in shown][::-1], [count for _, count in shown][::-1], color="#1f77b4")
            axis.set_xlabel("samples")
            axis.set_title(self.title + (f" ({len(counts)} kinds, the 12 commonest)" if len(counts) > 12 else ""),
                           fontsize=10)
            return
        if self.kind == "observed":  # a value without a simple law (sub-op strengths, corner shifts): its spread
            data = np.asarray(values, dtype=float)
            axis.hist(data, bins=30, color="#1f77b4", alpha=0.85)
            axis.set_ylabel("samples")
            axis.set_title(f"{self.title}: {data.min(initial=0):.3g} to {data.max(initial=0):.3g}", fontsize=10)
            return
        if self.kind == "bernoulli":
            share = float(np.mean([bool(value) for value in values])) if values else 0.0
            axis.bar(["no", "yes"], [1 - share, share], color=["#bbbbbb", "#1f77b4"])
            axis.axhline(self.high, color="#d62728", linestyle="--", label=f"p = {self.high:g}")
            axis.set_ylim(0, 1)
            axis.set_ylabel("share of samples")
            axis.legend(loc="upper left", fontsize=9)
            axis.set_title(f"{self.title}: flipped with p = {self.high:g}", fontsize=10)
            return
        data = np.asarray(values, dtype=float)
        low, high = self.low, self.high
        # Bins also cover values outside the range (RandomResizedCrop falls back to a centre crop when
        # ten tries do not fit), so no draw is silently left out of the picture.
        first, last = min(low, data.min(initial=low)), max(high, data.max(initial=high))
        if self.kind == "log-uniform":
            axis.set_xscale("log")
            bins = np.geomspace(first / 1.01, last * 1.01, 31)
            axis.set_xlim(first / 1.1, last * 1.1)
            ticks = np.geomspace(low, high, 5) if high > low else np.array([low])
            axis.set_xticks(ticks, [f"{tick:.2g}" for tick in ticks])
            axis.xaxis.set_minor_locator(NullLocator())
            law = f"log-uniform on [{low:.3g}, {high:.3g}]"
        else:
            margin = (last - first) * 0.05 or 0.05
            bins = np.linspace(first - margin / 5, last + margin / 5, 31)
            axis.set_xlim(first - margin, last + margin)
            law = f"uniform on [{low:.3g}, {high:.3g}]"
        axis.hist(data, bins=bins, color="#1f77b4", alpha=0.85)
        axis.axvspan(low, high, color="#ff7f0e", alpha=0.15)
        axis.axvline(low, color="#ff7f0e")
        axis.axvline(high, color="#ff7f0e")
        axis.set_ylabel("samples")
        note = "\n(a crop that does not fit the image is drawn again)" if self.key.startswith("crop_") else ""
        axis.set_title(f"{self.title}: {law}{note}", fontsize=10)


def _panels(spec: AugSpec) -> list[_Panel]:
    if spec.steps is not None:
        return _step_panels(spec.steps)
    panels: list[_Panel] = []
    for stage in spec.active_stages:
        if stage == "flip":
            if spec.hflip_p:
                panels.append(_Panel("hflip", "horizontal flip", 0.0, spec.hflip_p, "bernoulli"))
            if spec.vflip_p:
                panels.append(_Panel("vflip", "vertical flip", 0.0, spec.vflip_p, "bernoulli"))
        elif stage == "color":
            # ColorJitter's own ranges: a factor in [max(0, 1 - x), 1 + x], a hue shift in [-h, h].
            for name in ("brightness", "contrast", "saturation"):
                amount = getattr(spec, name)
                if amount:
                    panels.append(_Panel(name, f"{name} factor", max(0.0, 1 - amount), 1 + amount))
            if spec.hue:
                panels.append(_Panel("hue", "hue shift", -spec.hue, spec.hue))
        elif spec.crop_mode == "random":
            panels.append(_Panel("crop_scale", "crop area / image area", spec.scale_min, spec.scale_max))
            panels.append(_Panel("crop_ratio", "crop width / height", spec.ratio_min, spec.ratio_max, "log-uniform"))
    return panels


def _step_panels(steps) -> list[_Panel]:
    """A panel per random value of every step, keyed as augtune.ops.steps.steps_values keys the draws."""
    from .ops import OPS, RANDOM_APPLY
    from .ops.steps import _flat, step_names

    names = step_names(steps)
    panels: list[_Panel] = []
    for step in _flat(steps):
        name = names[id(step)]
        if step.op == RANDOM_APPLY:
            panels.append(_Panel(f"{name}.applied", f"{name}: applied", 0.0, step.values["p"], "bernoulli"))
            continue
        for value in OPS[step.op].random_values(step.values):
            if value == "applied":
                panels.append(_Panel(f"{name}.{value}", f"{name}: applied", 0.0, step.values.get("p", 1.0), "bernoulli"))
            else:
                panels.append(_Panel(f"{name}.{value}", f"{name}: {value}", 0.0, 0.0, "observed"))
    return panels
