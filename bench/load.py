"""A class at once: 50 students on one server, each uploading a photo and asking for 20 grids of 16 tiles,
while 3 of them train. Prints what a host needs to size a Space; asserts nothing (numbers go in notes).

    python bench/load.py                       # 50 students x 20 grids, 3 trainers, 2 rounds
    python bench/load.py --think 0             # nobody pauses between grids: the worst case
    python bench/load.py --students 10 --grids 5 --rounds 1   # a quick look

The app runs as a subprocess on 127.0.0.1 (a free port) with its own temp, data, runs and torch-cache
folders, offline. Each student is a thread with its own gradio_client session that does what a browser
does on the Explore tab. All of them open the page (connect) before the lesson's clock starts; then,
arriving within --arrival seconds, each uploads its own photo (--image-side pixels on the long side) once, through the
tab's upload event, and then asks for grids through the event a slider's release fires (the same
handler and the same six outputs as in the browser), checks the 16 JPEG tiles and the boxed original,
which come inline in the grid's HTML. Between grids it pauses --think seconds on average (uniform in
[0.5, 1.5] x think), like a student looking at the grid before moving the next slider. Trainers start a
tiny run through /finetune_start right after their first grid and poll /finetune_status every 2 s.
Every round uses new seeds, as a new class would.

Bounded: at most 200 students x 100 grids, each round gives up after --timeout seconds, and stops early
when the server's RSS passes --max-rss MB. Reported per round: grids served, errors, latency of a grid as the student sees it (p50/p95/max: upload,
queue, sampling, JPEG encoding, download), each training run's queue wait and duration; and before and
after every round: the server's RSS (with its grid workers; its training workers' apart), and the size and file count of its
temp folders (Gradio's cache and the system temp dir the server uses). "Start" is measured after a warm-up grid
over /augment and one in each grid worker. "After" is measured once the
trainers are done, the server has idled for --settle seconds (90) and then served one grid of the default
picture. To see cleaning within a run, the server here drops photos idle for more than 10 s from its image
cache (900 s in production) and deletes temp files and finished runs older than --max-age (60 s; 7200 s in
production), so "after" shows what the load leaves behind that cleaning does not remove.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the students build their widget values with augtune's own spec
CROP_SIZES = (96, 128, 160, 200, 224)
TERMINAL = ("done", "failed", "cancelled")
IMAGE_CACHE_IDLE_S = 10
# gradio_client posts each request with a fresh httpx client, which builds a TLS context from the CA
# bundle every time, even for http://: ~70 ms of this process's CPU per grid, on the server's two cores
# (measured: 74 -> 5 ms per call with one shared context). A browser builds none per request, so the
# simulated students share one (httpx takes a context where it takes verify=).
TLS = ssl.create_default_context()
GRID_WORKER_NAME = "augtune-grids"  # augtune.service.grid_workers.PROCESS_NAME (the bench imports no app code)


# ----------------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, work: Path, synthetic: str, max_age_s: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.folders = {name: work / name for name in ("gradio_tmp", "tmp", "data", "runs", "torch_home", "cache")}
        for folder in self.folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_TEMP_DIR": str(self.folders["gradio_tmp"]),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "TMPDIR": str(self.folders["tmp"]),  # so every temp file the server makes is counted
            "AUGTUNE_DATA_ROOT": str(self.folders["data"]),
            "AUGTUNE_RUNS_DIR": str(self.folders["runs"]),
            "AUGTUNE_CACHE": str(self.folders["cache"]),
            "AUGTUNE_SYNTHETIC": synthetic,
            "TORCH_HOME": str(self.folders["torch_home"]),
            "AUGTUNE_OFFLINE": "1",
            # Decoded photos are kept while used; idle ones go after this long (900 s in production), so
            # that "after" shows what the load leaves behind rather than the cache's planned contents.
            "AUGTUNE_IMAGE_CACHE_IDLE_S": str(IMAGE_CACHE_IDLE_S),
            # Gradio's temp files (tiles, uploads) older than this go (7200 s in production): with --settle
            # past it, "after" shows whether the cleaning keeps up, i.e. no growth over repeated rounds.
            "AUGTUNE_TEMP_MAX_AGE_S": str(max_age_s),
            "AUGTUNE_RUN_TTL_S": str(max_age_s),  # finished runs, likewise (production: 7200 s)
            "PYTHONUNBUFFERED": "1",
        }
        self.log = open(work / "server.log", "w")
        self.process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self.log_path = work / "server.log"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"app.py exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url, timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise SystemExit("app.py did not answer within 180 s")
        # The grid workers import torch after the page answers; until they are up the server draws
        # grids itself. "start" is measured with them up, so that "after" compares like with like.
        while os.environ.get("AUGTUNE_GRID_WORKERS", "").strip() != "0":
            if "grid workers drawing" in self.log_path.read_text(errors="replace"):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"the grid workers did not start within 180 s; see {self.log_path}")
            time.sleep(0.5)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    def rss_mb(self) -> float:
        """The server's memory: its own process and its grid workers'."""
        return _rss_mb(self.process.pid) + sum(_rss_mb(pid) for pid in self.grid_workers())

    def grid_workers(self) -> list[int]:
        return [pid for pid in _children(self.process.pid) if _comm(pid) == GRID_WORKER_NAME]

    def training_workers_rss_mb(self) -> tuple[int, float]:
        children = [pid for pid in _children(self.process.pid) if _comm(pid) != GRID_WORKER_NAME]
        return len(children), sum(_rss_mb(pid) for pid in children)

    def cpu_s(self) -> float:
        """CPU seconds of the server and its grid workers (not its training workers)."""
        return sum(_cpu_s(pid) for pid in [self.process.pid, *self.grid_workers()])

    def own_cpu_s(self) -> float:
        """CPU seconds of the server process alone (Gradio, the queue, the HTML's trip): the part grid workers
        cannot spread over the cores."""
        return _cpu_s(self.process.pid)

    def temp_usage(self) -> dict[str, tuple[float, int]]:
        return {name: _usage(self.folders[name]) for name in ("gradio_tmp", "tmp", "runs")}


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _usage(folder: Path) -> tuple[float, int]:
    total, count = 0, 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
                count += 1
        except OSError:
            pass
    return total / 2**20, count


# ----------------------------------------------------------------------------------- the students


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    trainings: list[dict] = field(default_factory=list)
    unanswered: int = 0
    peak_rss: float = 0.0
    server_cpu: float = 0.0  # CPU seconds the server (without its training workers) spent in the round
    server_own_cpu: float = 0.0  # of which the server process itself (the rest: its grid workers)
    students_cpu: float = 0.0  # and this script's simulated students: the same 2 cores
    aborted: str = ""
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def student_photo(index: int, side: int, folder: Path) -> Path:
    """A photo-sized picture unique to each student (so uploads are not shared by content)."""
    from PIL import Image, ImageDraw

    width, height = side, side * 3 // 4
    ramp, rings = Image.linear_gradient("L"), Image.radial_gradient("L")
    picture = Image.merge("RGB", (ramp.resize((width, height)), ramp.rotate(90 + 7 * index).resize((width, height)),
                                  rings.resize((width, height))))
    draw = ImageDraw.Draw(picture)
    rng = random.Random(index)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        draw.ellipse((x, y, x + width // 8, y + height // 8), fill=tuple(rng.randrange(256) for _ in range(3)))
    path = folder / f"student-{index:02d}.jpg"
    picture.save(path, quality=90)
    return path


def grid_settings(rng: random.Random) -> dict:
    """What a student does between two grids: moves one or two sliders."""
    scale_min = round(rng.uniform(0.05, 0.6), 2)
    ratio_min = round(rng.uniform(0.4, 1.0), 2)
    return {
        "hflip_p": rng.choice((0.0, 0.5, 1.0)),
        "brightness": round(rng.uniform(0, 1), 2),
        "contrast": round(rng.uniform(0, 1), 2),
        "saturation": round(rng.uniform(0, 1), 2),
        "hue": round(rng.uniform(0, 0.5), 2),
        "crop_size": rng.choice(CROP_SIZES),
        "scale_min": scale_min,
        "scale_max": round(rng.uniform(scale_min, 1.0), 2),
        "ratio_min": ratio_min,
        "ratio_max": round(rng.uniform(1.0, 2.5), 2),
    }


class ExploreTab:
    """The Explore tab's own events, called as the browser calls them. They are private to API users
    (not in the API docs, and gradio_client refuses them), but the server serves them to any client
    that names them, which is what a browser does: so each simulated student's Client is told to call
    them. The photo is uploaded once, into the session's state, and every grid after that sends only
    the widgets' values, like a slider release in the browser."""

    def __init__(self, client) -> None:
        from augtune.service.explore_form import FIELDS

        self.client, self.fields = client, FIELDS
        ids = {c["props"]["elem_id"]: c["id"] for c in client.config["components"] if c.get("props", {}).get("elem_id")}

        def event(elem_id: str, trigger: str) -> int:
            for index, dependency in enumerate(client.config["dependencies"]):
                if [ids[elem_id], trigger] in [list(target) for target in dependency["targets"]]:
                    fn_index = dependency.get("id", index)
                    client.endpoints[fn_index].is_valid = True
                    return fn_index
            raise RuntimeError(f"the app has no {trigger} event on #{elem_id}")

        self.upload_event = event("augtune-upload", "upload")
        self.grid_event = event("augtune-brightness", "release")  # every slider's release runs the same handler

    def widgets(self, settings: dict, seed: int, tiles: int) -> list:
        from augtune.spec import AugSpec
        from augtune.service.explore_form import widgets_from_spec

        return widgets_from_spec(AugSpec(**settings, samples=tiles, seed=seed))

    def upload(self, photo: Path, widgets: list) -> list:
        from gradio_client import handle_file

        return self.client.predict("en", handle_file(str(photo)), *widgets, fn_index=self.upload_event)

    def grid(self, widgets: list) -> list:
        return self.client.predict("en", *widgets, fn_index=self.grid_event)


def check_grid(outputs: list, tiles: int) -> None:
    """The grid a browser would show: every tile and the boxed original are JPEGs inline in their HTML,
    and the status line is not a warning. `outputs` ends [..., grid, original, legend,
    code, download, status]."""
    grid, original, status = outputs[-6], outputs[-5], outputs[-1]
    if isinstance(status, str) and status.startswith("⚠"):
        raise RuntimeError(f"the page says: {status}")
    pictures = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', grid if isinstance(grid, str) else "")
    if len(pictures) != tiles:
        raise RuntimeError(f"{len(pictures)} tiles instead of {tiles}")
    if not all(base64.b64decode(picture).startswith(b"\xff\xd8") for picture in pictures):
        raise RuntimeError("a tile is not a JPEG")
    boxed = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', original if isinstance(original, str) else "")
    if len(boxed) != 1 or not base64.b64decode(boxed[0]).startswith(b"\xff\xd8"):
        raise RuntimeError("the boxed original is not a JPEG")


def student(url: str, index: int, photo: Path, args, round_number: int, trains: bool, tally: Tally,
            deadline: float, lesson_starts: threading.Barrier) -> None:
    import httpx
    from gradio_client import Client

    rng = random.Random(f"{round_number}/{index}")
    connected = False
    try:
        # A browser waits for an upload as long as it takes; httpx's default gives up after 5 s.
        client = Client(url, verbose=False, download_files=False, ssl_verify=TLS,
                        httpx_kwargs={"timeout": httpx.Timeout(300.0)})
        tab = ExploreTab(client)
        connected = True
    except Exception as error:  # noqa: BLE001 - a refused connection is a result here
        with tally.lock:
            tally.errors.append(f"student {index}: could not connect: {error}")
    lesson_starts.wait()
    if not connected:
        return
    time.sleep(rng.uniform(0, args.arrival))  # a class does not press Enter at the same millisecond
    trainer = None
    for number in range(args.grids):
        if time.monotonic() > deadline or tally.stop.is_set():
            break  # what is left is counted as unanswered
        widgets = tab.widgets(grid_settings(rng), round_number * 1_000_000 + index * 1000 + number, args.tiles)
        started = time.perf_counter()
        try:
            # The first grid is the upload's own (the page draws one as the photo arrives).
            outputs = tab.upload(photo, widgets) if number == 0 else tab.grid(widgets)
            check_grid(outputs, args.tiles)
            with tally.lock:
                tally.latencies.append(time.perf_counter() - started)
        except Exception as error:  # noqa: BLE001 - every failure is counted and shown
            with tally.lock:
                tally.errors.append(f"student {index} grid {number}: {type(error).__name__}: {error}"[:300])
        if trains and trainer is None:
            trainer = threading.Thread(target=train, args=(client, index, args, tally, deadline), daemon=True)
            trainer.start()
        if args.think:
            time.sleep(args.think * rng.uniform(0.5, 1.5))
    if trainer is not None:
        trainer.join(max(0.0, deadline - time.monotonic()))


def train(client, index: int, args, tally: Tally, deadline: float) -> None:
    config = {"data": "synthetic", "pretrained": False, "epochs": args.train_epochs, "image_size": args.train_size,
              "batch_size": 32, "augment": "combined", "label": f"student {index}"}
    record = {"student": index, "status": "not started", "error": ""}
    with tally.lock:
        tally.trainings.append(record)
    try:
        session = client.predict(None, config, api_name="/finetune_start")
        while time.monotonic() < deadline and not tally.stop.is_set():
            (snapshot,) = client.predict(session, api_name="/finetune_status")
            record.update(status=snapshot["status"], error=snapshot["error"], created=snapshot["created"],
                          started=snapshot["started"], finished=snapshot["finished"], rows=len(snapshot["rows"]))
            if snapshot["status"] in TERMINAL:
                return
            time.sleep(2)
        record["status"] += " (still going at the deadline)"
    except Exception as error:  # noqa: BLE001
        record.update(status="error", error=f"{type(error).__name__}: {error}"[:300])


# ----------------------------------------------------------------------------------- one round, the report


def warm_up_grid_workers(server: Server, photos: list[Path], args) -> None:
    """One grid in every grid worker, through the page's upload event, at once (an idle worker takes each):
    "start" then holds what a worker allocates for good on its first grid (its tile threads, their heaps,
    ~30 MB each), so that "after" shows what a class leaves behind."""
    from gradio_client import Client

    def one(index: int) -> None:
        tab = ExploreTab(Client(server.url, verbose=False, download_files=False, ssl_verify=TLS))
        check_grid(tab.upload(photos[index], tab.widgets(grid_settings(random.Random(index)), index, args.tiles)),
                   args.tiles)

    threads = [threading.Thread(target=one, args=(index % len(photos),)) for index in range(len(server.grid_workers()))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def snapshot(server: Server) -> dict:
    count, workers = server.training_workers_rss_mb()
    grid_workers = server.grid_workers()
    return {"rss": server.rss_mb(), "parts": [_rss_mb(pid) for pid in [server.process.pid, *grid_workers]],
            "grid_workers": len(grid_workers), "workers": workers, "worker_count": count,
            "temp": server.temp_usage(), "cpu_s": server.cpu_s(), "load": os.getloadavg()}


def run_round(server: Server, photos: list[Path], args, round_number: int) -> tuple[Tally, float]:
    tally = Tally()
    deadline = time.monotonic() + args.timeout
    trainers = {round(i * args.students / args.trainers) for i in range(args.trainers)} if args.trainers else set()
    # Every student has the page open before the lesson starts: a gradio_client Client costs this process
    # ~1.5 s of CPU to set up (the server ~0.13 s), which a browser spends on the student's own machine.
    lesson_starts = threading.Barrier(args.students + 1)
    threads = [
        threading.Thread(target=student, daemon=True, args=(server.url, i, photos[i], args, round_number,
                                                            i in trainers, tally, deadline, lesson_starts))
        for i in range(args.students)
    ]
    def watch_memory() -> None:
        while not finished.is_set():
            rss = server.rss_mb()
            tally.peak_rss = max(tally.peak_rss, rss)
            if rss > args.max_rss and not tally.stop.is_set():
                tally.aborted = f"stopped early: server RSS {rss:.0f} MB passed --max-rss {args.max_rss:.0f} MB"
                tally.stop.set()
            finished.wait(1.0)

    finished = threading.Event()
    watcher = threading.Thread(target=watch_memory, daemon=True)
    watcher.start()
    for thread in threads:
        thread.start()
    lesson_starts.wait()
    started, server_cpu, own_cpu = time.perf_counter(), server.cpu_s(), _own_cpu_s()
    server_own_cpu = server.own_cpu_s()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    wall = time.perf_counter() - started
    tally.server_cpu, tally.students_cpu = server.cpu_s() - server_cpu, _own_cpu_s() - own_cpu
    tally.server_own_cpu = server.own_cpu_s() - server_own_cpu
    finished.set()
    watcher.join()
    with tally.lock:
        answered = len(tally.latencies) + sum(": could not connect:" not in error for error in tally.errors)
        tally.unanswered = args.students * args.grids - answered
    return tally, wall


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))] if ordered else float("nan")


