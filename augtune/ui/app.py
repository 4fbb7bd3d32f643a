"""The whole app's layout in one place: two tabs, one translation table, the launch settings, and the
housekeeping a long-running Gradio server needs."""

from __future__ import annotations

import datetime
import os
import stat
import threading
import time
import traceback
import uuid
from pathlib import Path

import cv2
import gradio as gr
from gradio import processing_utils
from gradio.utils import get_upload_folder

from augtune.service import grid_workers, grids
from augtune.service.grids import first_grid_translations
from augtune.service.i18n import STRINGS
from augtune.service.memory import share_the_heap_between_threads
from augtune.service.pictures import TEMP_MAX_AGE_S
from augtune.settings import env_number

from . import assets, explore, finetune

MAX_FILE_SIZE = os.environ.get("AUGTUNE_MAX_UPLOAD", "20mb")
DELETE_CACHE = (max(10, TEMP_MAX_AGE_S // 4), TEMP_MAX_AGE_S)
# Grids at once, per the server. When a grid was half Gradio's Python (one core, the GIL), 2 at once
# left a 2-core server at ~1.3 cores and 3.2 grids/s under a class's load, and 4 served 3.5 grids/s
# with a lower p95 (bench/load.py). Grids are now drawn in worker processes (service/grid_workers.py), one per
# core; 4 events at once keep them fed while the server reads, shares and sends the grids.
CONCURRENCY = int(os.environ.get("AUGTUNE_CONCURRENCY", 4))
# Events waiting in Gradio's queue; more get "the queue is full". Set here because on ZeroGPU Gradio
# would otherwise allow one (a whole class shares this queue, and training never waits in it).
QUEUE_MAX_SIZE = env_number("AUGTUNE_QUEUE_MAX_SIZE", 500)


def translations() -> gr.I18n:
    """Gradio's labels from the app's one table per language (augtune.service.i18n), and the page's first
    grid in each language (`grids.first_grid_translations`)."""
    return gr.I18n(**{locale: {**table, **first_grid_translations(locale)} for locale, table in STRINGS.items()})


def save_pil_to_cache_atomically(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """Gradio 6.31's `save_pil_to_cache`, with the file written under a temporary name and moved in place.
    Its files are named by their content, and it rewrites one in place on every call: two requests
    showing the same picture (a class opening the page on the same default grid) could truncate a tile
    while a browser reads it. Same path, same bytes; a reader now sees the whole file or none."""
    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    target = (folder / f"{name}.{format}").resolve()
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    partial.write_bytes(data)
    os.replace(partial, target)
    return str(target)


def skip_gradio_queue_analytics() -> None:
    """Gradio 6.31 rebuilds a pandas summary of its last 10 000 events after every event, for a monitoring
    page this app does not enable: 2.6 ms of the GIL per event with 100 events behind it, 5.3 ms with 4 000
    (a class's two rounds of bench/load.py), 10 ms at the cap. Summarised once every 10 000 events and kept
    at 1 000, it costs nothing. A host who enables monitoring sets both variables itself."""
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "10000")
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")


def build_app() -> gr.Blocks:
    processing_utils.save_pil_to_cache = save_pil_to_cache_atomically  # Gallery and Image call it through the module
    skip_gradio_queue_analytics()  # read when the queue is made, in gr.Blocks()
    # The server already runs grids side by side and each grid's tiles on two threads: OpenCV's own
    # threads inside every call only add handover costs (a grid took 152 instead of 122 ms of CPU).
    cv2.setNumThreads(1)
    with gr.Blocks(title="augtune", delete_cache=DELETE_CACHE) as demo:
        with gr.Tabs():
            explore_widgets = explore.build_explore_tab()
            finetune.build_finetune_tab(explore_widgets=explore_widgets)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_MAX_SIZE)
    return demo


def sweep_empty_upload_files(folder: Path, max_age_s: float) -> int:
    """Delete the empty `tmp*` files Gradio's upload parser leaves at the top of its temp folder, one per
    upload (gradio 6.31: delete_cache does not know them), once older than `max_age_s`. Returns how many."""
    cutoff = time.time() - max_age_s
    removed = 0
    for path in folder.glob("tmp*"):
        try:
            status = path.lstat()
            if stat.S_ISREG(status.st_mode) and status.st_size == 0 and status.st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            pass  # gone already, or not ours to delete
    return removed


def delete_old_temp_files(demo: gr.Blocks, max_age_s: float) -> int:
    """What Blocks(delete_cache=...) does, done so that a busy server keeps doing it. Under a class's load
    Gradio 6.31's scheduled deletion left every tile in place (bench/load.py: 16 000 files per round still
    there 90 s after the round, past their age); it walks its live sets of temp files while request threads
    add to them, which is the likely cause (not confirmed: the log showed no traceback). With this pass
    beside it, the folder was back to its start size after each round. Each set is copied before the
    walk. Files a component keeps (the example images) stay."""
    keep: set[str] = set()
    for component in list(demo.blocks.values()):
        keep.update(getattr(component, "keep_in_cache", ()))
    cutoff = time.time() - max_age_s
    removed = 0
    for files in list(demo.temp_file_sets):
        for file in list(files):
            if file in keep:
                continue
            try:
                if os.lstat(file).st_ctime < cutoff:
                    os.remove(file)
                    files.discard(file)
                    removed += 1
            except FileNotFoundError:
                files.discard(file)
            except OSError:
                pass
    return removed


def forget_idle_sessions(demo: gr.Blocks, max_idle_s: float) -> int:
    """Drop what Gradio keeps of every browser session not heard from for `max_idle_s`. Returns how many.

    Gradio 6.31 keeps each session's state, with the last value of every output it was sent (a grid's
    HTML: ~0.4 MB), until 10 000 sessions are newer: bench/load.py's 50 students grew the server by
    ~40 MB a class (tracemalloc: 22 MB of grids, 6 MB of component configs). A session idle that long
    has lost its uploaded photo to the temp-file cleaning anyway; its next event starts a fresh state
    (the bundled cat). Fine-tune's runs are not session state: their token is in the browser."""
    holder = getattr(demo, "state_holder", None)
    if holder is None:  # not launched
        return 0
    cutoff = datetime.datetime.now() - datetime.timedelta(seconds=max_idle_s)
    with holder.lock:
        idle = [session for session, used in list(holder.time_last_used.items()) if used < cutoff]
    for session in idle:
        holder.delete_state(session)  # gr.State's delete callbacks, as Gradio runs them
        with holder.lock:
            holder.session_data.pop(session, None)
            holder.time_last_used.pop(session, None)
    return len(idle)


def _sweep_periodically(demo: gr.Blocks) -> None:
    folder = Path(get_upload_folder())
    while True:
        time.sleep(DELETE_CACHE[0])
        try:
            delete_old_temp_files(demo, TEMP_MAX_AGE_S)
            sweep_empty_upload_files(folder, TEMP_MAX_AGE_S)
            forget_idle_sessions(demo, TEMP_MAX_AGE_S)
        except Exception:  # the sweeper must outlive one bad pass; the host sees why in the log
            traceback.print_exc()


def launch(demo: gr.Blocks, **overrides) -> None:
    share_the_heap_between_threads()
    grids.start_grid_workers(grid_workers.count_from_environment())
    threading.Thread(target=_sweep_periodically, args=(demo,), name="augtune-temp-sweeper", daemon=True).start()
    settings = dict(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
        max_file_size=MAX_FILE_SIZE,
        i18n=translations(),
        theme=gr.themes.Soft(text_size="lg"),  # read from the back of a classroom
        css=assets.CSS,
        js=assets.busy_js(),
    )
    settings.update(overrides)
    demo.launch(**settings)
