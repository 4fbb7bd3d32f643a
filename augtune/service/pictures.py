"""The pictures Explore draws from: the bundled examples, and every photo decoded once, kept by content
within a memory budget (`ImageCache`, the server's; `Pictures`, also a grid worker's)."""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from PIL import Image

import augtune
from augtune.imageio import read_image_bytes
from augtune.sampling import cached_bytes

from .memory import return_freed_memory

ASSETS = Path(__file__).resolve().parents[2] / "assets"
EXAMPLES = [ASSETS / name for name in ("cat.png", "astronaut.png", "coffee.png", "rocket.jpg")]
DEFAULT_IMAGE = EXAMPLES[0]
# What the examples gallery shows: 240 px high JPEGs, 73 kB for the four where the pictures take 1.6 MB, on every
# page a class opens. A click takes the picture itself (by its index in EXAMPLES).
EXAMPLE_THUMBNAILS = [ASSETS / "thumbnails" / f"{path.stem}.jpg" for path in EXAMPLES]

DECODE_MAX_SIDE = 4096  # a 12 MP phone photo is decoded at reduced scale, fast, and still sharp
IMAGE_CACHE_BYTES = int(float(os.environ.get("AUGTUNE_IMAGE_CACHE_MB", 1024)) * 2**20)
IMAGE_CACHE_IDLE_S = float(os.environ.get("AUGTUNE_IMAGE_CACHE_IDLE_S", 900))
# Delete Gradio's temp files (uploads, histograms) 2 h after their last use (ui/app.py checks every quarter
# of that): a day of classes does not fill the disk. A grid leaves no file (its pictures are inline); a
# photo in use is marked used at least ten times within that age.
TEMP_MAX_AGE_S = int(os.environ.get("AUGTUNE_TEMP_MAX_AGE_S", 7200))
KEEP_ALIVE_EVERY_S = min(60.0, TEMP_MAX_AGE_S / 10)
DIGEST_KEY = "augtune_sha1"  # in a decoded picture's info: the SHA-1 of the file it came from


def upload_folder() -> str:
    """Where Gradio keeps uploads: its own rule (gradio.utils.get_upload_folder, 6.31), restated so that
    this package needs no Gradio; tests/test_layout.py checks that the two agree."""
    return os.environ.get("GRADIO_TEMP_DIR") or str((Path(tempfile.gettempdir()) / "gradio").resolve())


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
        self._images = Pictures(max_bytes, idle_s, image_bytes)  # by digest
        self._lock = threading.Lock()

    def get(self, path: str | os.PathLike) -> Image.Image:
        key = str(path)
        stamp = _stamp(key)
        with self._lock:
            expired = self._images.expire()
            known = self._paths.get(key)
            image = self._images.get(known[1]) if known is not None and (stamp is None or known[0] == stamp) else None
        if expired:
            return_freed_memory()  # outside the lock: other requests need not wait for it
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


API_TILES_FOLDER = "augtune-tiles"


def save_api_tiles(pictures: list[Image.Image]) -> list[Path]:
    """The tiles of one `/augment` answer as JPEG files in Gradio's upload folder, where Gradio serves them
    without copying (a gallery of pictures would save each through a new thread, hash it and give it a
    folder of its own: ~40 ms of a 16-tile answer). One flat folder, unique names: nothing to clean but
    the files, which Gradio's temp-file cleaning deletes with the rest."""
    folder = Path(upload_folder()) / API_TILES_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    stem = uuid.uuid4().hex
    paths = []
    for number, picture in enumerate(pictures, 1):
        path = folder / f"{stem}-{number:02d}.jpg"
        (picture if picture.mode in ("RGB", "L") else picture.convert("RGB")).save(path, "JPEG")  # Pillow's default quality, as the gallery's own saving had
        paths.append(path)
    return paths


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
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(upload_folder()))


def image_bytes(image: Image.Image) -> int:
    """What a decoded picture costs, with the sampling's pyramid and OpenCV arrays kept beside it."""
    return image.width * image.height * 4 + cached_bytes(image.size)  # Pillow keeps RGB at 4 bytes a pixel


images = ImageCache()


_partners: dict[Path, Image.Image] = {}
_partner_lock = threading.Lock()


def mixing_partner(image: Image.Image) -> tuple[str, Image.Image]:
    """The bundled example MixUp and CutMix mix `image` with (the batch of a grid is the picture and this
    partner): the rocket, or the cat when the picture is the rocket. Returns its name and its picture."""
    rocket, cat = ASSETS / "rocket.jpg", ASSETS / "cat.png"
    path = cat if image.info.get(DIGEST_KEY) == _digest_of(rocket) else rocket
    with _partner_lock:
        if path not in _partners:
            _partners[path] = augtune.load_image(path)
        return path.stem, _partners[path]


@functools.cache
def _digest_of(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()
