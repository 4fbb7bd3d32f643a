"""The training loop: events, rows, outputs, learning, cancelling, configuration and the training transform."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import time

import pytest
import torch

from augtune import PRESETS, AugSpec
from augtune.data import stored_side
from augtune.synthetic import CLASSES, SyntheticSpec, ensure_synthetic
from augtune.train import Cancelled, EpochRow, TrainConfig, TrainError, batch_mixer, train, train_transform

LOG_LINE = re.compile(r"^epoch \d+, loss \d+\.\d{4}, train acc [01]\.\d{3}, test acc [01]\.\d{3}, time \d+\.\d sec$")
TINY = dict(image_size=32, batch_size=32, pretrained=False)


@pytest.fixture
def small_synthetic(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AUGTUNE_SYNTHETIC", "40x24x8")
    monkeypatch.setenv("AUGTUNE_OFFLINE", "1")
    return tmp_path


def test_short_run_streams_wellformed_events_and_writes_its_files(small_synthetic):
    events = []
    out = small_synthetic / "run"
    result = train(TrainConfig(epochs=2, augment=PRESETS["combined"], label="combined", **TINY), out, on_event=events.append)

    for event in events:
        json.dumps(event)  # they cross a process boundary as plain data
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "device" and kinds[-1] == "done"
    assert kinds.index("data") < kinds.index("progress") < kinds.index("epoch")
    assert kinds.count("epoch") == 2
    data_event = next(e for e in events if e["kind"] == "data")
    assert data_event["classes"] == sorted(CLASSES)
    assert data_event["train_counts"] == {c: 24 for c in CLASSES} and data_event["test_counts"] == {c: 8 for c in CLASSES}
    progress = [e for e in events if e["kind"] == "progress"]
    assert progress[-1]["batch"] == progress[-1]["batches"] == 3  # 96 images in batches of 32
    device = next(e for e in events if e["kind"] == "device")
    assert device == {"kind": "device", "device": "cpu", "amp": False, "channels_last": False}

    for event, row in zip([e for e in events if e["kind"] == "epoch"], result.rows):
        assert event["row"] == row.__dict__
        assert LOG_LINE.match(event["log_line"]), event["log_line"]
        assert math.isfinite(row.loss) and row.loss > 0
        assert 0 <= row.train_acc <= 1 and 0 <= row.test_acc <= 1
        assert row.seconds > 0 and row.images_per_s > 0
    assert [row.epoch for row in result.rows] == [1, 2]

    for name in ("metrics.csv", "model.pt", "curves.png", "confusion.png", "misclassified.png", "result.json"):
        assert (out / name).stat().st_size > 0, name
    with open(out / "metrics.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in table] == [1, 2]
    assert float(table[1]["test_acc"]) == pytest.approx(result.rows[1].test_acc, abs=1e-6)
    state = torch.load(out / "model.pt", weights_only=True)
    assert state["fc.weight"].shape == (4, 512)

    saved = json.loads((out / "result.json").read_text())
    assert saved == events[-1]["result"]
    assert saved["classes"] == sorted(CLASSES) and saved["device"] == "cpu"
    confusion = saved["confusion"]
    assert sum(map(sum, confusion)) == 32
    correct = sum(confusion[i][i] for i in range(4))
    assert correct / 32 == pytest.approx(saved["rows"][-1]["test_acc"])
    assert len(saved["misclassified"]) == min(16, 32 - correct)
    for item in saved["misclassified"]:
        assert item["true"] != item["pred"] and item["file"].startswith("test/")
    assert TrainConfig.from_dict(saved["config"]) == result.config
    assert "colour" in saved["notes"][0]


def test_learns_well_above_chance(small_synthetic):
    """On images like its training images (the synthetic train split, held out by the fixed seed), a short
    scratch run must do far better than the 25 % of guessing."""
    folder = ensure_synthetic(SyntheticSpec(size=40, train_per_class=40, test_per_class=1), root=small_synthetic / "gen")
    root = small_synthetic / "data"
    shutil.copytree(folder / "train", root / "shapes")
    config = TrainConfig(data=str(root / "shapes"), epochs=2, lr=0.05, head_lr_mult=1, augment=None, **{**TINY, "batch_size": 16})
    result = train(config, small_synthetic / "run", allowed_roots=[root])
    assert result.rows[-1].test_acc >= 0.6, result.rows
    assert result.rows[-1].loss < result.rows[0].loss * 1.5


def test_cancel_stops_within_a_batch(small_synthetic):
    events = []
    seen_progress = []

    def should_stop():
        return len(seen_progress) >= 2

    def on_event(event):
        events.append(event)
        if event["kind"] == "progress":
            seen_progress.append(time.monotonic())

    out = small_synthetic / "cancelled"
    with pytest.raises(Cancelled):
        train(TrainConfig(epochs=3, **TINY), out, on_event=on_event, should_stop=should_stop)
    assert len(seen_progress) == 2  # not one batch more
    assert not any(e["kind"] == "epoch" for e in events)
    assert not (out / "model.pt").exists()


def test_cancel_during_data_preparation(small_synthetic):
    calls = []

    def should_stop():
        calls.append(1)
        return True

    with pytest.raises(Cancelled):
        train(TrainConfig(**TINY), small_synthetic / "early", should_stop=should_stop)
    assert calls


def test_user_errors_are_train_errors(small_synthetic, monkeypatch):
    with pytest.raises(TrainError, match="outside the data folder"):
        train(TrainConfig(data="/etc", **TINY), small_synthetic / "x")
    with pytest.raises(TrainError, match="offline; choose the built-in backbone or train from scratch"):
        monkeypatch.setenv("TORCH_HOME", str(small_synthetic / "empty_torch"))
        train(TrainConfig(**{**TINY, "pretrained": True}), small_synthetic / "y")
    if not torch.cuda.is_available():
        with pytest.raises(TrainError, match="no CUDA GPU"):
            train(TrainConfig(device="cuda", **TINY), small_synthetic / "z")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epochs": 0}, "epochs must be between 1 and 100"),
        ({"batch_size": 1}, "batch_size must be between 2 and 1024"),
        ({"image_size": 16}, "image_size must be between 32 and 512"),
        ({"lr": float("nan")}, "lr must be a finite number"),
        ({"lr": 0}, "lr must be between"),
        ({"epochs": 2.5}, "epochs must be a whole number"),
        ({"epochs": True}, "epochs must be a number, got True"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of sgd, adam"),
        ({"device": "tpu"}, "device must be one of"),
        ({"data": " "}, "data must name a data set"),
        ({"augment": "combined"}, "augment must be augmentation settings"),
        ({"pretrained": "yes"}, "pretrained must be true or false"),
    ],
)
def test_config_validation_speaks_in_sentences(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_config_round_trips_through_json():
    config = TrainConfig(data="hotdog", epochs=3, image_size=224, augment=PRESETS["hotdog_train"], optimizer="adam", label="x")
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert TrainConfig.from_dict({**TrainConfig().to_dict(), "augment": None}).augment is None
    with pytest.raises(ValueError, match="Unknown training setting"):
        TrainConfig.from_dict({"epoch": 3})
    defaults = TrainConfig()
    # The fine-tuning lesson's recipe, sized for the built-in synthetic set (48 px, batch 16, crops of 60-100 %).
    assert (defaults.lr, defaults.head_lr_mult, defaults.weight_decay, defaults.epochs) == (0.01, 10.0, 0.001, 5)
    assert (defaults.image_size, defaults.batch_size) == (48, 16)
    assert defaults.optimizer == "sgd" and defaults.augment == PRESETS["combined"].replace(scale_min=0.6)


@pytest.mark.parametrize("preset", ["combined", "hotdog_train", "hotdog_test", "horizontal_flip", "color_aug", "shape_aug"])
def test_training_transform_outputs_the_training_size(preset):
    torch.manual_seed(0)
    size = 48
    images = torch.randint(0, 256, (5, 3, stored_side(size), stored_side(size)), dtype=torch.uint8)
    out = train_transform(PRESETS[preset], size)(images)
    assert out.shape == (5, 3, size, size) and out.dtype == torch.uint8


def test_no_augmentation_is_the_test_transform():
    image = torch.arange(3 * 73 * 73, dtype=torch.int64).remainder(256).to(torch.uint8).view(3, 73, 73)
    out = train_transform(None, 64)(image[None])
    assert torch.equal(out[0], image[:, 4:68, 4:68])  # a centre crop, nothing random


def test_epoch_row_log_line_is_the_lessons():
    row = EpochRow(epoch=1, loss=1.36154, train_acc=0.5051, test_acc=0.4932, seconds=123.24, images_per_s=400.0)
    assert row.log_line() == "epoch 1, loss 1.3615, train acc 0.505, test acc 0.493, time 123.2 sec"


def test_report_figures_show_what_they_are_given(tmp_path):
    from augtune import report

    runs = {
        "augmented": [EpochRow(1, 1.2, 0.4, 0.5, 1.0, 10.0), EpochRow(2, 0.9, 0.6, 0.7, 1.0, 10.0)],
        "none": [{"epoch": 1, "loss": 1.0, "train_acc": 0.5, "test_acc": 0.3, "seconds": 1.0, "images_per_s": 10.0}],
    }
    figure = report.curves_figure(runs)
    loss_axes, acc_axes = figure.axes
    assert [list(line.get_ydata()) for line in loss_axes.lines] == [[1.2, 0.9], [1.0]]
    assert [line.get_label() for line in acc_axes.lines] == ["augmented train", "augmented test", "none train", "none test"]
    assert list(acc_axes.lines[1].get_ydata()) == [0.5, 0.7]
    report.save(figure, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"

    confusion = report.confusion_figure(["cat", "dog"], [[3, 1], [0, 4]])
    cells = [text.get_text() for text in confusion.axes[0].texts]
    assert cells == ["3", "1", "0", "4"]
    assert confusion.axes[0].images[0].get_array().tolist() == [[0.75, 0.25], [0.0, 1.0]]

    strip = report.misclassified_figure([{"image": torch.zeros(8, 8, 3, dtype=torch.uint8).numpy(), "pred": "dog", "true": "cat"}])
    assert strip.axes[0].get_title() == "pred dog\ntrue cat"
    assert report.misclassified_figure([]).texts[0].get_text() == "No misclassified test images."


def test_lesson_numbers_are_the_published_ones():
    from augtune import report

    assert report.LESSON_NUMBERS["hotdog_finetuned"]["test_acc"] == (0.93, 0.94)
    assert report.LESSON_NUMBERS["hotdog_scratch"]["test_acc"] == (0.78, 0.85)
    assert report.LESSON_NUMBERS["cifar10_augmented"]["test_acc"] == (0.754, 0.754)
    assert "0.93-0.94" in report.lesson_comparison("hotdog", pretrained=True)
    assert "0.78-0.85" in report.lesson_comparison("hotdog", pretrained=False)
    assert report.lesson_comparison("synthetic", pretrained=True) == ""


def test_divergence_is_reported_as_a_sentence(small_synthetic):
    with pytest.raises(TrainError, match="diverged in epoch .*lower the learning rate"):
        train(TrainConfig(epochs=4, lr=10.0, head_lr_mult=1000, augment=None, **TINY), small_synthetic / "boom")


def test_any_pipeline_of_steps_trains_at_the_training_size():
    """Every per-image op of the registry in one training transform, sizes that vary on the way included."""
    from augtune.ops import OPS
    from tests.test_ops import EXAMPLES

    for name, op in sorted(OPS.items()):
        if op.family == "mixing":
            continue
        values = {**EXAMPLES[name], **({"size": 40} if "size" in EXAMPLES[name] else {})}  # crops fit 55-px pictures
        spec = AugSpec.from_dict({"steps": [{"op": name, **values}, {"op": "RandomHorizontalFlip"},
                                            {"op": "ColorJitter", "brightness": 0.3}]})
        images = torch.randint(0, 256, (3, 3, stored_side(48), stored_side(48)), dtype=torch.uint8)
        out = train_transform(spec, 48)(images)
        assert out.shape == (3, 3, 48, 48) and out.dtype == torch.uint8, name


@pytest.mark.parametrize("mix", ["MixUp", "CutMix"])
def test_mixup_and_cutmix_train_on_soft_labels(small_synthetic, mix):
    spec = AugSpec.from_dict({"steps": [{"op": "RandomRotation", "degrees": 20}, {"op": "RandomErasing", "p": 0.5},
                                        {"op": mix, "alpha": 1.0}]})
    assert batch_mixer(spec, 4) is not None and batch_mixer(PRESETS["combined"], 4) is None
    result = train(TrainConfig(**TINY, epochs=1, augment=spec), small_synthetic / "out")
    row = result.rows[0]
    assert math.isfinite(row.loss) and 0 <= row.train_acc <= 1 and 0 <= row.test_acc <= 1
    again = TrainConfig.from_dict(json.loads(json.dumps(result.config.to_dict())))
    assert again.augment == spec
