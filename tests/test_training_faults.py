"""Training runs that go wrong, through the real JobManager and its spawned workers.

Each fault must end its run with a reason the user can read, free the worker, and let the next queued run
start. tests/test_jobs.py covers cancel mid-epoch, cancelling a queued run, reattaching, a missing data
folder and a killed worker; this file adds what a classroom does on top of that.

Faults are injected inside the worker process, not faked around it: the manager spawns
`run_worker_with_faults` (below, importable by the spawned child) instead of `augtune.jobs.run_worker`.
It runs the real worker unchanged, and only arms a fault when the run's label asks for one
("fault:oom@2" raises torch.OutOfMemoryError at the second training batch).
"""

from __future__ import annotations

import html
import itertools
import shutil
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

import augtune.jobs
from augtune.jobs import CANCEL_GRACE_S, FINISHED, JobError, JobManager, new_owner_token
from augtune.train import TrainConfig
from tests.test_jobs import finished, wait_for

# A spawned worker imports torch before its first event: slow on a busy 2-core machine.
WAIT_S = 240
FAULT = "fault:"
_real_run_worker = augtune.jobs.run_worker  # bound at import, so the patched name never calls itself


# ----------------------------------------------------------------------------- fault injection (worker side)


class _ArmingInbox:
    """The worker's inbox, arming the fault its run's label names as the run arrives."""

    def __init__(self, inbox) -> None:
        self._inbox = inbox

    def recv(self):
        run = self._inbox.recv()  # (config, out_dir, gpus)
        label = run[0].get("label") or ""
        if label.startswith(FAULT):
            _arm(label[len(FAULT):])
        return run

    def __getattr__(self, name):
        return getattr(self._inbox, name)


def run_worker_with_faults(inbox, events, stop) -> None:
    """Runs in the spawned worker: the real worker, with a fault armed by the run's label."""
    _real_run_worker(_ArmingInbox(inbox), events, stop)


def _arm(fault: str) -> None:
    kind, _, argument = fault.partition("@")
    if kind == "oom":
        import torch

        _fail_at_batch(int(argument), torch.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.10 GiB total capacity)"))
    elif kind == "error":
        _fail_at_batch(int(argument), RuntimeError("injected fault: the loss exploded"))
    elif kind == "slow-data":
        _slow_decoding(float(argument))
    elif kind == "slow-batches":
        _slow_batches(float(argument))
    else:
        raise AssertionError(f"unknown fault {fault!r}")


def _fail_at_batch(batch: int, error: BaseException) -> None:
    """The training loop computes its loss once per batch with F.cross_entropy: fail at that call."""
    from torch.nn import functional

    real = functional.cross_entropy
    calls = itertools.count(1)

    def cross_entropy(*args, **kwargs):
        if next(calls) == batch:
            raise error
        return real(*args, **kwargs)

    functional.cross_entropy = cross_entropy


def _slow_batches(seconds: float) -> None:
    """Every training batch takes `seconds` longer, so a run is still training when the test acts."""
    from torch.nn import functional

    real = functional.cross_entropy

    def cross_entropy(*args, **kwargs):
        time.sleep(seconds)
        return real(*args, **kwargs)

    functional.cross_entropy = cross_entropy


def _slow_decoding(seconds: float) -> None:
    """Every image takes `seconds` to decode, so data preparation lasts long enough to act during it."""
    import augtune.data

    real = augtune.data.load_image

    def load_image(*args, **kwargs):
        time.sleep(seconds)
        return real(*args, **kwargs)

    augtune.data.load_image = load_image


# ----------------------------------------------------------------------------- fixtures and helpers


def write_image_folder(root: Path, name: str, per_class_train: int, per_class_test: int) -> Path:
    for split, count in (("train", per_class_train), ("test", per_class_test)):
        for class_name, colour in (("red", (200, 40, 40)), ("blue", (40, 40, 200))):
            folder = root / name / split / class_name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                shade = tuple(min(255, value + 3 * index) for value in colour)
                Image.new("RGB", (40, 40), shade).save(folder / f"{index}.png")
    return root / name


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fault-data")
    write_image_folder(root, "tiny", per_class_train=12, per_class_test=4)
    with pytest.MonkeyPatch.context() as environment:
        # Workers are spawned with the parent's environment as it is when they start.
        environment.setenv("AUGTUNE_DATA_ROOT", str(root))
        environment.setenv("AUGTUNE_OFFLINE", "1")
        environment.setenv("TORCH_HOME", str(root / "torch_home"))
        environment.setenv("AUGTUNE_CACHE", str(root / "cache"))
        # Big enough that generating it takes many seconds, so a cancel lands while it is drawn.
        environment.setenv("AUGTUNE_SYNTHETIC", "80x900x100")
        yield root


