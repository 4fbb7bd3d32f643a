"""Fine-tuning ResNet-18 the lesson's way, readable top to bottom: `train(config, out_dir)`.

The recipe (defaults of TrainConfig) is the lesson's fine-tuning recipe: SGD, lr 0.01 with the new head at
10x in its own parameter group, weight decay 0.001, 5 epochs, ImageNet normalisation, test transform
Resize + CenterCrop; the training transform comes from an AugSpec (the Explore tab's settings). Its size
is the built-in synthetic set's: 48 px, batch 16 (the hot-dog lesson's 224 px and batch 128 are flags away),
and crops of 60-100 % of the area (PRESETS["combined_train"]).

How an AugSpec becomes the training transform: its output size is set to the training size, i.e.
crop_size = image_size and resize_size = round(image_size * 256 / 224) (the lesson's 256/224 ratio); it
runs on batches of the uint8 squares that augtune.data decoded once (side resize_size), and a spec
without a crop stage gets a centre crop to the training size after it. `augment=None` trains on the
same centre crops the test uses.

Speed: pixels are decoded once into memory, so an epoch is augmentation plus the model. Augmentation runs
in the training loop itself, on each batch (augtune.batch_augment: per-image parameters, the colour jitter's
pixel work done for the whole batch; on CUDA the batch sits on the GPU and is augmented there). Augmenting
one batch ahead in a background thread was measured too and was slower on 2 CPU cores: the model already
keeps both busy, so a second producer only fights it for them. bench/finetune.py compares the loop with
the bare model and with the lesson's DataLoader workers.

Several processes: under `torchrun --nproc_per_node=N -m augtune.train ...` each process is one rank of a
DistributedDataParallel run (augtune.distributed): the batch size stays the global batch, each rank trains on
its share of every batch with its own augmentation draws, the rows are reduced over the ranks, and rank 0
alone speaks and writes the files. Without torchrun nothing of that exists.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.transforms import v2

from . import distributed, report
from .batch_augment import BatchAugment
from .data import Cancelled, DataSet, Split, TrainError, load, stored_side
from .model import (build_model, choose_weights, freeze_backbone, init_head_rows, param_groups, parse_head_rows,
                    pretrained_head, speed_up_tiny_maps)
from .ops import OPS
from .pipeline import build_pipeline
from .spec import PRESETS, AugSpec, check_number, format_number

__all__ = ["Cancelled", "EpochRow", "TrainConfig", "TrainError", "TrainResult", "train", "main"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda", "mps")
MISCLASSIFIED_SHOWN = 16
EVAL_BATCH = 256

# (low, high) for TrainConfig's numeric fields; the UI can build its inputs from this table.
RANGES: dict[str, tuple[float, float]] = {
    "epochs": (1, 100),
    "batch_size": (2, 1024),
    "image_size": (32, 512),
    "lr": (1e-6, 10.0),
    "head_lr_mult": (0.0, 1000.0),
    "weight_decay": (0.0, 1.0),
    "seed": (0, 2**31 - 1),
}
INT_FIELDS = frozenset({"epochs", "batch_size", "image_size", "seed"})


@dataclass(frozen=True)
class TrainConfig:
    data: str = "synthetic"
    pretrained: bool = True
    weights_path: str | None = None
    epochs: int = 5
    batch_size: int = 16
    image_size: int = 48
    lr: float = 0.01
    head_lr_mult: float = 10.0
    optimizer: str = "sgd"
    weight_decay: float = 0.001
    augment: AugSpec | None = PRESETS["combined_train"]
    seed: int = 0
    device: str = "auto"
    label: str = ""
    freeze_backbone: bool = False  # only the new head learns (the lesson's exercise)
    head_init: str = ""  # "hotdog=934": classes whose new head row starts from a row of the pretrained output layer

    def __post_init__(self) -> None:
        if not isinstance(self.data, str) or not self.data.strip():
            raise ValueError("data must name a data set: synthetic, hotdog, cifar10, a folder or a .zip file.")
        if not isinstance(self.pretrained, bool):
            raise ValueError(f"pretrained must be true or false, got {self.pretrained!r}.")
        if self.weights_path is not None and not isinstance(self.weights_path, str):
            raise ValueError(f"weights_path must be a file path or empty, got {self.weights_path!r}.")
        for name, (low, high) in RANGES.items():
            object.__setattr__(self, name, check_number(name, getattr(self, name), low, high, integer=name in INT_FIELDS))
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}.")
        if self.augment is not None and not isinstance(self.augment, AugSpec):
            raise ValueError("augment must be augmentation settings (an AugSpec) or none.")
        device = str(self.device)
        if device not in DEVICES and not (device.startswith("cuda:") and device[5:].isdigit()):
            raise ValueError(f"device must be one of {', '.join(DEVICES)} or cuda:N, got {self.device!r}.")
        if not isinstance(self.label, str) or len(self.label) > 200:
            raise ValueError("label must be a short text (at most 200 characters).")
        if not isinstance(self.freeze_backbone, bool):
            raise ValueError(f"freeze_backbone must be true or false, got {self.freeze_backbone!r}.")
        if not isinstance(self.head_init, str) or len(self.head_init) > 200:
            raise ValueError("head_init must be a short text like hotdog=934.")
        parse_head_rows(self.head_init)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["augment"] = self.augment.to_dict() if self.augment is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Any) -> TrainConfig:
        if not isinstance(data, dict):
            raise ValueError(f"A training configuration must be a JSON object, got {type(data).__name__}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown training setting(s): {', '.join(map(str, unknown))}.")
        data = dict(data)
        if isinstance(data.get("augment"), dict):
            data["augment"] = AugSpec.from_dict(data["augment"])
        return cls(**data)


@dataclass
class EpochRow:
    epoch: int
    loss: float
    train_acc: float
    test_acc: float
    seconds: float  # the whole epoch: training and testing
    images_per_s: float  # training images per second of the training part

    def log_line(self) -> str:
        return (
            f"epoch {self.epoch}, loss {self.loss:.4f}, train acc {self.train_acc:.3f}, "
            f"test acc {self.test_acc:.3f}, time {self.seconds:.1f} sec"
        )


@dataclass
class TrainResult:
    config: TrainConfig
    classes: list[str]
    rows: list[EpochRow]
    per_class_acc: dict[str, float | None]
    confusion: list[list[int]]
    misclassified: list[dict[str, str]]
    device: str
    seconds: float
    out_dir: Path
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "classes": self.classes,
            "rows": [asdict(row) for row in self.rows],
            "per_class_acc": self.per_class_acc,
            "confusion": self.confusion,
            "misclassified": self.misclassified,
            "device": self.device,
            "seconds": self.seconds,
            "lesson": report.lesson_comparison(self.config.data, self.config.pretrained or bool(self.config.weights_path)),
            "notes": self.notes,
        }


def train(
    config: TrainConfig,
    out_dir: Path,
    on_event: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    allowed_roots: Sequence[Path] | None = None,
) -> TrainResult:
    """Fine-tune as `config` says, streaming events, and write the run's files into `out_dir`.

    Raises Cancelled when should_stop() turns true, TrainError (one sentence) when the run cannot go on.
    `allowed_roots` overrides where user-named data folders may be (default: AUGTUNE_DATA_ROOT).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    stop = should_stop or (lambda: False)
    # Under torchrun this process is one rank of several (augtune.distributed); otherwise a world of one.
    with distributed.join(pick_device(config.device)) as (ranks, device):
        emit = (on_event or (lambda event: None)) if ranks.main else (lambda event: None)
        if ranks.main:
            out_dir.mkdir(parents=True, exist_ok=True)

        def status(message: str) -> None:
            emit({"kind": "status", "message": message})

        # The machine: CUDA gets mixed precision and channels-last memory layout.
        on_cuda = device.type == "cuda"
        amp_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if on_cuda else None
        memory_format = torch.channels_last if on_cuda else torch.contiguous_format
        # cuDNN's kernel search (benchmark=True) was measured on an H200 (bench/gpu.sh): it made the first epoch
        # 4-9 s instead of 1 s and gained ~0.1 s per later epoch, a loss for jobs of a few epochs.
        torch.backends.cudnn.benchmark = False
        emit({"kind": "device", "device": _device_name(device), "amp": amp_dtype is not None, "channels_last": on_cuda,
              **({"processes": ranks.world} if ranks.world > 1 else {})})
        if config.batch_size < 2 * ranks.world:
            raise TrainError(f"A batch of {config.batch_size} images cannot be shared by {ranks.world} processes "
                             "(each needs at least 2); choose a larger batch size.")

        # The data, decoded once into memory at the training size (a download or cache is made once per machine).
        dataset = ranks.main_first(lambda: load(config.data, config.image_size, status=status, should_stop=stop,
                                                allowed_roots=allowed_roots))
        emit(dataset.event())
        if ranks.any(stop()):
            raise Cancelled()

        # The model: ImageNet (or file, or random) weights, a new head, two parameter groups.
        torch.manual_seed(config.seed)
        net = build_model(
            len(dataset.classes),
            pretrained=config.pretrained,
            weights_path=config.weights_path,
            status=status,
            should_stop=stop,
        )
        if config.head_init:
            init_head_rows(net, dataset.classes, parse_head_rows(config.head_init),
                           pretrained_head(config.pretrained, config.weights_path))
        if config.freeze_backbone:
            freeze_backbone(net)
        speed_up_tiny_maps(net)
        net = net.to(device, memory_format=memory_format)
        model = ranks.wrap(net, device)  # what the training steps call; DDP averages its gradients
        ranks.own_stream(config.seed)  # no two ranks draw the same crops
        groups = param_groups(net, config.lr, config.head_lr_mult)
        # One fused kernel per step instead of a loop over the tensors: Adam's step was a fifth of a training step
        # at 48 px, batch 16 on 2 CPU cores (41 -> 8 ms a step, measured 2026-12-01).
        fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
        if config.optimizer == "sgd":
            optimizer = torch.optim.SGD(groups, lr=config.lr, weight_decay=config.weight_decay, **fused)
        else:
            optimizer = torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay, **fused)
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        augment = train_transform(config.augment, config.image_size)
        mix = batch_mixer(config.augment, len(dataset.classes))
        normalize = Normalizer(device, memory_format)
        train_split = _to(dataset.train, device if on_cuda else torch.device("cpu"))
        test_split = _to(dataset.test, device if on_cuda else torch.device("cpu"))
        test_part = _part(test_split, ranks)

        # The loop: the lesson's, one log line per epoch.
        rows: list[EpochRow] = []
        metrics_path = out_dir / "metrics.csv"
        if ranks.main:
            _write_metrics(metrics_path, rows)
        shuffle = torch.Generator().manual_seed(config.seed)  # the same order on every rank
        status("Training...")
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            model.train()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            seen = 0
            order = torch.randperm(len(train_split), generator=shuffle)
            batches = _batch_indices(order, config.batch_size, ranks.world)
            for index, batch in enumerate(batches):
                if ranks.any(stop()):
                    raise Cancelled()
                indices = ranks.share(batch).to(train_split.pixels.device)  # pixels and labels share a device
                inputs = normalize(augment(train_split.pixels[indices]))
                labels = targets = train_split.labels[indices]
                if mix is not None:  # soft targets; train acc still counts each picture's own label
                    inputs, targets = mix(inputs, labels)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    logits = model(inputs)
                    # Weighted by this rank's share of the batch, so that DDP's average over the ranks is the
                    # global batch's mean loss (the factor is exactly 1 for one process).
                    loss = F.cross_entropy(logits, targets) * (len(labels) * ranks.world / len(batch))
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                loss_sum += loss.detach().float() * len(batch) / ranks.world  # this rank's summed loss
                correct += (logits.detach().argmax(1) == labels).sum()
                seen += len(labels)
                emit({"kind": "progress", "epoch": epoch, "batch": index + 1, "batches": len(batches)})
            train_seconds = time.perf_counter() - epoch_start
            predictions = ranks.gather(predict(net, test_part, normalize, amp_dtype, stop))
            # float32, which every device has (MPS has no float64): counts stay exact up to 16 million images.
            totals = ranks.sum(torch.stack([loss_sum.float(), correct.float(), torch.tensor(float(seen), device=device)]))
            loss_total, correct_total, seen_total = (float(value) for value in totals)
            row = EpochRow(
                epoch=epoch,
                loss=loss_total / max(seen_total, 1),
                train_acc=correct_total / max(seen_total, 1),
                test_acc=float((predictions == test_split.labels.cpu()).float().mean()) if len(test_split) else 0.0,
                seconds=time.perf_counter() - epoch_start,
                images_per_s=seen_total / max(train_seconds, 1e-9),
            )
            if not math.isfinite(row.loss):
                raise TrainError(f"Training diverged in epoch {epoch} (the loss is not a number any more); lower the learning rate.")
            rows.append(row)
            if ranks.main:
                _write_metrics(metrics_path, rows)
            emit({"kind": "epoch", "row": asdict(row), "log_line": row.log_line()})

        # What the model gets wrong, and the run's files (rank 0 writes them; the others only train).
        if not ranks.main:
            return TrainResult(config, list(dataset.classes), rows, {}, [], [], _device_name(device),
                               time.perf_counter() - started, out_dir)
        result = _summarise(config, dataset, test_split.labels.cpu(), predictions, rows, device, net, out_dir)
        result.seconds = time.perf_counter() - started
        (out_dir / "result.json").write_text(json.dumps(result.to_dict(), indent=2))
        emit({"kind": "done", "result": result.to_dict()})
        return result


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError("There is no CUDA GPU on this machine; choose the device auto or cpu.")
    if name == "mps" and not torch.backends.mps.is_available():
        raise TrainError("There is no Apple GPU (MPS) on this machine; choose the device auto or cpu.")
    return torch.device(name)


