"""Grids drawn in worker processes: the same grids as drawn in the server, a picture sent once per worker,
and no error for anyone when a worker dies, lost a picture, or is not up yet."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from PIL import Image

from augtune import AugSpec
from augtune.service import explore_html, grid_workers
from augtune.service import pictures as service_pictures
from augtune.service.grid_workers import RESTART_WINDOW_S, GridWorkers, restart_delay

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _picture(seed: int, size=(320, 240), original_size=None) -> tuple[Image.Image, str]:
    picture = Image.effect_mandelbrot(size, (-2 + seed / 10, -1.2, 1, 1.2), 60).convert("RGB")
    picture = Image.merge("RGB", (picture.getchannel(0), picture.rotate(90 * seed).getchannel(1),
                                  Image.linear_gradient("L").resize(size)))
    if original_size:
        picture.info["original_size"] = original_size
    return picture, f"test-picture-{seed}-{size}-{original_size}"


@pytest.fixture(scope="module")
def workers():
    pool = GridWorkers(2, explore_html.render_grid, picture_bytes=256 * 2**20)
    assert pool.wait_until_ready(), "the grid workers did not start"
    yield pool
    pool.close()


def _pids(pool: GridWorkers) -> list[int]:
    with pool._changed:
        return [worker.process.pid for worker in pool._idle]


def test_a_worker_draws_exactly_the_grid_the_server_would(workers):
    """The server draws a grid's tiles on threads, a worker in its one thread: the same tiles either way."""
    cat = service_pictures.images.get(service_pictures.DEFAULT_IMAGE)
    reduced, digest = _picture(1, original_size=(1280, 960))  # a reduced copy: boxes in the photo's pixels
    steps = AugSpec.from_dict({"steps": [{"op": "RandomRotation", "degrees": 30}, {"op": "ColorJitter", "hue": 0.2},
                                         {"op": "RandomResizedCrop", "size": 96}], "samples": 6, "seed": 5})
    for picture, key in ((cat, cat.info[service_pictures.DIGEST_KEY]), (reduced, digest)):
        for spec, locale in ((AugSpec(samples=8, seed=3), "en"), (AugSpec(samples=5, hue=0.3, seed=11), "zh"),
                             (steps, "en")):
            assert workers.render(picture, key, spec, locale) == explore_html.render_grid(picture, spec, locale)


def test_a_picture_goes_to_a_worker_once(workers, monkeypatch):
    sent = []
    real_payload = grid_workers._payload
    monkeypatch.setattr(grid_workers, "_payload", lambda image: sent.append(image) or real_payload(image))
    picture, digest = _picture(2)
    for seed in range(6):
        workers.render(picture, digest, AugSpec(samples=2, seed=seed), "en")
    # one grid at a time goes to an idle worker that holds the picture: the first one that got it
    assert len(sent) == 1
    assert sum(digest in worker.pictures for worker in workers._idle) == 1


