"""Training data: where it comes from, what is in it, and its pixels decoded once into memory.

Sources (the `data` field of TrainConfig):
  "synthetic"  the embedded default set (augtune.synthetic), generated on first use;
  "hotdog"     the lesson's data set, downloaded on first use (resumable, SHA-1 checked), unpacked atomically;
  "cifar10"    torchvision.datasets.CIFAR10(download=True);
  a folder     in ImageFolder layout, inside the data root (AUGTUNE_DATA_ROOT);
  a .zip file  in the same layout, inside the data root or Gradio's upload folder.

Folder and zip layout: `train/<class>/*` and `test/<class>/*`; or `train/<class>/*` alone, or `<class>/*`
alone, which are split into train and test by a fixed seed (TEST_FRACTION of each class, at least one).
A single top folder around that layout (as zipping a folder makes) is looked through. Non-image files and
images that fail to decode are skipped and counted. A class with no usable training image is left out
(with a note); a class without test images is trained on but has no test accuracy (with a note); fewer
than two classes is an error.

Zip safety (an uploaded zip is hostile until proven otherwise): members with absolute paths or `..`,
symlinks, more than MAX_ZIP_FILES members, or more than MAX_ZIP_BYTES uncompressed (declared, or counted
while reading, which catches lying headers) refuse the whole zip. Members are decoded straight from the
archive; nothing is extracted to disk.

Pixels: every image is decoded once, at load time, into uint8 tensors: training images as squares of
side `stored_side(image_size)` (the shorter side resized to it, centre-cropped), from which the training
transform crops to `image_size`; test images through the lesson's test transform (Resize to the stored side,
CenterCrop to `image_size`). Epochs then never touch a file or a decoder.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import stat
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from PIL import Image

from .imageio import load_image
from .synthetic import BIAS_SENTENCE, SyntheticSpec, cache_dir, ensure_synthetic

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
TEST_FRACTION = 0.2
SPLIT_SEED = 0
MAX_ZIP_FILES = int(os.environ.get("AUGTUNE_MAX_ZIP_FILES", 20_000))
MAX_ZIP_BYTES = int(os.environ.get("AUGTUNE_MAX_ZIP_BYTES", 1 << 30))  # uncompressed, 1 GiB

HOTDOG_URL = "http://d2l-data.s3-accelerate.amazonaws.com/hotdog.zip"
HOTDOG_SHA1 = "fba480ffa8aa7e0febbb511d181409f899b9baa5"
HOTDOG_CLASSES = ("hotdog", "not-hotdog")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
NETWORK_TIMEOUT_S = 15.0

Status = Callable[[str], None]
StopCheck = Callable[[], bool]


class TrainError(Exception):
    """A run that cannot go on; str(error) is one sentence for the user."""


class Cancelled(Exception):
    """should_stop() turned true."""


@dataclass
class Split:
    pixels: torch.Tensor  # (N, 3, H, W) uint8
    labels: torch.Tensor  # (N,) int64
    names: list[str]  # where each image came from, for the misclassified strip

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class DataSet:
    name: str
    classes: list[str]
    train: Split
    test: Split
    skipped: dict[str, int] = field(default_factory=lambda: {"unreadable": 0, "not_images": 0})
    note: str = ""

    def counts(self, split: Split) -> dict[str, int]:
        totals = torch.bincount(split.labels, minlength=len(self.classes)).tolist()
        return dict(zip(self.classes, totals))

    def event(self) -> dict:
        return {
            "kind": "data",
            "classes": list(self.classes),
            "train_counts": self.counts(self.train),
            "test_counts": self.counts(self.test),
            "skipped": dict(self.skipped),
            "note": self.note,
        }


def stored_side(image_size: int) -> int:
    """Side of the stored training squares: the lesson's Resize(256) before a 224 crop, scaled."""
    return round(image_size * 256 / 224)


def synthetic_spec() -> SyntheticSpec:
    """The synthetic set's size; AUGTUNE_SYNTHETIC="SIDExTRAINxTEST" (per class) makes it smaller for tests."""
    value = os.environ.get("AUGTUNE_SYNTHETIC", "")
    if not value:
        return SyntheticSpec()
    try:
        side, train, test = (int(part) for part in value.lower().split("x"))
        return SyntheticSpec(size=side, train_per_class=train, test_per_class=test)
    except ValueError:
        raise TrainError(f"AUGTUNE_SYNTHETIC must look like 55x150x50 (side x train x test per class), got {value!r}.") from None


def offline() -> bool:
    return os.environ.get("AUGTUNE_OFFLINE", "") not in ("", "0", "false", "False")


