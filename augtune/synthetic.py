"""The embedded default data set: shapes in photograph-like scenes, drawn with Pillow on first use.

Its training split carries a shortcut that augmentation removes: every class has its own narrow colour
range and has its centre in the left half of the picture. In the test split objects have any colour and sit
anywhere. A model trained without augmentation learns "red means disc" and fails the test; hue jitter
makes colour useless for telling classes apart and flips and crops move the objects around, so the
augmented model has to learn shape, which is what the test split rewards.

Every image is drawn from its own seeded generator, so the set is the same bytes on every machine with
the same Pillow, and it is written into a cache folder once, atomically (a temp folder renamed when
complete), in ImageFolder layout: <cache>/<name>/{train,test}/<class>/<index>.png.

The same drawing makes the built-in backbone's *source* task (augtune.pretrain, the lesson's step 1 at
classroom scale): 12 other shapes and 5 textures, none of them a target class, with no shortcut at all, so
what the backbone learns there is shapes and edges rather than colours.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import os
import random
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("disc", "square", "triangle", "cross")
# Centre of each class's hue band in the training split (0..1 around the colour wheel).
TRAIN_HUES = {"disc": 0.0, "square": 0.25, "triangle": 0.5, "cross": 0.75}
TRAIN_HUE_WIDTH = 0.06
# The source task of the built-in backbone: disjoint from CLASSES, drawn without the bias.
SOURCE_SHAPES = ("pentagon", "hexagon", "star", "bar", "ell", "tee", "arrow", "ellipse", "crescent", "hourglass",
                 "chevron", "trapezoid")
SOURCE_TEXTURES = ("stripes", "checker", "dots", "rings", "zigzag")
SOURCE_CLASSES = SOURCE_SHAPES + SOURCE_TEXTURES
SUPERSAMPLE = 4
VERSION = 5  # bump when the drawing changes, so stale caches are not reused

BIAS_SENTENCE = (
    "In the synthetic training images each shape has its own narrow colour and its centre in the left half; "
    "in the test images shapes have any colour and sit anywhere, so only a model that learned shape "
    "(which augmentation forces) does well on the test."
)


@dataclass(frozen=True)
class SyntheticSpec:
    """How big the generated set is, and which task. The defaults are sized for training at 48 px (side 55 =
    48 * 256 / 224, so loading resizes nothing): 600 training images, an epoch of ResNet-18 in about 10 s on
    2 CPU cores. `source=True` is the built-in backbone's task (SOURCE_CLASSES, no bias)."""

    size: int = 55
    train_per_class: int = 150
    test_per_class: int = 50
    source: bool = False

    @property
    def classes(self) -> tuple[str, ...]:
        return SOURCE_CLASSES if self.source else CLASSES

    @property
    def folder_name(self) -> str:
        task = "synthetic-source" if self.source else "synthetic"
        return f"{task}-v{VERSION}-{self.size}px-{self.train_per_class}x{self.test_per_class}"


def cache_dir() -> Path:
    return Path(os.environ.get("AUGTUNE_CACHE") or Path.home() / ".cache" / "augtune")


