"""Everything Explore shows for one spec, as HTML and text: the tiles with their pictures inline, the
original with each sample's crop box, the legend, the code, the download link and the status line."""

from __future__ import annotations

import base64
import html
import io
import threading
import urllib.parse
import weakref
from typing import Any

from PIL import Image

from augtune import sample_grid, spec_to_code
from augtune.figures import box_colour, mark_points, mark_sizes, shrunk_copy
from augtune.spec import AugSpec

from .explore_text import tile_caption
from .i18n import text
from .pictures import mixing_partner

TILE_MAX_SIDE = 512  # tiles larger than this (no crop on a big photo) are shown downscaled
ORIGINAL_MAX_SIDE = 720
# Colour is what the tab is about: no chroma subsampling (4:4:4). A 224-px tile differs from its pixels
# by 1.5 grey levels on average (Gradio's default, 75 and 4:2:0: 2.5) and takes ~15 kB.
JPEG_QUALITY = 90


def download_html(spec: AugSpec, locale: str) -> str:
    """A link that saves the spec as `augtune-settings.json`, the file inside it as a data URL: a file
    on the server per grid would cost a save, a copy into Gradio's cache and a sweep (a class made
    1 000 a round of bench/load.py)."""
    data = urllib.parse.quote(spec.to_json(), safe="")
    return (f'<a class="augtune-download" download="augtune-settings.json" '
            f'href="data:application/json;charset=utf-8,{data}">{html.escape(text(locale, "code.download"))}</a>')


def render_grid(image: Image.Image, spec: AugSpec, locale: str) -> dict[str, Any]:
    """Everything the tab shows for one spec: the tiles (as HTML), the boxed original and its legend,
    the code, the status line."""
    photo_size = image.info.get("original_size")  # boxes and params in the uploaded photo's own pixels
    tiles = mixed_grid(image, spec, max_side=TILE_MAX_SIDE, source_size=photo_size)
    captions = [tile_caption(number, tile.params, locale) for number, tile in enumerate(tiles, 1)]
    return {
        "grid": grid_html([tile.image for tile in tiles], captions, spec.columns),
        "original": boxed_original_html(image, tiles, photo_size, locale),
        "legend": legend_html(captions),
        "code": spec_to_code(spec).strip(),  # as gr.Code shows it: its events skip Gradio's postprocessing
        "download": download_html(spec, locale),
        "status": text(locale, "status.ok", n=spec.samples, width=image.width, height=image.height, seed=spec.seed),
    }


def mixed_grid(image: Image.Image, spec: AugSpec, **options: Any) -> list:
    """`sample_grid`, with MixUp and CutMix mixing the picture with a bundled example (`mixing_partner`), whose
    name each tile's params then carry: its caption says what the picture was mixed with."""
    partner_name, partner = mixing_partner(image)
    tiles = sample_grid(image, spec, partner=partner, **options)
    for tile in tiles:
        for entry in tile.params.get("steps", ()):
            if entry.get("op") in ("MixUp", "CutMix"):
                entry["partner"] = partner_name
    return tiles


# The original's picture, shrunk and encoded, for as long as the picture lives: from grid to grid only the marks
# change, and the browser draws them (`marks_svg`). Drawing them into the pixels and encoding the 720-px picture
# again took a tenth of a grid worker's CPU per grid in bench/load.py (py-spy, session 11); so did shrinking it
# again when a class's 50 photos took turns in a cache of the last 32 (session 13). Keyed by id(): PIL images are
# unhashable; the entry leaves with its picture, whose own cache (service.pictures) bounds how many there are.
_pictures: dict[int, tuple[str, tuple[int, int]]] = {}
_pictures_lock = threading.Lock()


def boxed_original_html(image: Image.Image, tiles: list, photo_size: tuple[int, int] | None, locale: str) -> str:
    """`image` (shrunk to ORIGINAL_MAX_SIDE) with each tile's crop box or, for a pipeline of steps, its outline
    over it as SVG. A click shows both full screen (for the back of the classroom)."""
    url, size = _original_picture(image)
    scale = size[0] / (photo_size or image.size)[0]
    return (f'<figure class="augtune-original-picture" title="{html.escape(text(locale, "original.fullscreen"))}">'
            f'<img src="{url}" width="{size[0]}" height="{size[1]}" alt="{html.escape(text(locale, "original.label"))}">'
            f'{marks_svg([tile.params for tile in tiles], size, scale)}</figure>')