def describe_state(label: str, state: dict) -> str:
    temp = state["temp"]
    parts = " + ".join(f"{part:.0f}" for part in state["parts"])
    return (f"| {label} | {state['rss']:.0f} ({parts}) | {state['workers']:.0f} ({state['worker_count']}) | "
            f"{temp['gradio_tmp'][0]:.1f} MB / {temp['gradio_tmp'][1]} | {temp['tmp'][0]:.1f} MB / {temp['tmp'][1]} | "
            f"{temp['runs'][0]:.1f} MB / {temp['runs'][1]} | {state['load'][0]:.1f} |")


def report_round(round_number: int, tally: Tally, wall: float, args) -> None:
    lat = tally.latencies
    print(f"\n### Round {round_number}: {args.students} students x {args.grids} grids of {args.tiles} tiles, "
          f"think {args.think} s, {args.trainers} trainers ({wall:.0f} s, server RSS peak {tally.peak_rss:.0f} MB)\n")
    if tally.aborted:
        print(f"**{tally.aborted}**\n")
    print("| grids served | errors | unanswered | p50 s | p95 s | max s | mean s | grids/s |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {len(lat)} | {len(tally.errors)} | {tally.unanswered} | {percentile(lat, 0.5):.2f} | "
          f"{percentile(lat, 0.95):.2f} | {max(lat, default=float('nan')):.2f} | "
          f"{statistics.fmean(lat) if lat else float('nan'):.2f} | {len(lat) / wall:.1f} |")
    print(f"\nCPU in the round: server {tally.server_cpu:.0f} s ({tally.server_cpu / max(len(lat), 1):.3f} s per grid "
          f"served: {tally.server_own_cpu / max(len(lat), 1):.3f} s in the server process, "
          f"{(tally.server_cpu - tally.server_own_cpu) / max(len(lat), 1):.3f} s in its grid workers), the simulated students {tally.students_cpu:.0f} s; wall {wall:.0f} s on {os.cpu_count()} cores.")
    for error in tally.errors[:5]:
        print(f"  error: {error}")
    if tally.trainings:
        print("\n| trainer | status | queue wait s | training s | epochs | error |")
        print("|---|---|---|---|---|---|")
        for run in sorted(tally.trainings, key=lambda r: r.get("created") or 0):
            wait = (run["started"] - run["created"]) if run.get("started") else float("nan")
            took = (run["finished"] - run["started"]) if run.get("finished") and run.get("started") else float("nan")
            print(f"| student {run['student']} | {run['status']} | {wait:.1f} | {took:.1f} | {run.get('rows', 0)} | "
                  f"{run['error']} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--grids", type=int, default=20, help="grids per student")
    parser.add_argument("--tiles", type=int, default=16, help="tiles per grid")
    parser.add_argument("--trainers", type=int, default=3, help="students who also start a training run")
    parser.add_argument("--think", type=float, default=2.0, help="mean pause between a student's grids, seconds")
    parser.add_argument("--arrival", type=float, default=5.0, help="students arrive spread over this many seconds")
    parser.add_argument("--image-side", type=int, default=1600, help="long side of each student's photo")
    parser.add_argument("--rounds", type=int, default=2, help="repeat the class on the same server (growth check)")
    parser.add_argument("--train-epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=32, help="training image size")
    parser.add_argument("--synthetic", default="48x60x20", help="synthetic set size SIDExTRAINxTEST per class")
    parser.add_argument("--max-age", type=int, default=60,
                        help="the server deletes temp files and finished runs older than this (s); production: 7200")
    parser.add_argument("--settle", type=float, default=90.0,
                        help="idle seconds before measuring 'after' (longer than --max-age plus a quarter of it)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up on a round after this many seconds")
    parser.add_argument("--max-rss", type=float, default=6000.0,
                        help="stop a round when the server's RSS passes this many MB (the machine is shared)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (server log, temp files)")
    args = parser.parse_args()
    if not (1 <= args.students <= 200 and 1 <= args.grids <= 100 and 1 <= args.tiles <= 64):
        parser.error("students 1..200, grids 1..100, tiles 1..64 (this is a bounded benchmark)")
    args.trainers = min(args.trainers, args.students)

    work = Path(tempfile.mkdtemp(prefix="augtune-load-"))
    photos_dir = work / "photos"
    photos_dir.mkdir()
    photos = [student_photo(i, args.image_side, photos_dir) for i in range(args.students)]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before starting; "
          f"photos {args.image_side} px, {sum(p.stat().st_size for p in photos) / len(photos) / 1024:.0f} kB each")
    server = Server(work, args.synthetic, args.max_age)
    try:
        cold = snapshot(server)
        from gradio_client import Client, handle_file

        warm_client = Client(server.url, verbose=False, download_files=str(work / "warmup"), ssl_verify=TLS)
        warm_client.predict(handle_file(str(photos[0])), "", args.tiles, 0, api_name="/augment")
        warm_up_grid_workers(server, photos, args)
        time.sleep(2)
        states = [("cold (server just up)", cold), ("start (after the warm-up grids)", snapshot(server))]
        for round_number in range(1, args.rounds + 1):
            tally, wall = run_round(server, photos, args, round_number)
            report_round(round_number, tally, wall, args)
            time.sleep(max(args.settle, IMAGE_CACHE_IDLE_S + 1))
            # one grid of the default picture lets the cache drop what idled past its limit
            warm_client.predict(None, "", args.tiles, round_number, api_name="/augment")
            time.sleep(2)
            states.append((f"after round {round_number} (+{args.settle:.0f} s idle, one grid)", snapshot(server)))
        print("\n| server state | RSS MB (server + grid workers) | training workers RSS MB (n) | Gradio temp (size / files) "
              "| system temp | runs | load |")
        print("|---|---|---|---|---|---|---|")
        for label, state in states:
            print(describe_state(label, state))
        start = states[1][1]
        for label, state in states[2:]:
            print(f"{label}: RSS {state['rss'] - start['rss']:+.0f} MB vs start; Gradio temp "
                  f"{state['temp']['gradio_tmp'][0] - start['temp']['gradio_tmp'][0]:+.1f} MB, "
                  f"{state['temp']['gradio_tmp'][1] - start['temp']['gradio_tmp'][1]:+d} files; "
                  f"server CPU {state['cpu_s'] - start['cpu_s']:.0f} s")
    finally:
        server.stop()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
