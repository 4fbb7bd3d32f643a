"""Training on Hugging Face ZeroGPU hardware, where a GPU exists only inside a `spaces.GPU` function.

The `spaces` package runs such a function in a daemonic *fork* of the calling process: CUDA is real
only there, the fork may not start processes of its own, arguments and yields cross the fork pickled,
and the visitor's quota token goes along only when the call is made in the Gradio request's context.
So on ZeroGPU the job manager (augtune.jobs) does not use its worker processes: the server itself
calls `train_on_gpu(config, out_dir)` from a thread that carries the request's context, and reads the
generator's plain event dicts. Inside the fork, `run` trains in a thread and yields train()'s events;
closing the generator on the server's side makes spaces close `run` at its next yield, which sets the
stop flag that train() polls at every batch.

`train_on_gpu` is decorated when this module is imported (spaces reports a Space with no decorated
function at launch as one that needs no GPU), and is None anywhere but on ZeroGPU.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import re
import threading
import warnings

# train() is silent while it decodes data; a yield every second lets a close reach the fork promptly.
TICK_S = 1.0
# A training that ignores its stop flag this long after a close takes its fork down with it, so that
# spaces does not lend the same fork, still busy, to the next visitor.
STOP_GRACE_S = 15.0

# The GPU time a run asks for. One H200 trains ~2 200 images/s at 224 px (bench/gpu.sh); a ZeroGPU
# slice is 3/7 of one (MIG 3g.71gb), and the images are decoded in the fork, on its CPU, first.
GPU_IMAGES_PER_S_AT_224 = 800
DECODE_S_PER_IMAGE = 0.004
SECONDS_PER_BATCH = 0.05  # small images: the per-batch work, not the pixels, sets the pace
START_S = 20  # the fork, CUDA, the model on the GPU, and the figures at the end
MARGIN = 1.25
MIN_S = 30


def on_zero_gpu() -> bool:
    """What `spaces` itself checks (spaces.config.boolean), read without importing it (it imports Gradio)."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def estimate_seconds(config: dict, out_dir: str = "") -> int:
    """Seconds of GPU time for this run. Raises TrainError or ValueError, in a sentence, for bad data.

    The visitor's remaining daily quota (a few minutes) must cover it, so it is an estimate, not a cap."""
    from .data import describe

    data = describe(config["data"])
    train = sum(data["train_counts"].values())
    test = sum(data["test_counts"].values())
    pixels = (config["image_size"] / 224) ** 2
    batches = math.ceil(train / config["batch_size"]) + math.ceil(test / 256)
    epoch_s = max((train + test) * pixels / GPU_IMAGES_PER_S_AT_224, batches * SECONDS_PER_BATCH)
    seconds = MARGIN * (START_S + (train + test) * DECODE_S_PER_IMAGE + config["epochs"] * epoch_s)
    return max(MIN_S, 5 * math.ceil(seconds / 5))


def _duration(config: dict, out_dir: str) -> int:
    try:
        return estimate_seconds(config, out_dir)
    except Exception:  # noqa: BLE001 - the run itself says what is wrong with its data, in the fork
        return 60


def run(config: dict, out_dir: str):
    """Inside the fork: train in a thread and yield its events, ending with {"kind": "end", "status", "error"}."""
    from .jobs import _train  # the worker's own run: the same sentences for every way a run ends

    events: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: events.put({"kind": "end", **_train(config, out_dir, events, stop)}),
        name="augtune-zerogpu-train",
        daemon=True,
    )
    thread.start()
    try:
        while True:
            try:
                event = events.get(timeout=TICK_S)
            except queue.Empty:
                yield {"kind": "tick"}
                continue
            yield event
            if event.get("kind") == "end":
                return
    finally:  # a close from the server lands at a yield, and so does the end of the run
        stop.set()
        thread.join(STOP_GRACE_S)
        if thread.is_alive() and multiprocessing.parent_process() is not None:
            os._exit(1)


def failure_sentence(error: BaseException, seconds: int) -> str:
    """One sentence for what `spaces` raised when it could not lend a GPU or lost it (a gr.Error, mostly)."""
    title = str(getattr(error, "title", "") or "")
    message = " ".join(str(getattr(error, "message", None) or error).split())
    if title == "ZeroGPU illegal duration":
        if asked := re.search(r"duration \((\d+)s\)", message):  # spaces' own figure, scaled for the GPU kind
            seconds = int(asked[1])
        return (f"This run would need about {seconds} s of ZeroGPU time, more than ZeroGPU lends at once; "
                "choose fewer epochs or a smaller image size.")
    if message.startswith("No GPU was available"):  # spaces titles its queue timeout "quota exceeded" too
        return "No ZeroGPU GPU became free in time; try again in a minute."
    if "quota" in title or "credits" in title:
        asked = re.search(r"\((\d+)s requested vs\. (\d+)s left\)\. Try again in ([^.]+)\.", message)
        if asked:
            return (f"ZeroGPU's quota does not cover this run ({asked[1]} s of GPU time asked for, {asked[2]} s "
                    f"left); try again in {asked[3]}, sign in to Hugging Face for a larger quota, or choose fewer "
                    "epochs or a smaller image size.")
        return (f"ZeroGPU's quota does not cover this run ({seconds} s of GPU time asked for); try again later, "
                "sign in to Hugging Face for a larger quota, or choose fewer epochs or a smaller image size.")
    if message == "GPU task aborted":
        return (f"ZeroGPU took the GPU back before the run ended (it had asked for {seconds} s); "
                "choose fewer epochs or a smaller image size.")
    message = message if len(message) <= 200 else message[:197] + "..."
    return f"ZeroGPU could not lend a GPU for this run ({message or type(error).__name__})."


train_on_gpu = None
# Only the server lends GPUs: its spawned helpers (Explore's grid workers) import this module too, and
# importing spaces would patch their torch and fork a probe process in each.
if on_zero_gpu() and multiprocessing.parent_process() is None:
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        warnings.warn("SPACES_ZERO_GPU is set but the spaces package is missing: training runs on the CPU.")
    else:
        train_on_gpu = spaces.GPU(duration=_duration)(run)
        # Imported once here rather than in every fork, on the visitor's GPU time; matplotlib builds
        # its font cache on import (with a subprocess where there is none), which a fork may not do.
        from . import train as _engine  # noqa: F401