# Ops whose output size differs from sample to sample: a batched step after them could not stack the batch.
_VARIABLE_SIZE = (v2.RandomZoomOut,)


def train_transform(spec: AugSpec | None, image_size: int) -> BatchAugment:
    """The training transform, on uint8 batches (N, 3, S, S) with S = stored_side(image_size). MixUp and CutMix
    are not in it: they need the labels (batch_mixer)."""
    finish = v2.CenterCrop(image_size)
    if spec is None:
        return BatchAugment([finish])
    if spec.steps is not None:
        # The pipeline may end at any size: every image ends at the training size, as a test image is made.
        steps = [step.build() for step in spec.steps if not _is_mix(step)]
        steps += [v2.Resize(image_size, antialias=True), finish]
        if any(isinstance(t, _VARIABLE_SIZE) or getattr(t, "expand", False) for t in steps):
            return BatchAugment([v2.Compose(steps)])  # all per image: the sizes meet again only at the end
        return BatchAugment(steps)
    sized = spec.replace(crop_size=image_size, resize_size=max(stored_side(image_size), image_size))
    steps = list(build_pipeline(sized).transforms)
    return BatchAugment(steps if sized.crop_mode != "none" else steps + [finish])


def _is_mix(step) -> bool:
    return step.op in OPS and OPS[step.op].family == "mixing"


