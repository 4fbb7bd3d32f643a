"""Fine-tune tab: train ResNet-18 in the background and watch it learn, epoch by epoch.

Training runs in the server's JobManager (augtune.jobs), never in a request. The page keeps only a
session in the browser (`gr.BrowserState`: an owner token and the ids of its runs), so a closed and
reopened tab gets its run back. While a run is going, a `gr.Timer` polls the manager once a second;
each tick is cheap (a snapshot under a lock) and the plot, table and results are only rebuilt when
something new arrived, so a whole class can watch at once.

Text made on the server for the live panels is rendered in both languages and the page's CSS shows the
one matching `<html lang>` (which Gradio sets to the active locale), so a language switch needs no
round trip. Refusals (gr.Error) are written in the locale the browser reports with each click.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import math
import os
import re
from pathlib import Path
from typing import Any

import gradio as gr

from augtune import PRESETS, AugSpec
from augtune.jobs import FINISHED, JobError, JobManager, new_owner_token
from augtune.lesson import RECIPES, check_experiment, experiment_configs
from augtune.model import BUILTIN
from augtune.service.i18n import STRINGS, text
from augtune.service.strings.zh_CN import ENGINE_SENTENCES

_ = gr.I18n()  # only makes translation keys; app.py gives launch() the tables (augtune.service.i18n)

DATA_KINDS = ("synthetic", "hotdog", "cifar10", "folder", "zip")
MODELS = ("pretrained", "builtin", "scratch", "file")
AUGMENTS = ("combined_train", "explore", "hotdog_train", "none")
EXERCISES = ("no-augmentation", "stronger-augmentation", "raised-lr", "frozen-backbone", "hotdog-head")  # augtune.lesson
BATCH_SIZES = [8, 16, 32, 64, 128, 256]
IMAGE_SIZES = [32, 48, 64, 96, 128, 160, 224]
# The image size each built-in data set is meant to be trained at (the lesson's recipes).
NATURAL_SIZE = {"synthetic": 64, "hotdog": 224, "cifar10": 32}
# Seconds between a page's polls: each is a request to the shared server, so a run waiting in the queue
# (which only needs its place in line) asks five times less often than one that is training.
POLL_RUNNING_S = 1.0
POLL_QUEUED_S = 5.0
TABLE_HEADERS = ["run", "epoch", "loss", "train acc", "test acc", "seconds", "images/s"]

CSS = """
.ft-l-en:lang(zh) { display: none; }
.ft-l-zh:not(:lang(zh)) { display: none; }
#ft-status { font-size: 1.15rem; }
#ft-status .ft-run { margin: 0.2rem 0 0.6rem; }
#ft-status .ft-bar { height: 0.8rem; border-radius: 0.4rem; background: var(--neutral-200); overflow: hidden; margin-top: 0.25rem; }
#ft-status .ft-bar > div { height: 100%; background: var(--color-accent); transition: width 0.5s; }
#ft-status .ft-queued { font-size: 1.3rem; }
#ft-status .ft-error { color: var(--error-text-color, #b91c1c); }
.ft-small { font-size: 0.95rem; opacity: 0.9; }
.ft-table { border-collapse: collapse; margin: 0.3rem 0; }
.ft-table th, .ft-table td { padding: 0.15rem 0.7rem; text-align: right; border-bottom: 1px solid var(--border-color-primary); }
.ft-table th:first-child, .ft-table td:first-child { text-align: left; }
#ft-log textarea { font-family: var(--font-mono); }
"""


# ---------------------------------------------------------------- text in both languages


def both(key: str, **values: Any) -> str:
    """HTML saying `key` in both languages; the page's CSS shows the one matching its locale. A value
    that is an engine sentence is shown translated where ENGINE_ZH knows it."""
    spans = []
    for locale, css_class in (("en", "ft-l-en"), ("zh-CN", "ft-l-zh")):
        template = STRINGS[locale].get(key) or STRINGS["en"][key]
        escaped = {name: html.escape(engine_text(str(value), locale)) for name, value in values.items()}
        spans.append(f'<span class="{css_class}">{template.format(**escaped)}</span>')
    return "".join(spans)


def both_engine(message: str) -> str:
    """An engine sentence (status or failure) in both languages."""
    return "".join(
        f'<span class="{css_class}">{html.escape(engine_text(message, locale))}</span>'
        for locale, css_class in (("en", "ft-l-en"), ("zh-CN", "ft-l-zh"))
    )


# The engine (augtune.data, model, train, jobs) speaks English, so that the CLI and the logs read the
# same everywhere; the page translates the sentences a class meets. Unknown ones stay English.
ENGINE_ZH: list[tuple[re.Pattern[str], str]] = [(re.compile(pattern), zh) for pattern, zh in ENGINE_SENTENCES]


def engine_text(message: str, locale: str) -> str:
    if not locale.lower().startswith("zh"):
        return message
    for pattern, zh in ENGINE_ZH:
        if match := pattern.match(message):
            return zh.format(**match.groupdict())
    return message


def refusal(locale: str | None, error: Exception) -> gr.Error:
    code = getattr(error, "code", "")
    if code and f"ft.error.{code}" in STRINGS["en"]:
        return gr.Error(text(locale, f"ft.error.{code}"))
    return gr.Error(str(error))


# ---------------------------------------------------------------- choices and what they mean


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
    """TrainConfig.data for the data widgets; gr.Error when a choice is incomplete."""
    if kind in ("synthetic", "hotdog", "cifar10"):
        return kind
    if kind == "folder":
        if not folder:
            raise gr.Error(text(locale, "ft.error.no_folder"))
        return folder
    if kind == "zip":
        if not zip_file:
            raise gr.Error(text(locale, "ft.error.no_zip"))
        if not str(zip_file).lower().endswith(".zip"):
            raise gr.Error(text(locale, "ft.error.not_zip"))
        return str(zip_file)
    raise gr.Error(f"Unknown data set {kind!r}.")


def describe_data(kind: str, folder: str | None = None, zip_file: str | None = None) -> str:
    """HTML: the classes and image counts of a data choice, before any training."""
    from augtune import data

    if kind == "folder" and not folder:
        return both("ft.data.pick_folder")
    if kind == "zip" and not zip_file:
        return both("ft.data.pick_zip")
    source = {"folder": folder, "zip": zip_file}.get(kind, kind)
    try:
        info = data.describe(source)
    except (data.TrainError, ValueError, OSError) as error:
        return f'<div class="ft-error">{html.escape(str(error))}</div>'
    parts = [data_table(info)]
    if kind == "synthetic":
        parts.append(f"<p>{both('ft.data.bias')}</p>")
    elif kind in ("hotdog", "cifar10"):
        if _downloaded(kind):
            parts.append(f"<p>{both('ft.data.cached')}</p>")
        elif data.offline():
            parts.append(f'<p class="ft-error">{both("ft.data.offline")}</p>')
        else:
            parts.append(f"<p>{both('ft.data.download')}</p>")
    elif info.get("note"):
        parts.append(f'<p class="ft-small">{html.escape(info["note"])}</p>')
    skipped = info.get("skipped") or {}
    if any(skipped.values()):
        parts.append(f'<p class="ft-small">{both("ft.data.skipped", unreadable=skipped.get("unreadable", 0), not_images=skipped.get("not_images", 0))}</p>')
    return "".join(parts)


def data_table(info: dict) -> str:
    classes = info.get("classes") or []
    train, test = info.get("train_counts") or {}, info.get("test_counts") or {}
    head = "".join(f"<th>{both(key)}</th>" for key in ("ft.data.head.class", "ft.data.head.train", "ft.data.head.test"))
    rows = "".join(
        f"<tr><td>{html.escape(str(name))}</td><td>{train.get(name, 0)}</td><td>{test.get(name, 0)}</td></tr>"
        for name in classes
    )
    total = (
        f"<tr><td><b>{both('ft.data.total')}</b></td><td><b>{sum(train.values())}</b></td>"
        f"<td><b>{sum(test.values())}</b></td></tr>"
    )
    caption = both("ft.data.classes", count=len(classes))
    return f'<table class="ft-table"><caption>{caption}</caption><tr>{head}</tr>{rows}{total}</table>'


def _downloaded(kind: str) -> bool:
    from augtune.synthetic import cache_dir

    if kind == "hotdog":
        return (cache_dir() / "hotdog" / "COMPLETE").is_file()
    return (cache_dir() / "cifar10" / "cifar-10-batches-py").is_dir()


def pretrained_available() -> bool:
    """Whether "auto" (augtune.model.choose_weights, as the CLIs read it) would start from ImageNet now."""
    from augtune.model import choose_weights

    return choose_weights("auto")[1] is None


# Which lesson's recipe a model choice brings (augtune.lesson.RECIPES): a single run from scratch is the
# augmentation lesson's; the fine-tuning lesson's scratch recipe belongs to its comparison (comparison_configs).
MODEL_RECIPE = {"pretrained": "finetune", "builtin": "finetune", "file": "finetune", "scratch": "augmentation"}


def recipe_fields(model: str) -> tuple[float, float, str, float, str]:
    """lr, head multiplier, optimiser and weight decay of the model's lesson recipe, and the line naming it."""
    name = MODEL_RECIPE.get(model, "finetune")
    settings = RECIPES[name].settings
    note = f'<span class="ft-small">{both(f"ft.recipe.{name}")}</span>'
    return settings["lr"], settings["head_lr_mult"], settings["optimizer"], settings["weight_decay"], note


