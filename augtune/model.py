"""ResNet-18 for fine-tuning: ImageNet weights through torchvision's weights API, a local weights file, or
from scratch; always with a fresh head sized to the classes (the lesson's step 3).

The ImageNet weights live in torchvision's own cache (TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth).
We fetch that file ourselves when it is missing, with a short network timeout and progress messages,
because torch.hub's downloader can wait forever on a dead network; torchvision then loads it as usual.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
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
SCRATCH_HINT = "train from scratch instead"

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
        status("Loading the weights file...")
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
    """
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
    loaded = {str(k).removeprefix("module."): v for k, v in loaded.items()}
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


def _head_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k.startswith("fc.")}