def ensure_synthetic(spec: SyntheticSpec = SyntheticSpec(), root: Path | None = None, should_stop=None) -> Path:
    """The folder of the generated set, generating it first if it is not cached yet."""
    root = Path(root) if root is not None else cache_dir()
    target = root / spec.folder_name
    if (target / "COMPLETE").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{spec.folder_name}-", dir=root))
    try:
        jobs = []
        for split, per_class in (("train", spec.train_per_class), ("test", spec.test_per_class)):
            for class_name in spec.classes:
                (work / split / class_name).mkdir(parents=True)
                jobs += [(split, class_name, index) for index in range(per_class)]

        def draw(job) -> None:
            if should_stop is not None and should_stop():
                raise InterruptedError("stopped while generating the synthetic data set")
            split, class_name, index = job
            draw_scene(class_name, split, index, spec.size).save(work / split / class_name / f"{index:04d}.png")

        # Pillow and numpy let go of the GIL while they work, so threads share the drawing out over the cores.
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            list(pool.map(draw, jobs))
        (work / "COMPLETE").write_text("")
        if (target / "COMPLETE").is_file():  # another process finished first: its copy is identical
            return target
        shutil.rmtree(target, ignore_errors=True)  # a damaged copy without its marker
        try:
            work.rename(target)
        except OSError:
            if not (target / "COMPLETE").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def draw_scene(class_name: str, split: str, index: int, size: int) -> Image.Image:
    """One picture: a shaded shape (or a textured patch) on a cluttered background; a target class is biased
    in train and unbiased in test, a source class is never biased."""
    seed = int.from_bytes(hashlib.sha256(f"{VERSION}/{split}/{class_name}/{index}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    image = _background(rng, size)
    if class_name in SOURCE_TEXTURES:
        return _sensor_noise(_texture_patch(image, class_name, rng), rng)

    # Of the side: large objects are what lets ResNet-18's ImageNet stem (4x down-sampling) learn shapes at 48 px
    # in a few hundred steps; 0.24-0.34 (version 4) needed several times more.
    radius = rng.uniform(0.30, 0.40)
    margin = radius + 0.02
    if split == "train" and class_name in TRAIN_HUES:
        hue = (TRAIN_HUES[class_name] + rng.uniform(-TRAIN_HUE_WIDTH / 2, TRAIN_HUE_WIDTH / 2)) % 1.0
        centre_x = rng.uniform(margin, 0.42)
    else:
        hue = rng.random()
        centre_x = rng.uniform(margin, 1 - margin)
    centre_y = rng.uniform(margin, 1 - margin)
    colour = colorsys.hsv_to_rgb(hue, rng.uniform(0.65, 1.0), rng.uniform(0.65, 1.0))
    angle = rng.uniform(-0.35, 0.35)

    polygon = _shape(class_name, centre_x * size, centre_y * size, radius * size, angle)
    _shadow(image, polygon, rng, size)
    _shaded_fill(image, polygon, colour, rng)
    return _sensor_noise(image, rng)


def _background(rng: random.Random, side: int) -> Image.Image:
    """A muted gradient with soft blobs and streaks: clutter, but never the colour of a class."""
    base = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.25), rng.uniform(0.35, 0.85))
    other = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.25), rng.uniform(0.35, 0.85))
    ramp = np.linspace(0.0, 1.0, side, dtype=np.float32)
    direction = rng.uniform(0, 2 * math.pi)
    t = np.clip(0.5 + (ramp[None, :] - 0.5) * math.cos(direction) + (ramp[:, None] - 0.5) * math.sin(direction), 0, 1)
    pixels = (np.array(base)[None, None, :] * (1 - t[..., None]) + np.array(other)[None, None, :] * t[..., None]) * 255
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(rng.randint(4, 9)):
        x, y, r = rng.uniform(0, side), rng.uniform(0, side), rng.uniform(0.05, 0.3) * side
        grey = rng.randint(40, 220)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(grey, grey, grey, rng.randint(20, 60)))
    for _ in range(rng.randint(2, 6)):
        points = [(rng.uniform(0, side), rng.uniform(0, side)) for _ in range(2)]
        grey = rng.randint(40, 220)
        draw.line(points, fill=(grey, grey, grey, rng.randint(30, 80)), width=rng.randint(2, max(3, side // 40)))
    return image.filter(ImageFilter.GaussianBlur(side / 60))


def _star(points: int) -> list[tuple[float, float]]:
    return [((1 if k % 2 == 0 else 0.45) * math.cos(math.pi * k / points - math.pi / 2),
             (1 if k % 2 == 0 else 0.45) * math.sin(math.pi * k / points - math.pi / 2)) for k in range(2 * points)]


def _regular(corners: int, squash: float = 1.0, turn: float = 0.0) -> list[tuple[float, float]]:
    return [(math.cos(2 * math.pi * k / corners + turn), squash * math.sin(2 * math.pi * k / corners + turn))
            for k in range(corners)]


_W = 0.32  # the cross's half arm width
# Corners of every shape on the unit square [-1, 1]^2, before scaling to the radius and turning.
OUTLINES: dict[str, list[tuple[float, float]]] = {
    "disc": _regular(48),
    "square": [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)],
    "triangle": [(math.cos(a), math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)],
    "cross": [(-_W, -1), (_W, -1), (_W, -_W), (1, -_W), (1, _W), (_W, _W), (_W, 1), (-_W, 1), (-_W, _W), (-1, _W),
              (-1, -_W), (-_W, -_W)],
    "pentagon": _regular(5, turn=-math.pi / 2),
    "hexagon": _regular(6, turn=-math.pi / 2),
    "star": _star(5),
    "bar": [(-1, -0.3), (1, -0.3), (1, 0.3), (-1, 0.3)],
    "ell": [(-0.9, -1), (-0.3, -1), (-0.3, 0.4), (0.9, 0.4), (0.9, 1), (-0.9, 1)],
    "tee": [(-1, -1), (1, -1), (1, -0.4), (0.3, -0.4), (0.3, 1), (-0.3, 1), (-0.3, -0.4), (-1, -0.4)],
    "arrow": [(-1, -0.3), (0.2, -0.3), (0.2, -0.8), (1, 0), (0.2, 0.8), (0.2, 0.3), (-1, 0.3)],
    "ellipse": _regular(48, squash=0.5),
    "crescent": [(math.cos(math.pi * k / 24 + math.pi / 2), math.sin(math.pi * k / 24 + math.pi / 2)) for k in range(25)]
    + [(0.5 * math.cos(-math.pi * k / 24 - math.pi / 2), math.sin(-math.pi * k / 24 - math.pi / 2)) for k in range(25)],
    "hourglass": [(-0.8, -1), (0.8, -1), (0.1, 0), (0.8, 1), (-0.8, 1), (-0.1, 0)],
    "chevron": [(-1, -0.6), (0, 0.2), (1, -0.6), (1, 0.0), (0, 0.8), (-1, 0.0)],
    "trapezoid": [(-0.5, -0.7), (0.5, -0.7), (1, 0.7), (-1, 0.7)],
}


def _shape(class_name: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    cos, sin = math.cos(angle), math.sin(angle)
    return [(cx + r * (x * cos - y * sin), cy + r * (x * sin + y * cos)) for x, y in OUTLINES[class_name]]


def _texture_patch(image: Image.Image, name: str, rng: random.Random) -> Image.Image:
    """A square patch of a pattern (stripes, checker, dots, rings, zigzag) in a random colour, at any angle."""
    size = image.width
    colour = np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0))) * 255
    period = rng.uniform(0.12, 0.22) * size
    angle = rng.uniform(0, math.pi)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    u = x * math.cos(angle) + y * math.sin(angle)
    v = -x * math.sin(angle) + y * math.cos(angle)
    cx, cy = rng.uniform(0.3, 0.7) * size, rng.uniform(0.3, 0.7) * size
    masks = {
        "stripes": lambda: np.mod(u, period) < period / 2,
        "checker": lambda: (np.mod(u, period) < period / 2) ^ (np.mod(v, period) < period / 2),
        "dots": lambda: (np.mod(u, period) - period / 2) ** 2 + (np.mod(v, period) - period / 2) ** 2 < (period * 0.3) ** 2,
        "rings": lambda: np.mod(np.hypot(x - cx, y - cy), period) < period / 2,
        "zigzag": lambda: np.mod(u + np.abs(np.mod(v, period) - period / 2), period) < period / 2,
    }
    half = rng.uniform(0.3, 0.45) * size
    inside = (np.abs(x - cx) < half) & (np.abs(y - cy) < half)
    pixels = np.asarray(image, dtype=np.float32).copy()
    pixels[masks[name]() & inside] = colour
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _shadow(image: Image.Image, polygon, rng: random.Random, size: int) -> None:
    offset = rng.uniform(0.01, 0.03) * size
    layer = Image.new("L", image.size, 0)
    ImageDraw.Draw(layer).polygon([(x + offset, y + offset) for x, y in polygon], fill=110)
    image.paste(Image.new("RGB", image.size, (0, 0, 0)), mask=layer.filter(ImageFilter.GaussianBlur(size / 50)))


