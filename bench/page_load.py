"""A class opens the page at once: N clients each fetch the page, which carries its first grid (the bundled cat,
the lesson's combined pipeline, seed 0) in every language, at the same moment. Prints how long the last page
waited and the server's CPU per page; asserts nothing.

    python bench/page_load.py              # 50 pages
    python bench/page_load.py --pages 20

Uses bench/load.py's server. Each page must hold the first grid's tiles and original in both languages, as
JPEGs. What a browser fetches besides (Gradio's scripts, styles and fonts) are static files, the same for
every page. A page once asked for its first grid with a load event: 50 at once took 1.9 s, 35 ms of CPU a
grid (2026-11-28).
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402 - bench/load.py, beside this file

# In the page's JSON, a picture's data URL ends at its attribute's escaped quote.
PICTURE = re.compile(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)")
PICTURES_A_PAGE = 2 * (8 + 1)  # in each language: 8 tiles and the original


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=50)
    args = parser.parse_args()
    if not 1 <= args.pages <= 200:
        parser.error("pages 1..200")

    server = load.Server(Path(tempfile.mkdtemp(prefix="augtune-pages-")), "48x60x20", 7200)
    try:
        urllib.request.urlopen(server.url, timeout=60).read()
        waits: list[float] = []
        errors: list[str] = []
        ready = threading.Barrier(args.pages + 1)  # every client waiting, then all at once

        def open_page(index: int) -> None:
            ready.wait()
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(server.url, timeout=60) as response:
                    pictures = PICTURE.findall(response.read().decode())
                if len(pictures) != PICTURES_A_PAGE:
                    raise RuntimeError(f"{len(pictures)} pictures instead of {PICTURES_A_PAGE}")
                if not all(base64.b64decode(picture).startswith(b"\xff\xd8") for picture in pictures):
                    raise RuntimeError("a picture is not a JPEG")
                waits.append(time.perf_counter() - started)
            except Exception as error:  # noqa: BLE001 - counted and shown
                errors.append(f"page {index}: {type(error).__name__}: {error}"[:200])

        threads = [threading.Thread(target=open_page, args=(i,)) for i in range(args.pages)]
        for thread in threads:
            thread.start()
        cpu = server.cpu_s()
        ready.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        print("| pages | errors | all served | p50 | p95 | max | server CPU per page |")
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
