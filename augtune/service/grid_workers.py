"""Explore's grids drawn in worker processes, so that a class's grids can use every core.

A grid is mostly pixel work in C (OpenCV, Pillow), but each tile comes back to Python a dozen times,
and the server's own handling of every request is Python too: in one process they take turns on one
GIL. Asked for grids without a pause (20 students, no training, `bench/load.py --students 20 --grids 30
--trainers 0 --think 0.01`), the 2-core server then used ~1.4 of its cores and served ~12.5 grids/s.

Each worker is a spawned process with its own GIL and its own copy of the pictures it draws. The
server still decodes every upload (that is where a bad file is refused with its sentence) and keeps
the recent grids a class shares; it sends a worker a picture's pixels the first time that worker
draws it. A grid goes to an idle worker that already has its picture, else to any idle worker, else
waits for the first one free. While no worker is up (the seconds after start, or after one died) the
server draws the grid itself: a crashed worker costs nobody an error.

Settings (environment):
    AUGTUNE_GRID_WORKERS   processes drawing grids (default: the cores, at most 4; 0: draw in the server)
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from PIL import Image

from augtune import jobs
from augtune.ops.steps import render_tiles_in_this_thread
from augtune.spec import AugSpec

from .explore_html import render_grid
from .i18n import text
from .memory import return_freed_memory, share_the_heap_between_threads
from .pictures import IMAGE_CACHE_IDLE_S, Pictures, image_bytes

DEFAULT_COUNT = min(4, os.cpu_count() or 1)
PROCESS_NAME = "augtune-grids"
START_TIMEOUT_S = 120.0  # importing torch on a busy 2-core machine takes seconds, not minutes
HOLDER_WAIT_S = 0.5  # a few grids: less than sending a photo to another worker and building its caches there
ANSWER_TIMEOUT_S = 60.0  # a grid takes ~0.1 s (GaussianNoise's of a 12-MP photo 18 s: bench/ops.py); a worker
# silent this long is stuck, or the pipeline too slow for the picture: it is replaced and the student told
RESTART_WINDOW_S = 60.0
_KNOWN_PICTURES = 1_000  # how many digests the server remembers per worker (the worker says when it lacks one)

Draw = Callable[[Image.Image, AugSpec, str], dict[str, Any]]


def count_from_environment() -> int:
    value = os.environ.get("AUGTUNE_GRID_WORKERS", "").strip()
    return max(0, int(value)) if value else DEFAULT_COUNT


class _Worker:
    def __init__(self, context, picture_bytes: int) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, picture_bytes), name="augtune-grids", daemon=True)
        with jobs._spawning_worker():
            self.process.start()
        child.close()
        self.pictures: OrderedDict[str, None] = OrderedDict()  # digests it holds, as far as the server knows

    def ask(self, message: tuple) -> tuple:
        self.connection.send(message)
        if not self.connection.poll(ANSWER_TIMEOUT_S):
            raise TimeoutError("the grid worker did not answer")
        return self.connection.recv()

    def holds(self, digest: str) -> None:
        self.pictures[digest] = None
        self.pictures.move_to_end(digest)
        while len(self.pictures) > _KNOWN_PICTURES:
            self.pictures.popitem(last=False)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.close()
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


class GridWorkers:
    """`count` processes drawing grids as `augtune.service.explore_html.render_grid` does, each keeping pictures
    within `picture_bytes`; `draw_here` (that same drawing, in this process) stands in when none is up."""

    def __init__(self, count: int, draw_here: Draw, picture_bytes: int) -> None:
        self.count, self._draw, self._picture_bytes = count, draw_here, picture_bytes
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._busy: list[_Worker] = []
        self._changed = threading.Condition()
        self._closed = False
        self._deaths: list[float] = []
        for _ in range(count):
            self._start_one()

    @property
    def ready(self) -> int:
        """Workers up (idle or drawing)."""
        with self._changed:
            return len(self._idle) + len(self._busy)

    def wait_until_ready(self, timeout: float = START_TIMEOUT_S) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._idle) + len(self._busy) < self.count and not self._closed:
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    break
            return len(self._idle) + len(self._busy) >= self.count

    def render(self, image: Image.Image, digest: str, spec: AugSpec, locale: str) -> dict[str, Any]:
        worker = self._take(digest)
        if worker is None:
            return self._draw(image, spec, locale)
        try:
            answer = worker.ask(("grid", digest, spec.to_json(), locale, None if digest in worker.pictures else _payload(image)))
            if answer[0] == "missing":  # it dropped the picture since (its own memory budget)
                answer = worker.ask(("grid", digest, spec.to_json(), locale, _payload(image)))
        except TimeoutError:
            # Drawn again here it would take as long, with no limit, in the process that serves everyone.
            self._lose(worker)
            raise ValueError(text(locale, "error.grid_too_slow", seconds=f"{ANSWER_TIMEOUT_S:g}")) from None
        except (EOFError, OSError):
            self._lose(worker)
            return self._draw(image, spec, locale)
        worker.holds(digest)
        self._give_back(worker)
        if answer[0] == "error":
            _, is_value_error, message = answer
            raise (ValueError if is_value_error else RuntimeError)(message)
        return answer[1]

    def close(self) -> None:
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._changed.notify_all()
        for worker in idle:
            worker.stop()

    def _take(self, digest: str) -> _Worker | None:
        """An idle worker that holds the picture; else, when a busy one holds it, that one once it is free (up to
        HOLDER_WAIT_S); else any idle one. Each picture stays with one worker: a worker can keep ~28 photos of
        1600 px, and a class's 50 went to whichever worker was idle, so both kept receiving them and building
        their caches again (bench/load.py, 50 students x 10 grids: 0.078 -> 0.067 s of CPU a grid)."""
        deadline = time.monotonic() + HOLDER_WAIT_S
        with self._changed:
            while True:
                if self._closed or not (self._idle or self._busy):
                    return None
                holders = [worker for worker in self._idle if digest in worker.pictures]
                waiting = time.monotonic() < deadline and any(digest in worker.pictures for worker in self._busy)
                if holders or (self._idle and not waiting):
                    worker = holders[0] if holders else self._idle[0]
                    self._idle.remove(worker)
                    self._busy.append(worker)
                    return worker
                self._changed.wait(max(0.0, deadline - time.monotonic()) if waiting else None)

    def _give_back(self, worker: _Worker) -> None:
        with self._changed:
            self._busy.remove(worker)
            if self._closed:
                worker.stop()
            else:
                self._idle.append(worker)
            self._changed.notify_all()  # those waiting for this worker's pictures, and one waiting for any

    def _lose(self, worker: _Worker) -> None:
        now = time.monotonic()
        with self._changed:
            self._busy.remove(worker)
            self._deaths = [*self._deaths[-9:], now]
            delay = restart_delay(self._deaths, now)
            self._changed.notify_all()
        worker.stop()
        if not self._closed:
            self._start_one(delay)

    def _start_one(self, delay_s: float = 0.0) -> None:
        threading.Thread(target=self._warm_up, args=(delay_s,), name="augtune-grid-worker-start", daemon=True).start()

    def _warm_up(self, delay_s: float) -> None:
        time.sleep(delay_s)
        if self._closed:
            return
        worker = None
        try:
            worker = _Worker(self._context, self._picture_bytes)
            if not (worker.connection.poll(START_TIMEOUT_S) and worker.connection.recv() == "ready"):
                raise TimeoutError("a grid worker did not start")
        except Exception:  # the server draws grids itself meanwhile; the host sees why in the log
            traceback.print_exc()
            if worker is not None:
                worker.stop()
            return
        with self._changed:
            if self._closed:
                worker.stop()
                return
            self._idle.append(worker)
            self._changed.notify_all()
            up = len(self._idle) + len(self._busy)
        if up == self.count:
            print(f"augtune: {up} grid workers drawing", flush=True)  # bench/load.py waits for this line


def restart_delay(deaths: list[float], now: float) -> float:
    """How long to wait before replacing a worker that died, given when workers died (monotonic seconds).
    Starting one costs ~5 s of CPU (torch; it loads no Gradio): a picture that crashed a worker on every grid
    must not make every grid pay for that. The server draws grids itself meanwhile."""
    recent = [death for death in deaths if now - death < RESTART_WINDOW_S]
    return 0.0 if len(recent) <= 2 else RESTART_WINDOW_S


def _name_process(name: str) -> None:
    """The name `ps` and /proc/PID/comm show (bench/load.py counts the workers' memory and CPU by it)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def _payload(image: Image.Image) -> tuple:
    return image.mode, image.size, image.tobytes(), {k: v for k, v in image.info.items() if k == "original_size"}


def _picture(payload: tuple) -> Image.Image:
    mode, size, data, info = payload
    image = Image.frombytes(mode, size, data)
    image.info.update(info)
    return image


def serve(connection, picture_bytes: int) -> None:
    """A worker: draw every grid asked for, until the server closes the pipe (or dies)."""
    jobs._exit_with_parent()
    import cv2

    _name_process(PROCESS_NAME)
    cv2.setNumThreads(1)  # the workers are the parallelism: one thread each
    render_tiles_in_this_thread()
    share_the_heap_between_threads()
    pictures = Pictures(picture_bytes, IMAGE_CACHE_IDLE_S, image_bytes)
    # Pictures idle past their time leave even when no grid comes: after a class, memory goes back.
    expire_every_s = max(1.0, min(60.0, IMAGE_CACHE_IDLE_S / 2))
    connection.send("ready")
    while True:
        try:
            if not connection.poll(expire_every_s):
                if pictures.expire():
                    return_freed_memory()
                continue
            _, digest, spec_json, locale, payload = connection.recv()
        except (EOFError, OSError):
            return
        try:
            if pictures.expire():
                return_freed_memory()
            if payload is not None:
                pictures.put(digest, _picture(payload))
            image = pictures.get(digest)
            if image is None:
                answer: tuple = ("missing",)
            else:
                answer = ("grid", render_grid(image, AugSpec.from_json(spec_json), locale))
        except Exception as error:  # noqa: BLE001 - the server shows the sentence; the worker lives on
            answer = ("error", isinstance(error, ValueError), str(error))
        try:
            connection.send(answer)
        except (EOFError, OSError):
            return
