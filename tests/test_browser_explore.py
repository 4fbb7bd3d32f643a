"""The Explore tab in a real browser (Debian's Chromium through Playwright) against the launched app."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "screenshot-explore.png"
TILES = "#augtune-grid .augtune-tile img"
WAIT_MS = 30_000


def open_explore(page, url: str, tiles: int = 8) -> None:
    page.goto(url)
    wait_for_tiles(page, tiles)
    # The page carries its first grid; wait for the rest of it (its status line).
    page.wait_for_function(f"document.querySelector({STATUS_TEXT!r})?.innerText.trim()", timeout=WAIT_MS)


def wait_for_tiles(page, count: int) -> None:
    page.wait_for_function(
        f"document.querySelectorAll({TILES!r}).length === {count}"
        f" && [...document.querySelectorAll({TILES!r})].every(img => img.complete && img.naturalWidth > 0)",
        timeout=WAIT_MS,
    )


def captions(page) -> list[str]:
    return page.locator(TILES).evaluate_all("images => images.map(image => image.alt)")


def wait_for_new_captions(page, before: list[str]) -> list[str]:
    page.wait_for_function(
        f"""before => {{
            const now = [...document.querySelectorAll({TILES!r})].map(image => image.alt);
            return now.length > 0 && JSON.stringify(now) !== JSON.stringify(before);
        }}""",
        arg=before,
        timeout=WAIT_MS,
    )
    return captions(page)


# The status line's own words. Not the whole #augtune-status: Gradio keeps its progress trackers in there ("0.1s",
# "processing | 0.1/0.1s"), in its innerText even where shown at opacity 0 (show_progress="hidden"): a page load
# event's once made test_default_grid_... read "0.1s\n\n8 samples".
STATUS_TEXT = "#augtune-status [data-testid=markdown]"


def status(page) -> str:
    return page.inner_text(STATUS_TEXT).strip()


def wait_for_status(page, text: str) -> None:
    page.wait_for_function(
        f"document.querySelector({STATUS_TEXT!r})?.innerText.includes({text!r})", timeout=WAIT_MS
    )


def set_number(page, elem_id: str, value: str) -> None:
    """Type into a slider's or number's box and leave it, as a user does (a slider applies on release)."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(value)
    box.press("Tab")


def code_text(page) -> str:
    return page.locator("#augtune-code .cm-content").inner_text()


def test_default_grid_shows_the_lesson_pipeline_on_the_cat(page, app_server):
    open_explore(page, app_server.url)
    labels = captions(page)
    assert [label.split(" · ")[0] for label in labels] == [f"#{number}" for number in range(1, 9)]
    assert all("crop (" in label and "brightness ×" in label for label in labels)
    assert status(page) == "8 samples of the 451 × 300 image · seed 0"
    assert page.locator("#augtune-original img").count() == 1
    assert page.locator("#augtune-legend li").count() == 8
    if os.environ.get("AUGTUNE_SCREENSHOTS") == "1":
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        with Image.open(SCREENSHOT) as shot:  # a palette PNG keeps the README's picture small
            shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(SCREENSHOT, optimize=True)
        assert SCREENSHOT.stat().st_size < 500_000


def test_sliders_and_seed_change_the_grid_and_bad_values_keep_it(page, app_server):
    open_explore(page, app_server.url)
    set_number(page, "augtune-samples", "5")
    wait_for_tiles(page, 5)
    before = captions(page)
    set_number(page, "augtune-seed", "7")
    after = wait_for_new_captions(page, before)
    assert len(after) == 5 and after != before
    wait_for_status(page, "seed 7")

    set_number(page, "augtune-ratio_min", "5")
    wait_for_status(page, "⚠")
    assert status(page) == "⚠ Aspect ratio min (5) must not be larger than Aspect ratio max (2)."
    assert captions(page) == after, "the grid keeps its last good result"

    set_number(page, "augtune-ratio_min", "0.5")
    set_number(page, "augtune-brightness", "0")
    fresh = wait_for_new_captions(page, after)
    assert not any("brightness" in label for label in fresh)
    assert "⚠" not in status(page)


