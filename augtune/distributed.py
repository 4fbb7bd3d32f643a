"""Training on several processes at once, with PyTorch's own engine: torch.distributed, launched by torchrun.

`torchrun --nproc_per_node=N -m augtune.train ...` starts N processes and tells each its place (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) in its environment; `join()` turns that into `Ranks`.
A process started any other way is a world of one: `Ranks()` then does no collective at all, and every
method is the plain single-process operation, so `python -m augtune.train` computes what it always did.
(`torchrun --nproc_per_node=1` does form a group of one and wraps the model in DDP, which computes the
same numbers: it is how bench/finetune.py --ddp measures what DDP itself costs on one GPU.)

How a run is split (augtune.train uses these):
- Every rank draws the same shuffled order of the training set each epoch (the run's seed), and takes
  its share of each *global* batch: the recipe's batch size stays the lesson's batch size, whatever N is.
  That is DistributedSampler's job done per batch, so that the union of the shares is exactly the batch
  one process would take.
- Gradients are averaged by DistributedDataParallel; each rank weights its loss by its share of the
  global batch, so uneven shares still give the global batch's mean.
- Rank 0 keeps torch's random stream of a single process; every other rank reseeds its own, so no two
  ranks draw the same crops.
- Counters (loss, accuracy, images) are summed over the ranks; test predictions are gathered in rank order.

Agreement runs on a gloo group on the CPU, also beside NCCL: asking "does anyone want to stop?" every
batch must not wait for the GPU. Collectives give up after AUGTUNE_COLLECTIVE_TIMEOUT_S (default 300):
a rank that hangs ends the run with an error instead of holding the others forever.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

import torch
from torch import nn

from .data import TrainError
from .settings import env_number

__all__ = ["Ranks", "join", "rank_from_env", "collective_timeout"]

T = TypeVar("T")
# Rank 0 may be downloading or drawing the data set while the others wait for it.
DATA_TIMEOUT = datetime.timedelta(hours=2)


def collective_timeout() -> datetime.timedelta:
    return datetime.timedelta(seconds=env_number("AUGTUNE_COLLECTIVE_TIMEOUT_S", 300.0, float))


def rank_from_env() -> int:
    """This process's rank as torchrun set it (0 without torchrun), readable before `join()`."""
    return int(os.environ.get("RANK", "0") or 0)


@dataclass
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    control: Any = None  # the gloo group that agrees on the CPU
    grouped: bool = False  # launched by torchrun: a process group exists, even of one

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, items: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous part of `items` (a global batch, the test set); sizes differ by at most one."""
        return items.tensor_split(self.world)[self.rank] if self.world > 1 else items

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """`values` summed over the ranks (on their own device, NCCL included)."""
        if self.world > 1:
            values = values.clone()
            torch.distributed.all_reduce(values)
        return values

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one: the ranks must leave a loop at the same batch."""
        if self.world == 1:
            return bool(flag)
        votes = torch.tensor([int(bool(flag))])
        torch.distributed.all_reduce(votes, group=self.control)
        return bool(votes.item())

    def gather(self, part: torch.Tensor) -> torch.Tensor:
        """Every rank's `part` (any length), concatenated in rank order, on every rank (CPU)."""
        if self.world == 1:
            return part
        parts: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(parts, part.cpu(), group=self.control)
        return torch.cat(parts)

    def main_first(self, work: Callable[[], T]) -> T:
        """`work()` on each machine's first rank, then on the others: a download or a cache is made once per
        machine (each has its own disk), then read by every rank."""
        if self.world == 1:
            return work()
        first = self.local_rank == 0
        if first:
            result = work()
        torch.distributed.monitored_barrier(self.control, timeout=DATA_TIMEOUT)
        if not first:
            result = work()
        torch.distributed.monitored_barrier(self.control, timeout=DATA_TIMEOUT)
        return result

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module the training steps call: DistributedDataParallel over the ranks, or the model itself."""
        if not self.grouped:
            return model
        device_ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def own_stream(self, seed: int) -> None:
        """Reseeds torch's random stream on every rank but 0, which goes on with a single process's stream."""
        if not self.main:
            torch.manual_seed(int.from_bytes(hashlib.sha256(f"augtune/{seed}/{self.rank}".encode()).digest()[:8], "big"))


@contextlib.contextmanager
def join(device: torch.device) -> Iterator[tuple[Ranks, torch.device]]:
    """This process's place in the run, and the device it trains on; the process group lives as long as the block.

    Under torchrun with CUDA each rank takes the GPU of its LOCAL_RANK, and collectives go through NCCL;
    on the CPU through gloo.
    """
    if "WORLD_SIZE" not in os.environ:  # not launched by torchrun
        yield Ranks(), device
        return
    world = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
    timeout = collective_timeout()
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise TrainError(
                f"This machine shows {torch.cuda.device_count()} GPU(s) to the run, too few for "
                f"{int(os.environ.get('LOCAL_WORLD_SIZE', local_rank + 1))} processes on it; start fewer processes."
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl", timeout=timeout, device_id=device)
        control = torch.distributed.new_group(backend="gloo", timeout=timeout)
    else:
        torch.distributed.init_process_group("gloo", timeout=timeout)
        control = None  # the default group is gloo already
    try:
        yield Ranks(torch.distributed.get_rank(), world, local_rank, control, grouped=True), device
    finally:
        torch.distributed.destroy_process_group()
