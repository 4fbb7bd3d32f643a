"""ResNet-18 for fine-tuning: ImageNet weights through torchvision's weights API, the built-in backbone, a
local weights file, or from scratch; always with a fresh head sized to the classes (the lesson's step 3).

The built-in backbone (`weights_path="builtin"`) is a ResNet-18 this project pretrains itself, offline, on a
synthetic source task (augtune.pretrain); it ships in assets/ so that fine-tuning can be shown and tested
where ImageNet's weights cannot be had.

The ImageNet weights live in torchvision's own cache (TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth).
We fetch that file ourselves when it is missing, with a short network timeout and progress messages,
because torch.hub's downloader can wait forever on a dead network; torchvision then loads it as usual.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18

from . import data
from .data import Cancelled, TrainError, offline

WEIGHTS = ResNet18_Weights.IMAGENET1K_V1
WEIGHTS_URL = WEIGHTS.url  # where a missing cache file is fetched from (tests point it at 127.0.0.1)
SCRATCH_HINT = "choose the built-in backbone or train from scratch instead"
BUILTIN = "builtin"  # the weights_path that names the built-in backbone
BUILTIN_WEIGHTS = Path(__file__).resolve().parent.parent / "assets" / "builtin-resnet18.pt"

Status = Callable[[str], None]


def build_model(
    num_classes: int,
    *,
    pretrained: bool = True,
    weights_path: str | os.PathLike | None = None,
    status: Status = lambda message: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> nn.Module:
    """ResNet-18 with its `fc` replaced by a new Linear(512, num_classes), Xavier-initialised like the lesson's."""
    if weights_path:
        status("Loading the built-in backbone..." if weights_path == BUILTIN else "Loading the weights file...")
        backbone = load_weights_file(weights_path)
        model = resnet18()
        model.load_state_dict({**backbone, **_head_of(model)})
    elif pretrained:
        ensure_imagenet_weights(status, should_stop)
        status("Loading the ImageNet weights...")
        try:
            model = resnet18(weights=WEIGHTS)
        except Exception as error:  # noqa: BLE001 - a damaged cache file raises from deep inside torch.load
            raise TrainError(
                f"The cached ImageNet weights ({cached_weights_file()}) could not be read ({type(error).__name__}); "
                f"delete that file to download it again, or {SCRATCH_HINT}."
            ) from None
    else:
        model = resnet18()
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    nn.init.xavier_uniform_(model.fc.weight)
    return model


def param_groups(model: nn.Module, lr: float, head_lr_mult: float) -> list[dict]:
    """Two groups: the copied layers learn gently, the new head at `head_lr_mult` times the rate."""
    head = list(model.fc.parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if id(p) not in head_ids]
    return [{"params": body, "lr": lr, "name": "body"}, {"params": head, "lr": lr * head_lr_mult, "name": "head"}]


# Asked when a page opens, so short; shared by every page for a while, so a class opening the page at once
# costs one request (and nobody waits more than one timeout).
PROBE_TIMEOUT_S = 3.0
PROBE_TTL_S = 300.0
_probe_lock = threading.Lock()
_probes: dict[str, tuple[float, str]] = {}


def imagenet_weights_state() -> tuple[str, str]:
    """Whether a run could start from the ImageNet weights now, before anyone presses Start: ("cached", ""),
    ("download", "") when the weights host answers, ("offline", "") under AUGTUNE_OFFLINE, or
    ("unreachable", reason)."""
    if cached_weights_file().is_file():
        return "cached", ""
    if offline():
        return "offline", ""
    with _probe_lock:
        probed = _probes.get(WEIGHTS_URL)
        if probed is None or time.monotonic() - probed[0] > PROBE_TTL_S:
            probed = (time.monotonic(), _probe(WEIGHTS_URL))
            _probes[WEIGHTS_URL] = probed
    return ("download", "") if not probed[1] else ("unreachable", probed[1])