def data_root() -> Path:
    return Path(os.environ.get("AUGTUNE_DATA_ROOT") or cache_dir() / "data")


def upload_root() -> Path:
    """Where Gradio keeps uploads: an uploaded .zip may be used from there."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


# ---------------------------------------------------------------------------------------------------
# Loading


def load(
    data: str,
    image_size: int,
    *,
    status: Status = lambda message: None,
    should_stop: StopCheck = lambda: False,
    allowed_roots: Sequence[Path] | None = None,
) -> DataSet:
    """Decode the named source into memory at the training size. Raises TrainError or Cancelled."""
    if data == "synthetic":
        status("Preparing the synthetic data set (drawn once, then cached)...")
        folder = _stoppable(lambda: ensure_synthetic(synthetic_spec(), should_stop=should_stop), should_stop)
        dataset = _load_tree("synthetic", _folder_entries(folder), image_size, status, should_stop)
        dataset.note = " ".join(filter(None, [BIAS_SENTENCE, dataset.note]))
        return dataset
    if data == "hotdog":
        folder = ensure_hotdog(status=status, should_stop=should_stop)
        return _load_tree("hotdog", _folder_entries(folder), image_size, status, should_stop)
    if data == "cifar10":
        return _load_cifar10(image_size, status, should_stop)
    path = resolve_user_path(data, allowed_roots)
    if path.suffix.lower() == ".zip":
        status(f"Reading {path.name}...")
        return _load_tree(path.stem, _zip_entries(path), image_size, status, should_stop)
    if not path.is_dir():
        raise TrainError(f"There is no data folder or .zip file called {data!r} in the data folder.")
    return _load_tree(path.name, _folder_entries(path), image_size, status, should_stop)


def resolve_user_path(data: str, allowed_roots: Sequence[Path] | None = None) -> Path:
    """A folder or zip the user named, refused unless it lies (after `..` and symlinks) inside an allowed root."""
    if allowed_roots is None:
        roots = [data_root(), *([upload_root()] if data.lower().endswith(".zip") else [])]
    else:
        roots = list(allowed_roots)
    if not data or "\x00" in data:
        raise TrainError("Name a data set: synthetic, hotdog, cifar10, a folder or a .zip file.")
    candidate = Path(data).expanduser()
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    real = Path(os.path.realpath(candidate))
    for root in roots:
        if real == Path(os.path.realpath(root)) or real.is_relative_to(os.path.realpath(root)):
            if not real.exists():
                raise TrainError(f"There is no data folder or .zip file called {data!r} in the data folder.")
            return real
    raise TrainError(f"The data path {data!r} is outside the data folder, so it cannot be used.")


@dataclass(frozen=True)
class _Entry:
    parts: tuple[str, ...]  # path inside the source, split
    read: Callable[[], bytes]
    name: str


def _folder_entries(folder: Path) -> list[_Entry]:
    """Every file below `folder` that really lies inside it (symlinks pointing out are left out)."""
    real_root = os.path.realpath(folder)
    entries = []
    for directory, subdirs, files in os.walk(real_root):  # followlinks=False: linked folders are not entered
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".") and d != "__MACOSX")
        for file_name in sorted(files):
            full = os.path.join(directory, file_name)
            real = os.path.realpath(full)
            if not real.startswith(real_root + os.sep):
                continue
            relative = os.path.relpath(full, real_root)
            entries.append(_Entry(tuple(Path(relative).parts), _file_reader(real), relative))
    return entries


def _file_reader(path: str) -> Callable[[], bytes]:
    return lambda: Path(path).read_bytes()


def _zip_entries(path: Path) -> list[_Entry]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise TrainError(f"{path.name} is not a readable .zip file ({error}).") from None
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) > MAX_ZIP_FILES:
        raise TrainError(f"The zip holds {len(members)} files; at most {MAX_ZIP_FILES} are accepted.")
    declared = sum(info.file_size for info in members)
    if declared > MAX_ZIP_BYTES:
        raise TrainError(f"The zip unpacks to {declared / 2**20:.0f} MB; at most {MAX_ZIP_BYTES / 2**20:.0f} MB is accepted.")
    for info in members:
        name = info.filename.replace("\\", "/")
        pure = PurePosixPath(name)
        if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in pure.parts:
            raise TrainError(f"The zip contains an unsafe path ({info.filename!r}), so it was refused.")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise TrainError(f"The zip contains a symbolic link ({info.filename!r}), so it was refused.")
    entries = []
    for info in members:
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts):
            continue
        entries.append(_Entry(parts, _zip_reader(archive, info), f"{path.name}:{info.filename}"))
    return entries


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    # zipfile inflates at most the declared size of a member (and then fails its CRC check), so the
    # declared total checked above also bounds the bytes really inflated, whatever the data claims.
    return lambda: archive.read(info)


def _load_tree(name: str, entries: list[_Entry], image_size: int, status: Status, should_stop: StopCheck) -> DataSet:
    train_files, test_files, skipped, notes = _layout(entries)
    classes = sorted(train_files)
    total = sum(len(v) for v in train_files.values()) + sum(len(v) for v in test_files.values())
    status(f"Decoding {total} images at {image_size} px...")
    side = stored_side(image_size)
    train = {c: _decode_all(train_files[c], side, side, skipped, should_stop) for c in classes}
    test = {c: _decode_all(test_files.get(c, []), side, image_size, skipped, should_stop) for c in classes}
    usable = [c for c in classes if train[c][0]]
    dropped = [c for c in classes if c not in usable]
    if dropped:
        notes.append(f"Left out class(es) with no usable training image: {', '.join(dropped)}.")
    if len(usable) < 2:
        found = f"{len(usable)} ({', '.join(usable)})" if usable else "none"
        raise TrainError(f"Training needs at least two classes with images, each in its own folder; found {found}.")
    if not any(test[c][0] for c in usable):
        raise TrainError("There are no test images: add test/<class>/ folders, or give one folder per class to be split automatically.")
    no_test = [c for c in usable if not test[c][0]]
    if no_test:
        notes.append(f"Class(es) without test images, so without a test accuracy: {', '.join(no_test)}.")
    return DataSet(
        name=name,
        classes=usable,
        train=_stack([train[c] for c in usable], side),
        test=_stack([test[c] for c in usable], image_size),
        skipped=skipped,
        note=" ".join(notes),
    )


def _layout(entries: list[_Entry]):
    """Sort entries into train/test per class following the ImageFolder conventions above."""
    skipped = {"unreadable": 0, "not_images": 0}
    notes: list[str] = []
    images = []
    for entry in entries:
        if Path(entry.parts[-1]).suffix.lower() in IMAGE_SUFFIXES:
            images.append(entry)
        else:
            skipped["not_images"] += 1
    # Look through single wrapping folders ("mydata/train/cat/1.jpg" -> "train/cat/1.jpg").
    while images and all(len(e.parts) > 2 for e in images) and len({e.parts[0] for e in images}) == 1:
        images = [_Entry(e.parts[1:], e.read, e.name) for e in images]
    tops = {e.parts[0].lower() for e in images if len(e.parts) > 1}
    train_files: dict[str, list[_Entry]] = {}
    test_files: dict[str, list[_Entry]] = {}
    loose = 0
    if "train" in tops:
        for entry in images:
            if len(entry.parts) != 3 or entry.parts[0].lower() not in ("train", "test"):
                loose += 1
                continue
            target = train_files if entry.parts[0].lower() == "train" else test_files
            target.setdefault(entry.parts[1], []).append(entry)
        for class_name in train_files:
            test_files.setdefault(class_name, [])
        strays = sorted(set(test_files) - set(train_files))
        for class_name in strays:
            del test_files[class_name]
        if strays:
            notes.append(f"Ignored test class(es) missing from train: {', '.join(strays)}.")
        if not any(test_files.values()):
            train_files, test_files = _split(train_files)
            notes.append(f"No test folder: {TEST_FRACTION:.0%} of each class was held out for testing (fixed seed).")
    else:
        by_class: dict[str, list[_Entry]] = {}
        for entry in images:
            if len(entry.parts) != 2:
                loose += 1
                continue
            by_class.setdefault(entry.parts[0], []).append(entry)
        train_files, test_files = _split(by_class)
        if by_class:
            notes.append(f"One folder per class: {TEST_FRACTION:.0%} of each class was held out for testing (fixed seed).")
    if loose:
        notes.append(f"Ignored {loose} image(s) outside the class folders.")
    if not train_files:
        raise TrainError("No class folders with images were found; expected train/<class>/* and test/<class>/*, or <class>/*.")
    return train_files, test_files, skipped, notes


def _split(by_class: dict[str, list[_Entry]]):
    train, test = {}, {}
    for class_name, entries in by_class.items():
        entries = sorted(entries, key=lambda e: e.name)
        random.Random(f"{SPLIT_SEED}/{class_name}").shuffle(entries)
        held_out = max(1, round(len(entries) * TEST_FRACTION)) if len(entries) > 1 else 0
        test[class_name], train[class_name] = entries[:held_out], entries[held_out:]
    return train, test


def _decode_all(entries: list[_Entry], side: int, crop: int, skipped: dict, should_stop: StopCheck):
    """Decode in two threads (Pillow releases the GIL while it decodes and resizes)."""

    def decode(entry: _Entry):
        if should_stop():
            return "stop"
        try:
            image = load_image(entry.read(), max_side=side * 2)
        except Exception:  # noqa: BLE001 - a file that cannot be read or decoded, whatever the reason, is skipped
            return None
        return _square(image, side, crop), entry.name

    arrays, names = [], []
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="augtune-decode") as pool:
        for result in pool.map(decode, entries):
            if result == "stop":
                raise Cancelled()
            if result is None:
                skipped["unreadable"] += 1
                continue
            arrays.append(result[0])
            names.append(result[1])
    return arrays, names


def _square(image: Image.Image, side: int, crop: int) -> np.ndarray:
    """Resize the shorter side to `side`, then centre-crop a `crop` square: v2.Resize + v2.CenterCrop."""
    width, height = image.size
    scale = side / min(width, height)
    size = (max(side, round(width * scale)), max(side, round(height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    left, top = round((size[0] - crop) / 2), round((size[1] - crop) / 2)
    return np.asarray(image.crop((left, top, left + crop, top + crop)), dtype=np.uint8)


def _stack(per_class: list[tuple[list[np.ndarray], list[str]]], side: int) -> Split:
    arrays = [a for images, _ in per_class for a in images]
    labels = [label for label, (images, _) in enumerate(per_class) for _ in images]
    names = [n for _, class_names in per_class for n in class_names]
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous() if arrays else torch.empty(0, 3, side, side, dtype=torch.uint8)
    return Split(pixels, torch.tensor(labels, dtype=torch.long), names)


def _stoppable(work, should_stop: StopCheck):
    try:
        return work()
    except InterruptedError:
        raise Cancelled() from None


# ---------------------------------------------------------------------------------------------------
# The hot-dog data set


def ensure_hotdog(
    root: Path | None = None,
    url: str | None = None,
    sha1: str = HOTDOG_SHA1,
    *,
    status: Status = lambda message: None,
    should_stop: StopCheck = lambda: False,
) -> Path:
    """The unpacked hot-dog folder (with train/ and test/), downloading and unpacking it on first use.

    The download goes to `hotdog.zip.part` and resumes from there (HTTP Range) after an interruption;
    only a file with the right SHA-1 is unpacked, into a temp folder renamed when complete, so a folder
    without its COMPLETE marker is never taken for the data set.
    """
    root = Path(root) if root is not None else cache_dir()
    url = url or os.environ.get("AUGTUNE_HOTDOG_URL") or HOTDOG_URL
    target = root / "hotdog"
    if (target / "COMPLETE").is_file():
        return _find_split_root(target)
    if offline():
        raise TrainError("The hot-dog data set is not downloaded yet and this server is offline; use the synthetic data set.")
    root.mkdir(parents=True, exist_ok=True)
    archive = root / "hotdog.zip"
    if not archive.is_file():
        part = root / "hotdog.zip.part"
        _download(url, part, status, should_stop)
        status("Checking the download's SHA-1...")
        if _sha1(part) != sha1:
            part.unlink(missing_ok=True)
            raise TrainError("The downloaded hot-dog data failed its SHA-1 check and was deleted; please try again.")
        part.rename(archive)
    status("Unpacking the hot-dog data set...")
    work = Path(tempfile.mkdtemp(prefix=".hotdog-", dir=root))
    try:
        _safe_extract(archive, work)
        (work / "COMPLETE").write_text(sha1)
        shutil.rmtree(target, ignore_errors=True)  # a half-unpacked leftover of an older version
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    archive.unlink(missing_ok=True)
    return _find_split_root(target)


def _download(url: str, part: Path, status: Status, should_stop: StopCheck) -> None:
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=NETWORK_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # asked past the end: the part is already whole
            return
        raise TrainError(f"The hot-dog data set could not be downloaded (HTTP {error.code}); try again later.") from None
    except (urllib.error.URLError, OSError) as error:
        raise TrainError(f"The hot-dog data set could not be downloaded ({_reason(error)}); check the network or use the synthetic data set.") from None
    with response:
        resumed = response.status == 206
        length = int(response.headers.get("Content-Length") or 0)
        total = length + (have if resumed else 0)
        done = have if resumed else 0
        last_report = 0.0
        try:
            with open(part, "ab" if resumed else "wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if should_stop():
                        raise Cancelled()
                    if time.monotonic() - last_report > 0.5:
                        last_report = time.monotonic()
                        percent = f"{100 * done / total:.0f} %" if total else f"{done / 2**20:.0f} MB"
                        status(f"Downloading the hot-dog data set: {percent}")
        except (OSError, urllib.error.URLError) as error:
            raise TrainError(f"The hot-dog download was interrupted ({_reason(error)}); start again to resume it.") from None
    if total and done < total:
        raise TrainError("The hot-dog download was interrupted; start again to resume it.")


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_extract(archive: Path, destination: Path) -> None:
    """Unpack a zip whose checksum we trust, still refusing any member that would land outside."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            target = (destination / info.filename).resolve()
            if not target.is_relative_to(destination.resolve()) or stat.S_ISLNK(info.external_attr >> 16):
                raise TrainError(f"The archive contains an unsafe path ({info.filename!r}), so it was refused.")
        zipped.extractall(destination)


