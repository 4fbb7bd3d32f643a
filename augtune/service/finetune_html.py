"""The Fine-tune tab's panels as HTML, each in the one language of the locale its event reports
(`finetune_text.say`): what a data choice holds, the model's and the recipe's notes, the training
augmentation, each run's status and the results after training."""

from __future__ import annotations

import html
import re
from typing import Any

from augtune.lesson import RECIPES
from augtune.spec import AugSpec

from .finetune_logic import MODEL_RECIPE, augment_spec
from .finetune_text import run_label, say, say_engine


def describe_data(locale: str | None, kind: str, folder: str | None = None, zip_file: str | None = None) -> str:
    """HTML: the classes and image counts of a data choice, before any training."""
    from augtune import data

    if kind == "folder" and not folder:
        return say(locale, "ft.data.pick_folder")
    if kind == "zip" and not zip_file:
        return say(locale, "ft.data.pick_zip")
    source = {"folder": folder, "zip": zip_file}.get(kind, kind)
    try:
        info = data.describe(source)
    except (data.TrainError, ValueError, OSError) as error:
        return f'<div class="ft-error">{say_engine(locale, str(error))}</div>'
    parts = [data_table(locale, info)]
    if kind == "synthetic":
        parts.append(f"<p>{say(locale, 'ft.data.bias')}</p>")
    elif kind in ("hotdog", "cifar10"):
        if _downloaded(kind):
            parts.append(f"<p>{say(locale, 'ft.data.cached')}</p>")
        elif data.offline():
            parts.append(f'<p class="ft-error">{say(locale, "ft.data.offline")}</p>')
        else:
            parts.append(f"<p>{say(locale, 'ft.data.download')}</p>")
    elif info.get("note"):
        parts.append(f'<p class="ft-small">{say_engine(locale, info["note"])}</p>')
    skipped = info.get("skipped") or {}
    if any(skipped.values()):
        parts.append(f'<p class="ft-small">{say(locale, "ft.data.skipped", unreadable=skipped.get("unreadable", 0), not_images=skipped.get("not_images", 0))}</p>')
    return "".join(parts)


def data_table(locale: str | None, info: dict) -> str:
    classes = info.get("classes") or []
    train, test = info.get("train_counts") or {}, info.get("test_counts") or {}
    head = "".join(f"<th>{say(locale, key)}</th>" for key in ("ft.data.head.class", "ft.data.head.train", "ft.data.head.test"))
    rows = "".join(
        f"<tr><td>{html.escape(str(name))}</td><td>{train.get(name, 0)}</td><td>{test.get(name, 0)}</td></tr>"
        for name in classes
    )
    total = (
        f"<tr><td><b>{say(locale, 'ft.data.total')}</b></td><td><b>{sum(train.values())}</b></td>"
        f"<td><b>{sum(test.values())}</b></td></tr>"
    )
    caption = say(locale, "ft.data.classes", count=len(classes))
    return f'<table class="ft-table"><caption>{caption}</caption><tr>{head}</tr>{rows}{total}</table>'


def _downloaded(kind: str) -> bool:
    from augtune.synthetic import cache_dir

    if kind == "hotdog":
        return (cache_dir() / "hotdog" / "COMPLETE").is_file()
    return (cache_dir() / "cifar10" / "cifar-10-batches-py").is_dir()


def recipe_fields(locale: str | None, model: str) -> tuple[float, float, str, float, str]:
    """lr, head multiplier, optimiser and weight decay of the model's lesson recipe, and the line naming it."""
    name = MODEL_RECIPE.get(model, "finetune")
    settings = RECIPES[name].settings
    note = f'<span class="ft-small">{say(locale, f"ft.recipe.{name}")}</span>'
    return settings["lr"], settings["head_lr_mult"], settings["optimizer"], settings["weight_decay"], note


def model_note(locale: str | None) -> str:
    from augtune.model import imagenet_weights_state

    state, reason = imagenet_weights_state()
    return say(locale, f"ft.model.{state}", reason=reason)


def spec_summary(spec: AugSpec | None) -> str:
    """The training pipeline in torchvision's words, one line."""
    if spec is None:
        return "—"
    if spec.steps is not None:  # a pipeline of steps says itself: the ops' names in order
        return " → ".join(step.op for step in spec.steps) or "—"
    stages = {
        "flip": " + ".join(
            part
            for part in (
                f"RandomHorizontalFlip(p={spec.hflip_p:g})" if spec.hflip_p else "",
                f"RandomVerticalFlip(p={spec.vflip_p:g})" if spec.vflip_p else "",
            )
            if part
        ),
        "color": (
            "ColorJitter(" + ", ".join(f"{name}={getattr(spec, name):g}" for name in ("brightness", "contrast", "saturation", "hue") if getattr(spec, name)) + ")"
            if spec.color_enabled
            else ""
        ),
        "crop": {
            "random": f"RandomResizedCrop(scale=({spec.scale_min:g}, {spec.scale_max:g}), ratio=({spec.ratio_min:.3g}, {spec.ratio_max:.3g}))",
            "center": "Resize + CenterCrop",
            "none": "",
        }[spec.crop_mode],
    }
    return " → ".join(stages[stage] for stage in spec.active_stages) or "—"


def augment_note(locale: str | None, choice: str, explore_spec: AugSpec | None, connected: bool) -> str:
    spec = augment_spec(choice, explore_spec)
    parts = [say(locale, "ft.augment.uses", summary=spec_summary(spec))]
    if choice == "explore" and not connected:
        parts.append(say(locale, "ft.augment.explore_default"))
    parts.append(f'<br><span class="ft-small">{say(locale, "ft.augment.test")}</span>')
    return " ".join(parts)


