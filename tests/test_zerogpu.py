"""The ZeroGPU path against the real `spaces` decorator and a fake ZeroGPU device API on 127.0.0.1.

The app runs as a ZeroGPU Space runs it (SPACES_ZERO_GPU=true, SPACES_ZERO_DEVICE_API_URL), launched by
tests/zerogpu_server.py, which stubs the CUDA steps of spaces' fork and writes down what happens in it.
The fake API answers what spaces 0.51.3's client asks (spaces/zero/api.py): POST /startup-report at
launch, POST /schedule (query: cgroupPath, taskId, enableQueue, tokenVersion, durationSeconds, token;
answer: JSON {idle, nvidiaIndex, nvidiaUUID, allowToken}, or 429 with {left, wait} when the visitor's
quota is spent), POST /allow (allowToken, pid of the fork) and POST /release (allowToken, fail).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from augtune import zerogpu
from augtune.service.finetune_text import engine_text

from tests.conftest import ROOT, AppServer

# A visitor's X-IP-Token, as the Hub's proxy adds it: a JWT (spaces reads its payload).
TOKEN = "e30." + base64.urlsafe_b64encode(json.dumps({"user": "visitor"}).encode()).decode().rstrip("=") + ".sig"
TINY = {"data": "synthetic", "pretrained": False, "image_size": 32, "batch_size": 16, "augment": None}
BATCH_DELAY_S = 0.3
WAIT_S = 240


class FakeDeviceAPI(ThreadingHTTPServer):
    """The ZeroGPU device API, as far as spaces' client uses it; `calls` keeps every request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: list[tuple[str, dict]] = []
        self.quota_left: int | None = None  # set: /schedule refuses, as for a visitor with that much left
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def called(self, path: str) -> list[dict]:
        return [params for called, params in list(self.calls) if called == path]


class _Handler(BaseHTTPRequestHandler):
    server: FakeDeviceAPI

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.calls.append((url.path, params))
        if url.path == "/schedule":
            if self.server.quota_left is not None:
                return self._reply(429, {"left": self.server.quota_left, "wait": 3723})
            params["allowToken"] = f"allow-{len(self.server.calls)}"  # the answer, kept for the test
            # idle=False: spaces forks anew for every run, so each run's fork is its own.
            return self._reply(200, {"idle": False, "nvidiaIndex": 0, "nvidiaUUID": "GPU-fake-0", "allowToken": params["allowToken"]})
        if url.path in ("/startup-report", "/allow", "/release"):
            return self._reply(200, {})
        self._reply(404, {"detail": "unknown"})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


class ZeroGpuSpace(AppServer):
    """tests/zerogpu_server.py on 127.0.0.1, its probe files, and a client that sends the visitor's token."""

    def __init__(self, tmp: Path, api: FakeDeviceAPI) -> None:
        self.probe = tmp / "probe"
        for name in ("probe", "cache"):
            (tmp / name).mkdir()
        cgroup = tmp / "cgroup"
        cgroup.write_text("5:devices:/zerogpu-test\n")
        super().__init__(tmp, {
            "SPACES_ZERO_GPU": "true",
            "SPACES_ZERO_DEVICE_API_URL": api.url,
            "ZEROGPU_PROC_SELF_CGROUP_PATH": str(cgroup),
            "ZEROGPU_PROBE_DIR": str(self.probe),
            "ZEROGPU_PROBE_BATCH_DELAY_S": str(BATCH_DELAY_S),
            "NO_PROXY": "127.0.0.1,localhost",
            "AUGTUNE_CACHE": str(tmp / "cache"),
            "AUGTUNE_SYNTHETIC": "40x24x8",
            "AUGTUNE_GRID_WORKERS": "0",
            "TORCH_HOME": str(tmp / "cache"),
        }, script=ROOT / "tests" / "zerogpu_server.py", up_timeout=WAIT_S)
        from gradio_client import Client

        self.client = Client(self.url, headers={"X-IP-Token": TOKEN}, verbose=False)

    def records(self, name: str) -> list[dict]:
        path = self.probe / f"{name}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def start(self, **settings) -> dict:
        return self.client.predict(None, {**TINY, **settings}, api_name="/finetune_start")

    def status(self, session: dict) -> dict:
        (snapshot,) = self.client.predict(session, api_name="/finetune_status")
        return snapshot

    def wait_until(self, session: dict, done, what: str) -> dict:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            snapshot = self.status(session)
            if done(snapshot):
                return snapshot
            time.sleep(0.1)
        raise AssertionError(f"{what}: not within {WAIT_S} s; last status {snapshot}\n{self.log()}")