def batch_mixer(spec: AugSpec | None, classes: int) -> v2.Transform | None:
    """The spec's MixUp or CutMix step (always its last), for (normalised batch, labels) -> (batch, soft labels)."""
    if spec is None or spec.steps is None or not spec.steps or not _is_mix(spec.steps[-1]):
        return None
    step = spec.steps[-1]
    return getattr(v2, step.op)(alpha=step.values["alpha"], num_classes=classes)


class Normalizer:
    """uint8 batch -> float, ImageNet-normalised, on the device, in the model's memory format."""

    def __init__(self, device: torch.device, memory_format: torch.memory_format) -> None:
        self.device = device
        self.memory_format = memory_format
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True).float()
        return ((images - self.mean) / self.std).contiguous(memory_format=self.memory_format)


@torch.no_grad()
def predict(model: nn.Module, split: Split, normalize: Normalizer, amp_dtype, stop: Callable[[], bool]) -> torch.Tensor:
    model.eval()
    predictions = []
    for start in range(0, len(split), EVAL_BATCH):
        if stop():
            raise Cancelled()
        with torch.autocast(normalize.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(normalize(split.pixels[start : start + EVAL_BATCH]))
        predictions.append(logits.argmax(1).cpu())
    return torch.cat(predictions) if predictions else torch.empty(0, dtype=torch.long)


def _batch_indices(order: torch.Tensor, batch_size: int, processes: int = 1) -> list[torch.Tensor]:
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) < 2 * processes:  # BatchNorm cannot train on a batch of one
        batches.pop()
    return batches


