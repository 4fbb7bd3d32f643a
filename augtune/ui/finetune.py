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

_ = gr.I18n()  # only makes translation keys; app.py merges STRINGS into the table given to launch()

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

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "ft.tab": "Fine-tune",
        "ft.intro": (
            "### Fine-tune ResNet-18 and watch it learn\n"
            "Pick the data, the model and the recipe, press **Start**: training runs on the server, one "
            "row per epoch appears below. You can switch tabs or close the page; come back to see your run."
        ),
        "ft.step.data": "1 · Data",
        "ft.step.model": "2 · Model",
        "ft.step.recipe": "3 · Recipe (the lesson's defaults)",
        "ft.data": "Data set",
        "ft.data.synthetic": "Synthetic shapes (built in, no download)",
        "ft.data.hotdog": "Hot dog or not (the lesson's data, 260 MB)",
        "ft.data.cifar10": "CIFAR-10 (170 MB)",
        "ft.data.folder": "A folder on the server",
        "ft.data.zip": "My .zip file",
        "ft.folder": "Folder",
        "ft.folder.info": "Folders and .zip files in the server's data folder (train/<class>/…, test/<class>/…).",
        "ft.zip": "Upload a .zip: train/<class>/*.jpg and test/<class>/*.jpg, or one folder per class",
        "ft.model": "Model",
        "ft.model.pretrained": "ResNet-18 pretrained on ImageNet (fine-tuning)",
        "ft.model.builtin": "ResNet-18 pretrained here on 17 other shapes and textures (built in, fine-tuning)",
        "ft.model.scratch": "ResNet-18 from random weights (from scratch)",
        "ft.model.file": "ResNet-18 with my weights file (.pt state dict)",
        "ft.weights": "Weights file (a ResNet-18 state_dict saved with torch.save)",
        "ft.epochs": "Epochs",
        "ft.batch": "Batch size",
        "ft.size": "Image size (pixels)",
        "ft.size.info": "The hot-dog recipe uses 224; smaller is much faster on a CPU.",
        "ft.lr": "Learning rate",
        "ft.head": "Head learning-rate multiplier",
        "ft.head.info": "The new output layer learns this many times faster than the copied layers.",
        "ft.optimizer": "Optimiser",
        "ft.wd": "Weight decay",
        "ft.augment": "Augment the training images with",
        "ft.augment.combined_train": "the lesson's combined augmentation, crops of 60–100 % of the picture",
        "ft.augment.explore": "the Explore tab's settings",
        "ft.augment.hotdog_train": "the lesson's hot-dog training pipeline",
        "ft.augment.none": "nothing (no augmentation)",
        "ft.start": "▶ Start",
        "ft.compare": "⚖ Run the lesson's comparison",
        "ft.compare.info": (
            "Queues the lesson's experiments, each run with its lesson's recipe, and draws them in one plot: "
            "augmentation on vs off (from scratch, Adam lr 0.001), and with a pretrained model, fine-tuned vs "
            "from scratch (SGD lr 0.1). Your data, epochs, batch and augmentation are kept."
        ),
        "ft.exercises": "Exercises from the chapters, one click each",
        "ft.exercises.info": "Each queues its runs side by side with the data, model and settings above, the changed thing named in the legend.",
        "ft.exercise.no-augmentation": "No augmentation: the train/test gap",
        "ft.exercise.stronger-augmentation": "Stronger augmentation",
        "ft.exercise.raised-lr": "Fine-tuning at lr 0.1",
        "ft.exercise.frozen-backbone": "Backbone frozen vs fine-tuned",
        "ft.exercise.hotdog-head": "Hot-dog head from ImageNet's row 934",
        "ft.cancel": "■ Cancel",
        "ft.plot": "Loss and accuracy per epoch",
        "ft.table": "One row per epoch",
        "ft.log": "The lesson's log lines",
        "ft.results": "After training",
        "ft.confusion": "Confusion matrix (rows: true class, columns: predicted)",
        "ft.misclassified": "Misclassified test images (predicted / true)",
        "ft.downloads": "Downloads: fine-tuned weights (state_dict) and metrics (CSV)",
        # Made by callbacks (rendered in both languages; values are escaped)
        "ft.msg.idle": "Press <b>Start</b> to train. Nothing is running for you now.",
        "ft.msg.queued": "⏳ Busy: another run is training. You are number <b>{position}</b> in the queue.",
        "ft.msg.starting": "Starting…",
        "ft.msg.running": "Device: <b>{device}</b>",
        "ft.msg.epoch": "epoch {epoch} of {epochs} · batch {batch} of {batches}",
        "ft.msg.done": "✅ Finished: test accuracy <b>{acc}</b> after {epochs} epochs ({seconds} s).",
        "ft.msg.failed": "❌ Stopped: {error}",
        "ft.msg.cancelling": "Cancelling…",
        "ft.msg.cancelled": "Cancelled.",
        "ft.msg.lost": "Your earlier run is no longer on the server (finished runs are deleted after a while, or the server restarted).",
        "ft.msg.amp": "mixed precision",
        "ft.msg.processes": "{count} processes (DDP)",
        "ft.data.classes": "{count} classes",
        "ft.data.head.class": "class",
        "ft.data.head.train": "training images",
        "ft.data.head.test": "test images",
        "ft.data.total": "total",
        "ft.data.skipped": "Skipped: {unreadable} unreadable image(s), {not_images} file(s) that are not images.",
        "ft.data.bias": (
            "<b>Built-in bias:</b> in the training images each shape has its own narrow colour and its centre in the "
            "left half; in the test images shapes have any colour and sit anywhere. Without augmentation a model "
            "learns the colour and fails the test; with flips, crops and hue jitter it has to learn the shape."
        ),
        "ft.data.download": "Downloaded on first use, then reused.",
        "ft.data.offline": "Not downloaded yet, and this server is offline: it cannot be used here.",
        "ft.data.cached": "Already downloaded on this server.",
        "ft.data.pick_folder": "Choose a folder (none found in the server's data folder yet).",
        "ft.data.pick_zip": "Upload a .zip to see its classes.",
        "ft.model.offline": (
            "The ImageNet weights are not on this server and it is offline, so the built-in pretrained model is "
            "selected."
        ),
        "ft.model.cached": "ImageNet weights: ready on this server.",
        "ft.model.download": "ImageNet weights: downloaded (45 MB) through torchvision on first use.",
        "ft.model.unreachable": (
            "The ImageNet weights are not on this server and their download site does not answer ({reason}), so "
            "the built-in pretrained model is selected."
        ),
        "ft.augment.uses": "Used for training: {summary}",
        "ft.augment.explore_default": "(the Explore tab is not connected, so its default: the lesson's combined pipeline)",
        "ft.augment.test": "Test images are never augmented: resize + centre crop, as in the lesson.",
        "ft.recipe.finetune": "The fine-tuning lesson's recipe: SGD, lr 0.01, the new output layer at 10x, weight decay 0.001. Every field stays yours to change.",
        "ft.recipe.augmentation": "The augmentation lesson's recipe (from scratch): Adam, lr 0.001, one learning rate for every layer. Every field stays yours to change.",
        "ft.results.final": "final test acc",
        "ft.results.lesson": "The lesson's published numbers (hot dog, ResNet-18, 5 epochs):",
        "ft.results.lesson_cifar10": "The lesson's published number (CIFAR-10, horizontal flips, Adam, 10 epochs): {value}",
        "ft.results.lesson_finetuned": "fine-tuned: {value}",
        "ft.results.lesson_scratch": "from scratch: {value}",
        "ft.results.per_class": "Test accuracy per class",
        "ft.results.shown": "Figures below: {label}",
        "ft.error.busy": "You already have a run in progress; wait for it to finish or cancel it first.",
        "ft.error.full": "The training queue is full; try again in a few minutes.",
        "ft.error.not_found": "This run does not exist any more, or it belongs to someone else.",
        "ft.error.owner": "This browser has no valid session; reload the page.",
        "ft.error.closed": "The server is shutting down; try again in a minute.",
        "ft.error.empty": "Choose at least one run to start.",
        "ft.error.no_folder": "Choose a folder first.",
        "ft.error.no_zip": "Upload a .zip file first.",
        "ft.error.not_zip": "The data file must be a .zip file.",
        "ft.error.no_weights": "Upload a weights file first, or choose another model.",
        "ft.error.explore": "The Explore tab's settings cannot be used for training: {error}",
    },
    "zh-CN": {
        "ft.tab": "微调",
        "ft.intro": (
            "### 微调 ResNet-18，看着它学习\n"
            "选择数据、模型和训练方案，然后按 **开始**：训练在服务器上进行，每训练完一轮，下方就多出一行。"
            "你可以切换标签页或关闭页面，回来后仍能看到你的训练。"
        ),
        "ft.step.data": "1 · 数据",
        "ft.step.model": "2 · 模型",
        "ft.step.recipe": "3 · 训练方案（课程的默认值）",
        "ft.data": "数据集",
        "ft.data.synthetic": "合成的形状（内置，无需下载）",
        "ft.data.hotdog": "热狗识别（课程数据集，260 MB）",
        "ft.data.cifar10": "CIFAR-10（170 MB）",
        "ft.data.folder": "服务器上的文件夹",
        "ft.data.zip": "我的 .zip 文件",
        "ft.folder": "文件夹",
        "ft.folder.info": "服务器数据文件夹中的文件夹和 .zip 文件（train/<类别>/…，test/<类别>/…）。",
        "ft.zip": "上传 .zip：train/<类别>/*.jpg 和 test/<类别>/*.jpg，或每个类别一个文件夹",
        "ft.model": "模型",
        "ft.model.pretrained": "在 ImageNet 上预训练的 ResNet-18（微调）",
        "ft.model.builtin": "在本应用内用另外 17 种形状和纹理预训练的 ResNet-18（内置，微调）",
        "ft.model.scratch": "随机初始化的 ResNet-18（从零开始训练）",
        "ft.model.file": "使用我的权重文件的 ResNet-18（.pt state dict）",
        "ft.weights": "权重文件（用 torch.save 保存的 ResNet-18 state_dict）",
        "ft.epochs": "迭代周期数（epoch）",
        "ft.batch": "批量大小",
        "ft.size": "图像大小（像素）",
        "ft.size.info": "热狗方案用 224；在 CPU 上，小尺寸快得多。",
        "ft.lr": "学习率",
        "ft.head": "输出层学习率倍数",
        "ft.head.info": "新的输出层的学习率是复制来的层的这么多倍。",
        "ft.optimizer": "优化器",
        "ft.wd": "权重衰减",
        "ft.augment": "训练图像的增广方式",
        "ft.augment.combined_train": "课程中的组合增广，裁剪图像面积的 60–100 %",
        "ft.augment.explore": "“探索”标签页的设置",
        "ft.augment.hotdog_train": "课程中热狗训练用的增广",
        "ft.augment.none": "不增广",
        "ft.start": "▶ 开始",
        "ft.compare": "⚖ 运行课程中的对比实验",
        "ft.compare.info": "排队运行课程中的实验，每次训练使用它那一节的方案，并画在同一张图里：有无图像增广（从零开始，Adam，学习率 0.001），以及使用预训练模型时，微调与从零开始（SGD，学习率 0.1）。你的数据、迭代周期、批量和增广设置保持不变。",
        "ft.exercises": "章节练习，一键运行",
        "ft.exercises.info": "每个练习用上面的数据、模型和设置排队运行几次训练并排比较，图例中写明改变了什么。",
        "ft.exercise.no-augmentation": "不做增广：训练与测试的差距",
        "ft.exercise.stronger-augmentation": "更强的增广",
        "ft.exercise.raised-lr": "以学习率 0.1 微调",
        "ft.exercise.frozen-backbone": "冻结主干 vs 全部微调",
        "ft.exercise.hotdog-head": "用 ImageNet 第 934 行（热狗）初始化输出层",
        "ft.cancel": "■ 取消",
        "ft.plot": "每个迭代周期的损失和精度",
        "ft.table": "每个迭代周期一行",
        "ft.log": "课程中的日志行",
        "ft.results": "训练结束后",
        "ft.confusion": "混淆矩阵（行：真实类别，列：预测类别）",
        "ft.misclassified": "分类错误的测试图像（预测 / 真实）",
        "ft.downloads": "下载：微调后的权重（state_dict）和指标（CSV）",
        "ft.msg.idle": "按 <b>开始</b> 进行训练。你现在没有正在进行的训练。",
        "ft.msg.queued": "⏳ 忙碌中：有别的训练正在进行。你排在第 <b>{position}</b> 位。",
        "ft.msg.starting": "正在启动…",
        "ft.msg.running": "设备：<b>{device}</b>",
        "ft.msg.epoch": "第 {epoch}/{epochs} 个迭代周期 · 第 {batch}/{batches} 个批量",
        "ft.msg.done": "✅ 完成：{epochs} 个迭代周期后测试精度为 <b>{acc}</b>（{seconds} 秒）。",
        "ft.msg.failed": "❌ 已停止：{error}",
        "ft.msg.cancelling": "正在取消…",
        "ft.msg.cancelled": "已取消。",
        "ft.msg.lost": "你之前的训练已不在服务器上（结束的训练过一段时间会被删除，或者服务器重启了）。",
        "ft.msg.amp": "混合精度",
        "ft.msg.processes": "{count} 个进程（DDP）",
        "ft.data.classes": "{count} 个类别",
        "ft.data.head.class": "类别",
        "ft.data.head.train": "训练图像",
        "ft.data.head.test": "测试图像",
        "ft.data.total": "合计",
        "ft.data.skipped": "已跳过：{unreadable} 张无法读取的图像，{not_images} 个不是图像的文件。",
        "ft.data.bias": (
            "<b>内置的偏差：</b>训练图像中每种形状都有自己固定的一种颜色，并且中心都在左半边；测试图像中形状可以是任何颜色、"
            "出现在任何位置。不做增广时，模型学到的是颜色，测试时就会失败；有了翻转、裁剪和色调变化，它只能去学形状。"
        ),
        "ft.data.download": "第一次使用时下载，之后重复使用。",
        "ft.data.offline": "尚未下载，而这台服务器无法联网：这里不能使用它。",
        "ft.data.cached": "已下载到这台服务器上。",
        "ft.data.pick_folder": "请选择一个文件夹（服务器的数据文件夹中还没有）。",
        "ft.data.pick_zip": "上传一个 .zip 文件即可看到其中的类别。",
        "ft.model.offline": "这台服务器上没有 ImageNet 权重，也无法联网，所以选择了内置的预训练模型。",
        "ft.model.cached": "ImageNet 权重：已在这台服务器上。",
        "ft.model.download": "ImageNet 权重：第一次使用时通过 torchvision 下载（45 MB）。",
        "ft.model.unreachable": "这台服务器上没有 ImageNet 权重，其下载网站也没有回应（{reason}），所以选择了内置的预训练模型。",
        "ft.augment.uses": "训练时使用：{summary}",
        "ft.augment.explore_default": "（未连接“探索”标签页，因此使用它的默认值：课程中的组合增广）",
        "ft.augment.test": "测试图像从不增广：和课程中一样，缩放后中心裁剪。",
        "ft.recipe.finetune": "微调一节的方案：SGD，学习率 0.01，新输出层的学习率为 10 倍，权重衰减 0.001。每一项都可以修改。",
        "ft.recipe.augmentation": "图像增广一节的方案（从零开始训练）：Adam，学习率 0.001，所有层使用同一个学习率。每一项都可以修改。",
        "ft.results.final": "最终测试精度",
        "ft.results.lesson": "课程中公布的结果（热狗，ResNet-18，5 个迭代周期）：",
        "ft.results.lesson_cifar10": "课程中公布的结果（CIFAR-10，水平翻转，Adam，10 个迭代周期）：{value}",
        "ft.results.lesson_finetuned": "微调：{value}",
        "ft.results.lesson_scratch": "从零开始：{value}",
        "ft.results.per_class": "每个类别的测试精度",
        "ft.results.shown": "下面的图：{label}",
        "ft.error.busy": "你已经有一个训练在进行中；请等它结束或先取消它。",
        "ft.error.full": "训练队列已满，请过几分钟再试。",
        "ft.error.not_found": "这个训练已不存在，或者属于别人。",
        "ft.error.owner": "这个浏览器没有有效的会话，请刷新页面。",
        "ft.error.closed": "服务器正在关闭，请过一分钟再试。",
        "ft.error.empty": "请至少选择一个要开始的训练。",
        "ft.error.no_folder": "请先选择一个文件夹。",
        "ft.error.no_zip": "请先上传一个 .zip 文件。",
        "ft.error.not_zip": "数据文件必须是 .zip 文件。",
        "ft.error.no_weights": "请先上传权重文件，或选择其他模型。",
        "ft.error.explore": "“探索”标签页的设置不能用于训练：{error}",
    },
}

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