@pytest.fixture(scope="module")
def api():
    server = FakeDeviceAPI()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def space(tmp_path_factory, api):
    if importlib.util.find_spec("spaces") is None:
        pytest.fail("the spaces package is missing: pip install -r requirements-dev.txt")
    server = ZeroGpuSpace(tmp_path_factory.mktemp("zerogpu"), api)
    yield server
    server.stop()


def estimate(**settings) -> int:
    """The GPU time the server asks for such a run (its synthetic set is the small one)."""
    saved = os.environ.get("AUGTUNE_SYNTHETIC")
    os.environ["AUGTUNE_SYNTHETIC"] = "40x24x8"
    try:
        return zerogpu.estimate_seconds({**TINY, **settings})
    finally:
        os.environ.pop("AUGTUNE_SYNTHETIC") if saved is None else os.environ.__setitem__("AUGTUNE_SYNTHETIC", saved)


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_the_space_reports_its_gpu_function_at_launch(space, api):
    # spaces sends the start-up report only when a function was decorated before launch().
    assert api.called("/startup-report"), space.log()


def test_a_run_trains_in_a_fork_and_streams_its_rows(space, api):
    schedules_before = len(api.called("/schedule"))
    session = space.start(epochs=3, label="zerogpu")
    # Streaming: a row arrives while the fork still trains (each batch takes BATCH_DELAY_S there).
    streaming = space.wait_until(session, lambda snap: snap["rows"] or snap["status"] in ("done", "failed"), "a first row")
    assert streaming["status"] == "running" and 1 <= len(streaming["rows"]) < 3, streaming
    done = space.wait_until(session, lambda snap: snap["status"] not in ("queued", "running"), "the end of the run")
    assert done["status"] == "done", (done["error"], space.log())
    assert [row["epoch"] for row in done["rows"]] == [1, 2, 3]
    assert done["result"]["config"]["label"] == "zerogpu" and "model.pt" in done["files"]

    # The fork: train() ran in the process spaces forked and allowed, not in the server.
    (schedule,) = api.called("/schedule")[schedules_before:]
    (allowed,) = [call for call in api.called("/allow") if call["allowToken"] == schedule["allowToken"]]
    fork_pid = int(allowed["pid"])
    assert fork_pid != space.process.pid
    (started,) = [record for record in space.records("train") if record["event"] == "start" and record["config"]["label"] == "zerogpu"]
    assert started["pid"] == fork_pid
    assert any(record["pid"] == fork_pid and record["uuid"] == "GPU-fake-0" for record in space.records("cuda_init"))
    # Pickling: the arguments reached the fork whole, and its yields came back as the rows above.
    assert started["config"]["epochs"] == 3 and started["config"]["image_size"] == 32
    # The visitor's token went along (the request's context), with the run's estimated duration.
    assert schedule["token"] == TOKEN and schedule["tokenVersion"] == "2"
    assert schedule["cgroupPath"] == "/zerogpu-test"
    assert int(schedule["durationSeconds"]) == estimate(epochs=3)
    # The lease went back, as a success.
    assert {"allowToken": schedule["allowToken"], "fail": "false"} in api.called("/release"), api.calls
    # No children: nothing in the fork started a process, and none hangs off it now.
    assert [record for record in space.records("children") if record["pid"] == fork_pid] == []
    assert children_of(fork_pid) == []


def test_cancel_closes_the_generator_and_stops_the_training_at_the_next_batch(space, api):
    session = space.start(epochs=50, label="cancelled")
    space.wait_until(session, lambda snap: snap["progress"].get("batch", 0) >= 2 or snap["status"] != "running", "batch 2")
    asked = time.monotonic()
    space.client.predict(session, api_name="/finetune_cancel")
    ended = space.wait_until(session, lambda snap: snap["status"] not in ("running", "cancelling"), "the cancel")
    assert ended["status"] == "cancelled", ended
    assert time.monotonic() - asked < 15
    records = [record for record in space.records("train") if record["pid"] == records_pid(space, "cancelled")]
    events = [record["event"] for record in records]
    assert "stop seen" in events and events[-1] == "raised" and records[-1]["error"] == "Cancelled", events
    # After the stop flag was set no batch trained: train() stopped at the check before its next batch.
    assert events[events.index("stop seen") + 1 :] == ["raised"], events
    assert [record for record in space.records("children") if record["pid"] == records[0]["pid"]] == []


