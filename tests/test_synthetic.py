"""The embedded default data set: deterministic, as advertised, and with the bias the lesson needs."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest
from PIL import Image

from augtune import data
from augtune.synthetic import CLASSES, TRAIN_HUE_WIDTH, TRAIN_HUES, SyntheticSpec, draw_scene, ensure_synthetic

SMALL = SyntheticSpec(size=32, train_per_class=3, test_per_class=2)


def files_of(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def test_same_bytes_on_every_generation(tmp_path):
    first = files_of(ensure_synthetic(SMALL, root=tmp_path / "a"))
    second = files_of(ensure_synthetic(SMALL, root=tmp_path / "b"))
    assert len(first) == len(CLASSES) * (SMALL.train_per_class + SMALL.test_per_class)
    assert first == second


def test_advertised_classes_and_counts(tmp_path, monkeypatch):
    folder = ensure_synthetic(SMALL, root=tmp_path)
    for split, count in (("train", SMALL.train_per_class), ("test", SMALL.test_per_class)):
        assert sorted(p.name for p in (folder / split).iterdir()) == sorted(CLASSES)
        for class_name in CLASSES:
            assert len(list((folder / split / class_name).glob("*.png"))) == count
    with Image.open(next((folder / "train" / "disc").glob("*.png"))) as image:
        assert image.size == (32, 32) and image.mode == "RGB"

    monkeypatch.setenv("AUGTUNE_SYNTHETIC", "32x3x2")
    described = data.describe("synthetic")
    assert described["classes"] == list(CLASSES)
    assert described["train_counts"] == {c: 3 for c in CLASSES}
    assert described["test_counts"] == {c: 2 for c in CLASSES}
    assert "colour" in described["note"]


def test_cached_set_is_reused_and_leftovers_are_not_taken_for_it(tmp_path):
    folder = ensure_synthetic(SMALL, root=tmp_path)
    stamp = (folder / "train" / "disc" / "0000.png").stat().st_mtime_ns
    assert ensure_synthetic(SMALL, root=tmp_path) == folder
    assert (folder / "train" / "disc" / "0000.png").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no temp folder left behind

    # A half-written folder without its COMPLETE marker is rebuilt, not used.
    (folder / "COMPLETE").unlink()
    (folder / "train" / "disc" / "0000.png").write_bytes(b"half")
    rebuilt = ensure_synthetic(SMALL, root=tmp_path)
    assert (rebuilt / "COMPLETE").is_file()
    assert (rebuilt / "train" / "disc" / "0000.png").read_bytes()[:4] == b"\x89PNG"


def object_stats(image: Image.Image):
    """Hue and horizontal centre of the object: its pixels are the strongly saturated ones."""
    pixels = np.asarray(image, dtype=np.float32) / 255
    top, bottom = pixels.max(axis=2), pixels.min(axis=2)
    saturation = np.where(top > 0, (top - bottom) / np.maximum(top, 1e-6), 0)
    mask = saturation > 0.45
    assert mask.sum() > 20, "the object should be visible"
    mean = pixels[mask].mean(axis=0)
    hue = colorsys.rgb_to_hsv(*mean)[0]
    centre_x = np.nonzero(mask)[1].mean() / image.width
    return hue, centre_x


def circular_spread(hues):
    angles = np.asarray(hues) * 2 * math.pi
    return 1 - abs(np.mean(np.exp(1j * angles)))  # 0: all the same hue, 1: spread all round


@pytest.mark.parametrize("class_name", CLASSES)
def test_bias_in_train_is_absent_in_test(class_name):
    train = [object_stats(draw_scene(class_name, "train", i, 64)) for i in range(24)]
    test = [object_stats(draw_scene(class_name, "test", i, 64)) for i in range(24)]
    train_hues, train_x = zip(*train)
    test_hues, test_x = zip(*test)

    # Colour: one narrow band per class in train, all round the wheel in test.
    assert circular_spread(train_hues) < 0.02
    assert circular_spread(test_hues) > 0.35
    assert len({int(hue * 4) % 4 for hue in test_hues}) >= 3  # at least three quarters of the colour wheel
    centre = TRAIN_HUES[class_name]
    for hue in train_hues:
        assert min(abs(hue - centre), 1 - abs(hue - centre)) < TRAIN_HUE_WIDTH

    # Position: always the left half in train, both halves in test.
    assert max(train_x) < 0.5
    assert min(test_x) < 0.45 and max(test_x) > 0.55