def _probe(url: str) -> str:
    """"" when `url` answers a HEAD request within PROBE_TIMEOUT_S, else why not (a few words)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=PROBE_TIMEOUT_S):
            return ""
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return str(reason) if str(reason) else type(reason).__name__


def choose_weights(choice: str) -> tuple[bool, str | None, str]:
    """`--weights`: "imagenet", "builtin", "scratch", a file, or "auto" (ImageNet where it is cached or its host
    answers, else the built-in backbone) -> (pretrained, weights_path, a sentence saying which and why)."""
    if choice == "auto":
        state, reason = imagenet_weights_state()
        if state in ("cached", "download"):
            return True, None, f"Starting from the ImageNet weights ({'cached' if state == 'cached' else 'downloaded first'})."
        why = "this machine is offline" if state == "offline" else f"their host did not answer: {reason}"
        return True, BUILTIN, f"Starting from the built-in backbone: the ImageNet weights are not cached and {why}."
    if choice == "imagenet":
        return True, None, "Starting from the ImageNet weights."
    if choice == "scratch":
        return False, None, "Starting from random weights."
    if choice == BUILTIN:
        return True, BUILTIN, "Starting from the built-in backbone."
    return True, choice, f"Starting from {Path(choice).name}."


def cached_weights_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(WEIGHTS.url)


def ensure_imagenet_weights(status: Status = lambda m: None, should_stop: Callable[[], bool] = lambda: False) -> Path:
    """The cached ImageNet weights file, downloaded first if missing (never hangs: short timeouts)."""
    target = cached_weights_file()
    if target.is_file():
        return target
    if offline():
        raise TrainError(f"The ImageNet weights are not cached and this server is offline; {SCRATCH_HINT}.")
    status("Downloading the ImageNet weights (45 MB)...")
    target.parent.mkdir(parents=True, exist_ok=True)
    expected_prefix = target.stem.split("-")[-1]  # torchvision names files <arch>-<sha256 prefix>.pth
    handle, partial = tempfile.mkstemp(prefix=target.name, suffix=".partial", dir=target.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(WEIGHTS_URL, timeout=data.NETWORK_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 20):
                if should_stop():
                    raise Cancelled()
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if total:
                    status(f"Downloading the ImageNet weights: {100 * done / total:.0f} %")
        if not digest.hexdigest().startswith(expected_prefix):
            raise TrainError(f"The downloaded ImageNet weights are damaged (checksum mismatch); try again or {SCRATCH_HINT}.")
        os.replace(partial, target)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TrainError(f"The ImageNet weights could not be downloaded ({reason}); {SCRATCH_HINT}.") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


def load_weights_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The ResNet-18 backbone tensors of a state-dict file (its `fc` is dropped), or one sentence why not.

    Loaded with `weights_only=True`, so a pickle that would run code or build arbitrary objects is refused.
    `path` may be BUILTIN. Tensors stored in fp16 (the built-in backbone's) come back in fp32.
    """
    name = Path(path).name
    loaded = _read_state_dict(path)
    expected = {k: v for k, v in resnet18().state_dict().items() if not k.startswith("fc.")}
    given = {k: v for k, v in loaded.items() if not k.startswith("fc.")}
    wrong = [k for k in expected if k not in given or given[k].shape != expected[k].shape]
    extra = [k for k in given if k not in expected]
    if wrong or extra:
        raise TrainError(
            f"{name} is not a ResNet-18 state dict ({len(wrong)} of {len(expected)} tensors missing or "
            f"of another shape, {len(extra)} unexpected)."
        )
    return {k: v.to(expected[k].dtype) for k, v in given.items()}


def parse_head_rows(text: str) -> dict[str, int]:
    """"hotdog=934" (several joined by commas) -> {"hotdog": 934}: which row of the pretrained output layer
    starts which class's row of the new one. ValueError in one sentence."""
    rows: dict[str, int] = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, _, row = part.rpartition("=")
        if not name.strip() or not row.strip().isdigit():
            raise ValueError(f"head_init must look like hotdog=934 (a class of the data set = a row of the pretrained "
                             f"output layer), got {text!r}.")
        rows[name.strip()] = int(row)
    return rows


def init_head_rows(model: nn.Module, classes: list[str], rows: dict[str, int], pretrained_head: dict[str, torch.Tensor]) -> None:
    """Starts some classes of the new head from rows of the pretrained output layer (the lesson's exercise:
    ImageNet's class 934 is "hot dog")."""
    weight, bias = pretrained_head["fc.weight"], pretrained_head["fc.bias"]
    with torch.no_grad():
        for name, row in rows.items():
            if name not in classes:
                raise TrainError(f"head_init names the class {name!r}, which this data set does not have "
                                 f"(it has {', '.join(classes)}).")
            if row >= len(weight):
                raise TrainError(f"head_init asks for row {row} of the pretrained output layer, which has {len(weight)} rows.")
            model.fc.weight[classes.index(name)] = weight[row].to(model.fc.weight.dtype)
            model.fc.bias[classes.index(name)] = bias[row].to(model.fc.bias.dtype)


