"""The warp path of pipelines of steps (augtune.fast) against v2's own kernels, for every registered op.

The draws are the exact path's by construction (the same `draw_sample`), so a tile's params must be equal;
its pixels may differ by rounding and resampling: at most 2 grey levels on average per tile, as replay
promises, on the bundled photos and a 12-MP picture.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from augtune import AugSpec, sample_grid
from augtune.figures import draw_crop_boxes
from augtune.ops import OPS, Op, sample_steps
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
    scale = max_side / max(picture.size)  # sides rounded half up, as the tiles' cap rounds them
    return picture.resize((max(1, math.floor(picture.width * scale + 0.5)), max(1, math.floor(picture.height * scale + 0.5))),
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
    _assert_close_to_exact(big, [{"op": name, **EXAMPLES[name]}, {"op": "RandomResizedCrop", "size": 224}], 2, 1)


@pytest.mark.parametrize("name", ["RandomAffine", "RandomChannelPermutation", "RandomPhotometricDistort"])
def test_ops_on_a_detailed_12_megapixel_picture(name, detailed_12mp):
    """2.4 to 2.7 grey levels off v2 when a work pixel took ten times more of the picture's into it (too much blur)."""
    _assert_close_to_exact(detailed_12mp, [{"op": name, **EXAMPLES[name]}, {"op": "RandomResizedCrop", "size": 224}], 3, 1)


STRONG_JITTER = {"op": "ColorJitter", "brightness": 1.5, "contrast": 2.0, "saturation": 2.0, "hue": 0.5}
ROTATION = {"op": "RandomRotation", "degrees": 15, "interpolation": "bilinear"}
CROP = {"op": "RandomResizedCrop", "size": 224}


@pytest.mark.parametrize("steps, seed", [([ROTATION, STRONG_JITTER, CROP], 0), ([STRONG_JITTER, ROTATION, CROP], 1),
                                         ([{"op": "RandomPosterize", "bits": 2, "p": 1.0}, CROP], 0)],
                         ids=["rotation-jitter-crop", "jitter-rotation-crop", "posterize-crop"])
def test_amplifying_colour_steps_on_a_detailed_12_megapixel_picture(steps, seed, detailed_12mp):
    """A factor of 3 clips each of the photo's pixels, and a posterize to 2 bits jumps by 64 levels, where an
    average of them would not: these draws were 3.25, 2.07 and 2.21 grey levels off v2 while a work pixel
    averaged 4 of the photo's a side whatever the steps (pixels.photo_pixels_averaged). The second was also a
    level off in contrast's grey, taken from a thumbnail, which saturation and brightness then amplified."""
    _assert_close_to_exact(detailed_12mp, steps, 4, seed)


# Where each op that runs on a copy (Op.on_a_copy) shows its own: AugMix's translations at severity 10.
_ON_A_COPY = {"AugMix": {"severity": 10}, "ElasticTransform": {"alpha": 250.0, "sigma": 10.0}}


@pytest.mark.parametrize("op", [name for name, op in OPS.items() if type(op).on_a_copy is not Op.on_a_copy])
def test_an_op_whose_output_is_the_tile_runs_on_a_copy_three_tiles_wide_within_a_grey_level(op, detailed_12mp, monkeypatch):
    """Whole-picture kernels of a large photo take seconds a tile: 16 tiles of a 12-MP photo took v2's AugMix 50 s,
    ElasticTransform 14 s, MixUp 5 s. Where the op's output goes to the tile as it is, the op runs on a copy three
    tiles wide, its params for the copy: AugMix's translations scaled, the elastic field averaged, CutMix's box
    scaled."""
    picture = detailed_12mp.resize((2400, 1800), Image.Resampling.LANCZOS)
    seen = []
    render = OPS[op].render
    monkeypatch.setattr(OPS[op], "render", lambda transform, image, drawn, **kwargs: seen.append(image.size)
                        or render(transform, image, drawn, **kwargs))
    spec = AugSpec.from_dict({"steps": [{"op": op, **_ON_A_COPY.get(op, {})}], "samples": 5, "seed": 2})
    tiles = sample_grid(picture, spec, max_side=512)
    assert seen == [(1536, 1152)] * 5
    if op == "AugMix":
        assert any("Translate" in tile.params["steps"][0]["chains"] for tile in tiles)
    errors = [np.abs(_pixels(tile.image) - _pixels(_fitted(exact, 512))).mean()
              for tile, (exact, _) in zip(tiles, sample_steps(picture, spec.steps, 5, 2))]
    # Measured: AugMix 0.23-0.78 a tile (translations not scaled to the copy: 2.0, 12.6 and 24.4), ElasticTransform
    # 0.39-0.40, MixUp 0.18-0.19, CutMix 0.19-0.21.
    assert max(errors) <= 1.0 and np.mean(errors) <= 0.6, errors