def _shaded_fill(image: Image.Image, polygon, colour, rng: random.Random) -> None:
    """Fill the shape with its colour, lit from one side, so it looks like an object rather than a sticker.
    Its outline is drawn SUPERSAMPLE times larger and reduced: smooth edges, like a photo's."""
    light = rng.uniform(0, 2 * math.pi)
    side = image.width
    u = np.linspace(-1, 1, side, dtype=np.float32)[None, :]
    shade = 0.8 + 0.25 * (u * math.cos(light) + u.T * math.sin(light))
    fill = np.clip(np.array(colour, dtype=np.float32)[None, None, :] * shade[..., None] * 255, 0, 255).astype(np.uint8)
    mask = Image.new("L", (side * SUPERSAMPLE, side * SUPERSAMPLE), 0)
    ImageDraw.Draw(mask).polygon([(x * SUPERSAMPLE, y * SUPERSAMPLE) for x, y in polygon], fill=255)
    image.paste(Image.fromarray(fill, "RGB"), (0, 0), mask.resize(image.size, Image.Resampling.BOX))


def _sensor_noise(image: Image.Image, rng: random.Random) -> Image.Image:
    noise = np.random.default_rng(rng.getrandbits(64)).normal(0, rng.uniform(2, 6), (image.height, image.width, 1))
    pixels = np.asarray(image, dtype=np.float32) + noise.astype(np.float32)
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")
