"""The op registry's guarantees, for every registered op (a new op is tested by being registered here).

EXAMPLES gives each op settings that make it draw something; the tests check, per op: the drawn params and
pixels replay v2's own transform under torch.manual_seed (on photos, the whole step list, and RandomApply
around it), determinism, a JSON round trip, sentences for bad values of every param, a histogram value for
every random param, and the exported code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from augtune.ops import OPS, Step, build_steps, parse_steps, sample_steps, sample_values, steps_code

ASSETS = Path(__file__).resolve().parents[1] / "assets"

EXAMPLES: dict[str, dict] = {
    "RandomHorizontalFlip": {"p": 0.5},
    "RandomVerticalFlip": {"p": 0.5},
    "RandomResizedCrop": {"size": 96, "scale": [0.1, 1.0], "ratio": [0.5, 2.0]},
    "RandomCrop": {"size": 120, "padding": 8},
    "CenterCrop": {"size": 120},
    "Resize": {"size": 100},
    "Pad": {"padding": 12, "padding_mode": "reflect"},
    "RandomRotation": {"degrees": 30},
    "RandomAffine": {"degrees": 20, "translate": [0.1, 0.05], "scale": [0.8, 1.2], "shear": 10},
    "RandomPerspective": {"distortion_scale": 0.5, "p": 0.7},
    "ElasticTransform": {"alpha": 40.0, "sigma": 5.0},
    "RandomZoomOut": {"side_range": [1.0, 2.0], "p": 0.7},
    "ColorJitter": {"brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "hue": 0.2},
    # (v2 defaults elsewhere: ColorJitter with only brightness leaves the others alone)
    "RandomPhotometricDistort": {"p": 0.6},
    "RandomChannelPermutation": {},
    "Grayscale": {},
    "RandomGrayscale": {"p": 0.5},
    "RandomInvert": {"p": 0.5},
    "RandomPosterize": {"bits": 3, "p": 0.5},
    "RandomSolarize": {"threshold": 128.0, "p": 0.5},
    "RandomEqualize": {"p": 0.5},
    "RandomAutocontrast": {"p": 0.5},
    "RandomAdjustSharpness": {"sharpness_factor": 3.0, "p": 0.5},
    "GaussianBlur": {"kernel_size": 9, "sigma": [0.1, 3.0]},
    "GaussianNoise": {"sigma": 0.1},
    "JPEG": {"quality": [10, 60]},
    "RandomErasing": {"p": 0.7, "value": 128},
    "AutoAugment": {"policy": "imagenet"},
    "RandAugment": {"num_ops": 2, "magnitude": 9},
    "TrivialAugmentWide": {},
    "AugMix": {"severity": 3},
    "MixUp": {"alpha": 1.0},
    "CutMix": {"alpha": 1.0},
}
BATCH_OPS = {name for name, op in OPS.items() if op.family == "mixing"}
PER_IMAGE = sorted(set(OPS) - BATCH_OPS)


def test_every_registered_op_has_an_example_and_is_torchvisions():
    assert set(EXAMPLES) == set(OPS)
    for name, op in OPS.items():
        assert hasattr(v2, name), name
        assert op.family in ("geometry", "colour", "degradation", "erasing", "policy", "mixing")
        assert op.label["en"] and op.label["zh-CN"] and op.help["en"] and op.help["zh-CN"]
        for param in op.params:
            assert param.label["en"] and param.label["zh-CN"] and param.help["en"] and param.help["zh-CN"], (name, param.name)


@pytest.fixture(scope="module")
def photos():
    cat = Image.open(ASSETS / "cat.png").convert("RGB")
    coffee = Image.open(ASSETS / "coffee.png").convert("RGB").reduce(2)
    return [cat, coffee]


def _pixels(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = F.to_pil_image(image)
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def _replay(image: Image.Image, steps, n: int, seed: int):
    pipeline = build_steps(steps)
    torch.manual_seed(seed)
    return [pipeline(image) for _ in range(n)]


def _assert_replayed(ours, theirs):
    for index, ((tile, _), expected) in enumerate(zip(ours, theirs)):
        got, want = _pixels(tile), _pixels(expected)
        assert got.shape == want.shape, (index, got.shape, want.shape)
        assert np.abs(got - want).mean() <= 2.0, index


@pytest.mark.parametrize("name", PER_IMAGE)
def test_replay_equals_the_built_pipeline(name, photos):
    steps = parse_steps([{"op": name, **EXAMPLES[name]}])
    for photo in photos:
        ours = sample_steps(photo, steps, 6, seed=7)
        _assert_replayed(ours, _replay(photo, steps, 6, seed=7))
        # The random numbers after the op are v2's too: a second step draws what it would draw.
        chained = parse_steps([{"op": name, **EXAMPLES[name]}, {"op": "RandomResizedCrop", "size": 64}])
        _assert_replayed(sample_steps(photo, chained, 4, seed=3), _replay(photo, chained, 4, seed=3))


@pytest.mark.parametrize("name", PER_IMAGE)
def test_random_apply_wraps_any_step(name, photos):
    steps = parse_steps([{"op": "RandomApply", "p": 0.5, "transforms": [{"op": name, **EXAMPLES[name]}]},
                         {"op": "RandomHorizontalFlip"}])
    ours = sample_steps(photos[0], steps, 8, seed=11)
    _assert_replayed(ours, _replay(photos[0], steps, 8, seed=11))
    coins = [sample.drawn[0][2].shown["applied"] for _, sample in ours]
    assert True in coins and False in coins


@pytest.mark.parametrize("name", sorted(BATCH_OPS))
def test_batch_ops_mix_with_the_partner_as_v2_does(name, photos):
    """The tile is row 0 of v2's batch [picture, partner]: its partner is the one before it, roll(1, 0)."""
    picture = photos[0].resize((160, 120))
    partner = photos[1].resize((160, 120))
    steps = parse_steps([{"op": name, **EXAMPLES[name]}])
    ours = sample_steps(picture, steps, 5, seed=5, partner=partner)
    transform = getattr(v2, name)(alpha=EXAMPLES[name]["alpha"], num_classes=2)
    batch = torch.stack([F.pil_to_tensor(picture), F.pil_to_tensor(partner)]).float().div(255)
    torch.manual_seed(5)
    for tile, sample in ours:
        mixed, labels = transform(batch, torch.tensor([0, 1]))
        expected = F.to_pil_image(F.to_dtype(mixed[0], torch.uint8, scale=True))
        assert np.abs(_pixels(tile) - _pixels(expected)).mean() <= 2.0
        drawn = sample.drawn[0][2].shown
        assert labels[0, 0].item() == pytest.approx(drawn["lambda"], abs=1e-6)