@pytest.mark.parametrize("op", ["RandomEqualize", "RandomAutocontrast", "RandomAdjustSharpness", "TrivialAugmentWide"])
def test_colour_after_a_step_that_amplifies_detail_averages_fewer_of_its_pixels(op, detailed_12mp):
    """Equalize spreads a detailed picture's levels: neighbours a level apart come out several apart, and a jitter
    after it on work pixels that averaged 4 x 4 of its pixels was 2.2-2.7 grey levels off v2 (a 2400-px picture
    shrunk to 512-px tiles; sharpness x2: 2.1-2.5). Such ops say how much they amplify (Op.amplifies), and the
    steps after them average fewer pixels."""
    picture = detailed_12mp.resize((2400, 1800), Image.Resampling.LANCZOS)
    steps = [{"op": op, **({"p": 1.0} if op.startswith("Random") else {})},
             {"op": "ColorJitter", "brightness": 0.5, "hue": 0.2}]
    spec = AugSpec.from_dict({"steps": steps, "samples": 4, "seed": 5})
    tiles = sample_grid(picture, spec, max_side=512)
    errors = [np.abs(_pixels(tile.image) - _pixels(_fitted(exact, 512))).mean()
              for tile, (exact, _) in zip(tiles, sample_steps(picture, spec.steps, 4, 5))]
    assert max(errors) <= 1.0, errors  # measured 0.0-0.57 a tile


def test_contrasts_grey_after_a_rotation_is_the_pictures_own_where_the_jitter_amplifies_it():
    """Contrast x0.19 after the rocket's rotation, then brightness x2.31 and saturation x2.10: the grey from a
    256-px thumbnail was a level off, and the tile 2.13 grey levels off v2 (fast._grey_sensitivity)."""
    rocket = Image.open(ASSETS / "rocket.jpg").convert("RGB")
    _assert_close_to_exact(rocket, [ROTATION, STRONG_JITTER, CROP], 8, 3)


def test_a_jumping_table_before_a_crop_that_enlarges_one_side_runs_at_the_pictures_own_pixels(photos):
    """v2 posterizes the picture's own pixels and the crop then interpolates between them. A work image finer
    than those along one side interpolated first: a 194 x 253 box of the cat stretched to 224 x 224 after a
    posterize to 2 bits was 4.72 grey levels off v2 (2.96 when only the side that enlarged was held back)."""
    _assert_close_to_exact(photos[0], [{"op": "RandomPosterize", "bits": 2, "p": 1.0}, CROP], 8, 4)