def model_note() -> str:
    from augtune.model import imagenet_weights_state

    state, reason = imagenet_weights_state()
    return both(f"ft.model.{state}", reason=reason)


def model_on_open(model: str) -> tuple:
    """When the tab opens: the ImageNet weights' state now, and the built-in backbone instead of ImageNet when
    they cannot be had, so that nobody presses Start to learn it. Other choices and edits stay."""
    if model == "pretrained" and not pretrained_available():
        return "builtin", model_note(), *recipe_fields("builtin")
    return gr.skip(), model_note(), *(gr.skip() for _ in range(5))


def augment_spec(choice: str, explore_spec: AugSpec | None) -> AugSpec | None:
    if choice == "none":
        return None
    if choice == "explore":
        return explore_spec or AugSpec()
    return PRESETS[choice]


def spec_summary(spec: AugSpec | None) -> str:
    """The training pipeline in torchvision's words, one line."""
    if spec is None:
        return "—"
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


def augment_note(choice: str, explore_spec: AugSpec | None, connected: bool) -> str:
    spec = augment_spec(choice, explore_spec)
    parts = [both("ft.augment.uses", summary=spec_summary(spec))]
    if choice == "explore" and not connected:
        parts.append(both("ft.augment.explore_default"))
    parts.append(f'<br><span class="ft-small">{both("ft.augment.test")}</span>')
    return " ".join(parts)


