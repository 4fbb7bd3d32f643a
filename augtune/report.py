"""The figures of a training run, and the lesson's published numbers to hold them against.

Figures are built on matplotlib's object API with the Agg canvas (no pyplot state, safe in threads and
headless processes); callers save them and let them go.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# What the lesson (shared/docs/LESSON.md) reports, so students can compare their runs with it.
LESSON_NUMBERS: dict[str, dict[str, Any]] = {
    "hotdog_finetuned": {
        "test_acc": (0.93, 0.94),
        "text": "Hot dog, ResNet-18 fine-tuned from ImageNet, 5 epochs: test accuracy 0.93-0.94 (0.929 in the seed).",
    },
    "hotdog_scratch": {
        "test_acc": (0.78, 0.85),
        "text": "Hot dog, the same network from random weights (lr 0.1), 5 epochs: test accuracy 0.78-0.85.",
    },
    "cifar10_augmented": {
        "test_acc": (0.754, 0.754),
        "text": "CIFAR-10, ResNet-18 with horizontal flips, Adam lr 0.001, 10 epochs: test accuracy 0.754.",
    },
}


def curves_figure(runs: Mapping[str, Sequence[Any]]) -> Figure:
    """Loss (left) and train/test accuracy (right) per epoch; every run overlaid in its own colour."""
    figure = _figure(10, 3.8)
    loss_axes, acc_axes = figure.subplots(1, 2)
    palette = _palette(len(runs))
    for (label, rows), colour in zip(runs.items(), palette):
        rows = [_row_dict(row) for row in rows]
        if not rows:
            continue
        epochs = [row["epoch"] for row in rows]
        loss_axes.plot(epochs, [row["loss"] for row in rows], "o-", color=colour, label=label)
        acc_axes.plot(epochs, [row["train_acc"] for row in rows], "o--", color=colour, alpha=0.6, label=f"{label} train")
        acc_axes.plot(epochs, [row["test_acc"] for row in rows], "o-", color=colour, label=f"{label} test")
    loss_axes.set(title="training loss", xlabel="epoch", ylabel="loss")
    acc_axes.set(title="accuracy (dashed: train, solid: test)", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
    for axes in (loss_axes, acc_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.get_major_locator().set_params(integer=True)
        if runs:
            axes.legend(fontsize="small")
    figure.tight_layout()
    return figure


def confusion_figure(classes: Sequence[str], matrix: Sequence[Sequence[int]]) -> Figure:
    """Rows are the true classes, columns the predicted ones; each row's share printed in its cell."""
    counts = np.asarray(matrix, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    side = 2.5 + 0.55 * len(classes)
    figure = _figure(side + 1, side)
    axes = figure.subplots()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set(xlabel="predicted", ylabel="true", title="confusion matrix (test set)")
    if len(classes) <= 20:
        for row in range(len(classes)):
            for column in range(len(classes)):
                value = int(counts[row, column])
                colour = "white" if shares[row, column] > 0.5 else "black"
                axes.text(column, row, str(value), ha="center", va="center", color=colour, fontsize="small")
    figure.tight_layout()
    return figure


def misclassified_figure(items: Sequence[Mapping[str, Any]], columns: int = 8) -> Figure:
    """A strip of misclassified test images, each titled "pred X / true Y". Items carry an "image"
    (H x W x 3 uint8 array or PIL image) and the "pred" and "true" class names."""
    items = list(items)
    if not items:
        figure = _figure(6, 1.2)
        figure.text(0.5, 0.5, "No misclassified test images.", ha="center", va="center")
        return figure
    columns = min(columns, len(items))
    rows = -(-len(items) // columns)
    figure = _figure(1.6 * columns, 1.9 * rows)
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    for axes, item in zip(grid.flat, items):
        axes.imshow(np.asarray(item["image"]))
        axes.set_title(f"pred {item['pred']}\ntrue {item['true']}", fontsize=8, color="#b00020")
    figure.tight_layout()
    return figure


def lesson_comparison(data: str, pretrained: bool) -> str:
    """The lesson's number for this kind of run, as a sentence, or "" where the lesson has none."""
    if data == "hotdog":
        return LESSON_NUMBERS["hotdog_finetuned" if pretrained else "hotdog_scratch"]["text"]
    if data == "cifar10":
        return LESSON_NUMBERS["cifar10_augmented"]["text"]
    return ""


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _palette(count: int) -> list:
    from matplotlib import colormaps

    cycle = colormaps["tab10"].colors
    return [cycle[index % len(cycle)] for index in range(count)]


def _row_dict(row: Any) -> dict:
    return asdict(row) if is_dataclass(row) else dict(row)


def save(figure: Figure, path) -> None:
    figure.savefig(path, dpi=100)
    figure.clear()