def _part(split: Split, ranks: distributed.Ranks) -> Split:
    """This rank's contiguous part of the test set (the whole set for one process)."""
    if ranks.world == 1:
        return split
    indices = ranks.share(torch.arange(len(split)))
    start, end = (int(indices[0]), int(indices[-1]) + 1) if len(indices) else (0, 0)
    return Split(split.pixels[start:end], split.labels[start:end], split.names[start:end])


def _to(split: Split, device: torch.device) -> Split:
    return Split(split.pixels.to(device), split.labels.to(device), split.names)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    return device.type


def _write_metrics(path: Path, rows: list[EpochRow]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f.name for f in fields(EpochRow)])
        for row in rows:
            writer.writerow([row.epoch, f"{row.loss:.6f}", f"{row.train_acc:.6f}", f"{row.test_acc:.6f}", f"{row.seconds:.3f}", f"{row.images_per_s:.1f}"])


def _summarise(config, dataset: DataSet, truth, predictions, rows, device, model, out_dir: Path) -> TrainResult:
    classes = dataset.classes
    confusion = torch.zeros(len(classes), len(classes), dtype=torch.long)
    if len(truth):
        confusion.index_put_((truth, predictions), torch.ones_like(truth), accumulate=True)
    per_class = {}
    for index, name in enumerate(classes):
        total = int(confusion[index].sum())
        per_class[name] = int(confusion[index, index]) / total if total else None
    wrong = (predictions != truth).nonzero().flatten()[:MISCLASSIFIED_SHOWN].tolist()
    strip = [
        {
            "true": classes[int(truth[i])],
            "pred": classes[int(predictions[i])],
            "file": dataset.test.names[i],
            "image": dataset.test.pixels[i].permute(1, 2, 0).numpy(),
        }
        for i in wrong
    ]
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, out_dir / "model.pt")
    label = config.label or ("pretrained" if config.pretrained else "scratch")
    report.save(report.curves_figure({label: rows}), out_dir / "curves.png")
    report.save(report.confusion_figure(classes, confusion.tolist()), out_dir / "confusion.png")
    report.save(report.misclassified_figure(strip), out_dir / "misclassified.png")
    return TrainResult(
        config=config,
        classes=list(classes),
        rows=rows,
        per_class_acc=per_class,
        confusion=confusion.tolist(),
        misclassified=[{k: item[k] for k in ("true", "pred", "file")} for item in strip],
        device=_device_name(device),
        seconds=0.0,
        out_dir=out_dir,
        notes=[dataset.note] if dataset.note else [],
    )


