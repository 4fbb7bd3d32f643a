"""JobManager against the real training engine: tiny image folders, 32 px, scratch ResNet-18, on CPU."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PIL import Image

from augtune.jobs import CANCEL_GRACE_S, FINISHED, JobError, JobManager, new_owner_token
from augtune.train import TrainConfig

# Generous: a spawned worker imports torch before its first event, slowly on a busy 2-core machine.
WAIT_S = 240


def write_image_folder(root: Path, name: str, per_class_train: int, per_class_test: int) -> None:
    """Two colour classes in ImageFolder layout, small enough that an epoch takes a second."""
    for split, count in (("train", per_class_train), ("test", per_class_test)):
        for class_name, colour in (("red", (200, 40, 40)), ("blue", (40, 40, 200))):
            folder = root / name / split / class_name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                shade = tuple(min(255, value + 3 * index) for value in colour)
                Image.new("RGB", (40, 40), shade).save(folder / f"{index}.png")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_image_folder(root, "tiny", per_class_train=12, per_class_test=4)
    write_image_folder(root, "long", per_class_train=150, per_class_test=2)  # many batches of 2
    saved = {key: os.environ.get(key) for key in ("AUGTUNE_DATA_ROOT", "AUGTUNE_OFFLINE", "TORCH_HOME")}
    # Workers are spawned with the parent's environment as it is when they start.
    os.environ.update(AUGTUNE_DATA_ROOT=str(root), AUGTUNE_OFFLINE="1", TORCH_HOME=str(root / "torch_home"))
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def manager(tmp_path_factory, data_root):
    """One manager for the module, as on a server: its warm spare worker serves test after test."""
    jobs = JobManager(runs_dir=tmp_path_factory.mktemp("runs"), max_jobs=1)
    yield jobs
    jobs.close()


@pytest.fixture(autouse=True)
def nothing_left_running(request):
    yield
    if "manager" in request.fixturenames:
        jobs = request.getfixturevalue("manager")
        assert jobs.running_count() == 0 and jobs.queued_count() == 0, "a test left a run going"


def tiny(**changes) -> TrainConfig:
    settings = dict(data="tiny", pretrained=False, epochs=2, batch_size=8, image_size=32, label="tiny")
    return TrainConfig(**{**settings, **changes})


def wait_for(manager: JobManager, job_id: str, owner: str, condition, timeout: float = WAIT_S) -> dict:
    deadline = time.monotonic() + timeout
    snapshot = None
    while time.monotonic() < deadline:
        snapshot = manager.status(job_id, owner)
        if condition(snapshot):
            return snapshot
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s; last snapshot: {snapshot}")


def finished(snapshot: dict) -> bool:
    return snapshot["status"] in FINISHED


def test_training_workers_yield_the_cpu_to_the_web_server(manager):
    from augtune.jobs import WORKER_NICENESS

    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        worker = manager._spare
        if worker is not None and worker.process.pid is not None:
            niceness = os.getpriority(os.PRIO_PROCESS, worker.process.pid)
            if niceness != os.getpriority(os.PRIO_PROCESS, 0):
                break
        time.sleep(0.1)
    assert niceness == os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS


def test_runs_stream_their_events_into_rows_and_files_one_after_the_other(manager):
    first_owner, second_owner = new_owner_token(), new_owner_token()
    first = manager.submit(tiny(), first_owner)
    second = manager.submit(tiny(epochs=1, label="second"), second_owner)
    waiting = manager.status(second, second_owner)
    assert waiting["status"] == "queued" and waiting["position"] == 1
    assert manager.queued_count() == 1
    seen_statuses = set()

    def watch(snapshot):
        seen_statuses.add(snapshot["status"])
        return finished(snapshot)

    snapshot = wait_for(manager, first, first_owner, watch)
    assert snapshot["status"] == "done", snapshot["error"]
    assert seen_statuses >= {"running", "done"}
    assert [row["epoch"] for row in snapshot["rows"]] == [1, 2]
    for row in snapshot["rows"]:
        assert set(row) == {"epoch", "loss", "train_acc", "test_acc", "seconds", "images_per_s"}
        assert 0 <= row["train_acc"] <= 1 and 0 <= row["test_acc"] <= 1 and row["images_per_s"] > 0
    assert snapshot["log_lines"][0].startswith("epoch 1, loss ")
    assert " test acc " in snapshot["log_lines"][1] and snapshot["log_lines"][1].endswith(" sec")
    assert snapshot["data"]["classes"] == ["blue", "red"]
    assert snapshot["data"]["train_counts"] == {"blue": 12, "red": 12}
    assert snapshot["device"]["device"] == "cpu"
    assert snapshot["progress"]["batches"] == 3  # 24 images in batches of 8
    assert snapshot["result"]["classes"] == ["blue", "red"]
    assert {"model.pt", "metrics.csv", "result.json"} <= set(snapshot["files"])
    assert all(Path(path).parent == manager.runs_dir / first for path in snapshot["files"].values())
    assert snapshot["position"] == 0 and snapshot["label"] == "tiny"

    second_done = wait_for(manager, second, second_owner, finished)
    assert second_done["status"] == "done", second_done["error"]
    assert len(second_done["rows"]) == 1
    assert second_done["started"] >= snapshot["finished"]  # one at a time, in order


def test_cancel_mid_epoch_stops_the_run_at_the_next_batch(manager):
    owner = new_owner_token()
    job_id = manager.submit(tiny(data="long", batch_size=2, epochs=3), owner)
    wait_for(manager, job_id, owner, lambda s: (s["progress"].get("batch") or 0) >= 2)
    cancelled_at = time.monotonic()
    snapshot = manager.cancel(job_id, owner)
    assert snapshot["status"] == "cancelling"
    snapshot = wait_for(manager, job_id, owner, finished)
    stopped_after = time.monotonic() - cancelled_at
    assert snapshot["status"] == "cancelled"
    assert snapshot["error"] == ""
    # The engine saw the stop request itself, mid-epoch: it was not killed after the grace period.
    assert stopped_after < CANCEL_GRACE_S
    assert snapshot["progress"]["batch"] < snapshot["progress"]["batches"]
    assert snapshot["rows"] == []


def test_cancel_a_queued_run(manager):
    first_owner, second_owner, third_owner = new_owner_token(), new_owner_token(), new_owner_token()
    first = manager.submit(tiny(data="long", batch_size=2, epochs=5), first_owner)
    second = manager.submit(tiny(), second_owner)
    third = manager.submit(tiny(), third_owner)
    assert manager.status(third, third_owner)["position"] == 2
    snapshot = manager.cancel(second, second_owner)
    assert snapshot["status"] == "cancelled" and snapshot["position"] == 0
    assert manager.status(third, third_owner)["position"] == 1  # moved up
    assert manager.status(first, first_owner)["status"] == "running"
    for job_id, owner in ((third, third_owner), (first, first_owner)):
        manager.cancel(job_id, owner)
    assert wait_for(manager, first, first_owner, finished)["status"] == "cancelled"
    assert manager.status(third, third_owner)["status"] == "cancelled"


def test_reattach_with_the_job_id_and_owner_token_and_nobody_else_can(manager):
    owner = new_owner_token()
    job_id = manager.submit(tiny(data="long", batch_size=2, epochs=5), owner)
    # A new browser session knows nothing but what it kept: the job id and the owner token.
    kept = {"owner": str(owner), "jobs": [str(job_id)]}
    again = manager.status(kept["jobs"][0], kept["owner"])
    assert again["id"] == job_id and again["status"] in ("running", "queued")
    assert [snap["id"] for snap in manager.jobs_of(kept["owner"])] == [job_id]

    stranger = new_owner_token()
    for attempt in (lambda: manager.status(job_id, stranger), lambda: manager.cancel(job_id, stranger)):
        with pytest.raises(JobError) as refused:
            attempt()
        assert refused.value.code == "not_found"
    with pytest.raises(JobError) as unknown:
        manager.status("no-such-job", owner)
    assert str(unknown.value) == str(refused.value)  # unknown and foreign runs look the same
    assert manager.jobs_of(stranger) == []
    assert manager.status(job_id, owner)["status"] in ("running", "queued")  # the stranger's cancel did nothing

    with pytest.raises(JobError) as busy:
        manager.submit(tiny(), owner)  # pressing Start twice does not take two places
    assert busy.value.code == "busy"
    manager.cancel(job_id, owner)
    assert wait_for(manager, job_id, owner, finished)["status"] == "cancelled"


def test_failing_runs_report_their_sentence_and_free_the_slot_for_the_next(manager):
    dying_owner, failing_owner, next_owner = new_owner_token(), new_owner_token(), new_owner_token()
    dying = manager.submit(tiny(data="long", batch_size=2, epochs=5), dying_owner)
    failing = manager.submit(tiny(data="no-such-folder"), failing_owner)
    following = manager.submit(tiny(epochs=1), next_owner)

    wait_for(manager, dying, dying_owner, lambda s: s["device"] is not None)
    manager._jobs[dying].worker.process.kill()  # what the kernel's out-of-memory killer does
    died = wait_for(manager, dying, dying_owner, finished)
    assert died["status"] == "failed"
    assert died["error"].startswith("The training process stopped unexpectedly (exit code -9)")

    failed = wait_for(manager, failing, failing_owner, finished)
    assert failed["status"] == "failed"
    assert failed["error"] == "There is no data folder or .zip file called 'no-such-folder' in the data folder."

    done = wait_for(manager, following, next_owner, finished)
    assert done["status"] == "done", done["error"]
    assert len(done["rows"]) == 1


def test_finished_runs_and_leftover_folders_are_deleted_after_the_ttl(manager):
    runs, ttl = manager.runs_dir, manager.ttl_s
    old_leftover, fresh_leftover = runs / "left-by-an-earlier-server", runs / "just-made"
    old_leftover.mkdir()
    fresh_leftover.mkdir()
    long_ago = time.time() - ttl - 60
    os.utime(old_leftover, (long_ago, long_ago))
    owner = new_owner_token()
    job_id = manager.submit(tiny(data="no-such-folder"), owner)
    snapshot = wait_for(manager, job_id, owner, finished)
    assert (runs / job_id).is_dir()
    assert manager.cleanup() == [old_leftover.name]  # the finished run is still young
    assert fresh_leftover.is_dir() and (runs / job_id).is_dir()

    removed = manager.cleanup(now=snapshot["finished"] + ttl + 1)
    assert job_id in removed and fresh_leftover.name in removed  # a ttl later, the fresh leftover is old too
    assert not (runs / job_id).exists() and not fresh_leftover.exists()
    with pytest.raises(JobError):
        manager.status(job_id, owner)
    assert manager.jobs_of(owner) == []


def test_owner_tokens_are_unguessable_and_required(manager):
    tokens = {new_owner_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(token) >= 32 for token in tokens)
    for bad_owner in ("", "short", None):
        with pytest.raises(JobError) as refused:
            manager.submit(tiny(), bad_owner)
        assert refused.value.code == "owner"


def test_off_zero_gpu_the_workers_train_without_spaces(manager, monkeypatch):
    """Only ZeroGPU lends its GPU through spaces (augtune.zerogpu, tests/test_zerogpu.py); everywhere else
    the worker calls train() itself, and no worker imports spaces (it imports Gradio)."""
    from augtune import zerogpu

    assert zerogpu.train_on_gpu is None and manager.zero_gpu is False
    for value, on in (("true", True), ("1", True), ("True", True), ("false", False), ("", False)):
        monkeypatch.setenv("SPACES_ZERO_GPU", value)
        assert zerogpu.on_zero_gpu() is on


def test_the_next_spare_waits_for_the_runs_first_row(manager):
    """A spare importing torch took a core from the first epoch; it starts once the run has shown a row."""
    owner = new_owner_token()
    job = manager.submit(tiny(epochs=2), owner)
    assert manager._spare is None  # the run took the spare; none is starting beside its first epoch
    wait_for(manager, job, owner, lambda snap: bool(snap["rows"]))
    deadline = time.monotonic() + 5
    while manager._spare is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert manager._spare is not None
    wait_for(manager, job, owner, finished)