def _find_split_root(folder: Path) -> Path:
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if (candidate / "train").is_dir():
            return candidate
    raise TrainError("The hot-dog data set is incomplete (no train folder); delete its cache folder and try again.")


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    return str(reason).strip().rstrip(".")[:100] or type(error).__name__


# ---------------------------------------------------------------------------------------------------
# CIFAR-10


def _load_cifar10(image_size: int, status: Status, should_stop: StopCheck) -> DataSet:
    from torchvision.datasets import CIFAR10
    from torchvision.transforms.v2 import functional as F

    root = cache_dir() / "cifar10"
    have = (root / "cifar-10-batches-py").is_dir()
    if not have and offline():
        raise TrainError("CIFAR-10 is not downloaded yet and this server is offline; use the synthetic data set.")
    if not have:
        status("Downloading CIFAR-10 (170 MB)...")
    try:
        train_set = CIFAR10(root, train=True, download=not have)
        test_set = CIFAR10(root, train=False, download=False)
    except Exception as error:  # noqa: BLE001 - network, disk and archive errors all end the same way
        raise TrainError(f"CIFAR-10 could not be downloaded or read ({_reason(error)}).") from None
    if should_stop():
        raise Cancelled()
    status(f"Resizing CIFAR-10 to {image_size} px...")
    side = stored_side(image_size)

    def split(dataset, size: int, crop: int) -> Split:
        pixels = torch.from_numpy(dataset.data).permute(0, 3, 1, 2)
        if pixels.shape[-1] != size:
            pixels = torch.cat([F.resize(chunk, [size], antialias=True) for chunk in pixels.split(2048)])
        if crop != size:
            pixels = F.center_crop(pixels, [crop])
        names = [f"cifar10:{index}" for index in range(len(pixels))]
        return Split(pixels.contiguous(), torch.tensor(dataset.targets, dtype=torch.long), names)

    return DataSet("cifar10", list(train_set.classes), split(train_set, side, side), split(test_set, side, image_size))


