"""The built-in backbone: the lesson's step 1 ("pre-train a source model on a big data set") at classroom
scale, offline, so that fine-tuning can be shown where ImageNet's weights cannot be had.

    python -m augtune.pretrain --out assets/builtin-resnet18.pt

Source task: augtune.synthetic's 17 source classes (12 shapes and 5 textures, none of them a class of the
synthetic target set, no colour or position shortcut), 100 training and 25 test pictures each, drawn at 55 px.
Recipe: ResNet-18 from random weights with the augmentation lesson's recipe (Adam lr 0.001, no weight decay),
batch 16, 48 px, the combined training augmentation (crops of 60-100 %), 16 epochs, seed 0, through the app's
own train(). About 8.5 minutes on 2 CPU cores; source test accuracy 0.880 (8 epochs gave 0.760, and a
backbone whose fine-tuned test accuracy swung from epoch to epoch: 0.775 at the end of one of 3 seeds).

Writes FILE: the backbone's tensors without `fc`, floating point ones in fp16 (half the size; fine-tuning
casts them back to fp32), loadable with torch.load(weights_only=True); and FILE with .json for .pt: the
source classes and counts, the recipe, every epoch's row, the source test accuracy, the time and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import torch

from .lesson import RECIPES
from .synthetic import SyntheticSpec, ensure_synthetic
from .spec import PRESETS
from .train import OneLineParser, TrainConfig, run_command, train

SOURCE = SyntheticSpec(train_per_class=100, test_per_class=25, source=True)
EPOCHS = 16


def recipe(data: str, epochs: int = EPOCHS, seed: int = 0, device: str = "auto") -> TrainConfig:
    """The augmentation lesson's recipe (from scratch, Adam) at the built-in set's sizes."""
    return RECIPES["augmentation"].apply(TrainConfig(data=data, epochs=epochs, batch_size=16, image_size=48,
                                                     augment=PRESETS["combined_train"], seed=seed, device=device,
                                                     label="source task"))


def pretrain(out: Path, epochs: int = EPOCHS, seed: int = 0, device: str = "auto", show=print) -> dict:
    """Trains the source task and writes `out` and its .json record; returns the record."""
    started = time.perf_counter()
    folder = ensure_synthetic(SOURCE)
    config = recipe(str(folder), epochs, seed, device)
    with tempfile.TemporaryDirectory() as work:
        result = train(config, Path(work), allowed_roots=[folder.parent],
                       on_event=lambda event: event["kind"] == "epoch" and show(event["log_line"]))
        state = torch.load(Path(work) / "model.pt", map_location="cpu", weights_only=True)
    backbone = {k: v.half() if v.is_floating_point() else v for k, v in state.items() if not k.startswith("fc.")}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(backbone, out)
    record = {
        "file": out.name,
        "what": "ResNet-18 backbone (no fc), fp16, pretrained by augtune.pretrain on the synthetic source task",
        "source_classes": list(SOURCE.classes),
        "source_images": {"train_per_class": SOURCE.train_per_class, "test_per_class": SOURCE.test_per_class,
                          "side_px": SOURCE.size, "synthetic_version": SOURCE.folder_name},
        "recipe": {**config.to_dict(), "data": "synthetic source task"},
        "rows": [{"epoch": r.epoch, "loss": r.loss, "train_acc": r.train_acc, "test_acc": r.test_acc,
                  "seconds": r.seconds} for r in result.rows],
        "source_test_acc": result.rows[-1].test_acc,
        "seconds": round(time.perf_counter() - started, 1),
        "device": result.device,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "bytes": out.stat().st_size,
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m augtune.pretrain", description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", required=True, metavar="FILE", help="where the backbone goes (the app reads assets/builtin-resnet18.pt)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    def body() -> int:
        record = pretrain(Path(args.out), args.epochs, args.seed, args.device)
        print(f"source test acc {record['source_test_acc']:.3f} after {len(record['rows'])} epochs, "
              f"{record['seconds']:.0f} s; wrote {args.out} ({record['bytes'] / 1e6:.1f} MB) and its .json", file=sys.stderr)
        return 0

    return run_command(body)


if __name__ == "__main__":
    sys.exit(main())
