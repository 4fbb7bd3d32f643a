"""Explore tab: move a control, see what the lesson's augmentation pipeline samples.

The layout lives in `build_explore_tab`; everything it calls is a plain function of widget values that
can be tested without a browser. Text shown by callbacks (captions, messages) is translated on the
server: every event sends the page's current locale, read in the browser from a hidden Markdown whose
value is the i18n key "locale" (so it follows Gradio's own language switch in the footer's Settings).
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import html
import io
import itertools
import json
import os
import random
import re
import threading
import time
import urllib.parse
import weakref
from collections import OrderedDict
from pathlib import Path
from collections.abc import Callable
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder
from PIL import Image

import augtune
from augtune import PRESETS, AugSpec, sample_grid, sample_params, spec_to_code
from augtune.figures import box_colour, distributions_figure, draw_crop_boxes, figure_to_image
from augtune.imageio import read_image_bytes
from augtune.sampling import cached_bytes
from augtune.spec import RANGES

from augtune.service.explore_form import (  # noqa: F401 - callers still find them here
    FIELDS,
    HISTOGRAM_DRAWS,
    ORDERS,
    crop_widgets_shown,
    spec_from_widgets,
    widgets_from_spec,
)
from augtune.service.i18n import STRINGS, pick_locale, text  # noqa: F401 - callers still find them here

from .grid_workers import GridWorkers

ASSETS = Path(__file__).resolve().parents[2] / "assets"
EXAMPLES = [ASSETS / name for name in ("cat.png", "astronaut.png", "coffee.png", "rocket.jpg")]
DEFAULT_IMAGE = EXAMPLES[0]

DECODE_MAX_SIDE = 4096  # a 12 MP phone photo is decoded at reduced scale, fast, and still sharp
IMAGE_CACHE_BYTES = int(float(os.environ.get("AUGTUNE_IMAGE_CACHE_MB", 1024)) * 2**20)
IMAGE_CACHE_IDLE_S = float(os.environ.get("AUGTUNE_IMAGE_CACHE_IDLE_S", 900))
# Delete Gradio's temp files (uploads, histograms) 2 h after their last use (app.py checks every quarter
# of that): a day of classes does not fill the disk. A grid leaves no file (its pictures are inline); a
# photo in use is marked used at least ten times within that age.
TEMP_MAX_AGE_S = int(os.environ.get("AUGTUNE_TEMP_MAX_AGE_S", 7200))
KEEP_ALIVE_EVERY_S = min(60.0, TEMP_MAX_AGE_S / 10)
TILE_MAX_SIDE = 512  # tiles larger than this (no crop on a big photo) are shown downscaled
ORIGINAL_MAX_SIDE = 720
DIGEST_KEY = "augtune_sha1"  # in a decoded picture's info: the SHA-1 of the file it came from
# Colour is what the tab is about: no chroma subsampling (4:4:4). A 224-px tile differs from its pixels
# by 1.5 grey levels on average (Gradio's default, 75 and 4:2:0: 2.5) and takes ~15 kB.
JPEG_QUALITY = 90
LOCALE_ELEMENT = "augtune-locale"

_ = gr.I18n()  # only makes translation keys; app.py gives launch() the tables (augtune.service.i18n)


def tile_caption(number: int, params: dict[str, Any], locale: str = "en") -> str:
    """What was sampled for tile `number`, in pipeline order, short enough for a gallery caption."""
    parts: list[str] = []
    for key in params:
        if key in ("hflip", "vflip"):
            parts.append(text(locale, f"caption.{key}.{'yes' if params[key] else 'no'}"))
        elif key == "jitter_order":
            parts.append(" → ".join(_jitter_part(locale, name, params[name]) for name in params[key]))
        elif key == "crop_scale":
            x0, y0, x1, y1 = params["crop_box"]
            parts.append(text(locale, "caption.crop", x0=x0, y0=y0, x1=x1, y1=y1,
                              scale=f"{params['crop_scale']:.2f}", ratio=f"{params['crop_ratio']:.2f}"))
        elif key == "resize":
            x0, y0, x1, y1 = params["crop_box"]
            height, width = params["resize"]
            parts.append(text(locale, "caption.center", width=width, height=height, x0=x0, y0=y0, x1=x1, y1=y1))
    return f"#{number} · " + (" · ".join(parts) if parts else text(locale, "caption.unchanged"))


def _jitter_part(locale: str, name: str, value: float) -> str:
    shown = f"{value:+.2f}" if name == "hue" else f"{value:.2f}"
    return text(locale, f"caption.{name}", value=shown)


# Sentences of augtune's core (spec.py, imageio.py) and how to say them in the UI's words and language.
# tests/test_app_explore.py raises each of them for real, so a reworded core message is caught there.
_ERROR_PATTERNS = [
    (re.compile(r"^(?P<field>\w+) must be between (?P<low>\S+) and (?P<high>\S+), got (?P<value>.+)\.$"), "error.range"),
    (re.compile(r"^(?P<low_field>\w+) \((?P<low>[^)]+)\) must not be larger than (?P<high_field>\w+) \((?P<high>[^)]+)\)\.$"), "error.min_max"),
    (re.compile(r"^resize_size \((?P<resize>\d+)\) must be at least crop_size \((?P<crop>\d+)\) for a centre crop\.$"), "error.center"),
    (re.compile(r"^(?P<field>\w+) must be a whole number, got (?P<value>.+)\.$"), "error.whole"),
    (re.compile(r"^(?P<field>\w+) must be a (finite )?number, got .+\.$"), "error.number"),
    (re.compile(r"^Settings are not valid JSON: (?P<detail>.*)\.$", re.S), "error.json"),
    (re.compile(r"^Unknown setting\(s\): (?P<names>.*?)\. Known: .*$", re.S), "error.unknown"),
    (re.compile(r"^Settings must be a JSON object"), "error.not_object"),
    (re.compile(r"^The file is empty\.$"), "error.empty"),
    (re.compile(r"^This file is not an image augtune can read"), "error.not_image"),
    (re.compile(r"^(?P<kind>\w+) images are not supported"), "error.unsupported"),
    (re.compile(r"^The image is too large.*at most (?P<limit>[\d.]+) megapixels"), "error.too_large"),
    (re.compile(r"^The image file is incomplete"), "error.truncated"),
    (re.compile(r"^The image file is damaged"), "error.damaged"),
    (re.compile(r"^No image file at "), "error.gone"),
]


def localize_error(message: str, locale: str = "en") -> str:
    """A core error sentence in the UI's language, naming fields by their widget labels."""
    for pattern, key in _ERROR_PATTERNS:
        match = pattern.match(message)
        if match:
            values = match.groupdict()
            for name in ("field", "low_field", "high_field"):
                if values.get(name) in FIELDS:
                    values[name] = text(locale, f"{values[name]}.label")
            if key == "error.center":
                values["resize_field"] = text(locale, "resize_size.label")
                values["crop_field"] = text(locale, "crop_size.label")
            return text(locale, key, **values)
    return message


