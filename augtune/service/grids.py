"""The grids a class asks for: the newest request of each page wins, the same grid asked for again is drawn
once, and grids are drawn in worker processes when they run (`start_grid_workers`)."""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import OrderedDict
from typing import Any

from PIL import Image

from augtune.spec import AugSpec

from .explore_html import render_grid
from .grid_workers import GridWorkers
from .pictures import DEFAULT_IMAGE, DIGEST_KEY, IMAGE_CACHE_BYTES, images


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


latest = LatestOnly()
recent_grids = RecentGrids()
grid_workers: GridWorkers | None = None


def start_grid_workers(count: int) -> GridWorkers | None:
    """Draw grids in `count` worker processes from now on (see `augtune.service.grid_workers`); 0: here."""
    global grid_workers
    if count > 0 and grid_workers is None:
        grid_workers = GridWorkers(count, render_grid, IMAGE_CACHE_BYTES // count)
    return grid_workers


def draw_grid(image: Image.Image, spec: AugSpec, locale: str) -> dict[str, Any]:
    """`render_grid`, in a grid worker when they run and the picture came from `pictures.images`."""
    workers, digest = grid_workers, image.info.get(DIGEST_KEY)
    if workers is None or digest is None:
        return render_grid(image, spec, locale)
    return workers.render(image, digest, spec, locale)


def default_grid(locale: str = "en") -> dict[str, Any]:
    """What the tab shows before anyone touches it (the bundled cat, the lesson's combined pipeline), drawn
    once and kept with the recent grids."""
    return recent_grids.render(images.get(DEFAULT_IMAGE), AugSpec(), locale)


# The outputs the page carries the default grid in. Not as values but as translation keys, "first.<output>",
# whose words in each language are that grid (`first_grid_translations`, given to Gradio by ui/app.py): the
# browser shows it in the visitor's language from its first paint, with no event. A page once carried it in
# English and its load event said it again in the visitor's language: a Chinese class saw English captions
# for a moment, and every page open cost the server an event.
FIRST_GRID_OUTPUTS = ("grid", "original", "legend", "download", "status")


def first_grid_translations(locale: str) -> dict[str, str]:
    shown = default_grid(locale)
    return {f"first.{name}": shown[name] for name in FIRST_GRID_OUTPUTS}
