"""README's Fine-tune screenshot, from a real run: the app offline (so the tab preselects the built-in backbone),
the Fine-tune tab's defaults with 8 epochs, **Run the lesson's comparison** (augmentation on vs off, fine-tuned vs
scratch: 4 runs, about 5 minutes on 2 CPU cores), then a picture of the tab once every run has finished.

    python bench/screenshot_finetune.py [--epochs 8] [--out docs/screenshot-finetune.png]

Needs Chromium at /usr/bin/chromium (as the browser tests do). Prints every run's final accuracies.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, AppServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot-finetune.png"))
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        server = AppServer(Path(tmp))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
                page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
                page.goto(server.url)
                page.get_by_role("tab", name="Fine-tune").click()
                expect(page.locator("#ft-model input[value=builtin]")).to_be_checked()
                page.locator("#ft-epochs input").fill(str(args.epochs))
                page.locator("#ft-epochs input").press("Tab")
                started = time.perf_counter()
                page.locator("#ft-compare").click()
                # Every run done: a "Finished" line for each of the comparison's 4 runs (2 with a model from scratch).
                runs = 2 if page.locator("#ft-model input[value=scratch]").is_checked() else 4
                page.wait_for_function(
                    f"() => (document.querySelector('#ft-status').innerText.match(/Finished/g) || []).length >= {runs}",
                    timeout=1_800_000)
                print(f"comparison finished in {time.perf_counter() - started:.0f} s")
                page.locator("#ft-results-panel").get_by_text("After training").click()
                time.sleep(3)  # the plot and the result images load
                print(page.locator("#ft-status").inner_text())
                page.screenshot(path=args.out, full_page=True)
                print(f"wrote {args.out}")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