def text(locale: str | None, key: str, **values: Any) -> str:
    """One message in the browser's locale (for gr.Error), plain text."""
    table = STRINGS["zh-CN"] if (locale or "").lower().startswith("zh") else STRINGS["en"]
    template = table.get(key) or STRINGS["en"][key]
    return template.format(**values) if values else template


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
ENGINE_ZH: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), zh)
    for p, zh in [
        (r"^Preparing the synthetic data set \(drawn once, then cached\)\.\.\.$", "正在准备合成数据集（只生成一次，之后使用缓存）……"),
        (r"^Reading (?P<name>.+)\.\.\.$", "正在读取 {name}……"),
        (r"^Decoding (?P<n>\d+) images at (?P<px>\d+) px\.\.\.$", "正在以 {px} 像素解码 {n} 张图片……"),
        (r"^Checking the download's SHA-1\.\.\.$", "正在校验下载文件的 SHA-1……"),
        (r"^Unpacking the hot-dog data set\.\.\.$", "正在解压热狗数据集……"),
        (r"^Downloading the hot-dog data set: (?P<p>.+)$", "正在下载热狗数据集：{p}"),
        (r"^Downloading CIFAR-10 \(170 MB\)\.\.\.$", "正在下载 CIFAR-10（170 MB）……"),
        (r"^Resizing CIFAR-10 to (?P<px>\d+) px\.\.\.$", "正在把 CIFAR-10 缩放到 {px} 像素……"),
        (r"^Loading the weights file\.\.\.$", "正在加载权重文件……"),
        (r"^Loading the built-in backbone\.\.\.$", "正在加载内置的预训练模型……"),
        (r"^The built-in backbone \((?P<file>.+)\) is missing or is only a Git LFS pointer; .*$",
         "内置的预训练模型（{file}）不存在，或只是一个 Git LFS 指针文件；请运行 git lfs pull，或用 python -m augtune.pretrain 生成它，或改为从零开始训练。"),
        (r"^Loading the ImageNet weights\.\.\.$", "正在加载 ImageNet 权重……"),
        (r"^Downloading the ImageNet weights \(45 MB\)\.\.\.$", "正在下载 ImageNet 权重（45 MB）……"),
        (r"^Downloading the ImageNet weights: (?P<p>.+)$", "正在下载 ImageNet 权重：{p}"),
        (r"^Training\.\.\.$", "正在训练……"),
        (r"^The ImageNet weights are not cached and this server is offline; .*$",
         "服务器离线，且没有缓存的 ImageNet 权重；请改用内置的预训练模型，或从头训练（scratch）。"),
        (r"^The ImageNet weights could not be downloaded \((?P<why>.+)\); .*$",
         "无法下载 ImageNet 权重（{why}）；请改用内置的预训练模型，或从头训练（scratch）。"),
        (r"^The hot-dog data set is not downloaded yet and this server is offline; .*$",
         "热狗数据集尚未下载，且服务器离线；请使用合成数据集。"),
        (r"^The hot-dog download was interrupted.*; start again to resume it\.$", "热狗数据集下载中断；再次开始即可继续下载。"),
        (r"^CIFAR-10 is not downloaded yet and this server is offline; .*$", "CIFAR-10 尚未下载，且服务器离线；请使用合成数据集。"),
        (r"^There is no data folder or \.zip file called (?P<name>.+) in the data folder\.$",
         "数据文件夹中没有名为 {name} 的文件夹或 .zip 文件。"),
        (r"^Training ran out of memory; try a smaller batch size or image size\.$", "训练时内存不足；请减小批量大小或图像尺寸。"),
        (r"^Training diverged in epoch (?P<e>\d+) .*$", "第 {e} 轮训练发散（损失不再是数字）；请降低学习率。"),
        (r"^The training process stopped unexpectedly \(exit code (?P<code>-?\d+)\).*$",
         "训练进程意外停止（退出码 {code}），机器可能内存不足。"),
        (r"^Training stopped because of an unexpected error: (?P<why>.+)$", "训练因意外错误而停止：{why}"),
        (r"^Training process (?P<k>\d+) of (?P<n>\d+) stopped unexpectedly \(killed by signal (?P<sig>\w+)\).*$",
         "第 {k} 个训练进程（共 {n} 个）意外停止（被信号 {sig} 终止），训练已结束；机器可能内存不足，请减小批量大小或图像尺寸。"),
        (r"^Training process (?P<k>\d+) of (?P<n>\d+) waited (?P<s>[\d.]+) s for the others without an answer.*$",
         "第 {k} 个训练进程（共 {n} 个）等待其他进程 {s} 秒仍无回应，训练已结束（由 AUGTUNE_COLLECTIVE_TIMEOUT_S 设定）。"),
        (r"^Training process (?P<k>\d+) of (?P<n>\d+) stopped because of an unexpected error: (?P<why>.+)$",
         "第 {k} 个训练进程（共 {n} 个）因意外错误而停止：{why}"),
        (r"^The training processes could not be started \((?P<why>.+)\)\.$", "无法启动训练进程（{why}）。"),
        (r"^This machine shows (?P<g>\d+) GPU\(s\) to the run, too few for (?P<n>\d+) processes on it.*$",
         "这台机器只给训练提供了 {g} 块 GPU，不够 {n} 个进程使用；请启动更少的进程。"),
        (r"^A batch of (?P<b>\d+) images cannot be shared by (?P<n>\d+) processes.*$",
         "{b} 张图片的批量无法分给 {n} 个进程（每个进程至少需要 2 张）；请增大批量大小。"),
        (r"^Training needs at least two classes with images.*$", "训练至少需要两个有图片的类别，每个类别一个文件夹。"),
        (r"^Asking ZeroGPU for a GPU \(about (?P<s>\d+) s of GPU time\)\.\.\.$", "正在向 ZeroGPU 申请 GPU（约 {s} 秒 GPU 时间）……"),
        (r"^Asking ZeroGPU for a GPU\.\.\.$", "正在向 ZeroGPU 申请 GPU……"),
        (r"^ZeroGPU's quota does not cover this run \((?P<s>\d+) s of GPU time asked for, (?P<left>\d+) s left\); "
         r"try again in (?P<wait>[^,]+), .*$",
         "ZeroGPU 配额不足以完成本次训练（申请 {s} 秒 GPU 时间，剩余 {left} 秒）；请在 {wait} 后再试、登录 Hugging Face 以获得更多配额，或减少轮数、缩小图像尺寸。"),
        (r"^ZeroGPU's quota does not cover this run \((?P<s>\d+) s of GPU time asked for\); .*$",
         "ZeroGPU 配额不足以完成本次训练（申请 {s} 秒 GPU 时间）；请稍后再试、登录 Hugging Face 以获得更多配额，或减少轮数、缩小图像尺寸。"),
        (r"^This run would need about (?P<s>\d+) s of ZeroGPU time, more than ZeroGPU lends at once; .*$",
         "本次训练约需 {s} 秒 ZeroGPU 时间，超过 ZeroGPU 单次可借出的时长；请减少轮数或缩小图像尺寸。"),
        (r"^No ZeroGPU GPU became free in time; .*$", "没有及时空出的 ZeroGPU GPU；请一分钟后再试。"),
        (r"^ZeroGPU took the GPU back before the run ended \(it had asked for (?P<s>\d+) s\); .*$",
         "训练结束前 ZeroGPU 收回了 GPU（本次申请了 {s} 秒）；请减少轮数或缩小图像尺寸。"),
        (r"^ZeroGPU could not lend a GPU for this run \((?P<why>.+)\)\.$", "ZeroGPU 无法为本次训练借出 GPU（{why}）。"),
        (r"^The ZeroGPU run ended without a result\.$", "ZeroGPU 上的训练没有结果就结束了。"),
        (r"^The experiment (?P<n>\S+) needs the (?P<d>\S+) data set; choose it first\.$", "实验 {n} 需要 {d} 数据集；请先选择它。"),
        (r"^The experiment (?P<n>\S+) fine-tunes a pretrained model; .*$",
         "实验 {n} 要微调一个预训练模型；请先选择 ImageNet、内置的预训练模型或你的权重文件。"),
        (r"^The experiment (?P<n>\S+) starts from the ImageNet weights; .*$", "实验 {n} 从 ImageNet 权重开始；请先把模型选为 ImageNet。"),
        (r"^There are no test images.*$", "没有测试图片：请添加 test/<类别>/ 文件夹，或每个类别一个文件夹以便自动划分。"),
    ]
]


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
        from augtune.ui import explore

        try:
            return explore.spec_from_widgets(list(values))
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