class Pictures:
    """Pictures by key (their file's SHA-1), least recently used first, within `max_bytes` (as `size_of`
    counts them; the newest always stays) and dropped once unused for `idle_s`. Not locked: the owner
    locks (ImageCache), or has one thread (a grid worker)."""

    def __init__(self, max_bytes: int, idle_s: float, size_of: Callable[[Image.Image], int]) -> None:
        self.max_bytes, self.idle_s, self._size_of = max_bytes, idle_s, size_of
        self._pictures: OrderedDict[str, tuple[Image.Image, float]] = OrderedDict()  # key -> (picture, last use)
        self._bytes = 0

    def get(self, key: str) -> Image.Image | None:
        entry = self._pictures.get(key)
        if entry is None:
            return None
        self._pictures[key] = (entry[0], time.monotonic())
        self._pictures.move_to_end(key)
        return entry[0]

    def put(self, key: str, picture: Image.Image) -> None:
        if key in self._pictures:
            self._bytes -= self._size_of(self._pictures.pop(key)[0])
        self._pictures[key] = (picture, time.monotonic())
        self._bytes += self._size_of(picture)
        while self._bytes > self.max_bytes and len(self._pictures) > 1:
            self._drop_oldest()

    def expire(self) -> int:
        """Drop the pictures unused for `idle_s`; returns how many."""
        cutoff = time.monotonic() - self.idle_s
        dropped = 0
        while self._pictures and next(iter(self._pictures.values()))[1] < cutoff:
            self._drop_oldest()
            dropped += 1
        return dropped

    def _drop_oldest(self) -> None:
        _, (picture, _) = self._pictures.popitem(last=False)
        self._bytes -= self._size_of(picture)

    def __len__(self) -> int:
        return len(self._pictures)

    @property
    def size_bytes(self) -> int:
        return self._bytes


