"""The built-in backbone (augtune.pretrain, assets/builtin-resnet18.pt) and the choice of pretrained weights:
fine-tuning that works offline, from a file the project makes itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from augtune import model, pretrain, synthetic
from augtune.lesson import check_experiment, main as lesson_main
from augtune.model import BUILTIN, build_model, choose_weights
from augtune.synthetic import CLASSES, SOURCE_CLASSES, SyntheticSpec, draw_scene
from augtune.train import TrainConfig, TrainError

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_backbone_is_a_small_safe_resnet18_with_its_record():
    path = ROOT / "assets" / "builtin-resnet18.pt"
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert not any(key.startswith("fc.") for key in state)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}  # half the size
    assert path.stat().st_size < 23_000_000
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["source_classes"] == list(SOURCE_CLASSES) and record["recipe"]["seed"] == 0
    assert 0.5 < record["source_test_acc"] <= 1 and len(record["rows"]) == record["recipe"]["epochs"]

    net = build_model(4, weights_path=BUILTIN)  # fp32 again, a new head of 4 classes
    assert net.fc.out_features == 4 and net.conv1.weight.dtype == torch.float32
    assert torch.equal(net.conv1.weight, state["conv1.weight"].float())


def test_the_source_task_shares_no_class_with_the_target_and_has_no_shortcut():
    assert not set(SOURCE_CLASSES) & set(CLASSES) and len(SOURCE_CLASSES) == 17
    assert SyntheticSpec(source=True).folder_name.startswith("synthetic-source-v")
    # A source shape has any colour and sits anywhere in training too: nothing but its shape tells it apart.
    from tests.test_synthetic import circular_spread, object_stats

    hues, centres = zip(*(object_stats(draw_scene("star", "train", i, 64)) for i in range(24)))
    assert circular_spread(hues) > 0.35
    assert min(centres) < 0.45 and max(centres) > 0.55
    for name in SOURCE_CLASSES:  # every class draws a coloured object over the muted (saturation <= 0.25) background
        pixels = np.asarray(draw_scene(name, "test", 0, 55), dtype=np.float32) / 255
        top, bottom = pixels.max(axis=2), pixels.min(axis=2)
        saturated = (top - bottom) / np.maximum(top, 1e-6) > 0.45
        assert pixels.shape == (55, 55, 3) and saturated.sum() > 100, name


def test_pretrain_writes_a_half_precision_backbone_that_fine_tuning_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pretrain, "SOURCE", SyntheticSpec(size=40, train_per_class=2, test_per_class=1, source=True))
    lines = []
    out = tmp_path / "backbone.pt"
    record = pretrain.pretrain(out, epochs=1, device="cpu", show=lines.append)
    assert lines and lines[0].startswith("epoch 1, loss ")
    state = torch.load(out, weights_only=True)
    assert not any(key.startswith("fc.") for key in state) and state["conv1.weight"].dtype == torch.float16
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved == record and saved["source_images"]["train_per_class"] == 2
    assert saved["recipe"]["optimizer"] == "adam" and saved["recipe"]["augment"]["scale_min"] == 0.6
    assert build_model(2, weights_path=str(out)).fc.out_features == 2


def test_a_missing_or_lfs_pointer_backbone_says_how_to_get_it(tmp_path, monkeypatch):
    pointer = tmp_path / "builtin-resnet18.pt"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 22409405\n")
    monkeypatch.setattr(model, "BUILTIN_WEIGHTS", pointer)
    with pytest.raises(TrainError, match=r"missing or is only a Git LFS pointer; run git lfs pull, or make it with "
                                         r"python -m augtune.pretrain"):
        build_model(4, weights_path=BUILTIN)


def test_auto_takes_imagenet_where_it_can_be_had_else_the_builtin_backbone(monkeypatch):
    monkeypatch.setattr(model, "imagenet_weights_state", lambda: ("offline", ""))
    assert choose_weights("auto") == (True, BUILTIN, "Starting from the built-in backbone: the ImageNet weights are not "
                                                     "cached and this machine is offline.")
    monkeypatch.setattr(model, "imagenet_weights_state", lambda: ("unreachable", "timed out"))
    assert choose_weights("auto")[1] == BUILTIN and "did not answer: timed out" in choose_weights("auto")[2]
    monkeypatch.setattr(model, "imagenet_weights_state", lambda: ("cached", ""))
    assert choose_weights("auto") == (True, None, "Starting from the ImageNet weights (cached).")
    assert choose_weights("imagenet")[:2] == (True, None) and choose_weights("scratch")[:2] == (False, None)
    assert choose_weights("builtin")[:2] == (True, BUILTIN) and choose_weights("/x/my.pt")[:2] == (True, "/x/my.pt")


def test_the_finetuning_lesson_runs_offline_from_the_builtin_backbone(tmp_path, monkeypatch, capsys):
    for name, value in (("AUGTUNE_CACHE", tmp_path / "cache"), ("AUGTUNE_SYNTHETIC", "40x8x2"), ("AUGTUNE_OFFLINE", "1"),
                        ("TORCH_HOME", tmp_path / "torch")):
        monkeypatch.setenv(name, str(value))
    out = tmp_path / "ft"
    code = lesson_main(["finetuning", "--image-size", "32", "--epochs", "1", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "Starting from the built-in backbone: the ImageNet weights are not cached and this machine is offline." in printed.err
    runs = json.loads((out / "comparison.json").read_text())["runs"]
    assert [run["config"]["weights_path"] for run in runs] == [BUILTIN, None]
    assert [run["label"] for run in runs] == ["fine-tuned", "scratch"]


@pytest.mark.parametrize("name, base, sentence", [
    ("hotdog-head", TrainConfig(), "The experiment hotdog-head needs the hotdog data set; choose it first."),
    ("hotdog-head", TrainConfig(data="hotdog", weights_path=BUILTIN),
     "The experiment hotdog-head starts from the ImageNet weights; choose them as the model first."),
    ("raised-lr", TrainConfig(pretrained=False),
     "The experiment raised-lr fine-tunes a pretrained model; choose ImageNet, the built-in backbone or your weights file first."),
    ("frozen-backbone", TrainConfig(pretrained=False),
     "The experiment frozen-backbone fine-tunes a pretrained model; choose ImageNet, the built-in backbone or your weights file first."),
])
def test_an_experiment_that_its_settings_cannot_carry_is_refused_in_one_sentence(name, base, sentence):
    with pytest.raises(ValueError) as refused:
        check_experiment(name, base)
    assert str(refused.value) == sentence
    from augtune.service.finetune_text import engine_text

    assert engine_text(sentence, "zh-CN") != sentence  # and the page says it in Chinese too


def test_every_experiment_fits_the_default_settings_but_hotdog_head():
    from augtune.lesson import EXPERIMENTS

    for name in EXPERIMENTS:
        if name != "hotdog-head":
            check_experiment(name, TrainConfig(weights_path=BUILTIN))
    check_experiment("hotdog-head", TrainConfig(data="hotdog"))
