"""app.py as a ZeroGPU Space runs it, with the real `spaces` package, for tests/test_zerogpu.py.

Only what needs a real ZeroGPU machine is replaced: the two steps of spaces' fork that touch CUDA
(`spaces.zero.torch.init` and `move`) are stubs that write down where they ran. Everything the test
checks is written as JSON lines into ZEROGPU_PROBE_DIR:
- children.jsonl: every process started by a process other than the server (the fork may start none);
- cuda_init.jsonl: where spaces initialised "CUDA", and with which GPU;
- train.jsonl: where train() ran, each batch it trained, when it first saw its stop flag, how it ended.
ZEROGPU_PROBE_BATCH_DELAY_S slows each batch down, so that a test can act while a run is going.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(os.environ.get("ZEROGPU_PROBE_DIR", "."))
SERVER_PID = os.getpid()
PROCESS_EVENTS = {"os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system", "os.exec", "subprocess.Popen"}


def log(name: str, **record) -> None:
    with open(PROBE / f"{name}.jsonl", "a") as handle:
        handle.write(json.dumps({"pid": os.getpid(), "time": time.time(), **record}) + "\n")


def watch_process_creation() -> None:
    """Python's audit events cover fork, exec, posix_spawn and subprocess; multiprocessing's spawn and
    forkserver (and its resource tracker) go through _posixsubprocess.fork_exec, which raises none."""

    def hook(event: str, args) -> None:
        if event in PROCESS_EVENTS and os.getpid() != SERVER_PID:
            log("children", event=event)

    sys.addaudithook(hook)
    import _posixsubprocess

    fork_exec = _posixsubprocess.fork_exec

    def logged_fork_exec(*args, **kwargs):
        if os.getpid() != SERVER_PID:
            log("children", event="_posixsubprocess.fork_exec")
        return fork_exec(*args, **kwargs)

    _posixsubprocess.fork_exec = logged_fork_exec


def stub_cuda_in_the_fork() -> None:
    import spaces  # noqa: F401 - patches torch in this process, as on ZeroGPU
    import spaces.zero.torch as zero_torch

    zero_torch.init = lambda nvidia_uuid: log("cuda_init", uuid=nvidia_uuid)
    zero_torch.move = lambda callback=None: None


def record_training() -> None:
    import augtune.train as engine

    real_train = engine.train
    delay = float(os.environ.get("ZEROGPU_PROBE_BATCH_DELAY_S", "0"))

    def train(config, out_dir, on_event=None, should_stop=None, **kwargs):
        log("train", event="start", config=config.to_dict())
        stop_seen = False

        def on_batch(event: dict) -> None:
            if event.get("kind") == "progress":
                log("train", event="batch", epoch=event["epoch"], batch=event["batch"])
                time.sleep(delay)
            on_event(event)

        def stop() -> bool:
            nonlocal stop_seen
            value = should_stop()
            if value and not stop_seen:
                stop_seen = True
                log("train", event="stop seen")
            return value

        try:
            result = real_train(config, out_dir, on_batch, stop, **kwargs)
        except BaseException as error:
            log("train", event="raised", error=type(error).__name__)
            raise
        log("train", event="returned")
        return result

    engine.train = train


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    watch_process_creation()
    stub_cuda_in_the_fork()
    record_training()
    runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
