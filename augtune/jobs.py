"""Training runs in the background of a shared server: a FIFO queue, worker processes, snapshots for the UI.

A whole class shares one server (and often one GPU), so the server owns every run. Each run is a job
with an unguessable id and an owner token; only the token's holder can see or cancel it, and holding
the token is all it takes to get a run back after closing the browser tab. At most `max_jobs` train
at once (`AUGTUNE_MAX_JOBS`, default 1: one training per GPU), the rest wait in order and can see
their place in the line.

Each run trains in its own *spawned* process: a thread would starve the web server of the GIL and
share torch's global random state with the Explore tab, and a forked child would inherit the server's
threads and locks. A spawned process spends seconds importing torch before it can train, so the
manager keeps one spare worker warmed up (imported, waiting for its run): pressing Start gets a first
epoch row that much sooner. The next spare starts after the run that took one has shown its first row. The worker sends the engine's events back over a queue; cancelling sets an
event that the engine polls at every batch, and a worker that does not stop within `CANCEL_GRACE_S` is
killed. Finished runs and their files are deleted `AUGTUNE_RUN_TTL_S` seconds (default 2 h) after
they end.

A run may train on several GPUs of the machine at once (`AUGTUNE_GPUS_PER_RUN`): its worker then
launches the run's processes through torchrun's own engine (`elastic_launch`, what `torchrun` runs),
each rank on its own GPU (augtune.distributed), and only rank 0 sends events. Such a run counts as that
many GPUs against `AUGTUNE_MAX_JOBS`, and gets GPUs no other run holds. A dead rank makes torchrun's
agent stop the others, and the run ends with a sentence that says which process died.

On Hugging Face ZeroGPU hardware (augtune.zerogpu) a GPU exists only in a fork that `spaces` makes of the
server process, so there no worker is started: a thread of the server calls the decorated generator, in
the context of the Gradio request that submitted the run (it carries the visitor's quota token), and
applies its events as the monitor applies a worker's; cancelling closes the generator.

Settings (environment):
    AUGTUNE_MAX_JOBS      GPUs (or CPU training slots) used at the same time (default: AUGTUNE_GPUS_PER_RUN)
    AUGTUNE_GPUS_PER_RUN  processes (each its own GPU, where there are GPUs) that train one run (default 1)
    AUGTUNE_MAX_QUEUED    runs allowed to wait; more are refused politely (default 100)
    AUGTUNE_RUN_TTL_S     seconds a finished run and its files are kept (default 7200)
    AUGTUNE_MAX_RUN_S     a run still training after this many seconds is stopped (default 3600)
    AUGTUNE_RUNS_DIR      where runs write their files (default <system temp>/augtune-runs)
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import copy
import multiprocessing
import os
import queue
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
import traceback
import weakref
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import zerogpu
from .settings import env_number

CANCEL_GRACE_S = 15.0
# Training yields the CPU to the page: on a shared CPU server a class's grids (what fifty people are
# waiting for) come before one student's background run, which just takes longer while the class is busy.
WORKER_NICENESS = 10
# How often a running job's monitor wakes up when its worker is silent (data preparation, slow batches).
POLL_S = 0.25

QUEUED, RUNNING, CANCELLING, DONE, FAILED, CANCELLED = "queued", "running", "cancelling", "done", "failed", "cancelled"
FINISHED = frozenset({DONE, FAILED, CANCELLED})


class JobError(ValueError):
    """A request the manager refuses; str(error) is one sentence for the user, `code` names it for translation."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def new_owner_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class Job:
    id: str
    owner: str
    group: str
    config: Any  # augtune.train.TrainConfig
    run_dir: Path
    created: float = field(default_factory=time.time)
    status: str = QUEUED
    started: float | None = None
    finished: float | None = None
    message: str = ""
    error: str = ""
    rows: list[dict] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    progress: dict = field(default_factory=dict)
    data: dict | None = None
    device: dict | None = None
    result: dict | None = None
    version: int = 0  # bumped on every change, so a poller can tell cheaply whether to redraw
    worker: Worker | None = None
    stop_deadline: float | None = None
    stop_reason: str = ""
    slots: list[int] = field(default_factory=list)  # the GPU slots it trains on, while it runs
    context: contextvars.Context | None = None  # ZeroGPU: the submitting request's, for the quota token