def test_uploading_an_image_and_picking_an_example(page, app_server, tmp_path):
    height, width = 200, 300
    y, x = np.mgrid[0:height, 0:width]
    picture = tmp_path / "stripes.png"
    Image.fromarray(np.stack([x % 256, y, 255 - x % 256], axis=-1).astype(np.uint8)).save(picture)
    open_explore(page, app_server.url)
    before = captions(page)
    page.locator("#augtune-upload input[type=file]").set_input_files(str(picture))
    wait_for_status(page, "300 × 200")
    after = wait_for_new_captions(page, before)
    assert len(after) == 8

    page.locator("#augtune-examples button.thumbnail-item").nth(3).click()  # rocket.jpg
    with Image.open(ROOT / "assets" / "rocket.jpg") as rocket:
        wait_for_status(page, f"{rocket.width} × {rocket.height}")

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("these are lecture notes, not a picture")
    page.locator("#augtune-upload input[type=file]").set_input_files(str(not_an_image))
    wait_for_status(page, "not an image augtune can read")


def test_code_panel_shows_code_that_runs(page, app_server):
    open_explore(page, app_server.url)
    image = Image.new("RGB", (320, 240), (30, 160, 90))
    namespace: dict = {}
    exec(code_text(page), namespace)
    assert namespace["augment"](image).size == (200, 200)

    before = code_text(page)
    page.click("#augtune-preset-hotdog_test")
    page.wait_for_function(
        "document.querySelector('#augtune-code .cm-content').innerText.includes('CenterCrop')", timeout=WAIT_MS
    )
    namespace = {}
    exec(code_text(page), namespace)
    assert code_text(page) != before
    assert namespace["augment"](image).size == (224, 224)
    assert page.locator("#augtune-crop_mode input[value=center]").is_checked()


def test_the_settings_download_holds_the_settings_on_show(page, app_server, tmp_path):
    open_explore(page, app_server.url)
    page.click("#augtune-preset-hotdog_test")
    page.wait_for_function(
        "document.querySelector('#augtune-code .cm-content').innerText.includes('CenterCrop')", timeout=WAIT_MS
    )
    with page.expect_download() as download:
        page.click("#augtune-download a")
    assert download.value.suggested_filename == "augtune-settings.json"
    saved = tmp_path / "saved.json"
    download.value.save_as(saved)
    from augtune import PRESETS, AugSpec

    assert AugSpec.from_json(saved.read_text(encoding="utf-8")) == PRESETS["hotdog_test"]


def test_a_click_shows_the_original_full_screen(page, app_server):
    open_explore(page, app_server.url)
    picture = page.locator("#augtune-original img")
    assert picture.evaluate("image => image.complete && image.naturalWidth") == 451
    assert page.locator("#augtune-original svg polygon").count() == 8  # the crop boxes, drawn over it
    picture.click()
    # The picture goes full screen with its boxes (the figure holding both).
    page.wait_for_function("document.fullscreenElement?.matches('#augtune-original figure')"
                           " && document.fullscreenElement.querySelectorAll('polygon').length === 8", timeout=WAIT_MS)
    picture.click()  # (headless Chromium has no Esc key of its own for full screen)
    page.wait_for_function("document.fullscreenElement === null", timeout=WAIT_MS)


def test_histograms_are_drawn_on_demand(page, app_server):
    open_explore(page, app_server.url)
    page.get_by_text("Distributions of the sampled values").click()  # opening the panel draws them
    page.wait_for_selector("#augtune-histograms img", timeout=WAIT_MS)
    natural_size = "image => [image.naturalWidth, image.naturalHeight]"
    image = page.locator("#augtune-histograms img")
    assert image.evaluate(natural_size) == [1134, 810], "7 panels: 3 columns, 3 rows of 4.2 x 3 inches at 90 dpi"
    first = image.get_attribute("src")
    page.click("#augtune-preset-brightness")
    page.wait_for_function("!document.querySelector('#augtune-code .cm-content').innerText.includes('Crop')")
    page.click("#augtune-draw-histograms")
    page.wait_for_function(
        f"""(() => {{
            const image = document.querySelector('#augtune-histograms img');
            return image && image.getAttribute('src') !== {first!r} && image.complete && image.naturalWidth > 0;
        }})()""",
        timeout=WAIT_MS,
    )
    assert image.evaluate(natural_size) == [378, 270], "one panel: brightness"


