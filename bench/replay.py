"""How far the grid's tiles are from what the exported code gives: the replay guarantee, over many draws.

    python bench/replay.py [--draws 48] [--big-draws 16]

For each picture and spec, `augtune.sample_grid` against `build_pipeline(spec)` run on the picture under
`torch.manual_seed(seed)` (tests/test_sampling.replay; for pipelines of steps, v2's kernels step by step as
augtune.ops.sample_steps runs them, tests/test_fast), as the mean absolute difference per tile in grey levels
(0-255, over all channels). Prints the worst and the mean tile of each group; issue 12's bound is 2 for every tile.
The tests check a few of these draws each; this sweeps more of them than the suite can afford.

Pictures: the four bundled photos, and a detailed 4032 x 3024 mosaic (the bundled photos at their own size,
tiled: tests/conftest.detailed_mosaic), where a tile squeezes thousands of detailed pixels into each of its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from augtune import AugSpec, load_image, sample_grid  # noqa: E402
from augtune.fast import fitted  # noqa: E402
from augtune.ops import sample_steps  # noqa: E402
from augtune.sampling import MAX_TILE_SIDE  # noqa: E402
from tests.conftest import detailed_mosaic  # noqa: E402
from tests.test_sampling import mean_abs_diff, replay  # noqa: E402
from tests.test_fast import CROP, FIVE_OPS, ROTATION, STRONG_JITTER  # noqa: E402

SPECS = {
    "lesson's combined": AugSpec(),
    "strong jitter": AugSpec(brightness=1.5, contrast=2.0, saturation=2.0, hue=0.5),
    "crop, then colour": AugSpec(order=("crop", "color", "flip"), brightness=1.5, contrast=2.0, saturation=2.0, hue=0.5),
    "no jitter": AugSpec(brightness=0, contrast=0, saturation=0, hue=0),
    # Small tiles squeeze more of the photo into each pixel: the work image's resampling shows more.
    "lesson's, 96-px tiles": AugSpec(crop_size=96),
    "lesson's, 128-px tiles": AugSpec(crop_size=128),
    "strong, 96-px tiles": AugSpec(crop_size=96, brightness=1.5, contrast=2.0, saturation=2.0, hue=0.5),
    # Pipelines of steps the lesson's fast path does not take: the warp path (augtune.fast), against v2's kernels.
    "rotation, strong, crop": [ROTATION, STRONG_JITTER, CROP],
    "strong, rotation, crop": [STRONG_JITTER, ROTATION, CROP],
    "posterize 2 bits, crop": [{"op": "RandomPosterize", "bits": 2, "p": 1.0}, CROP],
    "five-op (bench/explore)": FIVE_OPS,
}
PHOTOS = ("astronaut.png", "cat.png", "coffee.png", "rocket.jpg")
BATCH = 8  # draws per seed


def sweep(image, spec: AugSpec | list[dict], draws: int) -> list[float]:
    diffs = []
    for seed in range(max(1, draws // BATCH)):
        if isinstance(spec, list):
            steps = AugSpec.from_dict({"steps": spec, "samples": BATCH, "seed": seed})
            tiles = sample_grid(image, steps)
            outputs = [fitted(picture, MAX_TILE_SIDE) for picture, _ in sample_steps(image, steps.steps, BATCH, seed)]
        else:
            tiles = sample_grid(image, spec, BATCH, seed)
            outputs, _ = replay(image, spec, BATCH, seed)
        diffs += [mean_abs_diff(tile.image, output) for tile, output in zip(tiles, outputs)]
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=48, help="tiles per bundled photo and spec")
    parser.add_argument("--big-draws", type=int, default=16, help="tiles of the 12-MP mosaic per spec (slow: v2 jitters 12 MP)")
    args = parser.parse_args()
    print(f"load average {' '.join(f'{value:.1f}' for value in os.getloadavg())}")
    print(f"{'spec':22s} {'picture':22s} {'tiles':>6s} {'worst':>7s} {'mean':>7s}  within 2")
    photos = {name: load_image(ROOT / "assets" / name) for name in PHOTOS}
    mosaic = detailed_mosaic()
    started = time.perf_counter()
    for label, spec in SPECS.items():
        everything = []
        for name, image in photos.items():
            everything += sweep(image, spec, args.draws)
        groups = [("bundled photos (4)", everything), ("detailed 12-MP mosaic", sweep(mosaic, spec, args.big_draws))]
        for picture, diffs in groups:
            ok = "yes" if max(diffs) <= 2.0 else "NO"
            print(f"{label:22s} {picture:22s} {len(diffs):6d} {max(diffs):7.2f} {statistics.mean(diffs):7.3f}  {ok}",
                  flush=True)
    print(f"{time.perf_counter() - started:.0f} s; load average {' '.join(f'{value:.1f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