FIVE_OPS = [{"op": "RandomRotation", "degrees": 30, "interpolation": "bilinear"},
            {"op": "RandomPerspective", "distortion_scale": 0.5, "p": 0.5},
            {"op": "ColorJitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1},
            {"op": "GaussianBlur", "kernel_size": 9, "sigma": [0.1, 2.0]},
            {"op": "RandomResizedCrop", "size": 224}]


def test_the_benchmarks_five_op_pipeline_is_one_warp_and_within_two_levels(photos, big):
    """bench/explore.py's pipeline: rotation, perspective, jitter, blur and crop, rendered once per tile."""
    for image, tiles in ((photos[0], 6), (photos[1], 4), (big, 3)):
        for tile in _assert_close_to_exact(image, FIVE_OPS, tiles, 2):
            assert tile.outline is not None and len(tile.outline) == 4


@pytest.mark.parametrize("op", ["RandomRotation", "RandomAffine", "RandomPerspective"])
def test_a_nearest_neighbour_transform_then_a_crop_replays_on_a_detailed_photo(op):
    """v2's transforms default to nearest-neighbour, which moves each pixel by up to half a pixel; a crop that
    shrinks keeps that. Rendered as one bilinear warp, a rotation by 4 degrees and a crop to 224 came 2.25 grey
    levels off v2 on the astronaut."""
    astronaut = Image.open(ASSETS / "astronaut.png").convert("RGB")
    steps = [{"op": op, **({"degrees": 15} if op != "RandomPerspective" else {"p": 1.0})},
             {"op": "RandomResizedCrop", "size": 224}]
    _assert_close_to_exact(astronaut, steps, 8, 2)


def test_small_tiles_of_a_warp_replay_on_a_detailed_photo():
    """A 128-px tile squeezes more of the photo into each pixel: with work images of 192 px a side this draw
    was 2.04 grey levels off v2 (pixels.SUPERSAMPLE_MIN_SIDE)."""
    astronaut = Image.open(ASSETS / "astronaut.png").convert("RGB")
    steps = [{"op": "RandomRotation", "degrees": 15, "interpolation": "bilinear"},
             {"op": "ColorJitter", "brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "hue": 0.5},
             {"op": "RandomResizedCrop", "size": 128}]
    _assert_close_to_exact(astronaut, steps, 8, 1)


def test_outline_of_a_quarter_turn_is_the_photo_turned(photos):
    """PIL turns counter-clockwise: the output's top-left corner is the photo's top-right one."""
    cat = photos[0]
    width, height = cat.size
    spec = AugSpec.from_dict({"steps": [{"op": "RandomRotation", "degrees": [90, 90], "expand": True}], "samples": 2})
    tile = sample_grid(cat, spec)[0]
    assert np.allclose(tile.outline, [[width, 0], [width, height], [0, height], [0, 0]], atol=1e-6)
    assert np.abs(_pixels(tile.image) - np.rot90(_pixels(cat))).mean() < 0.5
    # Drawn for a photo twice the size, as sample_grid's source_size says: the outline is in its pixels.
    doubled = sample_grid(cat, spec, source_size=(2 * width, 2 * height))[0]
    assert np.allclose(doubled.outline, 2 * np.array(tile.outline))


def test_outline_of_a_crop_is_its_box_and_a_colour_step_keeps_the_whole_photo(photos):
    cat = photos[0]
    crop = AugSpec.from_dict({"steps": [{"op": "RandomResizedCrop", "size": 64}], "samples": 6, "seed": 4})
    for tile in sample_grid(cat, crop):
        x0, y0, x1, y1 = tile.params["crop_box"]
        assert np.allclose(tile.outline, [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], atol=0.5)
    flipped = AugSpec.from_dict({"steps": [{"op": "RandomHorizontalFlip", "p": 1.0}, {"op": "RandomInvert", "p": 1.0},
                                           {"op": "Pad", "padding": 10}], "samples": 1})
    tile = sample_grid(cat, flipped)[0]
    width, height = cat.size
    assert np.allclose(tile.outline, [[width + 10, -10], [-10, -10], [-10, height + 10], [width + 10, height + 10]])
    elastic = AugSpec.from_dict({"steps": [{"op": "ElasticTransform"}], "samples": 1})
    assert sample_grid(cat, elastic)[0].outline is None


def test_the_original_shows_each_outline_as_a_polygon_in_its_tiles_colour(photos):
    from augtune.figures import box_colour

    cat = photos[0]
    spec = AugSpec.from_dict({"steps": [{"op": "RandomRotation", "degrees": [30, 30]}, {"op": "CenterCrop", "size": 150}],
                              "samples": 2})
    tiles = sample_grid(cat, spec)
    drawn = np.asarray(draw_crop_boxes(cat, tiles[1:]))
    corners = np.array(tiles[1].outline)
    assert (corners > 0).all() and (corners[:, 0] < cat.width).all() and (corners[:, 1] < cat.height).all()
    for start, end in zip(corners, np.roll(corners, -1, axis=0)):
        x, y = np.round((start + end) / 2).astype(int)  # the middle of each tilted edge
        near = drawn[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3)
        assert (near == box_colour(1)).all(axis=1).any(), (x, y)
    untouched = np.asarray(cat)
    x, y = np.round(corners.mean(axis=0)).astype(int)  # inside: the photo itself
    assert (drawn[y, x] == untouched[y, x]).all()


def test_a_step_that_hands_on_a_tensor_keeps_the_outline_of_the_geometry_after_it(photos):
    """RandomErasing hands on a tensor (v2's kernels run on it from there); a crop after it still moves the outline."""
    spec = AugSpec.from_dict({"steps": [{"op": "RandomErasing", "p": 1.0}, {"op": "CenterCrop", "size": 100}],
                              "samples": 2})
    tiles = _assert_close_to_exact(photos[0], [step.to_dict() for step in spec.steps], 2, 0)
    width, height = photos[0].size
    left, top = round((width - 100) / 2), round((height - 100) / 2)
    assert np.allclose(tiles[0].outline, [[left, top], [left + 100, top], [left + 100, top + 100], [left, top + 100]])