class JobManager:
    """Owns every training run of one server. Thread-safe; snapshots are plain dicts."""

    def __init__(
        self,
        runs_dir: str | Path | None = None,
        max_jobs: int | None = None,
        max_queued: int | None = None,
        ttl_s: float | None = None,
        max_run_s: float | None = None,
        gpus_per_run: int | None = None,
    ) -> None:
        self.runs_dir = Path(
            runs_dir or os.environ.get("AUGTUNE_RUNS_DIR") or Path(tempfile.gettempdir()) / "augtune-runs"
        )
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.gpus_per_run = gpus_per_run or env_number("AUGTUNE_GPUS_PER_RUN", 1)
        self.max_jobs = max_jobs or env_number("AUGTUNE_MAX_JOBS", self.gpus_per_run)
        if self.gpus_per_run > self.max_jobs:
            raise ValueError(
                f"AUGTUNE_GPUS_PER_RUN ({self.gpus_per_run}) is more than AUGTUNE_MAX_JOBS ({self.max_jobs}) GPUs, "
                "so no run could ever start; raise AUGTUNE_MAX_JOBS to the number of GPUs the server may use."
            )
        # With several GPUs per run, each run gets its own; slot k is the k-th GPU the server sees.
        self._free_slots = list(range(self.max_jobs))
        self.max_queued = max_queued or env_number("AUGTUNE_MAX_QUEUED", 100)
        self.ttl_s = ttl_s or env_number("AUGTUNE_RUN_TTL_S", 7200.0, float)
        self.max_run_s = max_run_s or env_number("AUGTUNE_MAX_RUN_S", 3600.0, float)
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._waiting: deque[str] = deque()
        self._closed = threading.Event()
        self.zero_gpu = zerogpu.train_on_gpu is not None
        self._spare: Worker | None = None
        self._warm_spare()
        self._janitor = threading.Thread(target=self._clean_periodically, name="augtune-jobs-janitor", daemon=True)
        self._janitor.start()
        # Workers are not daemonic (the engine may start DataLoader workers), so stop them ourselves.
        atexit.register(_close_if_alive, weakref.ref(self))

    # ----- submitting -----------------------------------------------------------------------------
    def submit(self, config, owner: str) -> str:
        """Queue one run; returns its job id."""
        return self.submit_group([config], owner)[0]

    def submit_group(self, configs: list, owner: str) -> list[str]:
        """Queue several runs together (a comparison set: one plot); returns their job ids in order.

        An owner gets one set at a time: a student pressing Start twice must not take two places in
        the class's queue.
        """
        if not configs:
            raise JobError("Choose at least one run to start.", "empty")
        if not isinstance(owner, str) or len(owner) < 16:
            raise JobError("This browser has no valid session token; reload the page.", "owner")
        with self._lock:
            if self._closed.is_set():
                raise JobError("The server is shutting down; try again in a minute.", "closed")
            if any(job.owner == owner and job.status not in FINISHED for job in self._jobs.values()):
                raise JobError("You already have a run in progress; wait for it to finish or cancel it first.", "busy")
            if len(self._waiting) + len(configs) > self.max_queued:
                raise JobError(
                    f"The training queue is full ({self.max_queued} runs waiting); try again in a few minutes.", "full"
                )
            group = secrets.token_urlsafe(12)
            ids = []
            for config in configs:
                job_id = secrets.token_urlsafe(16)
                run_dir = self.runs_dir / job_id
                run_dir.mkdir(parents=True)
                self._jobs[job_id] = Job(id=job_id, owner=owner, group=group, config=config, run_dir=run_dir,
                                         context=contextvars.copy_context() if self.zero_gpu else None)
                self._waiting.append(job_id)
                ids.append(job_id)
            self._start_waiting()
        return ids

    # ----- reading ----------------------------------------------------------------------------------
    def status(self, job_id: str, owner: str) -> dict:
        """A snapshot of one run as plain data (JSON-able); JobError if the owner does not hold it."""
        with self._lock:
            return self._snapshot(self._owned(job_id, owner))

    def jobs_of(self, owner: str) -> list[dict]:
        """Every run this owner still has, oldest first (to get runs back with only the token)."""
        with self._lock:
            owned = [job for job in self._jobs.values() if _same(job.owner, owner)]
            return [self._snapshot(job) for job in sorted(owned, key=lambda job: job.created)]

    def running_count(self) -> int:
        with self._lock:
            return self._running_count()

    def queued_count(self) -> int:
        with self._lock:
            return len(self._waiting)

    # ----- cancelling -------------------------------------------------------------------------------
    def cancel(self, job_id: str, owner: str) -> dict:
        """Cancel a queued run at once, or ask a running one to stop at its next batch."""
        with self._lock:
            job = self._owned(job_id, owner)
            self._cancel(job, "")
            return self._snapshot(job)

    def cancel_group(self, job_ids: list[str], owner: str) -> list[dict]:
        with self._lock:
            jobs = [self._owned(job_id, owner) for job_id in job_ids]
            for job in jobs:
                self._cancel(job, "")
            return [self._snapshot(job) for job in jobs]

    def _cancel(self, job: Job, reason: str) -> None:
        if job.status == QUEUED:
            self._waiting.remove(job.id)
            self._finish(job, CANCELLED, reason)
        elif job.status == RUNNING:
            job.status = CANCELLING
            job.stop_reason = reason
            job.stop_deadline = time.monotonic() + CANCEL_GRACE_S
            job.worker.stop.set()
            job.version += 1

    # ----- housekeeping -------------------------------------------------------------------------------
    def cleanup(self, now: float | None = None) -> list[str]:
        """Delete runs that finished more than ttl_s ago, and leftover run folders of earlier servers.

        Returns the ids of the runs removed."""
        now = time.time() if now is None else now
        removed = []
        with self._lock:
            for job in list(self._jobs.values()):
                if job.status in FINISHED and job.finished is not None and now - job.finished > self.ttl_s:
                    del self._jobs[job.id]
                    removed.append(job.id)
            known = set(self._jobs)
        for job_id in removed:
            shutil.rmtree(self.runs_dir / job_id, ignore_errors=True)
        for path in self.runs_dir.iterdir() if self.runs_dir.is_dir() else ():
            with contextlib.suppress(OSError):
                if path.name not in known and now - path.stat().st_mtime > self.ttl_s:
                    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
                    removed.append(path.name)
        return removed

    def close(self) -> None:
        """Stop every run now (server shutdown); queued runs are cancelled, workers killed."""
        with self._lock:
            self._closed.set()
            jobs = list(self._jobs.values())
            for job in jobs:
                self._cancel(job, "The server shut down.")
            workers = [job.worker for job in jobs if job.worker is not None]
            if self._spare is not None:
                workers.append(self._spare)
            self._spare = None
        for worker in workers:
            worker.end(grace_s=2)

    def _clean_periodically(self) -> None:
        interval = max(1.0, min(self.ttl_s / 4, 300.0))
        while not self._closed.wait(interval):
            try:
                self.cleanup()
            except Exception:  # the janitor must outlive a bad folder; the host sees why in the log
                traceback.print_exc()

    # ----- internals ----------------------------------------------------------------------------------
    def _owned(self, job_id: Any, owner: Any) -> Job:
        job = self._jobs.get(job_id) if isinstance(job_id, str) else None
        # Unknown and foreign runs read the same, so ids cannot be probed.
        if job is None or not isinstance(owner, str) or not _same(job.owner, owner):
            raise JobError("This run does not exist any more, or it belongs to someone else.", "not_found")
        return job

    def _snapshot(self, job: Job) -> dict:
        position = self._waiting.index(job.id) + 1 if job.status == QUEUED else 0
        files = {}
        if job.status in FINISHED:
            for name in ("model.pt", "metrics.csv", "curves.png", "confusion.png", "misclassified.png", "result.json"):
                path = job.run_dir / name
                if path.is_file():
                    files[name] = str(path)
        return {
            "id": job.id,
            "group": job.group,
            "label": getattr(job.config, "label", "") or "",
            "config": job.config.to_dict(),
            "status": job.status,
            "position": position,
            "running": self._running_count(),
            "message": job.message,
            "error": job.error,
            "progress": dict(job.progress),
            "rows": copy.deepcopy(job.rows),
            "log_lines": list(job.log_lines),
            "data": copy.deepcopy(job.data),
            "device": copy.deepcopy(job.device),
            "result": copy.deepcopy(job.result),
            "files": files,
            "created": job.created,
            "started": job.started,
            "finished": job.finished,
            "version": job.version,
        }

    def _running_count(self) -> int:
        return sum(job.status in (RUNNING, CANCELLING) for job in self._jobs.values())

    def _start_waiting(self) -> None:
        while self._waiting and len(self._free_slots) >= self.gpus_per_run and not self._closed.is_set():
            job = self._jobs[self._waiting.popleft()]
            try:
                self._launch(job)
            except Exception as error:  # e.g. no memory for another process: the run fails, the queue moves on
                traceback.print_exc()
                self._finish(job, FAILED, f"The training process could not be started ({_sentence(error)}).")

    def _launch(self, job: Job) -> None:
        job.slots, self._free_slots = self._free_slots[: self.gpus_per_run], self._free_slots[self.gpus_per_run :]
        if self.zero_gpu:
            return self._launch_on_zero_gpu(job)
        worker, self._spare = self._spare, None
        if worker is None or not worker.process.is_alive():
            worker = Worker(self._context)
        worker.assign(job.config.to_dict(), str(job.run_dir), _gpus(job.slots) if self.gpus_per_run > 1 else [])
        job.worker = worker
        job.status = RUNNING
        job.started = time.time()
        job.message = "Starting the training process..."
        job.version += 1
        threading.Thread(target=self._monitor, args=(job,), name=f"augtune-monitor-{job.id[:8]}", daemon=True).start()
        # The next spare is started once this run has shown its first epoch row (_monitor), not now: its
        # import of torch took a core from this run's first epoch, 2-3 s on 2 cores.

    def _warm_spare(self) -> None:
        if self._spare is None and not self._closed.is_set() and not self.zero_gpu:
            try:
                self._spare = Worker(self._context)
            except Exception:  # no spare is only slower; the run itself will say why a worker cannot start
                traceback.print_exc()

    def _monitor(self, job: Job) -> None:
        """Moves the worker's events into the job until the worker ends (or must be stopped)."""
        worker = job.worker
        end: dict | None = None
        while end is None:
            event = worker.next_event(timeout=POLL_S)
            if event is not None:
                if event.get("kind") == "end":
                    end = event
                    break
                with self._lock:
                    self._apply(job, event)
                    if event.get("kind") == "epoch" and len(job.rows) == 1:
                        self._warm_spare()
                continue
            if not worker.process.is_alive():
                end = self._drain_after_death(job)
                break
            with self._lock:
                self._stop_if_over_time(job)
                overdue = job.stop_deadline is not None and time.monotonic() > job.stop_deadline
            if overdue:
                worker.process.kill()
        worker.end(grace_s=CANCEL_GRACE_S)
        self._end(job, end)

    def _stop_if_over_time(self, job: Job) -> None:
        if job.status == RUNNING and time.time() - job.started > self.max_run_s:
            self._cancel(job, f"The run was stopped after the time limit of {self.max_run_s / 60:g} minutes.")

    def _end(self, job: Job, end: dict) -> None:
        """The run's last word (a worker's or the GPU fork's "end"), unless it was being cancelled; the next starts."""
        with self._lock:
            status, error = end["status"], end.get("error", "")
            if job.status == CANCELLING and status != DONE:
                status, error = CANCELLED, job.stop_reason
            self._finish(job, status, error)
            self._start_waiting()
            self._warm_spare()  # a run that ended before its first row did not start one

    def _launch_on_zero_gpu(self, job: Job) -> None:
        job.worker = ZeroGpuRun()
        job.status = RUNNING
        job.started = time.time()
        job.message = "Asking ZeroGPU for a GPU..."
        job.version += 1
        # Each job has its own copy: one context cannot be entered by two threads at once.
        context = job.context or contextvars.copy_context()
        job.context = None
        job.worker.thread = threading.Thread(
            target=context.run, args=(self._run_on_zero_gpu, job), name=f"augtune-zerogpu-{job.id[:8]}", daemon=True
        )
        job.worker.thread.start()

    def _run_on_zero_gpu(self, job: Job) -> None:
        """Moves the GPU fork's events into the job, as _monitor does for a worker's."""
        loan = job.worker
        config = job.config.to_dict()
        end: dict | None = None
        try:
            # Bad data ends the run here, before it costs the visitor any GPU time.
            seconds = zerogpu.estimate_seconds(config, str(job.run_dir))
        except Exception as error:  # noqa: BLE001 - TrainError and ValueError speak in sentences meant for the user
            end = {"status": FAILED, "error": _sentence(error)}
        if end is None:
            with self._lock:
                job.message = f"Asking ZeroGPU for a GPU (about {seconds} s of GPU time)..."
                job.version += 1
            events = zerogpu.train_on_gpu(config, str(job.run_dir))
            try:
                for event in events:
                    if event.get("kind") == "end":
                        end = event
                        continue
                    with self._lock:
                        self._apply(job, event)
                        self._stop_if_over_time(job)
                    if loan.stop.is_set():
                        break
            except Exception as error:  # noqa: BLE001 - spaces' quota and GPU errors, said in one sentence
                if not getattr(error, "title", ""):
                    traceback.print_exc()
                end = {"status": FAILED, "error": zerogpu.failure_sentence(error, seconds)}
            finally:
                with contextlib.suppress(Exception):
                    events.close()  # spaces closes the fork's generator at its next yield: train() stops
        if end is None:
            end = {"status": CANCELLED} if loan.stop.is_set() else {
                "status": FAILED, "error": "The ZeroGPU run ended without a result."}
        self._end(job, end)

    def _drain_after_death(self, job: Job) -> dict:
        """The worker is gone; take what it sent before dying, or explain its death."""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and (event := job.worker.next_event(timeout=0.1)) is not None:
            if event.get("kind") == "end":
                return event
            with self._lock:
                self._apply(job, event)
        if job.status == CANCELLING:
            return {"status": CANCELLED}
        return {
            "status": FAILED,
            "error": f"The training process stopped unexpectedly (exit code {job.worker.process.exitcode}); "
            "the machine may have run out of memory, so try a smaller batch size or image size.",
        }

    def _apply(self, job: Job, event: dict) -> None:
        kind = event.get("kind")
        if kind == "status":
            job.message = str(event.get("message", ""))
        elif kind == "data":
            job.data = event
        elif kind == "device":
            job.device = event
        elif kind == "progress":
            job.progress = {key: event.get(key) for key in ("epoch", "batch", "batches")}
        elif kind == "epoch":
            job.rows.append(dict(event["row"]))
            job.log_lines.append(str(event.get("log_line", "")))
        elif kind == "done":
            job.result = event.get("result")
        else:
            return
        job.version += 1

    def _finish(self, job: Job, status: str, error: str = "") -> None:
        self._free_slots = sorted(self._free_slots + job.slots)
        job.slots = []
        job.status = status
        job.error = error or ""
        job.finished = time.time()
        job.message = ""
        job.stop_deadline = None
        job.version += 1