@pytest.mark.parametrize("name", sorted(OPS))
def test_draws_are_deterministic_and_round_trip_through_json(name, photos):
    steps = parse_steps([{"op": name, **EXAMPLES[name]}])
    text = json.dumps({"steps": [step.to_dict() for step in steps]})
    again = parse_steps(json.loads(text)["steps"])
    assert again == steps
    first = [sample.drawn[0][2].shown for sample in sample_values(steps, photos[0].size, 20, seed=1)]
    second = [sample.drawn[0][2].shown for sample in sample_values(again, photos[0].size, 20, seed=1)]
    assert first == second


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_random_value_gets_a_histogram(name, photos):
    op = OPS[name]
    steps = parse_steps([{"op": name, **EXAMPLES[name]}])
    samples = sample_values(steps, photos[0].size, 200, seed=0)
    random = op.random_values(steps[0].values)
    # Grayscale and the fixed geometry draw nothing; GaussianNoise draws only per-pixel noise.
    assert random or name in ("CenterCrop", "Resize", "Pad", "Grayscale", "GaussianNoise"), f"{name} shows nothing random"
    for value in random:
        drawn = [sample.drawn[0][2].shown.get(value) for sample in samples]
        drawn = [item for item in drawn if item is not None]
        assert len(set(map(str, drawn))) > 1, f"{name}.{value} never varies"


@pytest.mark.parametrize("name", sorted(OPS))
def test_bad_values_get_a_sentence_naming_field_value_and_range(name):
    op = OPS[name]
    for param in op.params:
        if param.kind in ("float", "int"):
            bad = param.high + 1000
            with pytest.raises(ValueError, match=rf"{name}\.{param.name} must be between .* got {bad:g}"):
                parse_steps([{"op": name, **EXAMPLES[name], param.name: bad}])
        for hostile in ("x", None, [1, 2, 3], float("nan"), {"a": 1}):
            if param.kind == "choice" and hostile in param.choices:
                continue
            with pytest.raises(ValueError, match=rf"{name}\.{param.name} must"):
                parse_steps([{"op": name, **EXAMPLES[name], param.name: hostile}])
    with pytest.raises(ValueError, match=f"{name} has no parameter bogus"):
        parse_steps([{"op": name, "bogus": 1}])


def test_unknown_ops_and_misplaced_batch_ops_are_refused():
    with pytest.raises(ValueError, match="step 1: there is no op 'Sharpen'"):
        parse_steps([{"op": "Sharpen"}])
    with pytest.raises(ValueError, match="steps must be a list"):
        parse_steps({"op": "RandomInvert"})
    with pytest.raises(ValueError, match="can only be the last step"):
        parse_steps([{"op": "MixUp"}, {"op": "RandomInvert"}])


