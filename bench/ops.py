"""How long Explore's 16-tile grid takes for each registered op alone, at its defaults, on a phone's 12-MP photo
(Explore decodes uploads up to 4096 px whole) and on the same photo at 1600 px, against plain v2 on the same
picture, measured in the same run. A grid worker gives up on a grid after 60 s: this finds the ops near that.
Prints medians; asserts nothing.

    python bench/ops.py [--repeats 3] [--ops JPEG,ElasticTransform]     # about 6 minutes for every op

Plain v2 runs the op on the whole picture for 4 samples and the time is scaled to 16 (a whole grid of v2's
ElasticTransform at 12 MP takes minutes); each sample is shrunk to the tile, as Explore's tiles are. Ops
that need a batch (MixUp, CutMix) mix with the picture mirrored, as Explore's grid does without a partner.
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
from augtune import AugSpec  # noqa: E402
from augtune.ops import OPS, parse_steps  # noqa: E402

TILES = 16
V2_SAMPLES = 4
TILE_SIDE = 512  # Explore's tile (service.explore_html.TILE_MAX_SIDE)
sys.path.insert(0, str(ROOT / "bench"))
from policies import photo  # noqa: E402  the four bundled photos in a 4032 x 3024 mosaic


def v2_grid_s(image: Image.Image, spec: AugSpec) -> float:
    """Plain v2's time for a grid: V2_SAMPLES samples, each shrunk to the tile, scaled to TILES."""
    pipeline = augtune.build_pipeline(spec)
    if spec.steps[0].op in ("MixUp", "CutMix"):
        return float("nan")  # v2 mixes a batch with labels: no single-picture baseline
    start = time.perf_counter()
    for _ in range(V2_SAMPLES):
        result = pipeline(image)
        picture = result if isinstance(result, Image.Image) else F.to_pil_image(result)
        scale = TILE_SIDE / max(picture.size)  # not thumbnail(): an op that did nothing hands back `image` itself
        picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.Resampling.BILINEAR)
    return (time.perf_counter() - start) * TILES / V2_SAMPLES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ops", default="", help="comma-separated op names (default: every registered op)")
    args = parser.parse_args()
    names = [name for name in args.ops.split(",") if name] or list(OPS)
    print(f"{TILES} tiles of {TILE_SIDE} px, torch {torch.__version__}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{value:.1f}' for value in os.getloadavg())}", flush=True)
    large = photo()
    small = large.resize((1600, 1200), Image.Resampling.BICUBIC)
    rows = []
    print(f"{'op':28s} {'12 MP s':>8s} {'v2 12 MP s':>10s} {'1600 px s':>9s} {'v2 1600 s':>9s}", flush=True)
    for name in names:
        spec = AugSpec(steps=parse_steps([{"op": name}]), samples=TILES)
        times = []
        for image in (large, small):
            ours = []
            try:
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    augtune.sample_grid(image, spec, max_side=TILE_SIDE)
                    ours.append(time.perf_counter() - start)
            except ValueError as error:  # the op's own refusal at this size (e.g. a zoom-out past 50 MP)
                print(f"{name}: {error}")
                ours = [float("nan")]
            times += [statistics.median(ours), v2_grid_s(image, spec) if ours[0] == ours[0] else float("nan")]
        rows.append((name, *times))
        print(f"{name:28s} {times[0]:8.2f} {times[1]:10.2f} {times[2]:9.2f} {times[3]:9.2f}", flush=True)
    slowest = max(rows, key=lambda row: row[1] if row[1] == row[1] else 0)
    print(f"slowest at 12 MP: {slowest[0]}, {slowest[1]:.1f} s a grid (a grid worker's limit: 60 s)")
    print(f"load average now {' '.join(f'{value:.1f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