class ImageCache:
    """Decoded images by content, most recently used first, within a memory budget; unused ones are
    dropped after `idle_s`. Slider moves then cost no decoding, an API caller who sends the same photo
    with every request has it decoded once (Gradio stores each upload under a new path), and a file
    Gradio has since cleaned up keeps working while its picture is cached.

    A class of 50 with phone photos decoded at <= 4096 px needs up to ~80 MB each; the budget is what
    a host sets against the machine's memory (AUGTUNE_IMAGE_CACHE_MB)."""

    def __init__(self, max_bytes: int = IMAGE_CACHE_BYTES, idle_s: float = IMAGE_CACHE_IDLE_S) -> None:
        self._paths: OrderedDict[str, tuple[tuple[int, int], str]] = OrderedDict()  # path -> (stamp, digest)
        self._images = Pictures(max_bytes, idle_s, _image_bytes)  # by digest
        self._lock = threading.Lock()

    def get(self, path: str | os.PathLike) -> Image.Image:
        key = str(path)
        stamp = _stamp(key)
        with self._lock:
            expired = self._images.expire()
            known = self._paths.get(key)
            image = self._images.get(known[1]) if known is not None and (stamp is None or known[0] == stamp) else None
        if expired:
            _return_freed_memory()  # outside the lock: other requests need not wait for it
        if image is None:
            data = read_image_bytes(key)  # ImageError (one sentence) when it is gone or too large
            digest = hashlib.sha1(data).hexdigest()
            with self._lock:
                image = self._images.get(digest)
            if image is None:
                image = augtune.load_image(data, max_side=DECODE_MAX_SIDE)  # ImageError: one sentence
                image.info[DIGEST_KEY] = digest  # how grid workers tell pictures apart (see draw_grid)
                with self._lock:
                    self._images.put(digest, image)
        else:
            digest = known[1]
        if stamp is not None:  # None: the file appeared after the stat; its next request records it
            stamp = _keep_alive(key, stamp) or stamp
            with self._lock:
                self._paths[key] = (stamp, digest)
                self._paths.move_to_end(key)
                while len(self._paths) > 10_000:
                    self._paths.popitem(last=False)
        return image

    @property
    def size_bytes(self) -> int:
        return self._images.size_bytes


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


def _keep_alive(path: str, stamp: tuple[int, int]) -> tuple[int, int] | None:
    """Mark an upload as used now; returns its new stamp, or None when left alone. Gradio's temp files
    go a fixed time after their inode last changed (ctime), so without this a student still working
    with a photo uploaded at the start of a long lesson would lose it mid-lesson ("upload it again"):
    bench/load.py, with a 60-s age, lost 383 of 1000 grids that way. Only files in Gradio's upload
    folder, and at most once every KEEP_ALIVE_EVERY_S each."""
    if time.time_ns() - stamp[1] < KEEP_ALIVE_EVERY_S * 10**9 or not _in_upload_folder(path):
        return None
    try:
        os.utime(path)
    except OSError:
        return None  # gone, or not ours: the next request says so if it matters
    return _stamp(path)


def _in_upload_folder(path: str) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(get_upload_folder()))


