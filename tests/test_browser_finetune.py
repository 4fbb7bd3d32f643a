"""A real browser on the Fine-tune tab: start the default run (synthetic data) small, watch its first epoch row
arrive, then reload the page and get the run back from the browser's stored session."""

from __future__ import annotations

import io
import re
import zipfile

from PIL import Image
from playwright.sync_api import expect

# Generous: the first run may draw the synthetic set and wait for a worker on a busy 2-core machine.
TRAINING_TIMEOUT_MS = 300_000


def choose(page, widget_id: str, option: str) -> None:
    page.locator(f"#{widget_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def open_finetune_tab(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("tab", name="Fine-tune").click()
    expect(page.locator("#ft-start")).to_be_visible()


def test_start_the_default_run_see_an_epoch_row_and_get_it_back_after_a_reload(page, app_server):
    open_finetune_tab(page, app_server.url)
    # Before training: the default data set's classes, counts and built-in bias are shown.
    data_info = page.locator("#ft-data-info")
    expect(data_info).to_contain_text("disc")
    expect(data_info).to_contain_text("600")
    expect(data_info).to_contain_text("left half")
    # No network and no cached ImageNet weights here, so the tab preselects the built-in pretrained backbone.
    expect(page.locator("#ft-model-info")).to_contain_text("offline")
    expect(page.locator("#ft-model-info")).to_contain_text("built-in pretrained model is selected")
    expect(page.locator("#ft-model input[value=builtin]")).to_be_checked()
    # Each model brings its lesson's recipe into the (still editable) fields, and says whose it is.
    recipe = page.locator("#ft-recipe-info")
    expect(recipe).to_contain_text("The fine-tuning lesson's recipe")
    expect(page.locator("#ft-lr input")).to_have_value("0.01")
    expect(page.locator("#ft-head input")).to_have_value("10")
    page.locator("#ft-model label").nth(2).click()  # from scratch
    expect(recipe).to_contain_text("The augmentation lesson's recipe")
    expect(page.locator("#ft-lr input")).to_have_value("0.001")
    expect(page.locator("#ft-head input")).to_have_value("1")
    page.locator("#ft-model label").nth(1).click()  # the built-in backbone again
    expect(page.locator("#ft-lr input")).to_have_value("0.01")

    choose(page, "ft-size", "32")
    page.locator("#ft-epochs input").fill("1")
    page.locator("#ft-start").click()

    status = page.locator("#ft-status")
    expect(status).to_contain_text(re.compile("Device: cpu|Starting|Busy"), timeout=60_000)
    log = page.locator("#ft-log textarea")
    expect(log).to_have_value(re.compile(r"^epoch 1, loss \d+\.\d{4}, train acc \d\.\d{3}, test acc \d\.\d{3}, time "),
                              timeout=TRAINING_TIMEOUT_MS)
    first_row = page.locator("#ft-table tbody tr").first
    expect(first_row).to_contain_text("built-in, lr 0.01, augmented")
    expect(page.locator("#ft-plot img")).to_be_visible()
    expect(status).to_contain_text("Finished", timeout=TRAINING_TIMEOUT_MS)
    expect(page.locator("#ft-results")).to_contain_text("final test acc")
    confusion = page.locator("#ft-confusion img")
    confusion.scroll_into_view_if_needed()  # the page loads result images lazily
    expect(confusion).to_have_attribute("src", re.compile(r"confusion\.png$"))
    page.wait_for_function("() => document.querySelector('#ft-confusion img').naturalWidth > 0")
    for name in ("model.pt", "metrics.csv"):
        expect(page.locator(f'#ft-downloads a[download="{name}"]')).to_be_visible()

    # A reload (or a closed and reopened tab): the run comes back from the session kept in the browser.
    page.reload()
    page.get_by_role("tab", name="Fine-tune").click()
    expect(page.locator("#ft-log textarea")).to_have_value(re.compile(r"^epoch 1, loss "), timeout=30_000)
    expect(page.locator("#ft-status")).to_contain_text("Finished")


def test_the_training_augmentation_follows_the_explore_tab(page, app_server):
    from tests.test_browser_explore import open_explore

    open_explore(page, app_server.url)  # the first grid is in: the page's events are wired up
    page.get_by_role("button", name="Vertical flip", exact=True).click()
    # Generous: on a loaded 2-core machine the preset's grid can wait behind other requests.
    expect(page.locator("#augtune-code")).to_contain_text("RandomVerticalFlip(p=0.5)", timeout=30_000)
    page.get_by_role("tab", name="Fine-tune").click()
    used = page.locator("#ft-augment-info")
    # The default is the lesson's combined augmentation with milder crops, sized for the built-in set.
    expect(used).to_contain_text("RandomResizedCrop(scale=(0.6, 1)")
    page.locator("#ft-augment label").nth(1).click()  # "the Explore tab's settings"
    expect(used).to_contain_text("Used for training: RandomVerticalFlip(p=0.5)")
    expect(used).not_to_contain_text("ColorJitter")
    page.locator("#ft-augment label").nth(3).click()  # "nothing (no augmentation)"
    expect(used).to_contain_text("Used for training: —")


def test_an_uploaded_zip_shows_its_classes_and_counts_before_training(page, app_server, tmp_path):
    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for split, count in (("train", 5), ("test", 2)):
            for class_name, colour in (("cat", (200, 120, 40)), ("dog", (90, 60, 30))):
                for index in range(count):
                    buffer = io.BytesIO()
                    Image.new("RGB", (24, 24), colour).save(buffer, format="PNG")
                    zipped.writestr(f"pets/{split}/{class_name}/{index}.png", buffer.getvalue())
        zipped.writestr("pets/README.txt", "not an image")
    open_finetune_tab(page, app_server.url)
    page.locator("#ft-data label").nth(4).click()  # "My .zip file"
    info = page.locator("#ft-data-info")
    expect(info).to_contain_text("Upload a .zip")
    page.locator("#ft-zip input[type=file]").set_input_files(str(archive))
    expect(info).to_contain_text("2 classes", timeout=30_000)
    rows = info.locator("tr")
    expect(rows.filter(has_text="cat")).to_contain_text("5")
    expect(rows.filter(has_text="total")).to_contain_text("10")
    expect(info).to_contain_text("1 file(s) that are not images")


def fine_tune_html(page) -> str:
    """Everything the server wrote into the tab's panels, hidden parts included."""
    return page.evaluate("""() => ['ft-status', 'ft-data-info', 'ft-model-info', 'ft-recipe-info', 'ft-augment-info',
                                   'ft-results'].map((id) => document.getElementById(id)?.innerHTML || '').join('\\n')""")


def test_a_chinese_page_says_the_fine_tune_panels_and_its_runs_status_in_chinese_only(browser, app_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(app_server.url)
        page.get_by_role("tab", name="微调").click()
        status = page.locator("#ft-status")
        expect(status).to_contain_text("你现在没有正在进行的训练")
        expect(page.locator("#ft-data-info")).to_contain_text("内置的偏差")
        expect(page.locator("#ft-recipe-info")).to_contain_text("方案")
        shown = fine_tune_html(page)
        for english in ("Nothing is running", "Built-in bias", "lesson's recipe", "Used for training", "ft-l-en"):
            assert english not in shown, english
        # A number out of its range is refused in one sentence naming the field, in Chinese.
        page.locator("#ft-epochs input").fill("0")
        page.locator("#ft-start").click()
        expect(page.get_by_text("“迭代周期数（epoch）”必须在 1 到 100 之间，当前为 0。")).to_be_visible(timeout=30_000)
        assert "less than minimum" not in page.inner_text("body")
        # A run's status comes with the timer's ticks, each of which sends the page's locale.
        choose(page, "ft-size", "32")
        page.locator("#ft-epochs input").fill("1")
        page.locator("#ft-start").click()
        expect(status).to_contain_text(re.compile("设备：cpu|正在启动|忙碌中"), timeout=60_000)
        page.locator("#ft-cancel").click()
        expect(status).to_contain_text(re.compile("已取消|正在取消"), timeout=60_000)
        assert not re.search("Device|Starting|Busy|Cancel", status.inner_html())
    finally:
        context.close()


def test_switching_to_chinese_in_the_settings_says_the_panels_again_without_a_click(page, app_server):
    open_finetune_tab(page, app_server.url)
    status = page.locator("#ft-status")
    expect(status).to_contain_text("Nothing is running for you now")
    expect(page.locator("#ft-data-info")).to_contain_text("Built-in bias")
    page.get_by_text("Settings", exact=True).click()
    page.locator("input[aria-label=Language]").click()
    page.get_by_text("简体中文").click()
    page.locator("[role=dialog] button").first.click()  # the panel's close (×) button
    expect(status).to_contain_text("你现在没有正在进行的训练", timeout=30_000)
    expect(page.locator("#ft-data-info")).to_contain_text("内置的偏差")
    expect(page.locator("#ft-augment-info")).to_contain_text("训练时使用")
    expect(page.locator("#ft-recipe-info")).to_contain_text("方案")
    expect(page.locator("#ft-table")).to_contain_text("迭代周期")
    expect(page.locator("#ft-table")).not_to_contain_text("train acc")
    shown = fine_tune_html(page)
    for english in ("Nothing is running", "Built-in bias", "lesson's recipe", "Used for training"):
        assert english not in shown, english
