"""`python -m augtune.train`: the same engine from the command line."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from augtune.train import main

ROOT = Path(__file__).resolve().parents[1]
LOG_LINE = re.compile(r"^epoch \d+, loss \d+\.\d{4}, train acc [01]\.\d{3}, test acc [01]\.\d{3}, time \d+\.\d sec$")


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "AUGTUNE_CACHE": str(tmp_path / "cache"),
        "AUGTUNE_SYNTHETIC": "40x16x4",
        "AUGTUNE_OFFLINE": "1",
        "TORCH_HOME": str(tmp_path / "torch"),
        # Sleeping, not spinning, OpenMP threads: on a busy machine spinning ones make training 10x slower.
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    return subprocess.run(
        [sys.executable, "-m", "augtune.train", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_trains_and_writes_its_outputs(tmp_path):
    out = tmp_path / "out"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"hflip_p": 0.5, "hue": 0.5, "brightness": 0.0, "contrast": 0.0, "saturation": 0.0}))
    done = run_cli(tmp_path, "--data", "synthetic", "--epochs", "2", "--scratch", "--image-size", "32",
                   "--batch-size", "16", "--augment", str(spec), "--out", str(out), "--label", "cli run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and all(LOG_LINE.match(line) for line in lines), done.stdout
    assert "device cpu" in done.stderr and "classes (train/test images): cross 16/4" in done.stderr

    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert set(rows[0]) == {"epoch", "loss", "train_acc", "test_acc", "seconds", "images_per_s"}
    state = torch.load(out / "model.pt", weights_only=True)
    assert state["fc.weight"].shape == (4, 512)
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    result = json.loads((out / "result.json").read_text())
    assert result["config"]["augment"]["hue"] == 0.5 and result["config"]["pretrained"] is False
    assert result["config"]["label"] == "cli run"


def test_cli_help_documents_every_setting(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for option in ("--data", "--epochs", "--pretrained", "--scratch", "--weights", "--augment", "--out", "--batch-size",
                   "--image-size", "--lr", "--head-lr-mult", "--optimizer", "--weight-decay", "--seed", "--device", "--label"):
        assert option in text, option
    assert "hotdog" in text and "weights_only=True" in text


def test_cli_error_exits_2_with_one_line(tmp_path):
    done = run_cli(tmp_path, "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "never"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: There is no data folder or .zip file called {str(tmp_path / 'missing')!r} in the data folder."]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--augment", "sideways"], "--augment must be none, a preset"),
        (["--augment", "missing.json"], "could not be read"),
        (["--epochs", "0"], "epochs must be between 1 and 100"),
        (["--epochs", "many"], "invalid int value"),
        (["--optimizer", "rmsprop"], "invalid choice"),
        (["--scratch", "--pretrained"], "not allowed with argument"),
        (["--pretrained", "--epochs", "1"], "offline; choose the built-in backbone or train from scratch"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.setenv("AUGTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AUGTUNE_SYNTHETIC", "32x2x1")
    monkeypatch.setenv("AUGTUNE_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    try:
        code = main([*args, "--image-size", "32", "--out", str(tmp_path / "out")])
    except SystemExit as exited:  # argparse's own errors
        code = exited.code
    assert code == 2
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    # Progress lines may come first (the error came after data preparation started); the error is one line.
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == errors[0]