def records_pid(space: ZeroGpuSpace, label: str) -> int:
    (started,) = [r for r in space.records("train") if r["event"] == "start" and r["config"]["label"] == label]
    return started["pid"]


def test_a_spent_quota_ends_the_run_with_one_sentence(space, api):
    api.quota_left = 12
    try:
        session = space.start(epochs=2, label="no quota")
        ended = space.wait_until(session, lambda snap: snap["status"] not in ("queued", "running"), "the refusal")
    finally:
        api.quota_left = None
    asked = estimate(epochs=2)
    assert ended["status"] == "failed"
    assert ended["error"] == (
        f"ZeroGPU's quota does not cover this run ({asked} s of GPU time asked for, 12 s left); try again in "
        "1:02:03, sign in to Hugging Face for a larger quota, or choose fewer epochs or a smaller image size."
    )
    assert engine_text(ended["error"], "zh-CN").startswith("ZeroGPU 配额不足以完成本次训练（申请")
    assert "Traceback" not in ended["error"]
    assert not [r for r in space.records("train") if r["event"] == "start" and r["config"]["label"] == "no quota"]


def test_a_fork_killed_mid_run_ends_the_run_with_one_sentence(space, api):
    # What ZeroGPU does when a run outlives the GPU time it asked for: the fork is gone.
    schedules = len(api.called("/schedule"))
    session = space.start(epochs=50, label="killed")
    space.wait_until(session, lambda snap: snap["progress"].get("batch", 0) >= 1 or snap["status"] != "running", "batch 1")
    (schedule,) = api.called("/schedule")[schedules:]
    (allowed,) = [call for call in api.called("/allow") if call["allowToken"] == schedule["allowToken"]]
    os.kill(int(allowed["pid"]), signal.SIGKILL)
    ended = space.wait_until(session, lambda snap: snap["status"] not in ("running", "cancelling"), "the end")
    assert ended["status"] == "failed"
    assert ended["error"] == (
        f"ZeroGPU took the GPU back before the run ended (it had asked for {schedule['durationSeconds']} s); "
        "choose fewer epochs or a smaller image size."
    )
    assert {"allowToken": schedule["allowToken"], "fail": "true"} in api.called("/release")


def test_bad_data_ends_the_run_before_a_gpu_is_asked_for(space, api):
    schedules = len(api.called("/schedule"))
    session = space.start(data="no-such-folder", label="bad data")
    ended = space.wait_until(session, lambda snap: snap["status"] not in ("queued", "running"), "the refusal")
    assert ended["status"] == "failed"
    assert ended["error"] == "There is no data folder or .zip file called 'no-such-folder' in the data folder."
    assert len(api.called("/schedule")) == schedules  # no visitor's GPU time spent on it


def test_failure_sentences_for_what_spaces_raises():
    class SpacesError(Exception):  # what spaces raises: a gr.Error with a title
        def __init__(self, title: str, message: str) -> None:
            super().__init__(message)
            self.title, self.message = title, message

    cases = {
        ("ZeroGPU illegal duration", "The requested GPU duration (900s) is larger than the maximum allowed"):
            "This run would need about 900 s of ZeroGPU time, more than ZeroGPU lends at once; choose fewer epochs or a smaller image size.",
        ("ZeroGPU quota exceeded", "No GPU was available after 60s. Try re-running outside of examples"):
            "No ZeroGPU GPU became free in time; try again in a minute.",
        ("ZeroGPU quota exceeded", "Space app has reached its GPU limit. Try re-running outside of examples"):
            "ZeroGPU's quota does not cover this run (40 s of GPU time asked for); try again later, sign in to "
            "Hugging Face for a larger quota, or choose fewer epochs or a smaller image size.",
        ("ZeroGPU worker error", "GPU task aborted"):
            "ZeroGPU took the GPU back before the run ended (it had asked for 40 s); choose fewer epochs or a smaller image size.",
    }
    for (title, message), sentence in cases.items():
        assert zerogpu.failure_sentence(SpacesError(title, message), 40) == sentence
        assert engine_text(sentence, "zh-CN") != sentence  # translated
    assert zerogpu.failure_sentence(RuntimeError("ZeroGPU API /schedule error: 500\nmore"), 40) == (
        "ZeroGPU could not lend a GPU for this run (ZeroGPU API /schedule error: 500 more)."
    )