def test_page_in_chinese(browser, app_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    try:
        page = context.new_page()
        open_explore(page, app_server.url)
        # The first grid the page paints is in Chinese already: no English caption, not even for a moment.
        assert all("裁剪" in label and "亮度" in label for label in captions(page))
        assert "随机种子 0" in status(page) and "裁剪" in page.inner_text("#augtune-legend")
        page.wait_for_function("document.body.innerText.includes('水平翻转概率')", timeout=WAIT_MS)
        body = page.inner_text("body")
        for words in ("探索图像增广", "水平翻转概率", "亮度", "随机裁剪并缩放", "重新采样"):
            assert words in body, words
        assert all("裁剪" in label and "亮度" in label for label in captions(page))
        assert "随机种子 0" in status(page)
    finally:
        context.close()


def test_gradio_language_switch_also_switches_captions(page, app_server):
    open_explore(page, app_server.url)
    before = captions(page)
    page.get_by_text("Settings", exact=True).click()
    page.locator("input[aria-label=Language]").click()
    page.get_by_text("简体中文").click()
    page.locator("[role=dialog] button").first.click()  # the panel's close (×) button
    page.wait_for_function("document.body.innerText.includes('水平翻转概率')", timeout=WAIT_MS)
    after = wait_for_new_captions(page, before)  # the same grid said again, without a click
    assert all("裁剪" in label for label in after) and len(after) == len(before)
    wait_for_status(page, "随机种子 0")


def test_the_columns_slider_sets_the_layout_and_later_grids_keep_it(page, app_server):
    columns = "() => getComputedStyle(document.querySelector('#augtune-grid .augtune-tiles'))" \
              ".gridTemplateColumns.split(' ').length"
    open_explore(page, app_server.url)
    assert page.evaluate(columns) == 4
    set_number(page, "augtune-columns", "2")
    page.wait_for_function(f"({columns})() === 2", timeout=WAIT_MS)
    before = captions(page)
    page.click("#augtune-resample")
    wait_for_new_captions(page, before)
    assert page.evaluate(columns) == 2


def test_a_tile_opens_across_the_grid_with_its_whole_caption(page, app_server):
    open_explore(page, app_server.url)
    tiles = page.locator("#augtune-grid .augtune-tile")
    grid_width = page.locator("#augtune-grid .augtune-tiles").evaluate("grid => grid.clientWidth")
    third = tiles.nth(2)
    closed_width = third.evaluate("tile => tile.getBoundingClientRect().width")
    assert closed_width < grid_width / 3
    caption = third.locator(".augtune-tile-caption")
    assert caption.evaluate("line => line.scrollWidth > line.clientWidth"), "closed, the caption is cut to a line"
    third.click()
    assert third.get_attribute("aria-expanded") == "true"
    assert third.evaluate("tile => tile.getBoundingClientRect().width") > grid_width * 0.9
    assert caption.evaluate("line => line.scrollWidth <= line.clientWidth"), "open, it is shown whole"
    assert third.locator("img").evaluate("image => image.getBoundingClientRect().width") > closed_width * 1.5
    tiles.nth(5).click()  # opening another closes the first
    assert third.get_attribute("aria-expanded") == "false"
    assert tiles.nth(5).get_attribute("aria-expanded") == "true"
    tiles.nth(5).click()
    assert page.locator("#augtune-grid .augtune-tile[aria-expanded=true]").count() == 0


def test_a_busy_server_tells_each_waiting_page_its_place_in_line(browser, tmp_path):
    """A class at once: the grid queue is full, so the page says, politely, where its grid is in line,
    and the sentence goes once the grid has come. One grid at a time here, and four API callers keep
    asking for big grids of a big photo, so the page's request has to wait."""
    import threading

    from gradio_client import Client, handle_file

    from tests.conftest import AppServer

    photo = tmp_path / "big.jpg"
    ramp = Image.linear_gradient("L").resize((2400, 1800))
    Image.merge("RGB", (ramp, ramp.rotate(90), ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT))).save(photo)
    server = AppServer(tmp_path / "app", {"AUGTUNE_CONCURRENCY": "1"})
    stop = threading.Event()

    def keep_the_queue_full(number: int, client) -> None:
        while not stop.is_set():
            client.predict(handle_file(str(photo)), "", 64, number, api_name="/augment")

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    # Connected before the page opens (a client takes seconds to connect on a busy machine), so that
    # their grids fill the queue as soon as they start.
    clients = [Client(server.url, verbose=False, download_files=False) for _ in range(4)]
    callers = [threading.Thread(target=keep_the_queue_full, args=(n, clients[n]), daemon=True) for n in range(4)]
    try:
        page = context.new_page()
        open_explore(page, server.url)
        assert page.inner_text("#augtune-busy").strip() == ""
        before = captions(page)
        for caller in callers:
            caller.start()
        page.wait_for_timeout(3000)  # their requests are queued by now
        page.click("#augtune-resample")
        page.wait_for_function(
            "/You are number \\d+ in line; your grid is on its way/.test("
            "document.getElementById('augtune-busy').innerText)",
            timeout=WAIT_MS,
        )
        place = int(page.inner_text("#augtune-busy").split("number ")[1].split()[0])
        assert 1 <= place <= 5
        wait_for_new_captions(page, before)
        page.wait_for_function("document.getElementById('augtune-busy').innerText.trim() === ''", timeout=WAIT_MS)
        assert "seed" in status(page) and not status(page).startswith("⚠")
    finally:
        stop.set()
        for caller in callers:
            if caller.is_alive():
                caller.join(timeout=60)
        context.close()
        server.stop()


