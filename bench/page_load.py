"""A class opens the page at once: N browsers each ask for the default grid (the bundled cat, the lesson's
combined pipeline, seed 0) at the same moment. Prints how long the last page waited and the server's CPU per
grid; asserts nothing.

    python bench/page_load.py              # 50 pages
    python bench/page_load.py --pages 20

Uses bench/load.py's server and students (the tab's own events; tiles and original checked as JPEGs).
Every page is connected before the clock starts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402 - bench/load.py, beside this file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=50)
    args = parser.parse_args()
    if not 1 <= args.pages <= 200:
        parser.error("pages 1..200")
    from gradio_client import Client

    from augtune.spec import AugSpec
    from augtune.service.explore_form import widgets_from_spec

    server = load.Server(Path(tempfile.mkdtemp(prefix="augtune-pages-")), "48x60x20", 7200)
    try:
        tabs: list = [None] * args.pages

        def connect(index: int) -> None:
            tabs[index] = load.ExploreTab(Client(server.url, verbose=False, download_files=False, ssl_verify=load.TLS))

        threads = [threading.Thread(target=connect, args=(i,)) for i in range(args.pages)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        defaults = AugSpec()
        waits: list[float] = []
        errors: list[str] = []

        def open_page(index: int) -> None:
            started = time.perf_counter()
            try:
                load.check_grid(tabs[index].grid(widgets_from_spec(defaults)), defaults.samples)
                waits.append(time.perf_counter() - started)
            except Exception as error:  # noqa: BLE001 - counted and shown
                errors.append(f"page {index}: {type(error).__name__}: {error}"[:200])

        cpu, started = server.cpu_s(), time.perf_counter()
        threads = [threading.Thread(target=open_page, args=(i,)) for i in range(args.pages)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        print("| pages | errors | all served | p50 | p95 | max | server CPU per grid |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {args.pages} | {len(errors)} | {wall:.1f} s | {load.percentile(waits, 0.5):.2f} s | "
              f"{load.percentile(waits, 0.95):.2f} s | {max(waits, default=float('nan')):.2f} s | "
              f"{(server.cpu_s() - cpu) / args.pages * 1000:.0f} ms |")
        for error in errors[:5]:
            print(f"  error: {error}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