# ---------------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Under torchrun every rank runs this; rank 0 speaks for the run, the others only of their own failures.
    rank = distributed.rank_from_env()
    speaks = rank == 0
    try:
        pretrained, weights_path, weights_said = choose_weights("scratch" if args.scratch else args.weights)
        config = TrainConfig(
            data=args.data,
            pretrained=pretrained,
            weights_path=weights_path,
            epochs=args.epochs,
            batch_size=args.batch_size,
            image_size=args.image_size,
            lr=args.lr,
            head_lr_mult=args.head_lr_mult,
            optimizer=args.optimizer,
            weight_decay=args.weight_decay,
            augment=_augment_from_arg(args.augment),
            seed=args.seed,
            device=args.device,
            label=args.label,
            freeze_backbone=args.freeze_backbone,
            head_init=args.head_init,
        )
        roots = [Path("/")]  # the command line's user may read what they like; the server's users may not
        device: dict = {}

        def show(event: dict) -> None:
            if event["kind"] == "epoch":
                print(event["log_line"], flush=True)
            elif event["kind"] == "status" and not args.quiet:
                print(event["message"], file=sys.stderr, flush=True)
            elif event["kind"] == "device":
                device.update(event)  # shown with the data (and the weights), so that a bad --data is the only line printed
            elif event["kind"] == "data" and not args.quiet:
                processes = f", {device['processes']} processes" if device.get("processes") else ""
                print(f"device {device['device']} (mixed precision: {device['amp']}{processes})", file=sys.stderr, flush=True)
                counts = ", ".join(f"{c} {event['train_counts'][c]}/{event['test_counts'][c]}" for c in event["classes"])
                print(f"classes (train/test images): {counts}", file=sys.stderr, flush=True)
                if event["note"]:
                    print(event["note"], file=sys.stderr, flush=True)
                print(weights_said, file=sys.stderr, flush=True)

        result = train(config, Path(args.out), on_event=show, allowed_roots=roots)
    except ValueError as error:  # the settings: the same on every rank, so said once
        if speaks:
            print(f"error: {error}", file=sys.stderr)
        return 2
    except TrainError as error:
        print(f"error{'' if speaks else f' (rank {rank})'}: {error}", file=sys.stderr)
        return 2
    except Cancelled:
        print("error: cancelled", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if speaks:
            print("error: interrupted", file=sys.stderr)
        return 2
    if speaks and not args.quiet:
        print(f"wrote metrics.csv, model.pt, curves.png, confusion.png, misclassified.png, result.json to {args.out} "
              f"({result.seconds:.1f} s on {result.device})", file=sys.stderr)
    return 0


def _augment_from_arg(value: str) -> AugSpec | None:
    if value == "none":
        return None
    if value in PRESETS:
        return PRESETS[value]
    path = Path(value)
    if path.suffix.lower() == ".json":
        try:
            return AugSpec.from_json(path.read_text())
        except OSError as error:
            raise ValueError(f"The augmentation file {value} could not be read ({error.strerror}).") from None
    raise ValueError(f"--augment must be none, a preset ({', '.join(PRESETS)}) or a .json settings file, got {value!r}.")


def add_weights_arguments(parser: argparse.ArgumentParser) -> None:
    """--weights auto|imagenet|builtin|FILE, --scratch, and --pretrained (the same as --weights imagenet)."""
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--weights", default="auto", metavar="auto|imagenet|builtin|FILE",
                         help="the pretrained model to start from: torchvision's ImageNet weights (cached in TORCH_HOME), "
                         "the built-in backbone (assets/builtin-resnet18.pt, made by python -m augtune.pretrain), or a "
                         "ResNet-18 state_dict file; auto takes ImageNet where it is cached or reachable, else the built-in one")
    weights.add_argument("--pretrained", dest="weights", action="store_const", const="imagenet", help="the same as --weights imagenet")
    weights.add_argument("--scratch", action="store_true", help="start from random weights")