def step_titles(page) -> list[str]:
    return page.locator("#augtune-steps .prose.augtune-step-title").evaluate_all(
        "titles => titles.map(title => title.innerText.trim())")


def wait_for_steps(page, count: int) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('#augtune-steps .prose.augtune-step-title').length === {count}", timeout=WAIT_MS)


def test_the_step_editor_builds_a_pipeline_of_any_ops_and_fine_tune_trains_it(page, app_server):
    from playwright.sync_api import expect

    open_explore(page, app_server.url)
    lesson = page.locator(TILES).evaluate_all("images => images.map(image => image.src)")
    page.get_by_label("Steps: any torchvision op").check()
    expect(page.locator("#augtune-steps")).to_be_visible()
    wait_for_steps(page, 3)
    assert step_titles(page) == ["1. RandomHorizontalFlip", "2. ColorJitter", "3. RandomResizedCrop"]
    assert not page.locator("#augtune-brightness").is_visible(), "the lesson's sliders give way to the steps"
    page.wait_for_function(f"src => [...document.querySelectorAll({TILES!r})].map(i => i.src).join() === src.join()",
                           arg=lesson, timeout=WAIT_MS)  # the same grid, as steps

    before = captions(page)
    page.click("#augtune-step-add")  # the list starts at RandomRotation
    after = wait_for_new_captions(page, before)
    assert all("Random rotation: angle" in caption for caption in after)
    expect(page.locator("#augtune-code")).to_contain_text("v2.RandomRotation(degrees=30.0")
    wait_for_steps(page, 4)

    degrees = page.get_by_label("number input for Degrees")
    degrees.fill("5")
    degrees.press("Tab")
    expect(page.locator("#augtune-code")).to_contain_text("v2.RandomRotation(degrees=5.0", timeout=WAIT_MS)
    angles = [float(caption.split("angle ")[1].split()[0]) for caption in captions(page)]
    assert all(abs(angle) <= 5 for angle in angles)

    page.locator("#augtune-steps .augtune-step-remove").first.click()
    wait_for_steps(page, 3)
    expect(page.locator("#augtune-code")).not_to_contain_text("RandomHorizontalFlip", timeout=WAIT_MS)
    assert step_titles(page) == ["1. ColorJitter", "2. RandomResizedCrop", "3. RandomRotation"]

    page.get_by_role("tab", name="Fine-tune").click()
    page.locator("#ft-augment label").nth(1).click()  # "the Explore tab's settings"
    expect(page.locator("#ft-augment-info")).to_contain_text("ColorJitter → RandomResizedCrop → RandomRotation")
    page.locator("#ft-epochs input[type=number]").fill("1")
    page.click("#ft-start")
    expect(page.locator("#ft-log textarea")).to_have_value(re.compile(r"^epoch 1, loss "), timeout=120_000)


def test_a_policy_preset_shows_its_draws_and_mixup_its_partner_in_chinese(browser, app_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    try:
        page = context.new_page()
        open_explore(page, app_server.url)
        before = captions(page)
        page.click("#augtune-preset-trivialaugment")
        after = wait_for_new_captions(page, before)
        assert all("TrivialAugment" in caption for caption in after)
        wait_for_steps(page, 1)
        from augtune.ops import OPS

        assert OPS["TrivialAugmentWide"].help["zh-CN"] in page.inner_text("#augtune-steps")
        page.locator("#augtune-step-choice input").fill("MixUp")
        page.keyboard.press("Enter")
        page.click("#augtune-step-add")
        mixed = wait_for_new_captions(page, after)
        assert all("MixUp" in caption and "× 本图 +" in caption and "rocket" in caption for caption in mixed)
    finally:
        context.close()