# ---------------------------------------------------------------- configs


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
    """The TrainConfig for the tab's widgets; gr.Error (one sentence) when they do not make one."""
    from augtune.train import TrainConfig

    if model == "file" and not weights_file:
        raise gr.Error(text(locale, "ft.error.no_weights"))
    try:
        config = TrainConfig(
            data=data_value(kind, folder, zip_file, locale),
            pretrained=model in ("pretrained", "builtin", "file"),
            weights_path=str(weights_file) if model == "file" else BUILTIN if model == "builtin" else None,
            epochs=_whole(epochs, "epochs"),
            batch_size=_whole(batch_size, "batch_size"),
            image_size=_whole(image_size, "image_size"),
            lr=_real(lr, "lr"),
            head_lr_mult=_real(head_lr_mult, "head_lr_mult"),
            optimizer=str(optimizer),
            weight_decay=_real(weight_decay, "weight_decay"),
            augment=augment_spec(augment, explore_spec),
        )
    except ValueError as error:
        raise gr.Error(str(error)) from None
    return dataclasses.replace(config, label=run_label(config))


def _whole(value: Any, name: str) -> int:
    number = _real(value, name)
    if number != int(number):
        raise ValueError(f"{name} must be a whole number, got {number:g}.")
    return int(number)


def _real(value: Any, name: str) -> float:
    if value is None or value == "":
        raise ValueError(f"{name} is empty; enter a number.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return number


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
    """The runs of one of the chapters' exercises (augtune.lesson), labelled by what they change; gr.Error in
    the page's language when the settings cannot carry it."""
    try:
        check_experiment(name, base)
    except ValueError as error:
        raise gr.Error(engine_text(str(error), locale or "en")) from None
    return experiment_configs(name, base)


# ---------------------------------------------------------------- sessions and snapshots


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


def render_status(snaps: list[dict], lost: bool = False) -> str:
    if not snaps:
        return both("ft.msg.lost") if lost else both("ft.msg.idle")
    return "".join(_run_status(snap, len(snaps) > 1) for snap in snaps)


def _run_status(snap: dict, named: bool) -> str:
    status = snap["status"]
    title = f"<b>{html.escape(snap['label'])}</b>: " if named else ""
    if status == "queued":
        body = f'<span class="ft-queued">{both("ft.msg.queued", position=snap["position"])}</span>'
    elif status in ("running", "cancelling"):
        body = _running(snap)
        if status == "cancelling":
            body = both("ft.msg.cancelling") + " " + body
    elif status == "done":
        rows = snap["rows"]
        acc = f"{rows[-1]['test_acc']:.3f}" if rows else "—"
        seconds = f"{(snap['finished'] or 0) - (snap['started'] or 0):.0f}"
        body = both("ft.msg.done", acc=acc, epochs=len(rows), seconds=seconds)
    elif status == "failed":
        body = f'<span class="ft-error">{both("ft.msg.failed", error=snap["error"])}</span>'
    else:
        body = both("ft.msg.cancelled") + (f" {both_engine(snap['error'])}" if snap.get("error") else "")
    return f'<div class="ft-run">{title}{body}</div>'


# The engine reports downloads as status text ("Downloading the hot-dog data set: 35 %"); the number
# becomes a progress bar.
_PERCENT = re.compile(r"(\d+(?:\.\d+)?) %")


def _running(snap: dict) -> str:
    device = snap.get("device") or {}
    progress = snap.get("progress") or {}
    epochs = snap["config"].get("epochs", 0)
    if not device:
        line = both("ft.msg.starting")
    else:
        line = both("ft.msg.running", device=device.get("device", "?"))
        if device.get("amp"):
            line += " · " + both("ft.msg.amp")
        if device.get("processes"):
            line += " · " + both("ft.msg.processes", count=device["processes"])
    message = snap.get("message") or ""
    if message and not progress.get("batches"):  # preparing: downloading, decoding, loading weights
        line += f' <span class="ft-small">· {both_engine(message)}</span>'
        if percent := _PERCENT.search(message):
            line += _bar(float(percent.group(1)) / 100, "ft-download-bar")
    if progress.get("batches"):
        epoch, batch, batches = progress["epoch"], progress["batch"], progress["batches"]
        line += '<br><span class="ft-small">' + both("ft.msg.epoch", epoch=epoch, epochs=epochs, batch=batch, batches=batches) + "</span>"
        within = batch / batches
        overall = ((epoch - 1) + within) / max(1, epochs)
        line += _bar(within, "ft-epoch-bar") + _bar(overall, "ft-total-bar")
    return line


def _bar(fraction: float, css_id: str) -> str:
    percent = max(0.0, min(1.0, fraction)) * 100
    return f'<div class="ft-bar {css_id}" title="{percent:.0f} %"><div style="width:{percent:.1f}%"></div></div>'


def poll_timer(snaps: list[dict]) -> gr.Timer:
    statuses = {snap["status"] for snap in snaps}
    if statuses & {"running", "cancelling"}:
        return gr.Timer(POLL_RUNNING_S, active=True)
    return gr.Timer(POLL_QUEUED_S, active="queued" in statuses)


def epoch_table(snaps: list[dict]) -> list[list]:
    rows = []
    for snap in snaps:
        for row in snap["rows"]:
            rows.append([
                snap["label"], row["epoch"], round(row["loss"], 4), round(row["train_acc"], 3),
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


def results_html(snaps: list[dict]) -> str:
    """Final accuracies beside the lesson's, and per-class accuracy, for the finished runs."""
    done = [snap for snap in snaps if snap["status"] == "done" and snap.get("result")]
    if not done:
        return ""
    finals = "".join(
        f"<tr><td>{html.escape(snap['label'])}</td><td>{snap['rows'][-1]['test_acc']:.3f}</td></tr>"
        for snap in done if snap["rows"]
    )
    parts = [
        f'<table class="ft-table"><tr><th></th><th>{both("ft.results.final")}</th></tr>{finals}</table>',
        f'<p class="ft-small">{_lesson_line(done[0]["config"].get("data", ""))}</p>',
    ]
    classes = done[0]["result"].get("classes") or []
    head = "".join(f"<th>{html.escape(name)}</th>" for name in classes)
    body = ""
    for snap in done:
        per_class = snap["result"].get("per_class_acc") or {}
        cells = "".join(_accuracy_cell(per_class.get(name)) for name in classes)
        body += f"<tr><td>{html.escape(snap['label'])}</td>{cells}</tr>"
    parts.append(f'<p><b>{both("ft.results.per_class")}</b></p><table class="ft-table"><tr><th></th>{head}</tr>{body}</table>')
    if len(done) > 1:
        parts.append(f'<p class="ft-small">{both("ft.results.shown", label=done[0]["label"])}</p>')
    return "".join(parts)


def _accuracy_cell(value: Any) -> str:
    return f"<td>{value:.3f}</td>" if isinstance(value, (int, float)) else "<td>—</td>"


def _lesson_line(data: str) -> str:
    """The lesson's published accuracies for the recipe closest to this run's data."""
    from augtune.report import LESSON_NUMBERS

    def shown(name: str) -> str:
        low, high = LESSON_NUMBERS[name]["test_acc"]
        return f"{low:.3f}" if low == high else f"{low:.2f}–{high:.2f}"

    if data == "cifar10":
        return both("ft.results.lesson_cifar10", value=shown("cifar10_augmented"))
    return (
        both("ft.results.lesson")
        + " "
        + both("ft.results.lesson_finetuned", value=shown("hotdog_finetuned"))
        + " · "
        + both("ft.results.lesson_scratch", value=shown("hotdog_scratch"))
    )


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


# ---------------------------------------------------------------- the tab


def build_finetune_tab(jobs: JobManager | None = None, explore_widgets: list | None = None) -> JobManager:
    """The Fine-tune tab and its HTTP API. `explore_widgets` are the Explore tab's controls in
    `augtune.ui.explore.FIELDS` order (their values make the Explore spec); `jobs` defaults to a new
    JobManager configured from the environment. Returns the manager."""
    jobs = jobs or JobManager()
    explore_widgets = list(explore_widgets or [])
    connected = bool(explore_widgets)

    def explore_spec(values) -> AugSpec | None:
        """The Explore tab's current spec; ValueError (its sentence) when its controls do not make one."""
        if not connected:
            return None
        from augtune.service.explore_form import spec_from_widgets

        try:
            return spec_from_widgets(list(values))
        except TypeError as error:
            raise ValueError(str(error)) from None

    defaults = _default_config()
    default_model = "pretrained" if pretrained_available() else "builtin"

    with gr.Tab(_("ft.tab"), id="finetune") as tab:
        session = gr.BrowserState(None, storage_key="augtune-finetune-session")
        seen = gr.State({})
        locale = gr.Textbox(visible=False)
        timer = gr.Timer(POLL_RUNNING_S, active=False)
        gr.Markdown(_("ft.intro"))
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=340):
                with gr.Accordion(_("ft.step.data"), open=True):
                    kind = gr.Radio([(_(f"ft.data.{name}"), name) for name in DATA_KINDS], value="synthetic",
                                    label=_("ft.data"), elem_id="ft-data")
                    folder = gr.Dropdown(data_folders(), value=None, label=_("ft.folder"), info=_("ft.folder.info"),
                                         visible=False, elem_id="ft-folder")
                    zip_file = gr.File(label=_("ft.zip"), file_types=[".zip"], type="filepath", visible=False,
                                       height=100, elem_id="ft-zip")
                    data_info = gr.HTML(describe_data("synthetic"), elem_id="ft-data-info")
                with gr.Accordion(_("ft.step.model"), open=True):
                    model = gr.Radio([(_(f"ft.model.{name}"), name) for name in MODELS], value=default_model,
                                     label=_("ft.model"), elem_id="ft-model")
                    weights_file = gr.File(label=_("ft.weights"), file_types=[".pt", ".pth"], type="filepath",
                                           visible=False, height=100, elem_id="ft-weights")
                    model_info = gr.HTML(model_note(), elem_id="ft-model-info")
                with gr.Accordion(_("ft.step.recipe"), open=True):
                    with gr.Row():
                        epochs = gr.Number(defaults.epochs, precision=0, minimum=1, maximum=50, label=_("ft.epochs"),
                                           elem_id="ft-epochs", min_width=100)
                        batch_size = gr.Dropdown(BATCH_SIZES, value=defaults.batch_size, label=_("ft.batch"),
                                                 elem_id="ft-batch", min_width=100)
                        image_size = gr.Dropdown(IMAGE_SIZES, value=defaults.image_size, label=_("ft.size"),
                                                 info=_("ft.size.info"), elem_id="ft-size", min_width=100)
                    default_lr, default_head, default_optimizer, default_wd, default_recipe = recipe_fields(default_model)
                    recipe_info = gr.HTML(default_recipe, elem_id="ft-recipe-info")
                    with gr.Row():
                        lr = gr.Number(default_lr, label=_("ft.lr"), minimum=0, elem_id="ft-lr", min_width=100)
                        head_lr_mult = gr.Number(default_head, label=_("ft.head"), info=_("ft.head.info"),
                                                 minimum=0, elem_id="ft-head", min_width=100)
                    with gr.Row():
                        optimizer = gr.Radio([("SGD", "sgd"), ("Adam", "adam")], value=default_optimizer,
                                             label=_("ft.optimizer"), elem_id="ft-optimizer", min_width=100)
                        weight_decay = gr.Number(default_wd, label=_("ft.wd"), minimum=0, elem_id="ft-wd",
                                                 min_width=100)
                    augment = gr.Radio([(_(f"ft.augment.{name}"), name) for name in AUGMENTS], value="combined_train",
                                       label=_("ft.augment"), elem_id="ft-augment")
                    augment_info = gr.HTML(augment_note("combined_train", None, connected), elem_id="ft-augment-info")
            with gr.Column(scale=3):
                with gr.Row(equal_height=True):
                    start = gr.Button(_("ft.start"), variant="primary", size="lg", elem_id="ft-start", scale=2)
                    cancel = gr.Button(_("ft.cancel"), variant="stop", size="lg", elem_id="ft-cancel", scale=1)
                    compare = gr.Button(_("ft.compare"), variant="secondary", size="lg", elem_id="ft-compare", scale=2)
                gr.Markdown(_("ft.compare.info"), elem_classes="ft-small")
                with gr.Accordion(_("ft.exercises"), open=False, elem_id="ft-exercises"):
                    gr.Markdown(_("ft.exercises.info"), elem_classes="ft-small")
                    with gr.Row():
                        exercise_buttons = {name: gr.Button(_(f"ft.exercise.{name}"), size="sm", min_width=120,
                                                            elem_id=f"ft-exercise-{name}") for name in EXERCISES}
                status = gr.HTML(both("ft.msg.idle"), elem_id="ft-status", padding=True, container=True)
                plot = gr.Plot(label=_("ft.plot"), show_label=False, format="png", elem_id="ft-plot")
                table = gr.Dataframe(headers=TABLE_HEADERS, value=None, label=_("ft.table"), interactive=False,
                                     elem_id="ft-table", max_height=320, wrap=True,
                                     column_widths=["28%", "10%", "12%", "12%", "12%", "12%", "14%"])
                log = gr.Textbox(label=_("ft.log"), lines=4, max_lines=12, interactive=False, elem_id="ft-log",
                                 buttons=["copy"])
        with gr.Accordion(_("ft.results"), open=False, elem_id="ft-results-panel") as results_panel:
            results = gr.HTML("", elem_id="ft-results")
            # Explicit heights: an image first shown inside a just-opened accordion otherwise collapses to 0 px.
            with gr.Row(equal_height=False):
                confusion = gr.Image(label=_("ft.confusion"), type="filepath", interactive=False, format="png",
                                     height=340, scale=1, elem_id="ft-confusion")
                misclassified = gr.Image(label=_("ft.misclassified"), type="filepath", interactive=False,
                                         format="png", height=340, scale=2, elem_id="ft-misclassified")
            files = gr.File(label=_("ft.downloads"), file_count="multiple", interactive=False, elem_id="ft-downloads")

    # ----- callbacks -------------------------------------------------------------------------------------
    shown = [status, plot, table, log, results, confusion, misclassified, files, results_panel]

    def cleared(session_value: dict, snaps: list[dict]) -> list:
        return [session_value, {}, poll_timer(snaps), render_status(snaps), None, None, "", "", None, None, None,
                gr.Accordion(open=False)]

    def queue_runs(locale_value, session_value, configs) -> list:
        current = fresh_session(session_value)
        try:
            ids = jobs.submit_group(configs, current["owner"])
        except JobError as error:
            raise refusal(locale_value, error) from None
        current["jobs"] = ids
        return cleared(current, snapshots(jobs, current)[0])

    def config_from_widgets(locale_value, values):
        try:
            spec = explore_spec(values[13:]) if values[12] == "explore" else None
        except ValueError as error:
            raise gr.Error(text(locale_value, "ft.error.explore", error=error)) from None
        return make_config(locale_value, *values[:13], spec)

    def on_start(locale_value, session_value, *values):
        return queue_runs(locale_value, session_value, [config_from_widgets(locale_value, values)])

    def on_compare(locale_value, session_value, *values):
        return queue_runs(locale_value, session_value, comparison_configs(config_from_widgets(locale_value, values)))

    def on_exercise(name, locale_value, session_value, *values):
        return queue_runs(locale_value, session_value, exercise_configs(name, config_from_widgets(locale_value, values),
                                                                        locale_value))

    def on_cancel(session_value):
        current = fresh_session(session_value)
        try:
            jobs.cancel_group(current["jobs"], current["owner"])
        except JobError:
            pass  # gone already: the next tick says so
        return render_status(*snapshots(jobs, current))

    def on_poll(session_value, seen_value):
        """One tick: the status always; plot, table and log when rows arrived; results once per finish."""
        current = fresh_session(session_value)
        snaps, lost = snapshots(jobs, current)
        seen_value = dict(seen_value or {})
        updates: list[Any] = [gr.skip()] * len(shown)
        updates[0] = render_status(snaps, lost)
        rows_key = [[snap["id"], len(snap["rows"])] for snap in snaps]
        if rows_key != seen_value.get("rows"):
            seen_value["rows"] = rows_key
            updates[1], updates[2], updates[3] = curves(snaps), epoch_table(snaps), log_text(snaps)
        finished_key = [snap["id"] for snap in snaps if snap["status"] in FINISHED]
        if finished_key != seen_value.get("finished"):
            seen_value["finished"] = finished_key
            done = [snap for snap in snaps if snap["status"] == "done"]
            updates[4] = results_html(snaps)
            updates[5] = done[0]["files"].get("confusion.png") if done else None
            updates[6] = done[0]["files"].get("misclassified.png") if done else None
            updates[7] = downloads(done) or None
            updates[8] = gr.Accordion(open=bool(done))
        if lost:
            current["jobs"] = [snap["id"] for snap in snaps]
        return [current if lost or current != session_value else gr.skip(), seen_value, poll_timer(snaps), *updates]

    def on_data(kind_value, folder_value, zip_value, size_value):
        return (
            gr.Dropdown(visible=True, choices=data_folders()) if kind_value == "folder" else gr.Dropdown(visible=False),
            gr.File(visible=kind_value == "zip"),
            describe_data(kind_value, folder_value, zip_value),
            NATURAL_SIZE.get(kind_value, size_value),
        )

    def on_model(model_value):
        return gr.File(visible=model_value == "file"), model_note(), *recipe_fields(model_value)

    def on_augment(choice, *values):
        try:
            spec = explore_spec(values) if choice == "explore" else None
        except ValueError as error:
            return f'<span class="ft-error">{both("ft.error.explore", error=error)}</span>'
        return augment_note(choice, spec, connected)

    # ----- the HTTP API: plain JSON in and out ---------------------------------------------------------
    def start_api(session: dict | None, config: dict) -> dict:
        """Queue one training run. `config` holds TrainConfig fields (data, pretrained, epochs, batch_size,
        image_size, lr, head_lr_mult, optimizer, weight_decay, augment, seed, label); missing ones take the
        lesson's defaults; `augment` is a preset name, AugSpec fields, or null for none. Returns the session
        {"owner", "jobs"} to pass to /finetune_status and /finetune_cancel (null starts a new session)."""
        return submit_api(session, [api_config(config)])

    def compare_api(session: dict | None, config: dict) -> dict:
        """Queue the lesson's comparison around `config` (as for /finetune_start); returns the session."""
        return submit_api(session, comparison_configs(api_config(config)))

    def experiment_api(session: dict | None, experiment: str, config: dict) -> dict:
        """Queue one of the chapters' exercises (EXERCISES: no-augmentation, stronger-augmentation, raised-lr,
        frozen-backbone, hotdog-head) around `config` (as for /finetune_start); returns the session."""
        if experiment not in EXERCISES:
            raise gr.Error(f"experiment must be one of {', '.join(EXERCISES)}, got {experiment!r}.")
        return submit_api(session, exercise_configs(experiment, api_config(config), "en"))

    def submit_api(session_value, configs) -> dict:
        current = fresh_session(session_value)
        try:
            current["jobs"] = jobs.submit_group(configs, current["owner"])
        except JobError as error:
            raise gr.Error(str(error)) from None
        return current

    def status_api(session: dict | None) -> list[dict]:
        """Every run of the session as plain data: status, queue position, rows, log lines, progress,
        device, data summary, error, result, and the names of its files."""
        return [public(snap) for snap in snapshots(jobs, fresh_session(session))[0]]

    def cancel_api(session: dict | None) -> list[dict]:
        """Cancel the session's runs (queued ones at once, running ones at their next batch)."""
        current = fresh_session(session)
        try:
            return [public(snap) for snap in jobs.cancel_group(current["jobs"], current["owner"])]
        except JobError as error:
            raise gr.Error(str(error)) from None

    def data_api(data: str) -> dict:
        """Classes and image counts of a data set (synthetic, hotdog, cifar10, or a folder or .zip in the
        server's data folder) without training on it."""
        from augtune import data as data_module

        try:
            return data_module.describe(str(data))
        except (data_module.TrainError, ValueError, OSError) as error:
            raise gr.Error(str(error)) from None

    # ----- events --------------------------------------------------------------------------------------
    recipe = [kind, folder, zip_file, model, weights_file, epochs, batch_size, image_size, lr, head_lr_mult,
              optimizer, weight_decay, augment]
    run_outputs = [session, seen, timer, *shown]
    locale_js = "(...values) => [document.documentElement.lang || navigator.language || 'en', ...values.slice(1)]"
    ui_only = dict(api_visibility="private")
    start.click(on_start, [locale, session, *recipe, *explore_widgets], run_outputs, js=locale_js,
                concurrency_id="finetune-submit", concurrency_limit=4, **ui_only)
    compare.click(on_compare, [locale, session, *recipe, *explore_widgets], run_outputs, js=locale_js,
                  concurrency_id="finetune-submit", **ui_only)
    for name, button in exercise_buttons.items():
        button.click(functools.partial(on_exercise, name), [locale, session, *recipe, *explore_widgets], run_outputs,
                     js=locale_js, concurrency_id="finetune-submit", **ui_only)
    cancel.click(on_cancel, [session], [status], concurrency_limit=None, **ui_only)
    # A tick reads a snapshot, and draws a plot only when an epoch ended: a class can poll at once.
    poll_options = dict(show_progress="hidden", concurrency_id="finetune-poll", concurrency_limit=4, **ui_only)
    timer.tick(on_poll, [session, seen], run_outputs, **poll_options)
    # Opening the tab (also after a reload) gets a running run back and restarts the ticks.
    tab.select(on_poll, [session, seen], run_outputs, **poll_options)
    for trigger in (kind.input, folder.input, zip_file.change):
        trigger(on_data, [kind, folder, zip_file, image_size], [folder, zip_file, data_info, image_size], **ui_only)
    model.input(on_model, [model], [weights_file, model_info, lr, head_lr_mult, optimizer, weight_decay, recipe_info],
                **ui_only)
    augment.input(on_augment, [augment, *explore_widgets], [augment_info], **ui_only)
    tab.select(on_augment, [augment, *explore_widgets], [augment_info], **ui_only)
    tab.select(model_on_open, [model], [model, model_info, lr, head_lr_mult, optimizer, weight_decay, recipe_info],
               **ui_only)
    with tab:  # gr.Tabs may hold only tabs, so the API endpoints live in ours
        gr.api(start_api, api_name="finetune_start", concurrency_id="finetune-submit")
        gr.api(compare_api, api_name="finetune_compare", concurrency_id="finetune-submit")
        gr.api(experiment_api, api_name="finetune_experiment", concurrency_id="finetune-submit")
        gr.api(status_api, api_name="finetune_status", concurrency_id="finetune-poll")
        gr.api(cancel_api, api_name="finetune_cancel", concurrency_limit=None)
        gr.api(data_api, api_name="finetune_data", concurrency_id="finetune-data", concurrency_limit=1)
    return jobs


def api_config(settings: Any):
    """A TrainConfig from API settings; gr.Error (one sentence) when they do not make one.

    Weights files come only through the page's upload: a path typed into the API could probe the server."""
    from augtune.train import TrainConfig

    if not isinstance(settings, dict):
        raise gr.Error("config must be a JSON object of training settings.")
    settings = dict(settings)
    if settings.get("weights_path") not in (None, "", BUILTIN):
        raise gr.Error("weights_path cannot be set through the API; upload a weights file on the page.")
    augment = settings.get("augment", "combined_train")
    try:
        if isinstance(augment, str):
            if augment not in PRESETS:
                raise ValueError(f"augment must be a preset ({', '.join(PRESETS)}), settings, or null, got {augment!r}.")
            settings["augment"] = PRESETS[augment]
        config = TrainConfig.from_dict(settings)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    return config if config.label else dataclasses.replace(config, label=run_label(config))


def _default_config():
    from augtune.train import TrainConfig

    return TrainConfig()
