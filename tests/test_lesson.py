"""The lesson's experiments (augtune.lesson): recipes, runs, files and the command line, on tiny synthetic data."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from augtune import PRESETS
from augtune import report
from augtune.lesson import EXPERIMENTS, RECIPES, STRONGER, experiment_configs, main, run_experiment
from augtune import model
from augtune.model import build_model
from augtune.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^(augmented|no augmentation|fine-tuned|scratch): epoch \d+, loss \d+\.\d{4}, train acc [01]\.\d{3}, "
                  r"test acc [01]\.\d{3}, time \d+\.\d sec$")
TINY = dict(image_size=32, batch_size=16, epochs=1)


@pytest.fixture
def small_synthetic(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AUGTUNE_SYNTHETIC", "40x16x4")
    monkeypatch.setenv("AUGTUNE_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


# What each experiment changes between its runs; a new experiment must say it here.
DIFFERS = {
    "augmentation": {"augment"},
    "finetuning": {"pretrained", "lr", "head_lr_mult"},
    "no-augmentation": set(),
    "stronger-augmentation": {"augment"},
    "raised-lr": {"lr"},
    "frozen-backbone": {"freeze_backbone"},
    "hotdog-head": {"head_init"},
}


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_each_run_gets_its_lessons_recipe_and_only_one_thing_differs(name):
    base = TrainConfig(augment=PRESETS["hotdog_train"], epochs=7, batch_size=64, image_size=48, seed=3)
    runs = experiment_configs(name, base)
    assert [run.label for run in runs] == [run.label for run in EXPERIMENTS[name].runs]
    for config, run in zip(runs, EXPERIMENTS[name].runs):
        expected = {**RECIPES[run.recipe].settings, **dict(run.changes)}
        assert {key: getattr(config, key) for key in expected} == expected
        assert (config.epochs, config.batch_size, config.image_size, config.seed) == (7, 64, 48, 3), "the data's settings are the base's"
        assert config.augment == {"base": PRESETS["hotdog_train"], "none": None, "stronger": STRONGER}[run.augment]
    differing = {f for f in TrainConfig.__dataclass_fields__ if len({getattr(run, f) for run in runs}) > 1} - {"label"}
    assert differing == DIFFERS[name]
    assert EXPERIMENTS[name].title and all(key in report.LESSON_NUMBERS for key in EXPERIMENTS[name].published)


def test_the_recipes_are_the_lessons():
    assert RECIPES["finetune"].settings == {"pretrained": True, "optimizer": "sgd", "lr": 0.01, "head_lr_mult": 10.0, "weight_decay": 0.001}
    assert (RECIPES["scratch"].settings["lr"], RECIPES["scratch"].settings["head_lr_mult"]) == (0.1, 1.0)
    assert (RECIPES["augmentation"].settings["optimizer"], RECIPES["augmentation"].settings["lr"]) == ("adam", 0.001)
    assert not RECIPES["augmentation"].settings["pretrained"]


def test_augmentation_experiment_writes_its_comparison(small_synthetic):
    lines = []
    out = small_synthetic / "lesson"
    comparison = run_experiment("augmentation", TrainConfig(**TINY), out, seeds=2,
                                on_event=lambda label, event: lines.append((label, event["kind"])))
    saved = json.loads((out / "comparison.json").read_text())
    assert saved == comparison
    assert [(run["label"], run["seed"]) for run in saved["runs"]] == [
        ("augmented", 0), ("no augmentation", 0), ("augmented", 1), ("no augmentation", 1)]
    for run in saved["runs"]:
        assert run["final_test_acc"] == run["rows"][-1]["test_acc"] and len(run["rows"]) == 1
        assert TrainConfig.from_dict(run["config"]).optimizer == "adam"
        assert (out / run["folder"] / "model.pt").is_file()
    augmented = [run["final_test_acc"] for run in saved["runs"] if run["label"] == "augmented"]
    assert saved["summary"][0]["label"] == "augmented"
    assert saved["summary"][0]["final_test_acc"] == pytest.approx(sum(augmented) / 2)
    assert "0.754" in saved["published"][0]
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert ("augmented", "epoch") in lines and ("no augmentation", "epoch") in lines


def test_finetuning_experiment_from_a_weights_file_on_the_command_line(small_synthetic, capsys):
    weights = small_synthetic / "backbone.pt"
    torch.save(build_model(1000, pretrained=False).state_dict(), weights)
    out = small_synthetic / "ft"
    code = main(["finetuning", "--weights", str(weights), "--image-size", "32", "--batch-size", "16", "--epochs", "1",
                 "--out", str(out), "--quiet"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    lines = printed.out.strip().splitlines()
    assert [line for line in lines if LINE.match(line)] == lines[:2]
    assert lines[0].startswith("fine-tuned: epoch 1") and lines[1].startswith("scratch: epoch 1")
    assert "Published in the lesson:" in printed.out and "0.93-0.94" in printed.out and "0.78-0.85" in printed.out
    runs = json.loads((out / "comparison.json").read_text())["runs"]
    assert runs[0]["config"]["weights_path"] == str(weights) and runs[1]["config"]["weights_path"] is None
    assert (runs[1]["config"]["lr"], runs[1]["config"]["head_lr_mult"]) == (0.1, 1.0)


def test_command_line_errors_are_one_line(small_synthetic):
    env = {**os.environ, "AUGTUNE_OFFLINE": "1", "AUGTUNE_CACHE": str(small_synthetic / "cache"), "AUGTUNE_SYNTHETIC": "40x16x4"}
    for args, message in (
        (["dropout"], "error: argument experiment: invalid choice"),
        (["augmentation", "--seeds", "0", "--out", str(small_synthetic / "x")], "error: seeds must be a whole number between 1 and 20, got 0."),
        (["finetuning", "--weights", str(small_synthetic / "missing.pt"), "--epochs", "1", "--out", str(small_synthetic / "y")],
         "error: There is no weights file called missing.pt."),
    ):
        done = subprocess.run([sys.executable, "-m", "augtune.lesson", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith(message), done.stderr
        assert "Traceback" not in done.stderr


def test_the_tabs_comparison_is_the_lessons_experiments():
    from augtune.service.finetune_logic import comparison_configs

    base = TrainConfig(**TINY)  # pretrained by default: both experiments
    runs = comparison_configs(base)
    expected = experiment_configs("augmentation", base) + experiment_configs("finetuning", base)
    assert [dataclasses.replace(run, label="") for run in runs] == [dataclasses.replace(run, label="") for run in expected]
    assert [run.label for run in runs] == ["scratch, lr 0.001, augmented", "scratch, lr 0.001, no augmentation",
                                           "pretrained, lr 0.01, augmented", "scratch, lr 0.1, augmented"]
    scratch_only = comparison_configs(TrainConfig(pretrained=False, **TINY))
    assert [run.optimizer for run in scratch_only] == ["adam", "adam"]


def test_a_frozen_backbone_stays_as_it_was_loaded_and_only_the_head_learns(small_synthetic):
    from augtune.train import train

    weights = small_synthetic / "backbone.pt"
    torch.save(build_model(1000, pretrained=False).state_dict(), weights)
    config = TrainConfig(weights_path=str(weights), freeze_backbone=True, augment=None, **TINY)
    train(config, small_synthetic / "frozen")
    before = torch.load(weights, weights_only=True)
    after = torch.load(small_synthetic / "frozen" / "model.pt", weights_only=True)
    learnable = [name for name, _ in build_model(4, pretrained=False).named_parameters()]
    assert all(torch.equal(before[name], after[name]) for name in learnable if not name.startswith("fc."))
    assert after["fc.weight"].shape == (4, 512)


def test_the_hot_dog_row_of_imagenets_head_starts_the_new_heads_hot_dog_row(tmp_path, monkeypatch):
    """With (fake, ImageNet-shaped) weights in torchvision's cache, as the lesson's exercise asks."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("AUGTUNE_OFFLINE", "1")
    imagenet = build_model(1000, pretrained=False).state_dict()
    model.cached_weights_file().parent.mkdir(parents=True)
    torch.save(imagenet, model.cached_weights_file())

    net = build_model(2, pretrained=True)
    model.init_head_rows(net, ["hotdog", "not-hotdog"], model.parse_head_rows("hotdog=934"), model.pretrained_head(True, None))
    assert torch.equal(net.fc.weight[0], imagenet["fc.weight"][934]) and net.fc.bias[0] == imagenet["fc.bias"][934]
    assert not torch.equal(net.fc.weight[1], imagenet["fc.weight"][934])

    with pytest.raises(model.TrainError, match="names the class 'hot dog', which this data set does not have"):
        model.init_head_rows(net, ["hotdog", "not-hotdog"], {"hot dog": 934}, model.pretrained_head(True, None))
    with pytest.raises(model.TrainError, match="row 1000 of the pretrained output layer, which has 1000 rows"):
        model.init_head_rows(net, ["hotdog", "not-hotdog"], {"hotdog": 1000}, model.pretrained_head(True, None))
    with pytest.raises(model.TrainError, match="a run from scratch has none"):
        model.pretrained_head(False, None)
    with pytest.raises(ValueError, match="head_init must look like hotdog=934"):
        TrainConfig(head_init="hotdog:934")


def test_head_init_reaches_the_trained_model(small_synthetic):
    from augtune.train import train

    weights = small_synthetic / "imagenet-shaped.pt"
    source = build_model(1000, pretrained=False).state_dict()
    torch.save(source, weights)
    config = TrainConfig(weights_path=str(weights), head_init="disc=934", lr=1e-6, head_lr_mult=1, augment=None, **TINY)
    result = train(config, small_synthetic / "head")
    trained = torch.load(small_synthetic / "head" / "model.pt", weights_only=True)
    disc = result.classes.index("disc")
    assert torch.allclose(trained["fc.weight"][disc], source["fc.weight"][934], atol=1e-4)