def _return_freed_memory() -> None:
    """Hand freed heap back to the system. glibc keeps what many worker threads freed in their arenas:
    after a class, the server's RSS stayed ~700 MB above its start though every picture had been
    dropped (bench/load.py). A no-op where there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _image_bytes(image: Image.Image) -> int:
    return image.width * image.height * 4 + cached_bytes(image.size)  # Pillow keeps RGB at 4 bytes a pixel


class LatestOnly:
    """Per browser session, which request is the newest: an older one that finishes later must not
    overwrite the grid (Gradio runs a session's events concurrently)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._latest: OrderedDict[str, int] = OrderedDict()
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self.capacity = capacity

    def start(self, session: str) -> int:
        with self._lock:
            ticket = next(self._counter)
            self._latest[session] = ticket
            self._latest.move_to_end(session)
            while len(self._latest) > self.capacity:
                self._latest.popitem(last=False)
            return ticket

    def is_latest(self, session: str, ticket: int) -> bool:
        with self._lock:
            return self._latest.get(session, ticket) == ticket


class RecentGrids:
    """The last few grids drawn, by picture, settings and language. A class that opens the page at once,
    or clicks the same preset on the bundled cat, asks for the same grid fifty times: those draw it once.
    Bounded by the size of their HTML, `max_bytes` (the pictures are in it)."""

    def __init__(self, max_bytes: int = 16 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._grids: OrderedDict[tuple[int, str, str], tuple[weakref.ref, dict[str, Any], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def render(self, image: Image.Image, spec: AugSpec, locale: str) -> dict[str, Any]:
        key = (id(image), spec.to_json(), locale)
        with self._lock:
            entry = self._grids.get(key)
            if entry is not None and entry[0]() is image:  # the same picture, not a new one at a reused id
                self._grids.move_to_end(key)
                return entry[1]
        shown = draw_grid(image, spec, locale)
        size = len(shown["grid"]) + len(shown["original"])
        if size <= self.max_bytes:
            with self._lock:
                if key in self._grids:
                    self._bytes -= self._grids.pop(key)[2]
                self._grids[key] = (weakref.ref(image), shown, size)
                self._bytes += size
                while self._bytes > self.max_bytes:
                    self._bytes -= self._grids.popitem(last=False)[1][2]
        return shown


images = ImageCache()
latest = LatestOnly()
recent_grids = RecentGrids()
grid_workers: GridWorkers | None = None


def start_grid_workers(count: int) -> GridWorkers | None:
    """Draw grids in `count` worker processes from now on (see `augtune.ui.grid_workers`); 0: here."""
    global grid_workers
    if count > 0 and grid_workers is None:
        grid_workers = GridWorkers(count, render_grid, IMAGE_CACHE_BYTES // count)
    return grid_workers


def draw_grid(image: Image.Image, spec: AugSpec, locale: str) -> dict[str, Any]:
    """`render_grid`, in a grid worker when they run and the picture came from `images`."""
    workers, digest = grid_workers, image.info.get(DIGEST_KEY)
    if workers is None or digest is None:
        return render_grid(image, spec, locale)
    return workers.render(image, digest, spec, locale)


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
    tiles = sample_grid(image, spec, max_side=TILE_MAX_SIDE, source_size=photo_size)
    captions = [tile_caption(number, tile.params, locale) for number, tile in enumerate(tiles, 1)]
    return {
        "grid": grid_html([tile.image for tile in tiles], captions, spec.columns),
        "original": original_html(draw_crop_boxes(image, tiles, max_side=ORIGINAL_MAX_SIDE, source_size=photo_size),
                                  locale),
        "legend": legend_html(captions),
        "code": spec_to_code(spec),
        "download": download_html(spec, locale),
        "status": text(locale, "status.ok", n=spec.samples, width=image.width, height=image.height, seed=spec.seed),
    }


def original_html(picture: Image.Image, locale: str) -> str:
    """The boxed original inline, like the tiles (see `grid_html`); a click shows it full screen."""
    return (f'<img class="augtune-original-picture" src="{jpeg_data_url(picture)}" width="{picture.width}" '
            f'height="{picture.height}" alt="{html.escape(text(locale, "original.label"))}" '
            f'title="{html.escape(text(locale, "original.fullscreen"))}">')


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


def augment(image: str | None, spec_json: str | None, n: float | None, seed: float | None):
    """HTTP API `/augment`: `n` samples of the spec (JSON; empty = the lesson's combined pipeline) on
    the image (empty = the bundled cat), as after `torch.manual_seed(seed)`. Returns the tiles with
    captions, and the sampled parameters of each tile."""
    try:
        spec = AugSpec.from_json(spec_json) if spec_json and spec_json.strip() else AugSpec()
        picture = images.get(image or DEFAULT_IMAGE)
        # Through the spec, so that NaN, 2.5 or 10**30 get the spec's own sentence.
        spec = spec.replace(**{k: v for k, v in (("samples", n), ("seed", seed)) if v is not None})
        tiles = sample_grid(picture, spec, source_size=picture.info.get("original_size"))
    except ValueError as error:  # the core's own sentence: API callers think in field names
        raise gr.Error(str(error), print_exception=False) from None
    gallery = [(tile.image, tile_caption(number, tile.params)) for number, tile in enumerate(tiles, 1)]
    return gallery, [tile.params for tile in tiles]


# ---------------------------------------------------------------- callbacks (thin: widgets in, widgets out)


# Handlers take `request` (and `event`) before `*values`: Gradio only injects positional parameters.
def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


def _show(image_path: str | None, locale: str, values: tuple[Any, ...], request: gr.Request | None) -> list[Any]:
    """[grid, original, legend, code, download, status] for the widget values, or the status alone
    on error (the grid keeps its last good result)."""
    session = _session(request)
    ticket = latest.start(session)
    try:
        spec = spec_from_widgets(values)
        shown = recent_grids.render(images.get(image_path or DEFAULT_IMAGE), spec, locale)
    except ValueError as error:
        return [gr.skip()] * 5 + [_warning(localize_error(str(error), locale))]
    if not latest.is_latest(session, ticket):
        return [gr.skip()] * 6
    return [shown["grid"], shown["original"], shown["legend"], shown["code"], shown["download"], shown["status"]]


def _warning(message: str) -> str:
    return f"⚠ {message}"


def _widget_updates(spec: AugSpec) -> list[Any]:
    shown = crop_widgets_shown(spec.crop_mode)
    values = zip(FIELDS, widgets_from_spec(spec))
    return [gr.update(value=value, visible=shown.get(name, True)) for name, value in values]


def on_change(locale: str, image_path: str | None, request: gr.Request, *values: Any):
    return _show(image_path, pick_locale(locale), values, request)


def on_crop_mode(locale: str, image_path: str | None, request: gr.Request, *values: Any):
    shown = crop_widgets_shown(values[FIELDS.index("crop_mode")])
    visibility = [gr.update(visible=shown[name]) for name in shown]
    return visibility + _show(image_path, pick_locale(locale), values, request)


def on_resample(locale: str, image_path: str | None, request: gr.Request, *values: Any):
    values = list(values)
    values[FIELDS.index("seed")] = random.randrange(100_000)
    return [values[FIELDS.index("seed")]] + _show(image_path, pick_locale(locale), tuple(values), request)


def preset_handler(name: str):
    def on_preset(locale: str, image_path: str | None, request: gr.Request):
        spec = PRESETS[name]
        return _widget_updates(spec) + _show(image_path, pick_locale(locale), tuple(widgets_from_spec(spec)), request)

    return on_preset


def on_settings_upload(locale: str, image_path: str | None, upload: str | None, request: gr.Request):
    locale = pick_locale(locale)
    try:
        if not upload:
            raise ValueError(text(locale, "error.settings_file"))
        spec = AugSpec.from_json(Path(upload).read_bytes())
    except ValueError as error:
        return [gr.skip()] * (len(FIELDS) + 5) + [_warning(localize_error(str(error), locale))]
    outputs = _widget_updates(spec) + _show(image_path, locale, tuple(widgets_from_spec(spec)), request)
    if isinstance(outputs[-1], str) and not outputs[-1].startswith("⚠"):
        outputs[-1] = text(locale, "status.loaded") + " " + outputs[-1]
    return outputs


def on_image_upload(locale: str, image_path: str | None, upload: str | None, request: gr.Request, *values: Any):
    """[image path, upload box, *shown]. The box is emptied every time, so it is a drop zone again:
    the picture itself is on show as the original."""
    locale = pick_locale(locale)
    if not upload:
        return [gr.skip(), gr.skip()] + _show(image_path, locale, values, request)
    try:
        images.get(upload)
    except ValueError as error:
        return [gr.skip(), None] + [gr.skip()] * 5 + [_warning(localize_error(str(error), locale))]
    return [upload, None] + _show(upload, locale, values, request)


def on_example(locale: str, image_path: str | None, event: gr.SelectData, request: gr.Request, *values: Any):
    path = str(EXAMPLES[event.index])
    return [path] + _show(path, pick_locale(locale), values, request)


def on_distributions(locale: str, image_path: str | None, *values: Any):
    locale = pick_locale(locale)
    try:
        spec = spec_from_widgets(values)
        size = images.get(image_path or DEFAULT_IMAGE).size
    except ValueError as error:
        return gr.skip(), _warning(localize_error(str(error), locale))
    figure = distributions_figure(sample_params(size, spec, HISTOGRAM_DRAWS, spec.seed), spec)
    return figure_to_image(figure, dpi=90), gr.skip()


# ---------------------------------------------------------------- layout

CSS = """
#augtune-status { min-height: 1.5em; font-size: 1.1rem; }
.augtune-presets { gap: 0.4rem !important; }
.augtune-presets button { flex: 1 1 9rem; }
.augtune-group-title { padding: 0.5rem 0.75rem 0; font-weight: 600; font-size: 1.1rem; }
.augtune-legend { list-style: none; padding: 0 0.25rem; margin: 0; font-size: 0.95rem; line-height: 1.45;
                  max-height: 12rem; overflow-y: auto; columns: 2 24rem; column-gap: 1.5rem; }
.augtune-legend li { margin: 0.15rem 0; break-inside: avoid; }
.augtune-busy-text:not(:empty) { padding: 0.5rem 0.75rem; border-radius: 0.4rem; font-size: 1.1rem;
                                 background: var(--color-accent-soft); }
.augtune-badge { display: inline-block; min-width: 1.7em; text-align: center; color: white; font-weight: 700;
                 border-radius: 0.3em; margin-right: 0.3em; }
.augtune-original-picture { display: block; width: 100%; height: auto; cursor: zoom-in; margin-top: 2.25rem; }
.augtune-original-picture:fullscreen { object-fit: contain; background: black; cursor: zoom-out; }
.augtune-download { display: flex; align-items: center; justify-content: center; width: 100%; box-sizing: border-box;
                    padding: var(--size-2) var(--size-4); border: var(--button-border-width) solid
                    var(--button-secondary-border-color); border-radius: var(--button-large-radius);
                    background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color);
                    font-weight: var(--button-large-text-weight); font-size: var(--button-large-text-size);
                    box-shadow: var(--button-secondary-shadow); text-decoration: none; min-height: 2.75rem; }
.augtune-download:hover { background: var(--button-secondary-background-fill-hover); }
#augtune-download .html-container { padding: 0; }
.augtune-tiles { display: grid; gap: 0.5rem; padding: 2.25rem 0.25rem 0.25rem; }  /* below the label */
.augtune-tile { position: relative; display: flex; flex-direction: column; gap: 0.2rem; padding: 0; border: 0;
                background: none; cursor: zoom-in; text-align: left; min-width: 0; font: inherit; color: inherit; }
.augtune-tile img { display: block; width: 100%; height: auto; border-radius: 0.3rem;
                    background: var(--background-fill-secondary); }
.augtune-tile-picture { position: relative; display: block; }
.augtune-tile-number { position: absolute; top: 0.3rem; left: 0.3rem; box-shadow: 0 0 0 2px white; }
.augtune-tile-caption { font-size: 0.85rem; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.augtune-tile[aria-expanded=true] { grid-column: 1 / -1; cursor: zoom-out; }
.augtune-tile[aria-expanded=true] .augtune-tile-picture { align-self: center; }
.augtune-tile[aria-expanded=true] img { width: auto; height: min(70vh, 32rem); max-width: 100%; object-fit: contain;
                                         margin: 0 auto; }
.augtune-tile[aria-expanded=true] .augtune-tile-caption { white-space: normal; text-align: center; font-size: 1rem; }
"""

# A click on the original shows it full screen (for the back of the classroom); another click, or Esc, ends it.
FULL_SCREEN_JS = """
element.addEventListener('click', (event) => {
    const picture = event.target.closest('img');
    if (!picture) return;
    if (document.fullscreenElement) document.exitFullscreen();
    else picture.requestFullscreen?.();
});
"""

# Clicking a tile opens it across the grid at its own size, with its whole caption; again, or another
# tile, closes it. On the grid's element, so it holds for every grid the server sends later.
OPEN_TILE_JS = """
element.addEventListener('click', (event) => {
    const tile = event.target.closest('.augtune-tile');
    if (!tile) return;
    const opening = tile.getAttribute('aria-expanded') !== 'true';
    for (const open of element.querySelectorAll('.augtune-tile[aria-expanded=true]')) {
        open.setAttribute('aria-expanded', 'false');
    }
    tile.setAttribute('aria-expanded', String(opening));
    if (opening) tile.scrollIntoView({block: 'nearest'});
});
"""


BUSY_ELEMENT = "augtune-busy"
# The page's active locale, as the browser sees it (see LOCALE_ELEMENT).
LOCALE_PROBE_JS = f"(document.getElementById('{LOCALE_ELEMENT}')?.innerText || navigator.language || 'en').trim()"


def busy_js() -> str:
    """Page script: while this page's grid waits in Gradio's queue, say so politely, with its place.

    Gradio's own tracker over the grid shows the place tersely ("queue: 5/9 | 2.1s"); the server cannot
    say it, because a handler only runs once its turn has come. So the page reads the tracker's place
    and puts the sentence above the grid, in the page's language, and clears it when the turn comes."""
    sentences = json.dumps({locale: STRINGS[locale]["status.busy"] for locale in STRINGS}, ensure_ascii=False)
    return f"""() => {{
        const sentences = {sentences};
        const show = () => {{
            const host = document.getElementById({BUSY_ELEMENT!r});
            if (!host) return;
            let banner = host.querySelector('.augtune-busy-text');
            if (!banner) {{
                banner = document.createElement('div');
                banner.className = 'augtune-busy-text';
                banner.setAttribute('role', 'status');
                host.appendChild(banner);
            }}
            let place = null;
            for (const tracker of document.querySelectorAll('#augtune-grid .progress-text, #augtune-status .progress-text')) {{
                place = /queue:\s*(\d+)\s*\/\s*(\d+)/.exec(tracker.textContent || '') || place;
            }}
            const raw = {LOCALE_PROBE_JS};
            const sentence = place ? sentences[raw.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en']
                .replace('{{position}}', place[1]) : '';
            if (banner.textContent !== sentence) banner.textContent = sentence;
        }};
        setInterval(show, 250);
    }}"""


def _locale_js(inputs: int) -> str:
    """Browser side of every event: put the page's active locale into the first input."""
    return f"(...values) => [{LOCALE_PROBE_JS}, ...values.slice(1, {inputs})]"


def build_explore_tab(demo: gr.Blocks) -> list[gr.components.Component]:
    """The Explore tab, its events, and the `/augment` API endpoint. `demo` is the enclosing Blocks
    (the first grid is drawn on page load, in the visitor's language). Returns the controls in FIELDS
    order, for other tabs that train with the spec they make (see `spec_from_widgets`)."""
    defaults = AugSpec()
    shown = crop_widgets_shown(defaults.crop_mode)

    def slider(name: str, step: float) -> gr.Slider:
        low, high = RANGES[name]
        return gr.Slider(low, high, value=getattr(defaults, name), step=step, label=_(f"{name}.label"),
                         info=_(f"{name}.info"), visible=shown.get(name, True), elem_id=f"augtune-{name}")

    with gr.Tab(_("explore.tab"), id="explore"):
        gr.Markdown(_("locale"), visible="hidden", elem_id=LOCALE_ELEMENT)
        locale = gr.Textbox(visible=False)
        image_path = gr.State(str(DEFAULT_IMAGE))

        gr.Markdown(_("explore.intro"))
        with gr.Row(elem_classes="augtune-presets"):
            preset_buttons = {
                name: gr.Button(_(f"preset.{name}"), size="md", min_width=110, elem_id=f"augtune-preset-{name}")
                for name in PRESETS
            }
        status = gr.Markdown(elem_id="augtune-status")
        gr.HTML(elem_id=BUSY_ELEMENT, padding=False)  # filled by BUSY_JS while this page's grid waits

        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                original = gr.HTML(label=_("original.label"), show_label=True, container=True,
                                   elem_id="augtune-original", js_on_load=FULL_SCREEN_JS)
                upload = gr.File(label=_("image.label"), file_types=["image"], type="filepath", height=130,
                                 elem_id="augtune-upload")
                examples = gr.Gallery(
                    value=[str(path) for path in EXAMPLES], label=_("examples.label"), columns=4, rows=1,
                    height=120, allow_preview=False, object_fit="cover", interactive=False, buttons=[],
                    elem_id="augtune-examples",
                )
            with gr.Column(scale=5):
                grid = gr.HTML(label=_("grid.label"), show_label=True, container=True, elem_id="augtune-grid",
                               js_on_load=OPEN_TILE_JS)
                legend = gr.HTML(elem_id="augtune-legend", padding=False)

        with gr.Row(equal_height=False):
            with gr.Column(min_width=300):
                with gr.Group():
                    gr.Markdown(_("group.flip"), elem_classes="augtune-group-title")
                    hflip_p, vflip_p = slider("hflip_p", 0.05), slider("vflip_p", 0.05)
                with gr.Group():
                    gr.Markdown(_("group.sampling"), elem_classes="augtune-group-title")
                    order = gr.Dropdown([(_(f"order.{value}"), value) for value in ORDERS], value=ORDERS[0],
                                        label=_("order.label"), info=_("order.info"), elem_id="augtune-order")
                    samples, columns = slider("samples", 1), slider("columns", 1)
                    with gr.Row(equal_height=True):
                        seed = gr.Number(defaults.seed, precision=0, label=_("seed.label"), info=_("seed.info"),
                                         min_width=160, scale=2, elem_id="augtune-seed")
                        resample = gr.Button(_("resample"), variant="primary", min_width=120, scale=1,
                                             elem_id="augtune-resample")
            with gr.Column(min_width=300):
                with gr.Group():
                    gr.Markdown(_("group.color"), elem_classes="augtune-group-title")
                    brightness, contrast = slider("brightness", 0.05), slider("contrast", 0.05)
                    saturation, hue = slider("saturation", 0.05), slider("hue", 0.01)
            with gr.Column(min_width=300):
                with gr.Group():
                    gr.Markdown(_("group.crop"), elem_classes="augtune-group-title")
                    crop_mode = gr.Radio(
                        [(_(f"crop_mode.{mode}"), mode) for mode in ("random", "center", "none")],
                        value=defaults.crop_mode, label=_("crop_mode.label"), info=_("crop_mode.info"),
                        elem_id="augtune-crop_mode",
                    )
                    crop_size, resize_size = slider("crop_size", 1), slider("resize_size", 1)
                    scale_min, scale_max = slider("scale_min", 0.01), slider("scale_max", 0.01)
                    with gr.Row():
                        ratio_min, ratio_max = (
                            gr.Number(getattr(defaults, name), label=_(f"{name}.label"), info=_(f"{name}.info"),
                                      step=0.05, min_width=140, visible=shown[name], elem_id=f"augtune-{name}")
                            for name in ("ratio_min", "ratio_max")
                        )

        with gr.Accordion(_("distributions.label"), open=False) as distributions_panel:
            gr.Markdown(_("distributions.note"))
            draw_histograms = gr.Button(_("distributions.button"), elem_id="augtune-draw-histograms")
            histograms = gr.Image(label=_("distributions.plot"), format="png", type="pil", interactive=False,
                                  elem_id="augtune-histograms", buttons=["fullscreen"])
        with gr.Accordion(_("code.label"), open=True):
            code = gr.Code(spec_to_code(defaults), language="python", interactive=False, label=_("code.code"),
                           elem_id="augtune-code")
            with gr.Row():
                download = gr.HTML(download_html(defaults, "en"), elem_id="augtune-download", js_on_load=None,
                                   padding=False)
                upload_settings = gr.UploadButton(_("code.upload"), file_types=[".json"], type="filepath",
                                                  elem_id="augtune-load-settings")

        widgets = [hflip_p, vflip_p, brightness, contrast, saturation, hue, crop_mode, crop_size, resize_size,
                   scale_min, scale_max, ratio_min, ratio_max, order, samples, columns, seed]
        crop_widgets = [widgets[FIELDS.index(name)] for name in crop_widgets_shown("random")]
        shown_outputs = [grid, original, legend, code, download, status]
        base = [locale, image_path]

        def listen(trigger, fn, inputs, outputs, **options):
            options = {"concurrency_id": "augtune-grid", "trigger_mode": "always_last", **options}
            trigger(fn, inputs, outputs, js=_locale_js(len(inputs)), api_visibility="private",
                    show_progress="minimal", **options)

        listen(demo.load, on_change, base + widgets, shown_outputs, trigger_mode=None)
        for widget in widgets:
            if isinstance(widget, gr.Slider):
                listen(widget.release, on_change, base + widgets, shown_outputs)
            elif isinstance(widget, gr.Number):
                listen(widget.submit, on_change, base + widgets, shown_outputs)
                listen(widget.blur, on_change, base + widgets, shown_outputs)
        listen(order.input, on_change, base + widgets, shown_outputs)
        listen(crop_mode.input, on_crop_mode, base + widgets, crop_widgets + shown_outputs)
        listen(resample.click, on_resample, base + widgets, [seed] + shown_outputs)
        for name, button in preset_buttons.items():
            listen(button.click, preset_handler(name), base, widgets + shown_outputs)
        listen(upload.upload, on_image_upload, base + [upload] + widgets, [image_path, upload] + shown_outputs)
        listen(examples.select, on_example, base + widgets, [image_path] + shown_outputs)
        listen(upload_settings.upload, on_settings_upload, base + [upload_settings], widgets + shown_outputs)
        for trigger in (draw_histograms.click, distributions_panel.expand):
            listen(trigger, on_distributions, base + widgets, [histograms, status],
                   concurrency_id="augtune-histograms", concurrency_limit=1)

        # The HTTP API: its own invisible components, so its signature is (image, spec, n, seed).
        with gr.Row(visible=False):
            api_image = gr.File(label="image", type="filepath")
            api_spec = gr.Textbox(label="spec_json")
            # precision=None: Gradio's own int() would fail on NaN before the spec could explain it.
            api_n = gr.Number(label="n", precision=None)
            api_seed = gr.Number(label="seed", precision=None)
            api_tiles = gr.Gallery(label="tiles", format="jpeg")
            api_params = gr.JSON(label="params")
            api_button = gr.Button()
        api_button.click(augment, [api_image, api_spec, api_n, api_seed], [api_tiles, api_params],
                         api_name="augment", concurrency_id="augtune-grid")
    return widgets