def test_pictures_asked_for_at_once_each_stay_with_one_worker(workers, monkeypatch):
    """Two students at once, each with a photo: without waiting for the worker that holds a photo, the one
    that happened to be idle got it too, and both workers kept sending, shrinking and encoding every photo."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(grid_workers, "HOLDER_WAIT_S", 60.0)  # a slow machine's grid must not end the wait
    sent = []
    real_payload = grid_workers._payload
    monkeypatch.setattr(grid_workers, "_payload", lambda image: sent.append(image) or real_payload(image))
    students = [_picture(seed, size=(640, 480)) for seed in (5, 6)]

    def student(index: int) -> None:
        picture, digest = students[index % 2]
        workers.render(picture, digest, AugSpec(samples=8, seed=index), "en")

    student(0), student(1)  # each photo's first grid, one after the other: each goes to one worker
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(student, range(2, 26)))
    with workers._changed:
        holding = [sum(digest in worker.pictures for worker in workers._idle) for _, digest in students]
    assert holding == [1, 1]
    assert len(sent) == 2


def test_a_worker_that_dropped_a_picture_is_sent_it_again():
    pool = GridWorkers(1, explore_html.render_grid, picture_bytes=1)  # room for one picture at a time
    try:
        assert pool.wait_until_ready()
        first, first_digest = _picture(3)
        second, second_digest = _picture(4)
        spec = AugSpec(samples=3, seed=5)
        pool.render(first, first_digest, spec, "en")
        pool.render(second, second_digest, spec, "en")  # the worker drops the first picture for it
        assert first_digest in pool._idle[0].pictures  # the server does not know
        assert pool.render(first, first_digest, spec, "en") == explore_html.render_grid(first, spec, "en")
    finally:
        pool.close()


def test_the_workers_sentence_reaches_the_server_and_the_worker_lives_on(workers):
    grey = Image.new("L", (64, 48), 128)
    with pytest.raises(ValueError, match="sample_grid needs an RGB image, got mode L"):
        workers.render(grey, "a grey picture", AugSpec(samples=2), "en")
    picture, digest = _picture(5)
    assert workers.render(picture, digest, AugSpec(samples=2), "en") == explore_html.render_grid(picture, AugSpec(samples=2), "en")
    assert workers.ready == 2


def test_a_grid_past_the_time_limit_gets_a_sentence_and_is_not_drawn_again_in_the_server(monkeypatch):
    """A pipeline too slow for the picture (GaussianNoise on a 12-MP photo: 18 s a grid) must not be drawn a second
    time, without a limit, in the process that serves the class: the student gets a sentence in the page's language,
    and the worker is replaced."""
    pool = GridWorkers(1, explore_html.render_grid, picture_bytes=256 * 2**20)
    drawn_here = []
    monkeypatch.setattr(pool, "_draw", lambda *args: drawn_here.append(args))
    try:
        assert pool.wait_until_ready()
        picture, digest = _picture(8, size=(1600, 1200))
        slow = AugSpec.from_dict({"steps": [{"op": "GaussianNoise"}], "samples": 16, "seed": 1})
        monkeypatch.setattr(grid_workers, "ANSWER_TIMEOUT_S", 0.2)
        for locale, sentence in (("en", "took more than 0.2 s on this picture"), ("zh-CN", "超过了 0.2 秒")):
            with pytest.raises(ValueError, match=sentence):
                pool.render(picture, digest, slow, locale)
            assert pool.wait_until_ready(), "no new worker took the stopped one's place"
        assert drawn_here == []
        monkeypatch.setattr(grid_workers, "ANSWER_TIMEOUT_S", 60.0)
        spec = AugSpec(samples=2, seed=4)
        assert pool.render(picture, digest, spec, "en") == explore_html.render_grid(picture, spec, "en")
    finally:
        pool.close()


def test_killed_workers_cost_nobody_an_error_and_are_replaced():
    pool = GridWorkers(2, explore_html.render_grid, picture_bytes=64 * 2**20)
    try:
        assert pool.wait_until_ready()
        killed = _pids(pool)
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        picture, digest = _picture(6)
        spec = AugSpec(samples=4, seed=9)
        for _ in range(3):  # each dead worker is found out by the grid that goes to it, drawn here instead
            assert pool.render(picture, digest, spec, "en") == explore_html.render_grid(picture, spec, "en")
        assert pool.wait_until_ready(), "no new worker took the dead ones' place"
        assert not set(_pids(pool)) & set(killed)
        assert pool.render(picture, digest, spec, "en") == explore_html.render_grid(picture, spec, "en")
    finally:
        pool.close()


def test_without_workers_up_the_server_draws_the_grid_itself():
    pool = GridWorkers(0, explore_html.render_grid, picture_bytes=1)
    picture, digest = _picture(7)
    assert pool.render(picture, digest, AugSpec(samples=2), "en") == explore_html.render_grid(picture, AugSpec(samples=2), "en")
    pool.close()


def test_workers_die_with_their_server():
    """A server killed outright runs no cleanup; its workers must still not live on (each holds ~0.8 GB)."""
    script = textwrap.dedent("""
        import os, sys
        sys.path.insert(0, sys.argv[1])
        from augtune.service import explore_html
        from augtune.service.grid_workers import GridWorkers
        pool = GridWorkers(2, explore_html.render_grid, picture_bytes=2**20)
        assert pool.wait_until_ready()
        print("pids " + " ".join(str(worker.process.pid) for worker in pool._idle), flush=True)  # one piece
        os.kill(os.getpid(), 9)
    """)
    done = subprocess.run([sys.executable, "-c", script, ROOT], capture_output=True, text=True, timeout=300)
    # the pool prints its own "drawing" line from another thread: it may even land inside this one's
    pids = [int(pid) for pid in re.findall(r"pids ((?:\d+ ?)+)", done.stdout)[0].split()] if "pids " in done.stdout else []
    assert len(pids) == 2, done.stderr
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_workers_pictures_stay_within_their_budget_and_leave_when_idle():
    size_of = service_pictures.image_bytes
    one = size_of(Image.new("RGB", (64, 64)))
    pictures = service_pictures.Pictures(max_bytes=2 * one, idle_s=3600, size_of=size_of)
    for name in "abc":
        pictures.put(name, Image.new("RGB", (64, 64)))
    assert pictures.get("a") is None and pictures.get("b") is not None and pictures.get("c") is not None
    pictures.idle_s = 0
    time.sleep(0.01)
    assert pictures.expire() == 2
    assert pictures.get("b") is None and pictures.size_bytes == 0


def test_a_worker_that_keeps_dying_is_replaced_only_once_a_minute():
    assert restart_delay([100.0], now=100.0) == 0
    assert restart_delay([99.0, 100.0], now=100.0) == 0  # both workers of a 2-core server, killed at once
    assert restart_delay([98.0, 99.0, 100.0], now=100.0) == RESTART_WINDOW_S
    assert restart_delay([10.0, 20.0, 100.0], now=100.0) == 0  # long apart: bad luck, not a crash loop
