"""The lesson's two experiments and the chapters' exercises, one command each:
`python -m augtune.lesson augmentation|finetuning|no-augmentation|stronger-augmentation|raised-lr|frozen-backbone|hotdog-head --out DIR`.

Each experiment trains the same network twice, with one thing changed, and puts the runs side by side:
- augmentation: from scratch, the augmentation lesson's recipe (Adam, lr 0.001), the combined augmentation
  against none;
- finetuning: the fine-tuning lesson's two recipes with the same augmentation and epochs: pretrained weights
  (ImageNet where they are cached or reachable, else the built-in backbone: augtune.pretrain), SGD lr 0.01 with
  the new head at 10x, against the same network from random weights at SGD lr 0.1 with one parameter group.

The recipes set only what the lessons fix (weights, optimiser, learning rates, weight decay); the data's own
settings (image size, batch, epochs) come from the base configuration. It prints the lesson's log line per
epoch (named by run), a final table with the published numbers beside the measured ones, and writes
`comparison.json` (per run: label, seed, config, rows, final train/test accuracy) and `comparison.png`
(the curves overlaid, averaged over the seeds) into `--out`, each run's own files in a folder of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from . import report
from .spec import PRESETS
from .model import choose_weights
from .train import OneLineParser, TrainConfig, run_command, train

MAX_SEEDS = 20
COMPARISON_EPOCHS = 8

__all__ = ["RECIPES", "EXPERIMENTS", "Recipe", "Run", "Experiment", "check_experiment", "experiment_configs", "run_experiment", "main"]


@dataclass(frozen=True)
class Recipe:
    """What one lesson fixes about a run, and a line that says whose recipe it is."""

    source: str
    settings: dict[str, Any]

    def apply(self, config: TrainConfig) -> TrainConfig:
        return dataclasses.replace(config, **self.settings)


RECIPES: dict[str, Recipe] = {
    "finetune": Recipe(
        "The fine-tuning lesson: pretrained ResNet-18, SGD lr 0.01, the new output layer at 10x, weight decay 0.001.",
        {"pretrained": True, "optimizer": "sgd", "lr": 0.01, "head_lr_mult": 10.0, "weight_decay": 0.001},
    ),
    "scratch": Recipe(
        "The fine-tuning lesson's comparison: the same network from random weights, SGD lr 0.1, one parameter group.",
        {"pretrained": False, "weights_path": None, "optimizer": "sgd", "lr": 0.1, "head_lr_mult": 1.0, "weight_decay": 0.001},
    ),
    "augmentation": Recipe(
        "The augmentation lesson: ResNet-18 from random weights, Adam lr 0.001.",
        {"pretrained": False, "weights_path": None, "optimizer": "adam", "lr": 0.001, "head_lr_mult": 1.0, "weight_decay": 0.0},
    ),
}


@dataclass(frozen=True)
class Run:
    label: str
    recipe: str  # a key of RECIPES
    augment: str = "base"  # "base" (the base configuration's, else the combined one), "none" or "stronger"
    changes: tuple[tuple[str, Any], ...] = ()  # TrainConfig fields set on top of the recipe


@dataclass(frozen=True)
class Experiment:
    title: str
    runs: tuple[Run, ...]
    published: tuple[str, ...] = ()  # keys of report.LESSON_NUMBERS
    weights: str = "auto"  # what --weights auto means for it (choose_weights)
    data: str = ""  # the data set it needs, when it needs one

    @property
    def fine_tunes(self) -> bool:
        return any(run.recipe == "finetune" for run in self.runs)


# The lesson's combined augmentation, pushed further: smaller crops, both flips, stronger colour.
STRONGER = PRESETS["combined_train"].replace(vflip_p=0.5, scale_min=0.35, brightness=0.8, contrast=0.8, saturation=0.8)

EXPERIMENTS: dict[str, Experiment] = {
    # The lesson's two claims.
    "augmentation": Experiment(
        "Training with augmentation against without it",
        (Run("augmented", "augmentation"), Run("no augmentation", "augmentation", "none")),
        ("cifar10_augmented",),
    ),
    "finetuning": Experiment(
        "Fine-tuning pretrained weights against training from scratch",
        (Run("fine-tuned", "finetune"), Run("scratch", "scratch")),
        ("hotdog_finetuned", "hotdog_scratch"),
    ),
    # The chapters' exercises.
    "no-augmentation": Experiment(
        "Exercise: no augmentation at all (watch train accuracy leave test accuracy behind)",
        (Run("no augmentation", "augmentation", "none"),),
        ("cifar10_augmented",),
    ),
    "stronger-augmentation": Experiment(
        "Exercise: a stronger combined augmentation against the lesson's",
        (Run("augmented", "augmentation"), Run("stronger", "augmentation", "stronger")),
    ),
    "raised-lr": Experiment(
        "Exercise: fine-tuning at a raised learning rate",
        (Run("fine-tuned", "finetune"), Run("fine-tuned, lr 0.1", "finetune", changes=(("lr", 0.1),))),
        ("hotdog_finetuned",),
    ),
    "frozen-backbone": Experiment(
        "Exercise: only the new output layer trained (backbone frozen) against everything fine-tuned",
        (Run("fine-tuned", "finetune"), Run("frozen backbone", "finetune", changes=(("freeze_backbone", True),))),
        ("hotdog_finetuned",),
    ),
    "hotdog-head": Experiment(
        "Exercise: the new head's hot-dog row started from ImageNet's hot-dog class (row 934), on the hot-dog set",
        (Run("fine-tuned", "finetune"), Run("head from ImageNet's hot dog", "finetune", changes=(("head_init", "hotdog=934"),))),
        ("hotdog_finetuned",),
        weights="imagenet",
        data="hotdog",
    ),
}


def experiment_configs(name: str, base: TrainConfig) -> list[TrainConfig]:
    """The experiment's runs around `base`: each its lesson's recipe, with or without `base`'s augmentation
    (the combined one when `base` has none). A weights file in `base` is the fine-tuned run's pretrained model
    (the fine-tuning recipe keeps it; the scratch recipes drop it)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"The experiment must be one of {', '.join(EXPERIMENTS)}, got {name!r}.")
    augments = {"base": base.augment if base.augment is not None else PRESETS["combined_train"], "none": None,
                "stronger": STRONGER}
    configs = []
    for run in EXPERIMENTS[name].runs:
        config = RECIPES[run.recipe].apply(dataclasses.replace(base, augment=augments[run.augment], label=run.label))
        configs.append(dataclasses.replace(config, **dict(run.changes)))
    return configs


