"""Issue 12's server-side speed targets, on one warm server: what a student waits for in Chromium, and
/augment through gradio_client. Prints medians; asserts nothing.

    python bench/slider.py                    # all three
    python bench/slider.py --only api         # or: page, slider

  page    a page opened on a warm server: navigation start -> first grid painted (every tile decoded),
          in a fresh browser context each time (target: <= 1.5 s)
  slider  a slider released (a real click on its track) -> the new grid painted (target: <= 200 ms median);
          the first moves are reported apart from the rest
  api     /augment round trips, 16 tiles of the cat, download_files=False (target: p50 <= 150 ms): the cat
          uploaded with every call (handle_file) and the bundled cat (image None); then --clients clients
          asking back to back (grids/s, p50, p95)

The app runs as bench/load.py runs it (a subprocess on a free port, its own temp folders), grid workers up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402 - bench/load.py, beside this file

CHROMIUM = "/usr/bin/chromium"
TILES = "#augtune-grid .augtune-tile img"
CAT = load.ROOT / "assets" / "cat.png"

# Resolves at the first animation frame in which the grid's tiles differ from `before` and all are
# decoded: that frame is the one painted next.
PAINTED_JS = f"""before => new Promise((resolve, reject) => {{
    const gives_up = performance.now() + 30000;
    const check = () => {{
        if (performance.now() > gives_up) return reject(new Error('no new grid within 30 s'));
        const tiles = [...document.querySelectorAll({TILES!r})];
        const now = JSON.stringify(tiles.map(tile => tile.alt));
        if (tiles.length && now !== before && tiles.every(tile => tile.complete && tile.naturalWidth > 0)) {{
            resolve(performance.now());
        }} else requestAnimationFrame(check);
    }};
    requestAnimationFrame(check);
}})"""


def alts(page) -> str:
    return page.evaluate(f"JSON.stringify([...document.querySelectorAll({TILES!r})].map(tile => tile.alt))")


def first_grid(browser, url: str) -> float:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    try:
        page = context.new_page()
        page.goto(url, wait_until="commit")
        painted = page.evaluate(PAINTED_JS, "[]")
        return painted / 1000  # performance.now() counts from navigation start
    finally:
        context.close()


def slider_moves(browser, url: str, moves: int) -> list[float]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    try:
        page = context.new_page()
        page.goto(url)
        page.evaluate(PAINTED_JS, "[]")
        track = page.locator("#augtune-brightness input[type=range]")
        track.scroll_into_view_if_needed()
        box = track.bounding_box()
        times = []
        for move in range(moves):
            before = alts(page)
            share = 0.1 + 0.8 * ((move * 7919) % 97) / 97  # somewhere new on the track each time
            x, y = box["x"] + box["width"] * share, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            # The watcher runs before the click; awaited after it.
            page.evaluate(f"before => {{ window.augtunePainted = ({PAINTED_JS})(before); }}", before)
            started = page.evaluate("performance.now()")
            page.mouse.down()
            page.mouse.up()
            painted = page.evaluate("window.augtunePainted")
            times.append((painted - started) / 1000)
            time.sleep(0.3)
        return times
    finally:
        context.close()


def api_round_trips(url: str, repeats: int) -> dict[str, list[float]]:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, download_files=False, ssl_verify=load.TLS)
    results = {}
    for label, image in (("cat uploaded each call", lambda: handle_file(str(CAT))), ("bundled cat (image None)", lambda: None)):
        times = []
        for index in range(repeats + 2):
            started = time.perf_counter()
            client.predict(image(), "", 16, index, api_name="/augment")
            times.append(time.perf_counter() - started)
        results[label] = times[2:]
    return results


def api_crowd(url: str, clients: int, calls: int) -> tuple[float, list[float], int]:
    from gradio_client import Client, handle_file

    connected = [Client(url, verbose=False, download_files=False, ssl_verify=load.TLS) for _ in range(clients)]
    times: list[float] = []
    errors = []
    lock = threading.Lock()

    def ask(client, number: int) -> None:
        for call in range(calls):
            started = time.perf_counter()
            try:
                client.predict(handle_file(str(CAT)), "", 16, number * 1000 + call, api_name="/augment")
                with lock:
                    times.append(time.perf_counter() - started)
            except Exception as error:  # noqa: BLE001 - counted
                errors.append(error)

    threads = [threading.Thread(target=ask, args=(client, number)) for number, client in enumerate(connected)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, times, len(errors)


def ms(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1000:.0f} ms, p95 {load.percentile(values, 0.95) * 1000:.0f} ms, "
            f"min {min(values) * 1000:.0f} ms (n={len(values)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("page", "slider", "api"), action="append")
    parser.add_argument("--pages", type=int, default=7)
    parser.add_argument("--moves", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--calls", type=int, default=4, help="calls per client in the crowd")
    args = parser.parse_args()
    parts = args.only or ["page", "slider", "api"]
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    server = load.Server(Path(tempfile.mkdtemp(prefix="augtune-slider-")), "48x60x20", 7200)
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                 args=["--headless", "--no-sandbox", "--disable-gpu"])
            if "slider" in parts:
                # The first moves after the server starts, then warm ones.
                times = slider_moves(browser, server.url, args.moves)
                print(f"slider release -> grid painted, first 3 moves after start: "
                      + ", ".join(f"{t * 1000:.0f}" for t in times[:3]) + " ms")
                times = slider_moves(browser, server.url, args.moves)
                print(f"slider release -> grid painted, warm: {ms(times)}")
            if "page" in parts:
                first_grid(browser, server.url)  # warms the server's page and grid caches
                times = [first_grid(browser, server.url) for _ in range(args.pages)]
                print(f"page opened -> first grid painted, warm server: {ms(times)}")
            browser.close()
        if "api" in parts:
            cpu = server.cpu_s()
            for label, times in api_round_trips(server.url, args.repeats).items():
                print(f"/augment, 16 tiles, {label}: {ms(times)}")
            print(f"  server CPU per call: {(server.cpu_s() - cpu) / (2 * (args.repeats + 2)) * 1000:.0f} ms")
            wall, times, errors = api_crowd(server.url, args.clients, args.calls)
            print(f"/augment, {args.clients} clients x {args.calls} back to back: {len(times) / wall:.1f} grids/s, "
                  f"{ms(times)}, errors {errors}")
        print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