@pytest.mark.parametrize("name", PER_IMAGE)
def test_exported_code_builds_the_same_pipeline(name, photos):
    steps = parse_steps([{"op": "RandomApply", "p": 0.8, "transforms": [{"op": name, **EXAMPLES[name]}]}])
    namespace: dict = {}
    exec(steps_code(steps, seed=4, samples=3), namespace)  # noqa: S102 - our own generated code
    torch.manual_seed(4)
    exported = [namespace["augment"](photos[0]) for _ in range(3)]
    _assert_replayed(sample_steps(photos[0], steps, 3, seed=4), exported)


def test_replay_holds_on_a_12_megapixel_photo():
    rng = np.random.default_rng(0)
    base = Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)).resize((4000, 3000), Image.Resampling.BICUBIC)
    steps = parse_steps([
        {"op": "RandomRotation", "degrees": 30},
        {"op": "RandomPerspective"},
        {"op": "ColorJitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1},
        {"op": "GaussianBlur", "kernel_size": 9},
        {"op": "RandomResizedCrop", "size": 224},
    ])
    _assert_replayed(sample_steps(base, steps, 2, seed=9), _replay(base, steps, 2, seed=9))


def test_settings_of_steps_go_through_the_public_api(photos):
    """AugSpec.from_json takes the steps form (and still the lesson's flat form); build_pipeline, spec_to_code,
    sample_grid and sample_params follow the steps, and the grid replays the exported code."""
    from augtune import AugSpec, build_pipeline, sample_grid, sample_params, spec_to_code

    text = json.dumps({"steps": [{"op": "RandomRotation", "degrees": 30},
                                 {"op": "RandomApply", "p": 0.5, "transforms": [{"op": "ColorJitter", "brightness": 0.5}]},
                                 {"op": "RandomResizedCrop", "size": 64}], "samples": 6, "columns": 3, "seed": 2})
    spec = AugSpec.from_json(text)
    assert AugSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert [type(t).__name__ for t in build_pipeline(spec).transforms] == ["RandomRotation", "RandomApply", "RandomResizedCrop"]
    # ColorJitter with only brightness means what v2.ColorJitter(brightness=0.5) means.
    assert "v2.ColorJitter(brightness=0.5)" in spec_to_code(spec)
    tiles = sample_grid(photos[0], spec)
    namespace: dict = {}
    exec(spec_to_code(spec), namespace)  # noqa: S102 - our own generated code
    torch.manual_seed(spec.seed)
    exported = [namespace["augment"](photos[0]) for _ in range(spec.samples)]
    _assert_replayed([(tile.image, None) for tile in tiles], exported)
    assert tiles[0].params["steps"][0]["op"] == "RandomRotation" and "angle" in tiles[0].params["steps"][0]
    values = sample_params(photos[0].size, spec, 50, 0)
    assert len({round(v["RandomRotation.angle"], 3) for v in values}) > 40
    assert {v["RandomApply.applied"] for v in values} == {True, False}
    assert AugSpec.from_json(json.dumps({"hflip_p": 0.3})).hflip_p == 0.3  # yesterday's files still load
    with pytest.raises(ValueError, match="Unknown setting\\(s\\) beside steps: hflip_p"):
        AugSpec.from_dict({"steps": [], "hflip_p": 0.5})


@pytest.mark.parametrize("name", sorted(OPS))
def test_the_distributions_figure_has_a_panel_for_every_random_value(name, photos):
    from augtune import AugSpec, sample_params
    from augtune.figures import _panels, distributions_figure

    spec = AugSpec.from_dict({"steps": [{"op": "RandomApply", "p": 0.5, "transforms": [{"op": name, **EXAMPLES[name]}]}]})
    params = sample_params(photos[0].size, spec, 100, 0)
    panels = _panels(spec)
    assert [panel.key for panel in panels][0] == "RandomApply.applied"
    assert {panel.key for panel in panels[1:]} == {f"{name}.{value}" for value in OPS[name].random_values(spec.steps[0].children[0].values)}
    figure = distributions_figure(params, spec)
    assert len(figure.axes) == len([panel for panel in panels if any(panel.key in p for p in params)])


def test_the_lessons_pipeline_as_steps_takes_the_fast_path(photos):
    """Written as steps, the lesson's combined pipeline gives the flat form's very tiles (the fast path), with
    each op's values, and still replays v2."""
    from augtune import PRESETS, AugSpec, build_pipeline, sample_grid

    flat = PRESETS["combined"].replace(crop_size=96, samples=6)
    steps = AugSpec.from_dict({"steps": [{"op": "RandomHorizontalFlip", "p": 0.5},
                                         {"op": "ColorJitter", "brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "hue": 0.5},
                                         {"op": "RandomResizedCrop", "size": 96, "scale": [0.1, 1.0], "ratio": [0.5, 2.0]}],
                               "samples": 6})
    fast, reference = sample_grid(photos[0], steps), sample_grid(photos[0], flat)
    for tile, same in zip(fast, reference):
        assert np.array_equal(np.asarray(tile.image), np.asarray(same.image))
        flip, jitter, crop = tile.params["steps"]
        assert flip == {"op": "RandomHorizontalFlip", "applied": same.params["hflip"]}
        assert jitter["brightness"] == same.params["brightness"] and crop["scale"] == same.params["crop_scale"]
        assert tile.params["crop_box"] == same.params["crop_box"]
    pipeline = build_pipeline(steps)
    torch.manual_seed(0)
    _assert_replayed([(tile.image, None) for tile in fast], [pipeline(photos[0]) for _ in range(6)])


def test_a_step_that_would_make_a_giant_picture_is_refused_before_any_pixel_work():
    image = Image.new("RGB", (4000, 3000))
    spec_steps = parse_steps([{"op": "RandomZoomOut", "side_range": [4.0, 4.0], "p": 1.0}])
    with pytest.raises(ValueError, match=r"RandomZoomOut would make a picture of 16000 x 12000 pixels, more than the 50 megapixels"):
        sample_steps(image, spec_steps, 2, seed=0)


@pytest.mark.parametrize("name", ["autoaugment_imagenet", "randaugment", "trivialaugment", "augmix"])
def test_policy_presets_replay(name, photos):
    from augtune import build_pipeline, sample_grid
    from augtune import PRESETS

    spec = PRESETS[name]
    tiles = sample_grid(photos[0], spec)
    pipeline = build_pipeline(spec)
    torch.manual_seed(spec.seed)
    _assert_replayed([(tile.image, None) for tile in tiles], [pipeline(photos[0]) for _ in range(spec.samples)])
    assert all(len(tile.params["steps"][0]) > 1 for tile in tiles)  # each tile says what was drawn for it


@pytest.mark.parametrize("shape", [(3, 3, 3), (1, 17, 9), (3, 61, 80), (2, 3, 31, 40)])
def test_sharpness_on_tensors_is_v2s_pixel_for_pixel(shape):
    """AugMix's chains sharpen tensors with pixels.sharpened (OpenCV's blur, v2's blend), at every factor its
    magnitudes reach and beyond: the very pixels of F.adjust_sharpness."""
    from augtune.pixels import sharpened

    image = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(sum(shape)))
    for factor in [0.0, 0.5, 2.7, 10.0, *(1 + torch.linspace(0, 0.9, 31)).tolist()]:
        assert torch.equal(sharpened(image, factor), F.adjust_sharpness(image, factor)), factor


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_has_a_caption_in_both_languages(name, photos):
    from augtune import AugSpec, sample_grid
    from augtune.ops import steps_caption

    spec = AugSpec.from_dict({"steps": [{"op": name, **EXAMPLES[name]}], "samples": 4})
    for tile in sample_grid(photos[0].resize((160, 120)), spec):
        entries = json.loads(json.dumps(tile.params["steps"]))  # as it comes back from a grid worker or the API
        english, chinese = steps_caption(entries, "en"), steps_caption(entries, "zh-CN")
        assert english.startswith(OPS[name].label["en"]) and chinese.startswith(OPS[name].label["zh-CN"])


@pytest.mark.parametrize("sigma", [0.5, 5.0, 20.0])
def test_elastic_fields_are_v2s_blurred_one_axis_at_a_time(sigma):
    """ElasticTransform's draw blurs separably (fast) but gives v2's displacement field, to float rounding,
    from the same random numbers (the next draw is the same)."""
    transform = v2.ElasticTransform(alpha=[50.0, 30.0], sigma=sigma)
    torch.manual_seed(0)
    theirs = transform.make_params([torch.empty(3, 120, 170)])["displacement"]
    after_theirs = torch.rand(1)
    torch.manual_seed(0)
    ours = OPS["ElasticTransform"].draw(transform, (170, 120)).params["displacement"]
    assert ours.shape == theirs.shape == (1, 120, 170, 2)
    assert torch.allclose(ours, theirs, atol=1e-6, rtol=0) and theirs.abs().max() > 1e-3
    assert torch.equal(torch.rand(1), after_theirs)