def render_status(locale: str | None, snaps: list[dict], lost: bool = False) -> str:
    if not snaps:
        return say(locale, "ft.msg.lost" if lost else "ft.msg.idle")
    return "".join(_run_status(locale, snap, len(snaps) > 1) for snap in snaps)


def _run_status(locale: str | None, snap: dict, named: bool) -> str:
    status = snap["status"]
    title = f"<b>{html.escape(run_label(locale, snap['label']))}</b>: " if named else ""
    if status == "queued":
        body = f'<span class="ft-queued">{say(locale, "ft.msg.queued", position=snap["position"])}</span>'
    elif status in ("running", "cancelling"):
        body = _running(locale, snap)
        if status == "cancelling":
            body = say(locale, "ft.msg.cancelling") + " " + body
    elif status == "done":
        rows = snap["rows"]
        acc = f"{rows[-1]['test_acc']:.3f}" if rows else "—"
        seconds = f"{(snap['finished'] or 0) - (snap['started'] or 0):.0f}"
        body = say(locale, "ft.msg.done", acc=acc, epochs=len(rows), seconds=seconds)
    elif status == "failed":
        body = f'<span class="ft-error">{say(locale, "ft.msg.failed", error=snap["error"])}</span>'
    else:
        body = say(locale, "ft.msg.cancelled") + (f" {say_engine(locale, snap['error'])}" if snap.get("error") else "")
    return f'<div class="ft-run">{title}{body}</div>'


# The engine reports downloads as status text ("Downloading the hot-dog data set: 35 %"); the number
# becomes a progress bar.
_PERCENT = re.compile(r"(\d+(?:\.\d+)?) %")


def _running(locale: str | None, snap: dict) -> str:
    device = snap.get("device") or {}
    progress = snap.get("progress") or {}
    epochs = snap["config"].get("epochs", 0)
    if not device:
        line = say(locale, "ft.msg.starting")
    else:
        line = say(locale, "ft.msg.running", device=device.get("device", "?"))
        if device.get("amp"):
            line += " · " + say(locale, "ft.msg.amp")
        if device.get("processes"):
            line += " · " + say(locale, "ft.msg.processes", count=device["processes"])
    message = snap.get("message") or ""
    if message and not progress.get("batches"):  # preparing: downloading, decoding, loading weights
        line += f' <span class="ft-small">· {say_engine(locale, message)}</span>'
        if percent := _PERCENT.search(message):
            line += _bar(float(percent.group(1)) / 100, "ft-download-bar")
    if progress.get("batches"):
        epoch, batch, batches = progress["epoch"], progress["batch"], progress["batches"]
        line += '<br><span class="ft-small">' + say(locale, "ft.msg.epoch", epoch=epoch, epochs=epochs, batch=batch, batches=batches) + "</span>"
        within = batch / batches
        overall = ((epoch - 1) + within) / max(1, epochs)
        line += _bar(within, "ft-epoch-bar") + _bar(overall, "ft-total-bar")
    return line


def _bar(fraction: float, css_id: str) -> str:
    percent = max(0.0, min(1.0, fraction)) * 100
    return f'<div class="ft-bar {css_id}" title="{percent:.0f} %"><div style="width:{percent:.1f}%"></div></div>'


def results_html(locale: str | None, snaps: list[dict]) -> str:
    """Final accuracies beside the lesson's, and per-class accuracy, for the finished runs."""
    done = [snap for snap in snaps if snap["status"] == "done" and snap.get("result")]
    if not done:
        return ""
    finals = "".join(
        f"<tr><td>{html.escape(run_label(locale, snap['label']))}</td><td>{snap['rows'][-1]['test_acc']:.3f}</td></tr>"
        for snap in done if snap["rows"]
    )
    parts = [
        f'<table class="ft-table"><tr><th></th><th>{say(locale, "ft.results.final")}</th></tr>{finals}</table>',
        f'<p class="ft-small">{_lesson_line(locale, done[0]["config"].get("data", ""))}</p>',
    ]
    classes = done[0]["result"].get("classes") or []
    head = "".join(f"<th>{html.escape(name)}</th>" for name in classes)
    body = ""
    for snap in done:
        per_class = snap["result"].get("per_class_acc") or {}
        cells = "".join(_accuracy_cell(per_class.get(name)) for name in classes)
        body += f"<tr><td>{html.escape(run_label(locale, snap['label']))}</td>{cells}</tr>"
    parts.append(f'<p><b>{say(locale, "ft.results.per_class")}</b></p><table class="ft-table"><tr><th></th>{head}</tr>{body}</table>')
    if len(done) > 1:
        parts.append(f'<p class="ft-small">{say(locale, "ft.results.shown", label=run_label(locale, done[0]["label"]))}</p>')
    return "".join(parts)


def _accuracy_cell(value: Any) -> str:
    return f"<td>{value:.3f}</td>" if isinstance(value, (int, float)) else "<td>—</td>"


def _lesson_line(locale: str | None, data: str) -> str:
    """The lesson's published accuracies for the recipe closest to this run's data."""
    from augtune.report import LESSON_NUMBERS

    def shown(name: str) -> str:
        low, high = LESSON_NUMBERS[name]["test_acc"]
        return f"{low:.3f}" if low == high else f"{low:.2f}–{high:.2f}"

    if data == "cifar10":
        return say(locale, "ft.results.lesson_cifar10", value=shown("cifar10_augmented"))
    return (
        say(locale, "ft.results.lesson")
        + " "
        + say(locale, "ft.results.lesson_finetuned", value=shown("hotdog_finetuned"))
        + " · "
        + say(locale, "ft.results.lesson_scratch", value=shown("hotdog_scratch"))
    )