@pytest.fixture(scope="module")
def manager(tmp_path_factory, data_root):
    """One manager for the module (its warm spare worker saves each test a torch import); every test
    waits for all of its runs to finish, so the next test finds the slot free."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(augtune.jobs, "run_worker", run_worker_with_faults)
        jobs = JobManager(runs_dir=tmp_path_factory.mktemp("fault-runs"), max_jobs=1)
        yield jobs
        jobs.close()


@pytest.fixture(autouse=True)
def slot_is_free_between_tests(manager):
    yield
    deadline = time.monotonic() + WAIT_S
    while (manager.running_count() or manager.queued_count()) and time.monotonic() < deadline:
        time.sleep(0.1)


def tiny(**changes) -> TrainConfig:
    settings = dict(data="tiny", pretrained=False, epochs=1, batch_size=8, image_size=32, label="tiny")
    return TrainConfig(**{**settings, **changes})


def assert_worker_freed(manager: JobManager, job_id: str) -> None:
    worker = manager._jobs[job_id].worker
    worker.process.join(timeout=30)
    assert not worker.process.is_alive(), "the worker process of a finished run must exit"


def assert_next_run_completes(manager: JobManager, job_id: str, owner: str, after: dict) -> None:
    done = wait_for(manager, job_id, owner, finished)
    assert done["status"] == "done", done["error"]
    assert done["started"] >= after["finished"] - 0.5  # it waited for the slot, then got it
    assert len(done["rows"]) == 1


def assert_reason_shown(snapshot: dict) -> None:
    """The Fine-tune tab's status panel names the reason, word for word."""
    from augtune.service.finetune_html import render_status

    assert "Traceback" not in snapshot["error"] and 'File "' not in snapshot["error"]
    assert html.escape(snapshot["error"]) in render_status("en", [snapshot])


# ----------------------------------------------------------------------------- the faults


def test_cancel_during_data_preparation_stops_before_training(manager):
    owner, next_owner = new_owner_token(), new_owner_token()
    job_id = manager.submit(tiny(label="fault:slow-data@0.5"), owner)
    following = manager.submit(tiny(), next_owner)
    wait_for(manager, job_id, owner, lambda s: s["message"].startswith("Decoding"))
    cancelled_at = time.monotonic()
    manager.cancel(job_id, owner)
    snapshot = wait_for(manager, job_id, owner, finished)
    assert snapshot["status"] == "cancelled" and snapshot["error"] == ""
    # The decoder noticed the request itself: the worker was not killed after the grace period.
    assert time.monotonic() - cancelled_at < CANCEL_GRACE_S
    assert snapshot["data"] is None and snapshot["rows"] == [] and snapshot["progress"] == {}
    assert_worker_freed(manager, job_id)
    assert_next_run_completes(manager, following, next_owner, snapshot)


def test_cancel_while_the_synthetic_set_is_generated_leaves_no_set_that_passes_as_complete(manager, data_root):
    owner, next_owner = new_owner_token(), new_owner_token()
    job_id = manager.submit(tiny(data="synthetic"), owner)
    following = manager.submit(tiny(), next_owner)
    wait_for(manager, job_id, owner, lambda s: s["message"].startswith("Preparing the synthetic data set"))
    manager.cancel(job_id, owner)
    snapshot = wait_for(manager, job_id, owner, finished)
    assert snapshot["status"] == "cancelled" and snapshot["rows"] == []
    assert_worker_freed(manager, job_id)
    cache = data_root / "cache"
    leftovers = sorted(path.name for path in cache.iterdir()) if cache.is_dir() else []
    # Either nothing was kept, or a set that was finished before the cancel arrived (with its marker).
    for name in leftovers:
        assert not name.startswith("."), f"half-drawn work folder left behind: {name}"
        assert (cache / name / "COMPLETE").is_file(), f"{name} has no COMPLETE marker"
    assert_next_run_completes(manager, following, next_owner, snapshot)


