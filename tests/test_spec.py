"""AugSpec: validation sentences, JSON round trip, presets equal to the lesson's, the exported code."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torchvision.transforms import v2

import augtune
from augtune import PRESETS, AugSpec, build_pipeline, spec_to_code
from augtune.spec import RANGES


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"brightness": -0.1}, ["brightness", "-0.1", "between 0 and 2"]),
        ({"contrast": 2.5}, ["contrast", "2.5", "between 0 and 2"]),
        ({"saturation": float("nan")}, ["saturation", "finite"]),
        ({"hue": 0.6}, ["hue", "0.6", "between 0 and 0.5"]),
        ({"hflip_p": 1.5}, ["hflip_p", "1.5", "between 0 and 1"]),
        ({"vflip_p": float("inf")}, ["vflip_p", "finite"]),
        ({"crop_size": 0}, ["crop_size", "0", "between 32 and 512"]),
        ({"crop_size": 100.5}, ["crop_size", "whole number"]),
        ({"resize_size": 2000}, ["resize_size", "2000"]),
        ({"scale_min": 0.9, "scale_max": 0.5}, ["scale_min", "0.9", "scale_max", "0.5"]),
        ({"scale_min": 0.0}, ["scale_min", "between 0.01 and 1"]),
        ({"ratio_min": 3.0, "ratio_max": 2.0}, ["ratio_min", "3", "ratio_max", "2"]),
        ({"ratio_max": 11.0}, ["ratio_max", "11", "between 0.1 and 10"]),
        ({"samples": 0}, ["samples", "0", "between 1 and 64"]),
        ({"samples": 65}, ["samples", "65"]),
        ({"columns": 0}, ["columns", "between 1 and 16"]),
        ({"seed": -1}, ["seed", "-1"]),
        ({"seed": 2**64}, ["seed"]),
        ({"brightness": "bright"}, ["brightness", "must be a number", "'bright'"]),
        ({"brightness": True}, ["brightness", "must be a number"]),
        ({"crop_mode": "diagonal"}, ["crop_mode", "random", "center", "none", "'diagonal'"]),
        ({"order": ("flip", "flip", "crop")}, ["order", "flip", "color", "crop"]),
        ({"order": "flip,color,crop"}, ["order"]),
        ({"crop_mode": "center", "resize_size": 100, "crop_size": 224}, ["resize_size", "100", "crop_size", "224"]),
    ],
)
def test_bad_field_gets_a_sentence_naming_field_value_and_range(changes, words):
    with pytest.raises(ValueError) as caught:
        AugSpec(**changes)
    message = str(caught.value)
    for word in words:
        assert word in message, (word, message)
    assert message.endswith(".") and "\n" not in message


def test_every_ranged_field_accepts_its_bounds():
    for name, (low, high) in RANGES.items():
        if name.startswith(("scale", "ratio")):
            continue  # min/max pairs are checked together below
        for value in (low, high):
            AugSpec(**{name: value})
    AugSpec(scale_min=0.01, scale_max=0.01, ratio_min=10, ratio_max=10)
    AugSpec(scale_min=1.0, scale_max=1.0, ratio_min=0.1, ratio_max=0.1)


def test_json_round_trip_is_exact():
    odd = AugSpec(
        hflip_p=0.3,
        brightness=1 / 3,
        hue=0.1234567890123,
        crop_mode="center",
        crop_size=100,
        resize_size=300,
        ratio_min=3 / 4,
        ratio_max=4 / 3,
        order=("crop", "color", "flip"),
        samples=13,
        seed=2**63 - 1,
    )
    for spec in [AugSpec(), odd, *PRESETS.values()]:
        again = AugSpec.from_json(spec.to_json())
        assert again == spec
        assert again.to_json() == spec.to_json()
    assert isinstance(AugSpec.from_json(odd.to_json()).order, tuple)


def test_json_accepts_partial_settings_and_rejects_unknown_or_malformed():
    assert AugSpec.from_json('{"hue": 0.2}') == AugSpec(hue=0.2)
    with pytest.raises(ValueError, match="Unknown setting.*colour"):
        AugSpec.from_json('{"colour": 1}')
    with pytest.raises(ValueError, match="not valid JSON"):
        AugSpec.from_json("{hue: 0.2")
    with pytest.raises(ValueError, match="JSON object"):
        AugSpec.from_json("[1, 2]")


def _steps(spec: AugSpec) -> list[tuple[str, dict]]:
    return _describe(build_pipeline(spec))


def _describe(compose: v2.Compose) -> list[tuple[str, dict]]:
    out = []
    for t in compose.transforms:
        if isinstance(t, (v2.RandomHorizontalFlip, v2.RandomVerticalFlip)):
            out.append((type(t).__name__, {"p": t.p}))
        elif isinstance(t, v2.ColorJitter):
            out.append(("ColorJitter", {k: getattr(t, k) for k in ("brightness", "contrast", "saturation", "hue")}))
        elif isinstance(t, v2.RandomResizedCrop):
            out.append(("RandomResizedCrop", {"size": list(t.size), "scale": t.scale, "ratio": t.ratio}))
        elif isinstance(t, v2.Resize):
            out.append(("Resize", {"size": list(t.size)}))
        elif isinstance(t, v2.CenterCrop):
            out.append(("CenterCrop", {"size": list(t.size)}))
        else:
            out.append((type(t).__name__, {}))
    return out


def test_presets_are_the_lessons_pipelines():
    half = (0.5, 1.5)
    jitter_all = {"brightness": half, "contrast": half, "saturation": half, "hue": (-0.5, 0.5)}
    shape = ("RandomResizedCrop", {"size": [200, 200], "scale": (0.1, 1.0), "ratio": (0.5, 2.0)})
    expected = {
        "horizontal_flip": [("RandomHorizontalFlip", {"p": 0.5})],
        "vertical_flip": [("RandomVerticalFlip", {"p": 0.5})],
        "shape_aug": [shape],
        "brightness": [("ColorJitter", {"brightness": half, "contrast": None, "saturation": None, "hue": None})],
        "hue": [("ColorJitter", {"brightness": None, "contrast": None, "saturation": None, "hue": (-0.5, 0.5)})],
        "contrast": [("ColorJitter", {"brightness": None, "contrast": half, "saturation": None, "hue": None})],
        "color_aug": [("ColorJitter", jitter_all)],
        "combined": [("RandomHorizontalFlip", {"p": 0.5}), ("ColorJitter", jitter_all), shape],
        "combined_train": [("RandomHorizontalFlip", {"p": 0.5}), ("ColorJitter", jitter_all),
                           ("RandomResizedCrop", {**shape[1], "scale": (0.6, 1.0)})],
        "hotdog_train": [
            ("RandomResizedCrop", {"size": [224, 224], "scale": (0.08, 1.0), "ratio": (3 / 4, 4 / 3)}),
            ("RandomHorizontalFlip", {"p": 0.5}),
        ],
        "hotdog_test": [("Resize", {"size": [256]}), ("CenterCrop", {"size": [224, 224]})],
        "autoaugment_imagenet": [("AutoAugment", {})],
        "randaugment": [("RandAugment", {})],
        "trivialaugment": [("TrivialAugmentWide", {})],
        "augmix": [("AugMix", {})],
    }
    assert set(PRESETS) == set(expected)
    for name, steps in expected.items():
        assert _steps(PRESETS[name]) == steps, name
    assert AugSpec() == PRESETS["combined"]


def test_nothing_enabled_is_the_identity():
    spec = AugSpec(hflip_p=0, brightness=0, contrast=0, saturation=0, hue=0, crop_mode="none")
    image = torch.randint(0, 256, (3, 20, 30), dtype=torch.uint8)
    assert torch.equal(build_pipeline(spec)(image), image)
    assert "v2.Identity()" in spec_to_code(spec)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_exported_code_builds_the_same_pipeline(name):
    spec = PRESETS[name].replace(seed=5)
    namespace: dict = {}
    exec(compile(spec_to_code(spec), "<spec_to_code>", "exec"), namespace)
    assert isinstance(namespace["augment"], v2.Compose)
    assert _describe(namespace["augment"]) == _steps(spec)
    image = torch.randint(0, 256, (3, 300, 400), dtype=torch.uint8)
    torch.manual_seed(1)
    ours = [build_pipeline(spec)(image) for _ in range(3)]
    torch.manual_seed(1)
    theirs = [namespace["augment"](image) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))


def test_spec_is_frozen_and_hashable():
    spec = AugSpec()
    with pytest.raises(Exception):
        spec.hue = 0.1  # type: ignore[misc]
    assert hash(spec) == hash(AugSpec())
    assert json.loads(spec.to_json())["order"] == ["flip", "color", "crop"]
    assert not math.isnan(spec.hue)


def test_import_does_not_pull_in_gradio():
    import subprocess
    import sys

    code = "import sys, augtune; augtune.sample_grid; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert augtune.AugSpec is AugSpec