def _gpus(slots: list[int]) -> list[str]:
    """The CUDA device ids of these slots, counted among the GPUs the host lets the server see."""
    visible = [name.strip() for name in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if name.strip()]
    return [visible[slot] if slot < len(visible) else str(slot) for slot in slots]


def _same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())


def _sentence(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _close_if_alive(manager_ref) -> None:
    manager = manager_ref()
    if manager is not None:
        manager.close()


_SPAWN_LOCK = threading.Lock()
# A worker shares the CPU with the web server. OpenMP's default busy-waiting then makes torch's threads
# spin against the server's for the same cores (training steps 3x slower under load, measured). Never
# spinning (OMP_WAIT_POLICY=PASSIVE) costs a wake-up per parallel region instead, which at the built-in set's
# small sizes (48 px, batch 16) made a quiet machine's steps 1.6x slower. A short spin keeps both: on 2 cores,
# ResNet-18 at 48 px, batch 16, 2 threads, 62-74 images/s alone (default 66-75, PASSIVE 47-56) and 35-43 each
# with two trainings at once (default 19-20, PASSIVE 37-39). A host's own setting wins.
WORKER_ENVIRONMENT = {"GOMP_SPINCOUNT": "2000"}


@contextlib.contextmanager
def _spawning_worker():
    """The state a worker must be spawned in (held only while `Process.start` runs).

    Spawn re-runs the parent's __main__ script in every child, so that functions defined there can be
    unpickled. app.py builds the whole web UI when imported (seconds and hundreds of MB per worker), and
    our worker needs nothing from it: its target lives in this module. So the script is hidden. The
    child reads its environment (WORKER_ENVIRONMENT) before torch loads, which is only possible here.
    """
    main = sys.modules.get("__main__")
    with _SPAWN_LOCK:
        saved_main = {name: main.__dict__[name] for name in ("__file__", "__spec__") if main and name in main.__dict__}
        added_env = {name: value for name, value in WORKER_ENVIRONMENT.items() if name not in os.environ}
        if main is not None:
            main.__dict__.pop("__file__", None)
            main.__spec__ = None
        os.environ.update(added_env)
        try:
            yield
        finally:
            for name in added_env:
                os.environ.pop(name, None)
            if main is not None:
                main.__dict__.pop("__spec__", None)
                main.__dict__.update(saved_main)


class ZeroGpuRun:
    """What a ZeroGPU job holds in place of a Worker: the stop that cancel() sets, the thread that close() waits for."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def end(self, grace_s: float) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=grace_s)


# ----- the worker process -------------------------------------------------------------------------------


class Worker:
    """One spawned training process, started before it has a run so that it can import torch meanwhile.

    Its event queue and stop event are made with it: multiprocessing lets a process inherit them only
    when it starts. Its run arrives later through `assign`."""

    def __init__(self, context) -> None:
        self.events = context.Queue()
        self.stop = context.Event()
        inbox, self._outbox = context.Pipe(duplex=False)
        self.process = context.Process(target=run_worker, args=(inbox, self.events, self.stop), name="augtune-train")
        with _spawning_worker():
            self.process.start()
        inbox.close()

    def assign(self, config: dict, out_dir: str, gpus: list[str]) -> None:
        """Hands the worker its run; with more than one GPU named, the run trains on all of them."""
        self._outbox.send((config, out_dir, gpus))
        self._outbox.close()

    def next_event(self, timeout: float) -> dict | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None
        except (EOFError, OSError, ValueError):  # the worker died mid-message
            return None

    def end(self, grace_s: float) -> None:
        """Wait for the process to exit (a worker without a run exits when its inbox closes), else kill it."""
        with contextlib.suppress(OSError):
            self._outbox.close()
        self.process.join(timeout=grace_s)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        with contextlib.suppress(Exception):
            self.events.close()


def run_worker(inbox, events, stop) -> None:
    """Entry point of a training process: warm up, wait for a run, train it, end with one "end" event."""
    _exit_with_parent()
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice (Windows)
        os.nice(WORKER_NICENESS)
    with contextlib.suppress(Exception):  # a failed import is reported by _train, with its run
        from . import train  # noqa: F401 - imported now, while no one is waiting for it
    with contextlib.suppress(Exception):  # only a head start: a run that needs the set draws it and says why not
        # The default data set, drawn once per machine: the first run after the server starts (1.5-2 s on 2 cores).
        from .data import synthetic_spec
        from .synthetic import ensure_synthetic

        ensure_synthetic(synthetic_spec())
    try:
        config, out_dir, gpus = inbox.recv()
    except (EOFError, OSError):
        return  # the manager closed without a run for this worker
    end = _train_on_ranks(config, out_dir, events, stop, gpus) if len(gpus) > 1 else _train(config, out_dir, events, stop)
    events.put({"kind": "end", **end})
    events.close()
    events.join_thread()


def _train(config: dict, out_dir: str, events, stop, *, among_ranks: bool = False) -> dict:
    try:
        from .train import Cancelled, TrainConfig, TrainError, train
    except Exception as error:  # noqa: BLE001 - a broken install must still end the run with a sentence
        traceback.print_exc()
        return {"status": FAILED, "error": f"The training engine could not be loaded: {_sentence(error)}"}
    try:
        train(TrainConfig.from_dict(config), Path(out_dir), on_event=events.put, should_stop=stop.is_set)
        return {"status": DONE}
    except Cancelled:
        return {"status": CANCELLED}
    except (TrainError, ValueError) as error:  # both speak in sentences meant for the user
        return {"status": FAILED, "error": _sentence(error)}
    except BaseException as error:  # noqa: BLE001 - every way a run can end must reach the user
        if _is_out_of_memory(error):
            return {"status": FAILED, "error": "Training ran out of memory; try a smaller batch size or image size."}
        if among_ranks:  # often only the echo of another rank's death: the launcher sees every rank and says which
            raise
        traceback.print_exc()  # for the host's log; the user gets one sentence
        return {"status": FAILED, "error": f"Training stopped because of an unexpected error: {_sentence(error)}"}


def _train_on_ranks(config: dict, out_dir: str, events, stop, gpus: list[str]) -> dict:
    """One run on len(gpus) processes, launched the way torchrun launches them, each rank on its own GPU."""
    from torch.distributed.elastic.multiprocessing.api import DefaultLogsSpecs
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from .distributed import collective_timeout

    processes = len(gpus)
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)  # this worker process serves this one run
    if "OMP_NUM_THREADS" not in os.environ:  # as torchrun does: the ranks share the cores, not each take them all
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // processes))
    launch = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=processes,
        run_id=secrets.token_hex(8),
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",  # torchrun --standalone: a free port of this machine
        max_restarts=0,
        monitor_interval=0.5,
        # The agent's error files go with the run's files (else one folder per run stays in the system temp).
        logs_specs=DefaultLogsSpecs(log_dir=str(Path(out_dir) / ".ranks")),
    )
    try:
        ends = elastic_launch(launch, _train_rank)(config, out_dir, events, stop)
    except ChildFailedError as error:  # a rank died or failed; torchrun's agent has stopped the others
        if stop.is_set():
            return {"status": CANCELLED}
        # A killed rank is the cause; the others then fail on their next collective, a moment later.
        killed = [(rank, failure) for rank, failure in error.failures.items() if failure.exitcode < 0]
        rank, failure = min(killed, key=lambda item: item[0]) if killed else error.get_first_failure()
        if failure.exitcode < 0:
            return {
                "status": FAILED,
                "error": f"Training process {rank + 1} of {processes} stopped unexpectedly (killed by signal "
                f"{failure.signal_name()}), so the run was ended; the machine may have run out of memory, so try a "
                "smaller batch size or image size.",
            }
        message = _failure_message(failure)
        if re.search(r"timed out|timeout", message, re.IGNORECASE):
            return {
                "status": FAILED,
                "error": f"Training process {rank + 1} of {processes} waited "
                f"{collective_timeout().total_seconds():g} s for the others without an answer, so the run was ended "
                "(AUGTUNE_COLLECTIVE_TIMEOUT_S sets how long).",
            }
        return {
            "status": FAILED,
            "error": f"Training process {rank + 1} of {processes} stopped because of an unexpected error: {message}",
        }
    except Exception as error:  # noqa: BLE001 - the rendezvous itself failed (no free port, ...)
        traceback.print_exc()
        return {"status": FAILED, "error": f"The training processes could not be started ({_sentence(error)})."}
    return ends[0]


def _failure_message(failure) -> str:
    """The first line of what a failed rank raised (torchrun's agent records it in an error file)."""
    message = failure.message
    if isinstance(message, dict):
        message = message.get("message", "")
    lines = str(message or "").strip().splitlines()
    # gloo and NCCL start their messages with their source file: "[.../pair.cc:545] Read error ..."
    return _sentence(re.sub(r"\[[^\]]*\.(?:cc|cpp|h):\d+\]\s*", "", lines[0])) if lines else f"exit code {failure.exitcode}"


def _train_rank(config: dict, out_dir: str, events, stop) -> dict:
    """One rank of a run on several processes. A rank whose run fails tells the user why and exits non-zero,
    so that torchrun's agent stops the other ranks at once instead of leaving them waiting for it."""
    _exit_with_parent()  # a killed worker takes its ranks with it
    end = _train(config, out_dir, events, stop, among_ranks=True)
    if end["status"] == FAILED:
        events.put({"kind": "end", **end})
        events.close()
        events.join_thread()
        sys.exit(1)
    return end


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    torch = sys.modules.get("torch")
    oom = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    return oom is not None and isinstance(error, oom)


def _exit_with_parent() -> None:
    """A worker must not outlive its server (a killed server runs no cleanup)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def wait_for_parent() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=wait_for_parent, name="augtune-parent-watch", daemon=True).start()