def run_command(body: Callable[[], int]) -> int:
    """A command's body, its failures as one line on stderr and exit code 2 (augtune.lesson, augtune.pretrain)."""
    try:
        return body()
    except (TrainError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
    except (Cancelled, KeyboardInterrupt):
        print("error: interrupted", file=sys.stderr)
    return 2


class OneLineParser(argparse.ArgumentParser):
    """Errors in one line on stderr and exit code 2, like every other error of the command."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = OneLineParser(
        prog="python -m augtune.train",
        description="Fine-tune ResNet-18 the way the lesson does, printing its log line per epoch. Writes "
        "metrics.csv, model.pt (a state_dict; torch.load(..., weights_only=True)), curves.png, confusion.png, "
        "misclassified.png and result.json into --out. Under torchrun (torchrun --nproc_per_node=N -m augtune.train ...) "
        "it trains data-parallel on N processes (GPUs), --batch-size being the global batch.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", default=defaults.data, help="synthetic, hotdog, cifar10, a folder in ImageFolder layout (train/<class>/*, test/<class>/*, or <class>/* split by a fixed seed) or a .zip of one")
    add_weights_arguments(parser)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--image-size", type=int, default=defaults.image_size, help="training and test image side in pixels (the hot-dog recipe uses 224)")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="learning rate of the pretrained layers")
    parser.add_argument("--head-lr-mult", type=float, default=defaults.head_lr_mult, help="the new output layer learns this many times faster")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=defaults.optimizer)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--augment", default="combined_train", metavar="PRESET|spec.json|none", help=f"training augmentation: a preset ({', '.join(PRESETS)}), a settings file saved by the Explore tab, or none; its crop size is set to --image-size")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--device", default=defaults.device, help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps")
    parser.add_argument("--label", default="", help="name of the run in the plot")
    parser.add_argument("--freeze-backbone", action="store_true", help="train only the new output layer")
    parser.add_argument("--head-init", default="", metavar="CLASS=ROW",
                        help="start a class's row of the new output layer from a row of the pretrained one "
                        "(ImageNet's 934 is hot dog: --head-init hotdog=934)")
    parser.add_argument("--out", default="runs/cli", metavar="DIR", help="folder for the outputs")
    parser.add_argument("--quiet", action="store_true", help="print only the per-epoch log lines")
    return parser


if __name__ == "__main__":
    sys.exit(main())
