"""The embedded default data set: shapes in photograph-like scenes, drawn with Pillow on first use.

Its training split carries a shortcut that augmentation removes: every class has its own narrow colour
range and sits in the left half of the picture. In the test split objects have any colour and sit
anywhere. A model trained without augmentation learns "red means disc" and fails the test; hue jitter
makes colour useless for telling classes apart and flips and crops move the objects around, so the
augmented model has to learn shape, which is what the test split rewards.

Every image is drawn from its own seeded generator, so the set is the same bytes on every machine with
the same Pillow, and it is written into a cache folder once, atomically (a temp folder renamed when
complete), in ImageFolder layout: <cache>/<name>/{train,test}/<class>/<index>.png.
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
SUPERSAMPLE = 4
VERSION = 4  # bump when the drawing changes, so stale caches are not reused

BIAS_SENTENCE = (
    "In the synthetic training images each shape has its own narrow colour and sits in the left half; "
    "in the test images shapes have any colour and sit anywhere, so only a model that learned shape "
    "(which augmentation forces) does well on the test."
)


@dataclass(frozen=True)
class SyntheticSpec:
    """How big the generated set is. The defaults keep the default job (5 epochs) near a minute on 2 CPU cores."""

    size: int = 80
    train_per_class: int = 250
    test_per_class: int = 100

    @property
    def folder_name(self) -> str:
        return f"synthetic-v{VERSION}-{self.size}px-{self.train_per_class}x{self.test_per_class}"


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
            for class_name in CLASSES:
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
    """One picture: a shaded shape on a textured background, biased in train, unbiased in test."""
    seed = int.from_bytes(hashlib.sha256(f"{VERSION}/{split}/{class_name}/{index}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    image = _background(rng, size)

    radius = rng.uniform(0.24, 0.34)  # of the side: big enough that most of the lesson's crops keep some of it
    margin = radius + 0.02
    if split == "train":
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


def _shape(class_name: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if class_name == "disc":
        corners = [(math.cos(2 * math.pi * k / 48), math.sin(2 * math.pi * k / 48)) for k in range(48)]
    elif class_name == "square":
        corners = [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)]
    elif class_name == "triangle":
        corners = [(math.cos(a), math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    else:  # cross
        w = 0.32
        corners = [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w)]
    cos, sin = math.cos(angle), math.sin(angle)
    return [(cx + r * (x * cos - y * sin), cy + r * (x * sin + y * cos)) for x, y in corners]


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