def check_experiment(name: str, base: TrainConfig) -> None:
    """ValueError in one sentence when `base` cannot carry the experiment (before anything is queued)."""
    experiment = EXPERIMENTS[name]
    if experiment.data and base.data != experiment.data:
        raise ValueError(f"The experiment {name} needs the {experiment.data} data set; choose it first.")
    if experiment.fine_tunes and not (base.pretrained or base.weights_path):
        raise ValueError(f"The experiment {name} fine-tunes a pretrained model; choose ImageNet, the built-in backbone "
                         f"or your weights file first.")
    if experiment.weights == "imagenet" and base.weights_path:
        raise ValueError(f"The experiment {name} starts from the ImageNet weights; choose them as the model first.")


def run_experiment(
    name: str,
    base: TrainConfig,
    out_dir: Path,
    seeds: int = 1,
    on_event: Callable[[str, dict], None] | None = None,
    *,
    allowed_roots: Sequence[Path] | None = None,
) -> dict[str, Any]:
    """Train every run of the experiment for `seeds` seeds (base.seed, base.seed + 1, ...), one after the
    other; write comparison.json and comparison.png into `out_dir` and return what comparison.json holds.
    `on_event(label, event)` sees every run's events. Raises TrainError or Cancelled as train() does."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        raise ValueError(f"seeds must be a whole number between 1 and {MAX_SEEDS}, got {seeds!r}.")
    check_experiment(name, base)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in range(base.seed, base.seed + seeds):
        for config, run in zip(experiment_configs(name, dataclasses.replace(base, seed=seed)), EXPERIMENTS[name].runs):
            forward = (lambda event, label=config.label: on_event(label, event)) if on_event else None
            folder = out_dir / f"{_slug(config.label)}-seed{seed}"
            result = train(config, folder, on_event=forward, allowed_roots=allowed_roots)
            rows = [dataclasses.asdict(row) for row in result.rows]
            runs.append({
                "label": config.label,
                "seed": seed,
                "recipe": RECIPES[run.recipe].source,
                "config": config.to_dict(),
                "rows": rows,
                "final_train_acc": rows[-1]["train_acc"],
                "final_test_acc": rows[-1]["test_acc"],
                "folder": folder.name,
            })
    comparison = {
        "experiment": name,
        "title": EXPERIMENTS[name].title,
        "seeds": seeds,
        "runs": runs,
        "summary": _summary(runs),
        "published": [report.LESSON_NUMBERS[key]["text"] for key in EXPERIMENTS[name].published],
    }
    (out_dir / "comparison.json").write_text(json.dumps(comparison, indent=2))
    report.save(report.curves_figure(_mean_rows(runs)), out_dir / "comparison.png")
    return comparison


def _summary(runs: list[dict]) -> list[dict]:
    """Per label: the final accuracies' mean and standard deviation over the seeds."""
    summary = []
    for label in dict.fromkeys(run["label"] for run in runs):
        mine = [run for run in runs if run["label"] == label]
        entry: dict[str, Any] = {"label": label, "runs": len(mine)}
        for key in ("final_train_acc", "final_test_acc"):
            values = [run[key] for run in mine]
            entry[key] = statistics.mean(values)
            entry[key + "_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        summary.append(entry)
    return summary


def _mean_rows(runs: list[dict]) -> dict[str, list[dict]]:
    """Each label's rows averaged over its seeds, epoch by epoch (what the picture shows)."""
    curves = {}
    for label in dict.fromkeys(run["label"] for run in runs):
        seeded = [run["rows"] for run in runs if run["label"] == label]
        curves[label] = [
            {key: statistics.mean(rows[epoch][key] for rows in seeded) for key in seeded[0][epoch]}
            for epoch in range(min(len(rows) for rows in seeded))
        ]
    return curves


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")


def format_table(comparison: dict) -> str:
    seeds = comparison["seeds"]
    lines = [
        f"{comparison['title']} ({seeds} seed{'s' if seeds > 1 else ''}):",
        f"{'run':<18} {'train acc':>16} {'test acc':>16}",
    ]
    for entry in comparison["summary"]:
        cells = [f"{entry[key]:.3f} ± {entry[key + '_sd']:.3f}" for key in ("final_train_acc", "final_test_acc")]
        lines.append(f"{entry['label']:<18} {cells[0]:>16} {cells[1]:>16}")
    lines += ["Published in the lesson:"] + [f"  {text}" for text in comparison["published"]]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    def body() -> int:
        experiment = EXPERIMENTS[args.experiment]
        choice = experiment.weights if args.weights == "auto" else args.weights
        pretrained, weights_path, weights_said = choose_weights(choice) if experiment.fine_tunes else (False, None, "")
        if weights_said and not args.quiet:
            print(weights_said, file=sys.stderr, flush=True)
        base = TrainConfig(
            data=args.data or experiment.data or "synthetic",
            pretrained=pretrained,
            weights_path=weights_path,
            epochs=args.epochs,
            batch_size=args.batch_size,
            image_size=args.image_size,
            seed=args.seed,
            device=args.device,
        )

        def show(label: str, event: dict) -> None:
            if event["kind"] == "epoch":
                print(f"{label}: {event['log_line']}", flush=True)
            elif event["kind"] == "status" and not args.quiet:
                print(f"{label}: {event['message']}", file=sys.stderr, flush=True)

        comparison = run_experiment(args.experiment, base, Path(args.out), seeds=args.seeds, on_event=show,
                                    allowed_roots=[Path("/")])
        print(format_table(comparison), flush=True)
        if not args.quiet:
            print(f"wrote comparison.json and comparison.png to {args.out}", file=sys.stderr)
        return 0

    return run_command(body)


def _parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = OneLineParser(
        prog="python -m augtune.lesson",
        description="Run one of the lesson's experiments: two runs that differ in one thing, each with its lesson's "
        "recipe, printed as the lesson's log lines and a final table beside the published numbers. Writes "
        "comparison.json, comparison.png and each run's files into --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("experiment", choices=tuple(EXPERIMENTS),
                        help="; ".join(f"{name}: {experiment.title}" for name, experiment in EXPERIMENTS.items()))
    parser.add_argument("--data", default=None, help="synthetic, hotdog, cifar10, a folder or a .zip (as for augtune.train); "
                        "default: synthetic, or hotdog for hotdog-head")
    parser.add_argument("--weights", default="auto", metavar="auto|imagenet|builtin|FILE",
                        help="the fine-tuned runs' pretrained model: torchvision's ImageNet weights, the built-in backbone, or a "
                        "ResNet-18 state_dict file; auto takes ImageNet where it is cached or reachable, else the built-in one")
    parser.add_argument("--seeds", type=int, default=1, help="repeat every run with this many seeds and average")
    parser.add_argument("--epochs", type=int, default=COMPARISON_EPOCHS,
                        help="epochs of every run (on the synthetic set, 8 let the augmented run pass 0.85)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--image-size", type=int, default=defaults.image_size)
    parser.add_argument("--seed", type=int, default=defaults.seed, help="the first seed")
    parser.add_argument("--device", default=defaults.device)
    parser.add_argument("--out", default="runs/lesson", metavar="DIR")
    parser.add_argument("--quiet", action="store_true", help="print only the log lines and the table")
    return parser


if __name__ == "__main__":
    sys.exit(main())
