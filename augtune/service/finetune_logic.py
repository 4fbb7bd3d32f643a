"""The Fine-tune tab's logic without Gradio: its choices, the TrainConfig its widgets or the API make, the
lesson's comparisons and exercises around it, and the runs of a browser session as the job manager sees
them. A choice that makes no config raises `Refusal`, whose sentence the page shows as it is."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from augtune import PRESETS, AugSpec
from augtune.jobs import JobError, JobManager, new_owner_token
from augtune.lesson import check_experiment, experiment_configs
from augtune.model import BUILTIN
from augtune.train import RANGES

from .finetune_text import engine_text, number_refusal
from .finetune_text import run_label as label_text
from .i18n import text

DATA_KINDS = ("synthetic", "hotdog", "cifar10", "folder", "zip")
MODELS = ("pretrained", "builtin", "scratch", "file")
AUGMENTS = ("combined_train", "explore", "hotdog_train", "none")
EXERCISES = ("no-augmentation", "stronger-augmentation", "raised-lr", "frozen-backbone", "hotdog-head")  # augtune.lesson
# The choices offered; TrainConfig's RANGES decide what is allowed (tests check these lie inside).
BATCH_SIZES = [8, 16, 32, 64, 128, 256]
IMAGE_SIZES = [32, 48, 64, 96, 128, 160, 224]
# The image size each built-in data set is meant to be trained at (the lesson's recipes).
NATURAL_SIZE = {"synthetic": 64, "hotdog": 224, "cifar10": 32}
# Seconds between a page's polls: each is a request to the shared server, so a run waiting in the queue
# (which only needs its place in line) asks five times less often than one that is training.
POLL_RUNNING_S = 1.0
POLL_QUEUED_S = 5.0
TABLE_COLUMNS = ("run", "epoch", "loss", "train_acc", "test_acc", "seconds", "images_per_s")


def table_headers(locale: str | None) -> list[str]:
    """The epoch table's column names in `locale` (a Dataframe's headers take no i18n keys)."""
    return [text(locale, f"ft.col.{column}") for column in TABLE_COLUMNS]


class Refusal(Exception):
    """A sentence for the person at the page or the API: why their choices make no run."""


def data_folders() -> list[str]:
    """Folders and zips the host put in the data folder (AUGTUNE_DATA_ROOT), by name."""
    from augtune import data

    root = data.data_root()
    if not root.is_dir():
        return []
    names = []
    for path in sorted(root.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir() or path.suffix.lower() == ".zip":
            names.append(path.name)
    return names


def data_value(kind: str, folder: str | None, zip_file: str | None, locale: str | None = None) -> str:
    """TrainConfig.data for the data widgets; Refusal when a choice is incomplete."""
    if kind in ("synthetic", "hotdog", "cifar10"):
        return kind
    if kind == "folder":
        if not folder:
            raise Refusal(text(locale, "ft.error.no_folder"))
        return folder
    if kind == "zip":
        if not zip_file:
            raise Refusal(text(locale, "ft.error.no_zip"))
        if not str(zip_file).lower().endswith(".zip"):
            raise Refusal(text(locale, "ft.error.not_zip"))
        return str(zip_file)
    raise Refusal(f"Unknown data set {kind!r}.")


def pretrained_available() -> bool:
    """Whether "auto" (augtune.model.choose_weights, as the CLIs read it) would start from ImageNet now."""
    from augtune.model import choose_weights

    return choose_weights("auto")[1] is None


# Which lesson's recipe a model choice brings (augtune.lesson.RECIPES): a single run from scratch is the
# augmentation lesson's; the fine-tuning lesson's scratch recipe belongs to its comparison (comparison_configs).
MODEL_RECIPE = {"pretrained": "finetune", "builtin": "finetune", "file": "finetune", "scratch": "augmentation"}


def augment_spec(choice: str, explore_spec: AugSpec | None) -> AugSpec | None:
    if choice == "none":
        return None
    if choice == "explore":
        return explore_spec or AugSpec()
    return PRESETS[choice]


def make_config(
    locale: str | None,
    kind: str,
    folder: str | None,
    zip_file: str | None,
    model: str,
    weights_file: str | None,
    epochs: float,
    batch_size: float,
    image_size: float,
    lr: float,
    head_lr_mult: float,
    optimizer: str,
    weight_decay: float,
    augment: str,
    explore_spec: AugSpec | None,
):
    """The TrainConfig for the tab's widgets; Refusal (one sentence) when they do not make one."""
    from augtune.train import TrainConfig

    if model == "file" and not weights_file:
        raise Refusal(text(locale, "ft.error.no_weights"))
    try:
        config = TrainConfig(
            data=data_value(kind, folder, zip_file, locale),
            pretrained=model in ("pretrained", "builtin", "file"),
            weights_path=str(weights_file) if model == "file" else BUILTIN if model == "builtin" else None,
            epochs=widget_number(epochs, "epochs"),
            batch_size=widget_number(batch_size, "batch_size"),
            image_size=widget_number(image_size, "image_size"),
            lr=widget_number(lr, "lr"),
            head_lr_mult=widget_number(head_lr_mult, "head_lr_mult"),
            optimizer=str(optimizer),
            weight_decay=widget_number(weight_decay, "weight_decay"),
            augment=augment_spec(augment, explore_spec),
        )
    except ValueError as error:
        raise Refusal(number_refusal(locale, str(error))) from None
    return dataclasses.replace(config, label=run_label(config))


