"""How long Explore's 16-tile grid (512-px tiles) of each policy preset takes on a 12-MP photo (a phone's,
which Explore decodes whole), against plain v2 doing the same 16 samples, each shrunk to the tile, measured in
the same run. Prints medians; asserts nothing.

    python bench/policies.py [--repeats 3]       # about 5 minutes: v2's AugMix takes ~1 min a grid here

The policies run v2's own sub-op kernels (augtune.fast renders no policy through its warp): AutoAugment,
RandAugment and TrivialAugment on the whole photo, on PIL, as v2 does. AugMix, whose chains run on tensors and
mix in float, runs on a copy three tiles wide (fast._copy_size), and its Sharpness is
`augtune.pixels.sharpened` (OpenCV's blur, v2's blend) instead of torch's conv2d: the last rows time that
kernel alone against F.adjust_sharpness on the photo as a uint8 tensor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import augtune  # noqa: E402
from augtune import PRESETS, AugSpec  # noqa: E402
from augtune.pixels import sharpened  # noqa: E402

TILES = 16
TILE = (512, 384)  # the photo on Explore's tile (service.explore_html.TILE_MAX_SIDE)
POLICIES = ("autoaugment_imagenet", "randaugment", "trivialaugment", "augmix")


def photo() -> Image.Image:
    """The four bundled photos, 2016 x 1512 each, in a 4032 x 3024 mosaic."""
    names = ("cat.png", "astronaut.png", "coffee.png", "rocket.jpg")
    mosaic = Image.new("RGB", (4032, 3024))
    for index, name in enumerate(names):
        picture = augtune.load_image(ROOT / "assets" / name).resize((2016, 1512), Image.Resampling.BICUBIC)
        mosaic.paste(picture, (2016 * (index % 2), 1512 * (index // 2)))
    return mosaic


def ways(image: Image.Image) -> dict[str, callable]:
    result = {}
    for name in POLICIES:
        spec = AugSpec.from_dict({**PRESETS[name].to_dict(), "samples": TILES})
        pipeline = augtune.build_pipeline(spec)
        result[f"{name}: augtune.sample_grid"] = lambda spec=spec: augtune.sample_grid(image, spec, max_side=TILE[0])
        # Each sample shrunk to the tile the grid shows, as Explore's tiles are.
        result[f"{name}: plain v2"] = lambda pipeline=pipeline: [pipeline(image).resize(TILE, Image.Resampling.BILINEAR)
                                                                  for _ in range(TILES)]
    tensor = F.pil_to_tensor(image)
    result["Sharpness x1.5: pixels.sharpened"] = lambda: sharpened(tensor, 1.5)
    result["Sharpness x1.5: F.adjust_sharpness"] = lambda: F.adjust_sharpness(tensor, 1.5)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{TILES} tiles of a 4032x3024 photo, torch {torch.__version__}, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{value:.1f}' for value in os.getloadavg())}", flush=True)
    image = photo()
    chosen = ways(image)
    for fn in chosen.values():
        fn()  # warm-up
    # The ways take turns, one call each a round: a machine that drifts moves them all alike.
    times: dict[str, list[float]] = {label: [] for label in chosen}
    for _ in range(args.repeats):
        for label, fn in chosen.items():
            start = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - start)
    medians = {label: statistics.median(values) * 1000 for label, values in times.items()}
    print(f"{'way':40s} {'median ms':>10s} {'vs v2':>7s}")
    labels = list(medians)
    for ours, theirs in zip(labels[::2], labels[1::2]):
        print(f"{ours:40s} {medians[ours]:10.1f} {medians[ours] / medians[theirs]:6.2f}x")
        print(f"{theirs:40s} {medians[theirs]:10.1f}")
    print(f"load average now {' '.join(f'{value:.1f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