# ---------------------------------------------------------------------------------------------------
# What a source holds, before training


def describe(data: str, allowed_roots: Sequence[Path] | None = None) -> dict:
    """Classes and image counts of a source without decoding it (a "data" event; counts are of files)."""
    if data == "synthetic":
        spec = synthetic_spec()
        from .synthetic import CLASSES

        return _info(CLASSES, {c: spec.train_per_class for c in CLASSES}, {c: spec.test_per_class for c in CLASSES}, {}, BIAS_SENTENCE)
    if data == "hotdog":
        return _info(HOTDOG_CLASSES, {"hotdog": 1000, "not-hotdog": 1000}, {"hotdog": 400, "not-hotdog": 400}, {}, "The lesson's data set (about 260 MB, downloaded on first use).")
    if data == "cifar10":
        return _info(CIFAR10_CLASSES, {c: 5000 for c in CIFAR10_CLASSES}, {c: 1000 for c in CIFAR10_CLASSES}, {}, "CIFAR-10, 32 x 32 pictures (170 MB, downloaded on first use).")
    path = resolve_user_path(data, allowed_roots)
    entries = _zip_entries(path) if path.suffix.lower() == ".zip" else _folder_entries(path)
    train, test, skipped, notes = _layout(entries)
    classes = sorted(train)
    return _info(classes, {c: len(train[c]) for c in classes}, {c: len(test.get(c, [])) for c in classes}, skipped, " ".join(notes))


def _info(classes: Iterable[str], train: dict, test: dict, skipped: dict, note: str) -> dict:
    return {
        "kind": "data",
        "classes": list(classes),
        "train_counts": dict(train),
        "test_counts": dict(test),
        "skipped": {"unreadable": 0, "not_images": 0, **skipped},
        "note": note,
    }