def number_limits(name: str) -> dict[str, float]:
    """A number widget's minimum and maximum: TrainConfig's own range (augtune.train.RANGES), so the page
    and the training config cannot disagree on what a field may hold."""
    low, high = RANGES[name]
    return {"minimum": low, "maximum": high}


def widget_number(value: Any, name: str) -> float:
    """A number field's value for TrainConfig, which checks it (augtune.train.RANGES: finite, whole, in
    range): the page only adds the sentence for an empty field, and reads a number typed as text."""
    if value is None or value == "":
        raise ValueError(f"{name} is empty; enter a number.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None


def run_label(config) -> str:
    """Short and unambiguous: it names the run in the plot's legend and the table."""
    model = ("built-in" if config.weights_path == BUILTIN else "my weights" if config.weights_path
             else "pretrained" if config.pretrained else "scratch")
    augmentation = "augmented" if config.augment is not None else "no augmentation"
    return f"{model}, lr {config.lr:g}, {augmentation}"


def comparison_configs(base) -> list:
    """The lesson's experiments, the very runs of `python -m augtune.lesson` (augtune.lesson) around the user's
    data, epochs, batch and augmentation: augmentation on vs off with the augmentation lesson's recipe, and,
    with a pretrained model, fine-tuned vs from scratch with the fine-tuning lesson's two recipes."""
    runs = experiment_configs("augmentation", base)
    if base.pretrained or base.weights_path:
        runs += experiment_configs("finetuning", base)
    return [dataclasses.replace(run, label=run_label(run)) for run in runs]


def exercise_configs(name: str, base, locale: str | None) -> list:
    """The runs of one of the chapters' exercises (augtune.lesson), labelled by what they change; Refusal in
    the page's language when the settings cannot carry it."""
    try:
        check_experiment(name, base)
    except ValueError as error:
        raise Refusal(engine_text(str(error), locale)) from None
    return experiment_configs(name, base)


def api_config(settings: Any):
    """A TrainConfig from API settings; Refusal (one sentence) when they do not make one.

    Weights files come only through the page's upload: a path typed into the API could probe the server."""
    from augtune.train import TrainConfig

    if not isinstance(settings, dict):
        raise Refusal("config must be a JSON object of training settings.")
    settings = dict(settings)
    if settings.get("weights_path") not in (None, "", BUILTIN):
        raise Refusal("weights_path cannot be set through the API; upload a weights file on the page.")
    augment = settings.get("augment", "combined_train")
    try:
        if isinstance(augment, str):
            if augment not in PRESETS:
                raise ValueError(f"augment must be a preset ({', '.join(PRESETS)}), settings, or null, got {augment!r}.")
            settings["augment"] = PRESETS[augment]
        config = TrainConfig.from_dict(settings)
    except ValueError as error:
        raise Refusal(str(error)) from None
    return config if config.label else dataclasses.replace(config, label=run_label(config))


def default_config():
    from augtune.train import TrainConfig

    return TrainConfig()


def fresh_session(session: Any) -> dict:
    """The browser's session, repaired: {"owner": token, "jobs": [ids]}."""
    if isinstance(session, dict) and isinstance(session.get("owner"), str) and len(session["owner"]) >= 16:
        jobs = session.get("jobs")
        return {"owner": session["owner"], "jobs": [job for job in jobs if isinstance(job, str)] if isinstance(jobs, list) else []}
    return {"owner": new_owner_token(), "jobs": []}


def snapshots(jobs: JobManager, session: dict) -> tuple[list[dict], bool]:
    """The session's runs as the manager sees them, and whether some of them are gone."""
    found, lost = [], False
    for job_id in session["jobs"]:
        try:
            found.append(jobs.status(job_id, session["owner"]))
        except JobError:
            lost = True
    return found, lost


def public(snapshot: dict) -> dict:
    """A snapshot for the HTTP API: file names instead of server paths."""
    shown = dict(snapshot)
    shown["files"] = sorted(snapshot.get("files", {}))
    return shown


def epoch_table(snaps: list[dict], locale: str | None = "en") -> list[list]:
    rows = []
    for snap in snaps:
        for row in snap["rows"]:
            rows.append([
                label_text(locale, snap["label"]), row["epoch"], round(row["loss"], 4), round(row["train_acc"], 3),
                round(row["test_acc"], 3), round(row["seconds"], 1), round(row["images_per_s"], 1),
            ])
    return rows


def log_text(snaps: list[dict]) -> str:
    lines = []
    for snap in snaps:
        if len(snaps) > 1 and snap["log_lines"]:
            lines.append(f"# {snap['label']}")
        lines.extend(snap["log_lines"])
    return "\n".join(lines)


def curves(snaps: list[dict]):
    from augtune import report

    runs = {snap["label"] or snap["id"][:6]: snap["rows"] for snap in snaps if snap["rows"]}
    return report.curves_figure(runs) if runs else None


def downloads(snaps: list[dict]) -> list[str]:
    """model.pt and metrics.csv of every finished run; in a comparison each named after its run."""
    paths = []
    for snap in snaps:
        for name in ("model.pt", "metrics.csv"):
            path = snap["files"].get(name)
            if not path:
                continue
            if len(snaps) > 1:
                path = _named_copy(Path(path), f"{_slug(snap['label'])}-{name}")
            paths.append(str(path))
    return paths


def _named_copy(path: Path, name: str) -> Path:
    """A second name for a run's file (a hard link: no copy) so a comparison's downloads tell apart."""
    target = path.parent / "named" / name
    if not target.exists():
        target.parent.mkdir(exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            return path
    return target


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", label).strip("-") or "run"


