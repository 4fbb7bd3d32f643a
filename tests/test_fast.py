"""The warp path of pipelines of steps (augtune.fast) against v2's own kernels, for every registered op.

The draws are the exact path's by construction (the same `draw_sample`), so a tile's params must be equal;
its pixels may differ by rounding and resampling: at most 2 grey levels on average per tile, as replay
promises, on the bundled photos and a 12-MP picture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from augtune import AugSpec, sample_grid
from augtune.figures import draw_crop_boxes
from augtune.ops import OPS, sample_steps
from tests.test_ops import EXAMPLES

ASSETS = Path(__file__).resolve().parents[1] / "assets"


@pytest.fixture(scope="module")
def photos():
    cat = Image.open(ASSETS / "cat.png").convert("RGB")
    coffee = Image.open(ASSETS / "coffee.png").convert("RGB").reduce(2)
    return [cat, coffee]


@pytest.fixture(scope="module")
def big():
    return Image.open(ASSETS / "cat.png").convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)


def _pixels(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = F.to_pil_image(image)
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def _fitted(picture, max_side=1024):
    picture = picture if isinstance(picture, Image.Image) else F.to_pil_image(picture)
    if max(picture.size) <= max_side:
        return picture
    scale = max_side / max(picture.size)
    return picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                          Image.Resampling.BILINEAR)


def _assert_close_to_exact(image, steps, n, seed, partner=None):
    spec = AugSpec.from_dict({"steps": steps, "samples": n, "seed": seed})
    fast = sample_grid(image, spec, partner=partner)
    exact = sample_steps(image, spec.steps, n, seed, partner)
    for index, (tile, (picture, sample)) in enumerate(zip(fast, exact)):
        assert tile.params["steps"] == [{"op": result.op, **result.shown} for _, _, result in sample.drawn]
        got, want = _pixels(tile.image), _pixels(_fitted(picture))
        assert got.shape == want.shape, (index, got.shape, want.shape)
        assert np.abs(got - want).mean() <= 2.0, (index, np.abs(got - want).mean())
    return fast


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_on_the_warp_path_is_within_two_grey_levels_of_v2(name, photos):
    partner = photos[1].resize(photos[0].size)
    for photo in photos:
        _assert_close_to_exact(photo, [{"op": name, **EXAMPLES[name]}], 4, 7,
                               partner.resize(photo.size) if OPS[name].family == "mixing" else None)
    if OPS[name].family != "mixing":
        chained = [{"op": name, **EXAMPLES[name]}, {"op": "RandomResizedCrop", "size": 64}]
        _assert_close_to_exact(photos[0], chained, 4, 3)
        before = [{"op": "RandomRotation", "degrees": 20, "interpolation": "bilinear"}, {"op": name, **EXAMPLES[name]},
                  {"op": "CenterCrop", "size": 160}]
        _assert_close_to_exact(photos[1], before, 3, 5)


# The ops the warp path renders itself (and one that it hands to v2's kernel before warping again): v2's
# kernels on 12 MP take seconds a tile, so the others, which are those kernels, are left to the photos above.
ON_THE_WARP = sorted(name for name, op in OPS.items() if op.family in ("geometry", "colour", "degradation")
                     and name not in ("ElasticTransform", "RandomAutocontrast", "RandomAdjustSharpness", "JPEG",
                                      "GaussianNoise"))


@pytest.mark.parametrize("name", ON_THE_WARP)
def test_every_op_on_a_12_megapixel_picture(name, big):
    _assert_close_to_exact(big, [{"op": name, **EXAMPLES[name]}, {"op": "RandomResizedCrop", "size": 224}], 1, 1)