def _original_picture(image: Image.Image) -> tuple[str, tuple[int, int]]:
    key = id(image)
    with _pictures_lock:
        shown = _pictures.get(key)
    if shown is None:
        picture = shrunk_copy(image, ORIGINAL_MAX_SIDE)
        shown = (jpeg_data_url(picture), picture.size)
        with _pictures_lock:
            if key not in _pictures:
                _pictures[key] = shown
                weakref.finalize(image, _pictures.pop, key, None)
    return shown


def marks_svg(params_list: list[dict[str, Any]], size: tuple[int, int], scale: float) -> str:
    """Each tile's crop box (`params["crop_box"]`) or outline (`params["outline"]`, a pipeline of steps), numbered
    from 1 in its tile's colour, as SVG over a picture of `size` pixels; `scale`: picture pixels per photo pixel.
    It stretches with the picture, full screen too (both fit the same box the same way)."""
    line, font, pad = mark_sizes(size)
    marks = []
    for number, params in enumerate(params_list, 1):
        points = mark_points(params, scale)
        if points is None:
            continue
        red, green, blue = box_colour(number)
        colour = f"rgb({red},{green},{blue})"
        # The number stays on the picture, even where a rotated output's corner lies off it.
        width, height = 0.6 * font * len(str(number)) + 2 * pad, font + 2 * pad
        left = min(max(points[0][0], 0), size[0] - width)
        top = min(max(points[0][1], 0), size[1] - height)
        corners = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        marks.append(f'<polygon points="{corners}" stroke="{colour}"/>'
                     f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{colour}"/>'
                     f'<text x="{left + width / 2:.1f}" y="{top + pad + 0.86 * font:.1f}">{number}</text>')
    return (f'<svg viewBox="0 0 {size[0]} {size[1]}" aria-hidden="true" stroke-width="{line}" font-size="{font}">'
            f'{"".join(marks)}</svg>')


def grid_html(pictures: list[Image.Image], captions: list[str], columns: int) -> str:
    """The tiles as one piece of HTML, each picture inline as a JPEG data URL, numbered in its crop box's
    colour, with its caption cut to a line (whole in the legend, and when the tile is opened).

    Not a gr.Gallery: Gradio saves, hashes, path-checks and serves every picture of a gallery as a file
    of its own: for 16 tiles, a third of the server's CPU per grid beside the drawing (one grid at a time,
    16 tiles of a 1600-px photo: 317 ms of CPU with the gallery, 265 ms inline). Inline, a grid is one
    message, and its tiles leave no temp files behind."""
    buttons = []
    for number, (picture, caption) in enumerate(zip(pictures, captions, strict=True), 1):
        red, green, blue = box_colour(number)
        _, _, sampled = caption.partition(" · ")
        buttons.append(
            f'<button type="button" class="augtune-tile" aria-expanded="false"><span class="augtune-tile-picture">'
            f'<img src="{jpeg_data_url(picture)}" alt="{html.escape(caption)}" width="{picture.width}" '
            f'height="{picture.height}"><span class="augtune-badge augtune-tile-number" '
            f'style="background: rgb({red}, {green}, {blue})">{number}</span></span>'
            f'<span class="augtune-tile-caption">{html.escape(sampled)}</span></button>'
        )
    return (f'<div class="augtune-tiles" style="grid-template-columns: repeat({columns}, minmax(0, 1fr))">'
            f'{"".join(buttons)}</div>')


def jpeg_data_url(picture: Image.Image) -> str:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def legend_html(captions: list[str]) -> str:
    """The tiles' captions as a list whose numbers wear the colours of their crop boxes: a tile's
    caption is cut to one line, this is where a class reads them whole."""
    rows = []
    for number, caption in enumerate(captions, 1):
        red, green, blue = box_colour(number)
        number_text, _, rest = caption.partition(" · ")
        rows.append(
            f'<li><span class="augtune-badge" style="background: rgb({red}, {green}, {blue})">'
            f"{html.escape(number_text.lstrip('#'))}</span> {html.escape(rest)}</li>"
        )
    return f'<ol class="augtune-legend">{"".join(rows)}</ol>'
