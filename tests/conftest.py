"""Shared fixtures: the app launched as a real server, and Debian's Chromium driven by Playwright.

In CI (CI=true) a skipped test is a failed test: nothing we claim to test may silently not run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure: {report.longrepr}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """`python app.py` (or another server script) in a subprocess on 127.0.0.1, with its own temp, data and
    torch-cache dirs, in a process group of its own that stop() ends whole: children a server leaves behind
    (spaces' forks on ZeroGPU) go with it."""

    def __init__(self, tmp: Path, extra_env: dict[str, str] | None = None, script: Path = ROOT / "app.py",
                 up_timeout: float = 120.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.tmp = tmp
        for name in ("gradio_tmp", "data", "torch_home", "runs"):
            (tmp / name).mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_TEMP_DIR": str(tmp / "gradio_tmp"),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "AUGTUNE_DATA_ROOT": str(tmp / "data"),
            "AUGTUNE_RUNS_DIR": str(tmp / "runs"),
            "TORCH_HOME": str(tmp / "torch_home"),
            "AUGTUNE_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.log_path = tmp / "server.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, str(script)], cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until_up(up_timeout)

    def _wait_until_up(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"app.py did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """One app for the whole test session (launching one costs several seconds)."""
    server = AppServer(tmp_path_factory.mktemp("app"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def client(app_server):
    from gradio_client import Client

    return Client(app_server.url, verbose=False)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (the browser tests need it)")
    if shutil.which("chromium") is None:
        pytest.fail("chromium is not on PATH")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def detailed_12mp():
    return detailed_mosaic()


def detailed_mosaic():
    """A 4032 x 3024 picture with detail at every scale: the bundled photos at their own size, side by side. A tile
    squeezes thousands of their pixels into each of its own."""
    from PIL import Image

    from augtune import load_image

    photos = [load_image(ROOT / "assets" / name) for name in ("astronaut.png", "cat.png", "coffee.png", "rocket.jpg")]
    mosaic = Image.new("RGB", (4032, 3024))
    for index, (y, x) in enumerate((y, x) for y in range(0, 3024, 300) for x in range(0, 4032, 450)):
        mosaic.paste(photos[index % 4].crop((0, 0, 450, 300)), (x, y))
    return mosaic
