"""Training on several processes (augtune.distributed): torchrun from the CLI, 2 ranks with gloo on 127.0.0.1,
and the server's job queue launching a run on 2 ranks, on CPU.

Per-rank BatchNorm statistics (no SyncBatchNorm: it does not run on the CPU) make 2 ranks compute other
numbers than one process with the same global batch, so what is checked is what DDP promises: after every
optimizer step every rank holds the very same weights, and the ranks drew different augmentations.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from augtune.distributed import Ranks
from augtune.jobs import FAILED, FINISHED, JobManager, new_owner_token
from augtune.train import TrainConfig, _batch_indices
from tests.conftest import free_port
from tests.test_jobs import wait_for

ROOT = Path(__file__).resolve().parents[1]
LOG_LINE = re.compile(r"^epoch \d+, loss \d+\.\d{4}, train acc [01]\.\d{3}, test acc [01]\.\d{3}, time \d+\.\d sec$")
WAIT_S = 300  # two spawned ranks import torch each, on a busy 2-core machine
COLLECTIVE_TIMEOUT_S = 30  # a rank that stops answering ends the run after this long
TINY = dict(data="synthetic", pretrained=False, image_size=32, batch_size=20)


@pytest.fixture(scope="module")
def synthetic_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    env = {"AUGTUNE_CACHE": str(cache), "AUGTUNE_SYNTHETIC": "40x24x8", "AUGTUNE_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE",
           "AUGTUNE_COLLECTIVE_TIMEOUT_S": str(COLLECTIVE_TIMEOUT_S)}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # spawned workers and ranks read the parent's environment
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# ----------------------------------------------------------------------------- one rank: nothing changes


def test_one_process_is_a_world_of_one_with_no_collective():
    ranks = Ranks()
    batch = torch.arange(7)
    assert ranks.main and torch.equal(ranks.share(batch), batch)
    assert ranks.any(True) and not ranks.any(False)
    assert torch.equal(ranks.sum(torch.tensor([1.0, 2.0])), torch.tensor([1.0, 2.0]))
    assert ranks.main_first(lambda: "made") == "made"
    state = torch.get_rng_state()
    ranks.own_stream(0)
    assert torch.equal(torch.get_rng_state(), state), "rank 0 keeps a single process's random stream"


def test_shares_of_a_global_batch_cover_it_in_order():
    batch = torch.arange(13)
    shares = [Ranks(rank=r, world=3).share(batch) for r in range(3)]
    assert [len(s) for s in shares] == [5, 4, 4]
    assert torch.equal(torch.cat(shares), batch)


def test_a_last_batch_too_small_to_share_is_dropped():
    order = torch.arange(45)
    assert [len(b) for b in _batch_indices(order, 20, processes=1)] == [20, 20, 5]
    assert [len(b) for b in _batch_indices(order, 20, processes=3)] == [20, 20]  # 5 < 2 per rank
    assert [len(b) for b in _batch_indices(torch.arange(41), 20)] == [20, 20]  # BatchNorm needs 2


# ----------------------------------------------------------------------------- 2 ranks, gloo, 127.0.0.1


def _rank_main(rank: int, world: int, port: int, out_root: str, config: dict, env: dict) -> None:
    """One rank, spawned by torch.multiprocessing with the environment torchrun would give it."""
    os.environ.update(env, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from torchvision.transforms import v2

    from augtune.train import train

    steps, crops = [], []

    def after_step(optimizer, args, kwargs) -> None:
        weights = torch.cat([p.detach().flatten() for group in optimizer.param_groups for p in group["params"]])
        steps.append(hashlib.sha256(weights.numpy().tobytes()).hexdigest())

    register_optimizer_step_post_hook(after_step)
    draw = v2.RandomResizedCrop.make_params

    def recorded(self, flat_inputs):
        params = draw(self, flat_inputs)
        crops.append([params["top"], params["left"], params["height"], params["width"]])
        return params

    v2.RandomResizedCrop.make_params = recorded
    events = []
    result = train(TrainConfig.from_dict(config), Path(out_root) / f"rank{rank}", on_event=events.append)
    record = {"steps": steps, "crops": crops, "rows": [row.__dict__ for row in result.rows], "events": len(events)}
    (Path(out_root) / f"record{rank}.json").write_text(json.dumps(record))


def test_two_ranks_hold_the_same_weights_after_every_step_and_only_rank_0_writes(tmp_path, synthetic_env):
    config = TrainConfig(epochs=2, label="ddp", **TINY).to_dict()
    torch.multiprocessing.start_processes(
        _rank_main, args=(2, free_port(), str(tmp_path), config, synthetic_env), nprocs=2, start_method="spawn"
    )
    records = [json.loads((tmp_path / f"record{rank}.json").read_text()) for rank in range(2)]
    # 96 training images, global batch 20: 5 steps an epoch (the last one of 16 images), 10 in all.
    assert len(records[0]["steps"]) == 10
    assert records[0]["steps"] == records[1]["steps"], "the ranks' weights parted"
    measured = [[(row["loss"], row["train_acc"], row["test_acc"]) for row in record["rows"]] for record in records]
    assert measured[0] == measured[1], "the epoch rows are reduced over the ranks"
    assert [row["epoch"] for row in records[0]["rows"]] == [1, 2]
    # Each rank cropped its own share: 10 images per step (8 in the last), with its own random draws.
    assert len(records[0]["crops"]) == len(records[1]["crops"]) == 2 * (4 * 10 + 8)
    assert records[0]["crops"] != records[1]["crops"]
    assert records[0]["events"] > 0 and records[1]["events"] == 0, "only rank 0 streams events"
    written = sorted(p.name for p in (tmp_path / "rank0").iterdir())
    assert written == ["confusion.png", "curves.png", "metrics.csv", "misclassified.png", "model.pt", "result.json"]
    assert not (tmp_path / "rank1").exists(), "rank 1 wrote files"
    state = torch.load(tmp_path / "rank0" / "model.pt", weights_only=True)
    assert not any(name.startswith("module.") for name in state) and state["fc.weight"].shape == (4, 512)
    result = json.loads((tmp_path / "rank0" / "result.json").read_text())
    assert sum(map(sum, result["confusion"])) == 32, "every test image was predicted once, by one rank or the other"
    correct = sum(result["confusion"][i][i] for i in range(4))
    assert correct / 32 == pytest.approx(result["rows"][-1]["test_acc"])


def test_torchrun_prints_the_lessons_line_once_per_epoch(tmp_path, synthetic_env):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "augtune.train",
         "--data", "synthetic", "--scratch", "--epochs", "2", "--image-size", "32", "--batch-size", "20",
         "--out", str(out)],
        cwd=tmp_path, env={**os.environ, **synthetic_env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=WAIT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and all(LOG_LINE.match(line) for line in lines), done.stdout
    assert "device cpu (mixed precision: False, 2 processes)" in done.stderr
    assert done.stderr.count("classes (train/test images)") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "nothing written beside --out"
    assert [p.name for p in out.iterdir() if p.name == "model.pt"] == ["model.pt"]


def test_torchrun_with_one_rank_trains_the_very_weights_of_a_plain_process(tmp_path, synthetic_env):
    """A group of one wraps the model in DDP (bench/finetune.py --ddp measures its cost) and changes no number."""
    settings = ["-m", "augtune.train", "--data", "synthetic", "--scratch", "--epochs", "2", "--image-size", "32",
                "--batch-size", "20", "--quiet"]
    env = {**os.environ, **synthetic_env, "PYTHONPATH": str(ROOT)}
    launchers = {"plain": [], "torchrun": ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1"]}
    for name, launcher in launchers.items():
        done = subprocess.run([sys.executable, *launcher, *settings, "--out", str(tmp_path / name)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=WAIT_S)
        assert done.returncode == 0, done.stderr[-3000:]
    plain, ranked = (torch.load(tmp_path / name / "model.pt", weights_only=True) for name in launchers)
    assert plain.keys() == ranked.keys() and all(torch.equal(plain[key], ranked[key]) for key in plain)
    assert (tmp_path / "plain" / "metrics.csv").read_text().split("\n")[1].split(",")[:4] == \
        (tmp_path / "torchrun" / "metrics.csv").read_text().split("\n")[1].split(",")[:4]


def test_torchrun_settings_errors_are_said_once(tmp_path, synthetic_env):
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "augtune.train",
         "--epochs", "0", "--out", str(tmp_path / "out")],
        cwd=tmp_path, env={**os.environ, **synthetic_env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=WAIT_S,
    )
    assert done.returncode != 0
    assert done.stderr.count("error: epochs must be between 1 and 100, got 0.") == 1, done.stderr[-3000:]


# ----------------------------------------------------------------------------- the server's queue, 2 ranks a run


@pytest.fixture(scope="module")
def manager(tmp_path_factory, synthetic_env):
    jobs = JobManager(runs_dir=tmp_path_factory.mktemp("runs"), gpus_per_run=2)
    yield jobs
    jobs.close()


def _rank_pids(worker_pid: int) -> list[int]:
    """The training ranks under a worker: its children (torchrun's agent runs in the worker itself; the
    ranks learn their RANK after they start, so /proc does not show which is which)."""
    children = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == worker_pid:
                children.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return sorted(children)


def _gone(pids) -> bool:
    for pid in pids:
        try:
            state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            return False
    return True


def test_gpus_per_run_counts_against_max_jobs():
    with pytest.raises(ValueError, match=r"AUGTUNE_GPUS_PER_RUN \(4\) is more than AUGTUNE_MAX_JOBS \(2\)"):
        JobManager(max_jobs=2, gpus_per_run=4)


def test_a_queued_run_trains_on_two_ranks_and_streams_rank_0s_events(manager):
    owner = new_owner_token()
    job_id = manager.submit(TrainConfig(epochs=2, label="two ranks", **TINY), owner)
    snapshot = wait_for(manager, job_id, owner, lambda s: s["status"] in FINISHED, WAIT_S)
    assert snapshot["status"] == "done", snapshot["error"]
    assert snapshot["device"]["processes"] == 2
    assert [row["epoch"] for row in snapshot["rows"]] == [1, 2]
    assert len(snapshot["log_lines"]) == 2 and all(LOG_LINE.match(line) for line in snapshot["log_lines"])
    assert {"model.pt", "metrics.csv", "result.json"} <= set(snapshot["files"])


def test_cancel_stops_every_rank(manager):
    owner = new_owner_token()
    job_id = manager.submit(TrainConfig(epochs=50, label="cancelled", **TINY), owner)
    wait_for(manager, job_id, owner, lambda s: s["rows"], WAIT_S)
    worker_pid = manager._jobs[job_id].worker.process.pid
    ranks = _rank_pids(worker_pid)
    assert len(ranks) == 2
    manager.cancel(job_id, owner)
    snapshot = wait_for(manager, job_id, owner, lambda s: s["status"] in FINISHED, 60)
    assert snapshot["status"] == "cancelled" and len(snapshot["rows"]) < 50
    assert _wait_until_gone(ranks), "a rank outlived its cancelled run"


def _two_ranks_in_their_second_epoch(manager, label: str) -> tuple[str, str, list[int]]:
    owner = new_owner_token()
    job_id = manager.submit(TrainConfig(epochs=50, label=label, **TINY), owner)
    wait_for(manager, job_id, owner, lambda s: s["progress"].get("epoch") == 2, WAIT_S)
    ranks = _rank_pids(manager._jobs[job_id].worker.process.pid)
    assert len(ranks) == 2
    return owner, job_id, ranks


def _wait_until_gone(ranks: list[int], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(ranks) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _gone(ranks)


def test_a_rank_killed_mid_epoch_ends_the_run_with_a_sentence_and_the_queue_goes_on(manager):
    owner, job_id, ranks = _two_ranks_in_their_second_epoch(manager, "killed")
    os.kill(ranks[-1], signal.SIGKILL)
    killed = time.monotonic()
    snapshot = wait_for(manager, job_id, owner, lambda s: s["status"] in FINISHED, 60)
    assert time.monotonic() - killed < 60
    assert snapshot["status"] == FAILED
    assert re.match(r"Training process [12] of 2 stopped unexpectedly \(killed by signal SIGKILL\)", snapshot["error"]), snapshot["error"]
    assert "\n" not in snapshot["error"] and "Traceback" not in snapshot["error"]
    assert _wait_until_gone(ranks), "rank 0 outlived the run"

    next_id = manager.submit(TrainConfig(epochs=1, label="after", **TINY), owner)
    after = wait_for(manager, next_id, owner, lambda s: s["status"] in FINISHED, WAIT_S)
    assert after["status"] == "done", after["error"]


def test_a_rank_that_hangs_ends_the_run_after_the_collective_timeout(manager):
    owner, job_id, ranks = _two_ranks_in_their_second_epoch(manager, "hung")
    os.kill(ranks[-1], signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        snapshot = wait_for(manager, job_id, owner, lambda s: s["status"] in FINISHED, COLLECTIVE_TIMEOUT_S + 60)
    finally:
        for pid in ranks:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
    assert time.monotonic() - stopped >= COLLECTIVE_TIMEOUT_S * 0.9
    assert snapshot["status"] == FAILED
    assert re.fullmatch(rf"Training process [12] of 2 waited {COLLECTIVE_TIMEOUT_S} s for the others without an answer, "
                        r"so the run was ended \(AUGTUNE_COLLECTIVE_TIMEOUT_S sets how long\)\.", snapshot["error"]), snapshot["error"]