def pretrained_head(pretrained: bool, weights_path: str | os.PathLike | None) -> dict[str, torch.Tensor]:
    """The output layer (fc.weight, fc.bias) of the weights a run starts from: its file's, or ImageNet's."""
    if weights_path:
        loaded = _read_state_dict(weights_path)
        source = "The built-in backbone" if weights_path == BUILTIN else Path(weights_path).name
    elif pretrained:
        loaded = torch.load(ensure_imagenet_weights(), map_location="cpu", weights_only=True)
        source = "The ImageNet weights"
    else:
        raise TrainError("head_init starts the new output layer from pretrained weights; a run from scratch has none.")
    if not isinstance(loaded.get("fc.weight"), torch.Tensor) or not isinstance(loaded.get("fc.bias"), torch.Tensor):
        raise TrainError(f"{source} has no output layer (fc) to take rows from.")
    return {"fc.weight": loaded["fc.weight"], "fc.bias": loaded["fc.bias"]}


def freeze_backbone(model: nn.Module) -> None:
    """Only the new head learns (the lesson's exercise); BatchNorm still updates its statistics in training."""
    for name, parameter in model.named_parameters():
        if not name.startswith("fc."):
            parameter.requires_grad_(False)


class _TinyMapConv2d(nn.Conv2d):
    """A convolution computed as unfold + matmul, for feature maps of at most 2x2 on the CPU.

    oneDNN's backward pass of ResNet-18's last stage (512 channels, 2x2 maps at 48-64 px input) took 34 ms a
    convolution, five times its forward pass: two thirds of a training step on 2 cores. As a matmul the step
    is ~1.4x faster (bench/finetune.py --only speed). Same parameters and state dict as nn.Conv2d.
    """

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if x.device.type != "cpu" or self.groups != 1 or self.padding_mode != "zeros" or isinstance(self.padding, str):
            return super()._conv_forward(x, weight, bias)
        out_h, out_w = (
            (side + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
            for side, pad, dilation, kernel, stride in zip(
                x.shape[-2:], self.padding, self.dilation, self.kernel_size, self.stride)
        )
        if out_h * out_w > 4:
            return super()._conv_forward(x, weight, bias)
        columns = nn.functional.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)
        out = weight.flatten(1) @ columns
        if bias is not None:
            out = out + bias[:, None]
        return out.view(x.shape[0], -1, out_h, out_w)


def speed_up_tiny_maps(model: nn.Module) -> nn.Module:
    """Swap the last stage's convolutions for _TinyMapConv2d (in place; the weights and state dict stay)."""
    for module in model.layer4.modules():
        if type(module) is nn.Conv2d:
            module.__class__ = _TinyMapConv2d
    return model


def builtin_weights_file() -> Path:
    """The built-in backbone's file, or one sentence on how to get it (a Space without Git LFS holds a pointer)."""
    if not BUILTIN_WEIGHTS.is_file() or BUILTIN_WEIGHTS.stat().st_size < 1_000_000:
        raise TrainError(
            f"The built-in backbone ({BUILTIN_WEIGHTS.parent.name}/{BUILTIN_WEIGHTS.name}) is missing or is only a Git "
            f"LFS pointer; run git lfs pull, or make it with python -m augtune.pretrain --out {BUILTIN_WEIGHTS.parent.name}/"
            f"{BUILTIN_WEIGHTS.name} (a few minutes), or train from scratch instead."
        )
    return BUILTIN_WEIGHTS


def _read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Every tensor of a state-dict file, `module.` prefixes stripped, or one sentence why not."""
    if path == BUILTIN:
        path = builtin_weights_file()
    name = Path(path).name
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise TrainError(f"{name} contains code or objects other than tensors, so it was refused for safety.") from None
    except FileNotFoundError:
        raise TrainError(f"There is no weights file called {name}.") from None
    except Exception:  # noqa: BLE001 - torch.load fails on foreign files in many ways (KeyError, EOFError, ...)
        raise TrainError(f"{name} is not a PyTorch weights file.") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]  # the usual checkpoint wrapping
    if not isinstance(loaded, dict) or not loaded or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise TrainError(f"{name} is not a state dict (a dictionary of named tensors).")
    return {str(k).removeprefix("module."): v for k, v in loaded.items()}


def _head_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k.startswith("fc.")}