def test_two_owners_starting_at_the_same_instant_both_run_one_after_the_other(manager):
    owners = [new_owner_token(), new_owner_token()]
    barrier = threading.Barrier(len(owners))
    submitted: dict[str, str] = {}

    def press_start(owner: str) -> None:
        barrier.wait()
        submitted[owner] = manager.submit(tiny(label=f"student {len(submitted)}"), owner)

    threads = [threading.Thread(target=press_start, args=(owner,)) for owner in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert set(submitted) == set(owners)
    first_look = sorted((manager.status(submitted[o], o) for o in owners), key=lambda s: s["status"] != "running")
    assert [s["status"] for s in first_look] == ["running", "queued"]
    assert first_look[1]["position"] == 1
    results = [wait_for(manager, submitted[o], o, finished) for o in owners]
    assert [r["status"] for r in results] == ["done", "done"], [r["error"] for r in results]
    first, second = sorted(results, key=lambda r: r["started"])
    assert second["started"] >= first["finished"] - 0.5  # never both at once with max_jobs=1


def test_one_owner_pressing_start_twice_at_once_gets_one_run(manager):
    owner = new_owner_token()
    barrier = threading.Barrier(2)
    outcomes: list = []

    def press_start() -> None:
        barrier.wait()
        try:
            outcomes.append(manager.submit(tiny(), owner))
        except JobError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=press_start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    accepted = [item for item in outcomes if isinstance(item, str)]
    refused = [item for item in outcomes if isinstance(item, JobError)]
    assert len(accepted) == 1 and len(refused) == 1
    assert refused[0].code == "busy"
    assert [snap["id"] for snap in manager.jobs_of(owner)] == accepted
    assert wait_for(manager, accepted[0], owner, finished)["status"] == "done"


def test_data_folder_deleted_while_training_does_not_break_the_run(manager, data_root):
    write_image_folder(data_root, "doomed", per_class_train=12, per_class_test=4)
    owner = new_owner_token()
    job_id = manager.submit(tiny(data="doomed", label="fault:slow-batches@0.5"), owner)
    wait_for(manager, job_id, owner, lambda s: (s["progress"].get("batch") or 0) >= 1)
    shutil.rmtree(data_root / "doomed")
    during = manager.status(job_id, owner)
    assert during["status"] == "running" and during["progress"]["batch"] < during["progress"]["batches"]
    snapshot = wait_for(manager, job_id, owner, finished)
    # Every image was decoded into memory before the first batch: the files are not needed any more.
    assert snapshot["status"] == "done", snapshot["error"]
    assert len(snapshot["rows"]) == 1 and {"model.pt", "metrics.csv"} <= set(snapshot["files"])
    assert_worker_freed(manager, job_id)


def test_data_folder_deleted_while_it_is_read_fails_with_a_sentence(manager, data_root):
    write_image_folder(data_root, "vanishing", per_class_train=12, per_class_test=4)
    owner, next_owner = new_owner_token(), new_owner_token()
    job_id = manager.submit(tiny(data="vanishing", label="fault:slow-data@0.5"), owner)
    following = manager.submit(tiny(), next_owner)
    wait_for(manager, job_id, owner, lambda s: s["message"].startswith("Decoding"))
    shutil.rmtree(data_root / "vanishing")
    snapshot = wait_for(manager, job_id, owner, finished)
    assert snapshot["status"] == "failed"
    # Files that vanished count as unreadable; what is left is not enough to train on.
    assert snapshot["error"].startswith(("Training needs at least two classes", "There are no test images")), snapshot["error"]
    assert_reason_shown(snapshot)
    assert_worker_freed(manager, job_id)
    assert_next_run_completes(manager, following, next_owner, snapshot)


def test_an_exception_inside_the_loop_fails_the_run_with_its_reason(manager):
    owner, next_owner = new_owner_token(), new_owner_token()
    job_id = manager.submit(tiny(label="fault:error@2"), owner)
    following = manager.submit(tiny(), next_owner)
    snapshot = wait_for(manager, job_id, owner, finished)
    assert snapshot["status"] == "failed"
    assert snapshot["error"] == "Training stopped because of an unexpected error: injected fault: the loss exploded"
    assert snapshot["progress"]["batch"] == 1  # it failed in the second batch, after the first was reported
    assert snapshot["rows"] == []
    assert_reason_shown(snapshot)
    assert_worker_freed(manager, job_id)
    assert_next_run_completes(manager, following, next_owner, snapshot)


def test_cuda_out_of_memory_fails_the_run_with_advice(manager):
    owner, next_owner = new_owner_token(), new_owner_token()
    job_id = manager.submit(tiny(label="fault:oom@2"), owner)
    following = manager.submit(tiny(), next_owner)
    snapshot = wait_for(manager, job_id, owner, finished)
    assert snapshot["status"] == "failed"
    assert snapshot["error"] == "Training ran out of memory; try a smaller batch size or image size."
    assert_reason_shown(snapshot)
    assert_worker_freed(manager, job_id)
    assert_next_run_completes(manager, following, next_owner, snapshot)
