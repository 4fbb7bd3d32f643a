"""The batched training augmentation against torchvision's own per-image transforms."""

import pytest
import torch
from torchvision.transforms import v2

from augtune import PRESETS
from augtune.batch_augment import BatchAugment, draw_jitter_params, jitter_batch
from augtune.pipeline import build_pipeline


def photo_like_batch(count: int, side: int, seed: int) -> torch.Tensor:
    """Noise plus smooth colour ramps, grey pixels and saturated ones: every HSV sector and the ties."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 256, (count, 3, side, side), generator=generator, dtype=torch.uint8)
    ramp = torch.linspace(0, 255, side).round().to(torch.uint8)
    noise[: count // 4, 0] = ramp.view(1, 1, side)
    noise[: count // 4, 1] = ramp.view(1, side, 1)
    noise[count // 4 : count // 2] = noise[count // 4 : count // 2, :1]  # grey: r = g = b
    noise[count // 2 : count // 2 + 4, :, :, : side // 2] = torch.tensor([255, 0, 0], dtype=torch.uint8).view(3, 1, 1)
    return noise


@pytest.mark.parametrize(
    "jitter",
    [{"brightness": 0.9}, {"contrast": 0.9}, {"saturation": 0.9}, {"hue": 0.5}],
    ids=lambda kwargs: next(iter(kwargs)),
)
def test_each_operation_matches_torchvision_within_one_grey_level(jitter):
    torch.manual_seed(3)
    transform = v2.ColorJitter(**jitter)
    images = photo_like_batch(48, 37, seed=1)
    params = draw_jitter_params(transform, len(images))
    ours = jitter_batch(transform, images, params).int()
    theirs = torch.stack([transform.transform(image, p) for image, p in zip(images, params)]).int()
    difference = (ours - theirs).abs()
    assert difference.max() <= 1
    assert (difference > 0).float().mean() < 1e-3
    assert not torch.equal(ours, images.int())  # it did jitter


def test_the_whole_jitter_in_random_order_matches_torchvision():
    torch.manual_seed(4)
    transform = v2.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.5)
    images = photo_like_batch(128, 33, seed=2)
    params = draw_jitter_params(transform, len(images))
    orders = {tuple(p["fn_idx"].tolist()) for p in params}
    assert len(orders) > 12  # many of the 24 orders are exercised
    ours = jitter_batch(transform, images, params).int()
    theirs = torch.stack([transform.transform(image, p) for image, p in zip(images, params)]).int()
    difference = (ours - theirs).abs()
    # one grey level of rounding, amplified by up to three later factors of at most 1.5
    assert difference.max() <= 4
    assert (difference > 1).float().mean() < 1e-4
    assert difference.float().mean() < 0.01


def test_parameters_are_drawn_as_colorjitter_draws_them():
    transform = v2.ColorJitter(brightness=0.5, hue=0.2)
    torch.manual_seed(7)
    ours = draw_jitter_params(transform, 3)
    torch.manual_seed(7)
    theirs = [transform.make_params([]) for _ in range(3)]
    for a, b in zip(ours, theirs):
        assert torch.equal(a["fn_idx"], b["fn_idx"])
        assert (a["brightness_factor"], a["hue_factor"], a["contrast_factor"]) == (b["brightness_factor"], b["hue_factor"], None)
    factors = [p["brightness_factor"] for p in draw_jitter_params(transform, 500)]
    assert 0.5 <= min(factors) < 0.55 and 1.45 < max(factors) <= 1.5


def test_pipeline_runs_per_image_geometry_and_batched_colour_in_the_spec_order():
    spec = PRESETS["combined"].replace(crop_size=32, resize_size=40)
    pipeline = build_pipeline(spec)
    augment = BatchAugment(list(pipeline.transforms))
    kinds = [kind for kind, _ in augment.stages]
    assert kinds == ["coin", "batch", "each"]  # flip (batched by its coin), colour, crop: the combined preset's order
    images = photo_like_batch(16, 40, seed=5)
    out = augment(images)
    assert out.shape == (16, 3, 32, 32) and out.dtype == torch.uint8
    # every image has its own crop and colour: no two outputs are equal
    flat = out.flatten(1)
    assert len({tuple(row.tolist()) for row in flat}) == 16


def test_flip_only_pipeline_flips_about_half_and_changes_nothing_else():
    torch.manual_seed(0)
    augment = BatchAugment([v2.RandomHorizontalFlip(p=0.5)])
    images = photo_like_batch(400, 8, seed=6)
    out = augment(images)
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) and not torch.equal(o, i) for o, i in zip(out, images)])
    same = torch.tensor([torch.equal(o, i) for o, i in zip(out, images)])
    assert bool((flipped | same).all())
    assert 160 < int(flipped.sum()) < 240


@pytest.mark.parametrize("name", ["RandomHorizontalFlip", "RandomVerticalFlip", "RandomInvert", "RandomPosterize",
                                  "RandomSolarize", "RandomEqualize", "RandomAutocontrast", "RandomAdjustSharpness",
                                  "RandomGrayscale"])
def test_coin_ops_run_batched_as_v2_runs_them_per_image(name):
    """p = 1: every image equals v2's own kernel on it; p = 0.5: about half the images change, the rest not at all."""
    from augtune.ops import OPS
    from tests.test_ops import EXAMPLES

    torch.manual_seed(0)
    images = torch.randint(40, 200, (64, 3, 24, 24), dtype=torch.uint8)  # a narrow range: autocontrast has work
    values = OPS[name].check({**EXAMPLES[name], "p": 1.0})
    always = OPS[name].build(values)
    batch = BatchAugment([always])
    assert batch.stages[0][0] == "coin"
    expected = torch.stack([always.transform(image, always.make_params([image])) for image in images])
    assert torch.equal(batch(images), expected)
    half = BatchAugment([OPS[name].build({**values, "p": 0.5})])(images)
    changed = [not torch.equal(a, b) for a, b in zip(half, images)]
    assert 16 <= sum(changed) <= 48
    assert all(torch.equal(h, e) or torch.equal(h, i) for h, e, i in zip(half, expected, images))
