"""The Explore tab's server side: the `/augment` HTTP API on a launched app, and the plain functions
behind the widgets (spec <-> widgets, captions, translated messages, caches)."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

import augtune
from augtune import PRESETS, AugSpec, Tile, sample_grid
from augtune.figures import box_colour
from augtune.service import explore_form, explore_html, explore_text, grids
from augtune.service import pictures as service_pictures
from augtune.service.explore_form import FIELDS, pipeline_of, spec_from_widgets, widgets_from_spec
from augtune.service.explore_text import localize_error, tile_caption
from augtune.service.grids import LatestOnly
from augtune.service.i18n import STRINGS, pick_locale
from augtune.service.pictures import ImageCache
from augtune.ui import explore_events


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A small, non-uniform test picture: gradients so crops, flips and jitter all show."""
    height, width = 90, 120
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 2, y * 2, (x + y) % 256], axis=-1).astype(np.uint8)
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    Image.fromarray(pixels, "RGB").save(path)
    return path


def normalised(value):
    return json.loads(json.dumps(value))


def call_error(client, *args) -> str:
    with pytest.raises(Exception) as caught:
        client.predict(*args, api_name="/augment")
    return str(caught.value)


# ------------------------------------------------------------------------------------ the HTTP API


def test_augment_returns_n_tiles_that_sample_grid_would_make(client, photo):
    spec = AugSpec(crop_size=48, hflip_p=0.5, brightness=0.4, hue=0.2)
    tiles, params = client.predict(handle_file(str(photo)), spec.to_json(), 5, 3, api_name="/augment")
    assert len(tiles) == 5 and len(params) == 5
    expected = augtune.sample_grid(augtune.load_image(photo), spec, 5, 3)
    assert params == normalised([tile.params for tile in expected])
    for number, (tile, reference) in enumerate(zip(tiles, expected), 1):
        with Image.open(tile["image"]) as image:
            assert image.size == (48, 48)
            difference = np.abs(np.asarray(image.convert("RGB"), float) - np.asarray(reference.image, float))
        assert difference.mean() < 4, "the same pixels, up to JPEG"
        assert tile["caption"] == tile_caption(number, reference.params)


def test_augment_defaults_to_the_lesson_pipeline_on_the_bundled_cat(client):
    tiles, params = client.predict(None, "", None, None, api_name="/augment")
    defaults = AugSpec()
    assert len(tiles) == defaults.samples
    cat = augtune.load_image(service_pictures.DEFAULT_IMAGE)
    assert params == normalised([tile.params for tile in augtune.sample_grid(cat, defaults)])


@pytest.mark.parametrize(
    "spec_json, sentence",
    [
        ('{"scale_min": 0.9, "scale_max": 0.5}', "scale_min (0.9) must not be larger than scale_max (0.5)."),
        ("{not json", "Settings are not valid JSON"),
        ('{"brightnes": 0.5}', "Unknown setting(s): brightnes."),
        ('{"hue": 0.9}', "hue must be between 0 and 0.5, got 0.9."),
        ("[1, 2]", "Settings must be a JSON object"),
    ],
)
def test_a_bad_spec_gets_one_readable_sentence(client, app_server, photo, spec_json, sentence):
    message = call_error(client, handle_file(str(photo)), spec_json, 4, 0)
    assert sentence in message
    assert "Traceback" not in message and 'File "' not in message
    assert app_server.alive()


def test_bad_counts_and_bad_images_are_refused_in_a_sentence(client, app_server, photo, tmp_path):
    assert "samples must be between 1 and 64, got 65." in call_error(client, handle_file(str(photo)), "", 65, 0)
    fake = tmp_path / "notes.png"
    fake.write_text("this is not a picture")
    message = call_error(client, handle_file(str(fake)), "", 4, 0)
    assert "not an image augtune can read" in message and "Traceback" not in message
    heic = tmp_path / "phone.heic"
    heic.write_bytes(b"\0\0\0\x18ftypheic" + bytes(200))
    assert "HEIC images are not supported" in call_error(client, handle_file(str(heic)), "", 4, 0)


def test_server_keeps_serving_after_errors(client, app_server, photo):
    call_error(client, handle_file(str(photo)), "{oops", 4, 0)
    tiles, _ = client.predict(handle_file(str(photo)), "", 2, 1, api_name="/augment")
    assert len(tiles) == 2 and app_server.alive()


def test_only_the_augment_endpoint_of_this_tab_is_public(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert "/augment" in api["named_endpoints"]
    assert not api["unnamed_endpoints"]
    handlers = {name for name in dir(explore_events) if name.startswith("on_")} | {"on_preset"}
    assert not {f"/{name}" for name in handlers} & set(api["named_endpoints"])
    parameters = [p["parameter_name"] for p in api["named_endpoints"]["/augment"]["parameters"]]
    assert parameters == ["image", "spec_json", "n", "seed"]


# ------------------------------------------------------------------------------------ widgets <-> spec


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_widgets_round_trip_every_preset(name):
    values = widgets_from_spec(PRESETS[name])
    assert len(values) == len(FIELDS)
    assert spec_from_widgets([*values, pipeline_of(PRESETS[name])]) == PRESETS[name]
    if PRESETS[name].steps is None:
        assert spec_from_widgets(values) == PRESETS[name]


def test_spec_from_widgets_reads_the_order_and_slider_floats():
    values = dict(zip(FIELDS, widgets_from_spec(AugSpec())))
    values.update(order="crop,flip,color", crop_size=224.0, samples=16.0)
    spec = spec_from_widgets([values[name] for name in FIELDS])
    assert spec.order == ("crop", "flip", "color")
    assert spec.crop_size == 224 and isinstance(spec.crop_size, int)


def test_spec_from_widgets_refuses_bad_combinations():
    values = dict(zip(FIELDS, widgets_from_spec(AugSpec())))
    values.update(scale_min=0.8, scale_max=0.3)
    with pytest.raises(ValueError, match="scale_min"):
        spec_from_widgets([values[name] for name in FIELDS])


def test_crop_controls_follow_the_crop_mode():
    assert explore_form.crop_widgets_shown("random")["scale_min"] and not explore_form.crop_widgets_shown("random")["resize_size"]
    assert explore_form.crop_widgets_shown("center")["resize_size"] and not explore_form.crop_widgets_shown("center")["ratio_max"]
    assert not any(explore_form.crop_widgets_shown("none").values())


# ------------------------------------------------------------------------------------ captions


FLIP_CROP_JITTER = {
    "hflip": True,
    "brightness": 1.2345,
    "hue": -0.1234,
    "jitter_order": ["hue", "brightness"],
    "crop": {"top": 5, "left": 10, "height": 40, "width": 60},
    "crop_scale": 0.4321,
    "crop_ratio": 1.5,
    "crop_box": [10, 5, 70, 45],
}


def test_caption_says_what_was_sampled_in_pipeline_order():
    caption = tile_caption(3, FLIP_CROP_JITTER, "en")
    assert caption == (
        "#3 · flipped ↔ · hue -0.12 → brightness ×1.23 · crop (10, 5)–(70, 45), area 0.43, ratio 1.50"
    )


def test_caption_in_chinese():
    caption = tile_caption(3, FLIP_CROP_JITTER, "zh-CN")
    assert caption.startswith("#3 · 水平翻转 · 色调 -0.12 → 亮度 ×1.23 · 裁剪 (10, 5)–(70, 45)")
    assert "面积比 0.43" in caption and "宽高比 1.50" in caption
    assert not any(word in caption for word in ("flipped", "brightness", "crop", "ratio"))


def test_captions_of_real_tiles_in_both_languages():
    image = Image.new("RGB", (200, 150), (90, 120, 150))
    for spec in (PRESETS["hotdog_test"], PRESETS["combined"], AugSpec(hflip_p=0, vflip_p=1, crop_mode="none")):
        tile = augtune.sample_grid(image, spec, 1, 0)[0]
        english, chinese = tile_caption(1, tile.params, "en"), tile_caption(1, tile.params, "zh-CN")
        assert english != chinese
        if spec.crop_mode == "center":
            # shorter side 150 -> 256, so 200 -> 341; the 224 centre crop maps back to the original's pixels
            assert "resize to 341 × 256, centre crop (34, 9)–(165, 141)" in english
            assert "中心裁剪" in chinese
        if spec.vflip_p == 1:
            assert "flipped ↕" in english and "垂直翻转" in chinese


def test_caption_of_a_sample_with_nothing_random():
    assert tile_caption(1, {}, "en") == "#1 · unchanged"
    assert tile_caption(1, {}, "zh-CN") == "#1 · 原样"


# ------------------------------------------------------------------------------------ languages


def test_both_languages_have_the_same_keys():
    assert set(STRINGS["en"]) == set(STRINGS["zh-CN"])
    for key, english in STRINGS["en"].items():
        assert set(_placeholders(english)) == set(_placeholders(STRINGS["zh-CN"][key])), key


def _placeholders(template: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def test_every_translation_key_in_the_layout_exists():
    from gradio.i18n import I18nData

    from augtune.ui.app import build_app, translations

    keys: set[str] = set()

    def collect(value):
        if isinstance(value, I18nData):
            keys.add(value.key)
        elif isinstance(value, str) and "__i18n__" in value:  # values are sent as marked strings
            decoder = json.JSONDecoder()
            for part in value.split("__i18n__")[1:]:
                keys.add(decoder.raw_decode(part)[0]["key"])
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item)

    collect(build_app().get_config_file())
    explore_keys = {key for key in keys if key in STRINGS["en"]}
    assert {"explore.tab", "brightness.label", "preset.combined", "order.flip,color,crop", "locale"} <= explore_keys
    tables = translations().translations  # what the page is given: the string tables and the first grid
    for locale in ("en", "zh-CN"):
        assert keys <= set(tables[locale]), f"keys without a {locale} translation: {sorted(keys - set(tables[locale]))}"


def test_pick_locale_follows_the_page():
    assert pick_locale("zh-CN") == "zh-CN"
    assert pick_locale("zh") == "zh-CN"
    assert pick_locale("en") == "en"
    assert pick_locale("fr-FR") == "en"
    assert pick_locale(None) == "en"


def core_error(**settings) -> str:
    with pytest.raises(ValueError) as caught:
        AugSpec(**settings)
    return str(caught.value)


def test_core_errors_are_told_in_the_widgets_words_and_both_languages():
    cases = {
        "range": core_error(hue=0.9),
        "min_max": core_error(scale_min=0.9, scale_max=0.5),
        "center": core_error(crop_mode="center", resize_size=100, crop_size=200),
        "whole": core_error(seed=1.5),
        "number": core_error(seed=None),
    }
    english = {name: localize_error(message, "en") for name, message in cases.items()}
    assert english["range"] == "Hue must be between 0 and 0.5, got 0.9."
    assert english["min_max"] == "Crop area min (0.9) must not be larger than Crop area max (0.5)."
    assert english["center"] == "For a centre crop, “Resize shorter side to” (100) must be at least “Output size” (200)."
    assert english["whole"] == "Seed must be a whole number, got 1.5."
    assert english["number"] == "Seed is empty; enter a number."  # an emptied number field sends None
    assert localize_error("brightness must be a number, got 'x'.", "en") == "Brightness must be a number, got 'x'."
    for name, message in cases.items():
        chinese = localize_error(message, "zh-CN")
        assert chinese != message and chinese.endswith("。"), (name, chinese)
        assert not any(field in chinese for field in FIELDS), chinese
    assert localize_error(cases["min_max"], "zh-CN") == "“裁剪面积下限”（0.9）不能大于“裁剪面积上限”（0.5）。"


def _step_error(steps, picture_size=(320, 240)) -> str:
    with pytest.raises(ValueError) as caught:
        sample_grid(Image.new("RGB", picture_size), AugSpec.from_dict({"steps": steps, "samples": 2}))
    return str(caught.value)


@pytest.mark.parametrize("steps, picture_size, chinese", [
    ([{"op": "RandomZoomOut", "side_range": [1.0, 4.0]}], (4000, 3000), "超过允许的 50 百万像素"),
    ([{"op": "RandomCrop", "size": 500}], (320, 240), "RandomCrop 无法处理 320 x 240 像素的图片"),
    ([{"op": "MixUp"}, {"op": "RandomInvert"}], (320, 240), "只能作为最后一步"),
    ([{"op": "GaussianBlur", "kernel_size": 4}], (320, 240), "必须是奇数"),
    ([{"op": "RandAugment", "magnitude": 9, "num_magnitude_bins": 5}], (320, 240), "必须小于 num_magnitude_bins（5）"),
    ([{"op": "AugMix", "chain_depth": 0}], (320, 240), "或至少为 1"),
    ([{"op": "Nope"}], (320, 240), "第 1 步：没有名为 'Nope' 的操作"),
    ([{"op": "RandomInvert"}] * 33, (320, 240), "步骤列表 有 33 个步骤；最多允许 32 个"),
])
def test_a_pipelines_own_refusals_are_said_in_both_languages(steps, picture_size, chinese):
    """The sentences of augtune.ops that the step editor (or a settings file) can reach, raised for real: English as
    the core says it, Chinese on a Chinese page."""
    message = _step_error(steps, picture_size)
    assert localize_error(message, "en") == message
    assert chinese in localize_error(message, "zh-CN"), localize_error(message, "zh-CN")


def test_settings_file_and_image_errors_are_translated():
    for bad in ("{nope", '{"colour": 1}', "[]"):
        with pytest.raises(ValueError) as caught:
            AugSpec.from_json(bad)
        assert localize_error(str(caught.value), "zh-CN").startswith("设置文件")
    for data, word in ((b"", "空"), (b"plain text", "无法读取"), (b"\0\0\0\x18ftypheic" + bytes(64), "HEIC")):
        with pytest.raises(ValueError) as caught:
            augtune.load_image(data)
        assert word in localize_error(str(caught.value), "zh-CN")
    assert localize_error("Something nobody planned for.", "zh-CN") == "Something nobody planned for."


# ------------------------------------------------------------------------------------ caches


def test_image_cache_decodes_once_and_notices_a_changed_file(tmp_path):
    path = tmp_path / "picture.png"
    Image.new("RGB", (40, 30), "red").save(path)
    cache = ImageCache()
    first = cache.get(path)
    assert cache.get(path) is first and first.size == (40, 30)
    Image.new("RGB", (50, 20), "blue").save(path)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert cache.get(path).size == (50, 20)


def test_image_cache_keeps_serving_a_file_gradio_cleaned_up(tmp_path):
    path = tmp_path / "upload.png"
    Image.new("RGB", (16, 16), "green").save(path)
    cache = ImageCache()
    first = cache.get(path)
    path.unlink()
    assert cache.get(path) is first
    with pytest.raises(ValueError) as caught:
        ImageCache().get(path)
    assert localize_error(str(caught.value), "en") == "The image is no longer on the server; please upload it again."


def test_image_cache_forgets_the_least_recently_used_beyond_its_budget(tmp_path):
    paths = []
    for index in range(3):
        paths.append(tmp_path / f"{index}.png")
        Image.new("RGB", (8, 8), (index, 0, 0)).save(paths[-1])
    cache = ImageCache(max_bytes=2 * service_pictures.image_bytes(Image.new("RGB", (8, 8))))  # room for two 8x8 pictures
    first = cache.get(paths[0])
    cache.get(paths[1])
    cache.get(paths[0])
    cache.get(paths[2])  # evicts paths[1], the least recently used
    assert cache.get(paths[0]) is first
    assert len(cache._images) == 2 and cache.size_bytes == 2 * (2 * 8 * 8 * 4 * 4 // 3)  # Pillow's pyramid and OpenCV's
    assert cache.get(paths[1]) is not first and len(cache._images) == 2


def test_image_cache_decodes_the_same_photo_once_under_different_upload_paths(tmp_path, monkeypatch):
    """Gradio stores every upload under a new folder: an API client re-sending its photo must not
    cost a decode each time."""
    picture = tmp_path / "a" / "photo.jpg"
    picture.parent.mkdir()
    Image.new("RGB", (64, 48), "orange").save(picture)
    again = tmp_path / "b" / "photo.jpg"
    again.parent.mkdir()
    again.write_bytes(picture.read_bytes())
    decodes = []
    real_load = augtune.load_image
    monkeypatch.setattr(augtune, "load_image", lambda *a, **k: decodes.append(1) or real_load(*a, **k))
    cache = ImageCache()
    assert cache.get(picture) is cache.get(again)
    assert len(decodes) == 1


def test_image_cache_drops_pictures_nobody_used_for_a_while(tmp_path, monkeypatch):
    path = tmp_path / "picture.png"
    Image.new("RGB", (20, 20), "red").save(path)
    cache = ImageCache(idle_s=60)
    now = [1000.0]
    monkeypatch.setattr(service_pictures.time, "monotonic", lambda: now[0])
    first = cache.get(path)
    now[0] += 59
    assert cache.get(path) is first  # used again: its clock restarts
    now[0] += 61
    released = []
    monkeypatch.setattr(service_pictures, "return_freed_memory", lambda: released.append(1))
    assert cache.get(path) is not first  # expired, decoded again
    assert released == [1]  # and the freed pixels were handed back to the system
    assert cache.size_bytes == 2 * (20 * 20 * 4 * 4 // 3)  # Pillow's pyramid and OpenCV's


def test_a_photo_in_use_outlives_the_temp_file_age_and_an_unused_one_does_not(tmp_path, monkeypatch):
    """Uploads go a fixed time after their last change; a student still drawing grids from a photo
    uploaded at the start of the lesson must keep it (the cache marks it used), a forgotten one goes."""
    from types import SimpleNamespace

    from augtune.ui.app import delete_old_temp_files

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setattr(service_pictures, "KEEP_ALIVE_EVERY_S", 1)
    folder = tmp_path / "gradio" / "upload-hash"
    folder.mkdir(parents=True)
    in_use, forgotten, outside = folder / "in_use.png", folder / "forgotten.png", tmp_path / "asset.png"
    for path in (in_use, forgotten, outside):
        Image.new("RGB", (12, 12), "teal").save(path)
    cache = ImageCache()
    first = cache.get(in_use)
    time.sleep(2.2)
    outside_mtime = outside.stat().st_mtime_ns
    assert cache.get(in_use) is first  # marked as used now, and still not decoded again
    cache.get(outside)
    assert outside.stat().st_mtime_ns == outside_mtime  # files outside Gradio's upload folder are left alone
    demo = SimpleNamespace(blocks={}, temp_file_sets=[{str(in_use), str(forgotten)}])
    assert delete_old_temp_files(demo, max_age_s=2) == 1
    assert in_use.exists() and not forgotten.exists()
    assert cache.get(in_use) is first


def test_sweeper_deletes_only_old_empty_upload_leftovers(tmp_path):
    from augtune.ui.app import sweep_empty_upload_files

    old = time.time() - 3600
    leftover, kept_full, kept_new = tmp_path / "tmpa1b2c3", tmp_path / "tmpfull", tmp_path / "tmpnew"
    leftover.touch()
    kept_full.write_bytes(b"an upload still being written")
    kept_new.touch()
    folder = tmp_path / "tmpfolder"
    folder.mkdir()
    other = tmp_path / "cat.png"
    other.touch()
    for path in (leftover, kept_full, folder, other):
        os.utime(path, (old, old))
    assert sweep_empty_upload_files(tmp_path, max_age_s=600) == 1
    assert not leftover.exists()
    assert kept_full.exists() and kept_new.exists() and folder.is_dir() and other.exists()


def test_only_the_newest_request_of_a_session_may_show_its_result():
    latest = LatestOnly()
    older = latest.start("session-a")
    other = latest.start("session-b")
    newer = latest.start("session-a")
    assert not latest.is_latest("session-a", older)
    assert latest.is_latest("session-a", newer)
    assert latest.is_latest("session-b", other)


def test_the_same_grid_asked_for_again_is_drawn_once(monkeypatch):
    """Fifty pages opening at once ask for the same default grid: it is drawn once and shared."""
    drawn = []
    real_render = grids.render_grid
    monkeypatch.setattr(grids, "render_grid", lambda *args: drawn.append(args[1:]) or real_render(*args))
    recent = grids.RecentGrids()
    cat = service_pictures.images.get(service_pictures.DEFAULT_IMAGE)
    first = recent.render(cat, AugSpec(samples=3), "en")
    assert recent.render(cat, AugSpec(samples=3), "en") is first
    assert recent.render(cat, AugSpec(samples=3), "zh-CN") is not first  # captions in another language
    assert recent.render(cat, AugSpec(samples=3, seed=1), "en")["legend"] != first["legend"]
    assert recent.render(cat.copy(), AugSpec(samples=3), "en") is not first  # another picture object
    assert len(drawn) == 4
    tiny = grids.RecentGrids(max_bytes=1)  # no room: every grid is drawn afresh
    assert tiny.render(cat, AugSpec(samples=3), "en") is not tiny.render(cat, AugSpec(samples=3), "en")
    assert len(drawn) == 6


def test_the_grid_is_one_piece_of_html_with_every_tile_inline_and_captioned():
    """The tiles travel inside the grid's HTML, not as files: each a JPEG of the tile itself, numbered in
    its crop box's colour, with its caption as the picture's text."""
    import base64
    import html as html_module
    import io
    import re

    cat = service_pictures.images.get(service_pictures.DEFAULT_IMAGE)
    spec = AugSpec(samples=5, columns=3, crop_size=96, hue=0.0, saturation=0.0, contrast=0.0, brightness=0.9)
    tiles = augtune.sample_grid(cat, spec)
    captions = [explore_text.tile_caption(number, tile.params) for number, tile in enumerate(tiles, 1)]
    grid = explore_html.grid_html([tile.image for tile in tiles], captions, spec.columns)
    assert "repeat(3, minmax(0, 1fr))" in grid
    pictures = re.findall(r'<img src="data:image/jpeg;base64,([^"]+)" alt="([^"]+)" width="(\d+)" height="(\d+)"', grid)
    assert [html_module.unescape(alt) for _, alt, _, _ in pictures] == captions
    for (data, _, width, height), tile in zip(pictures, tiles):
        shown = Image.open(io.BytesIO(base64.b64decode(data)))
        assert shown.format == "JPEG" and shown.size == tile.image.size == (int(width), int(height)) == (96, 96)
        difference = np.abs(np.asarray(shown.convert("RGB"), np.float64) - np.asarray(tile.image, np.float64))
        assert difference.mean() < 3, "the picture is the tile, not another one"
    badges = re.findall(r'augtune-tile-number" style="background: rgb\((\d+), (\d+), (\d+)\)">(\d+)<', grid)
    assert [(tuple(map(int, rgb)), int(n)) for *rgb, n in badges] == [(box_colour(n), n) for n in range(1, 6)]
    assert "&lt;b&gt;" in explore_html.grid_html([tiles[0].image], ["#1 · <b>"], 1), "captions are escaped"


def test_the_download_link_holds_the_spec_and_says_so_in_the_pages_language():
    import html as html_module
    import re
    import urllib.parse

    spec = PRESETS["hotdog_train"]
    link = explore_html.download_html(spec, "zh-CN")
    match = re.fullmatch(r'<a class="augtune-download" download="augtune-settings.json" '
                         r'href="data:application/json;charset=utf-8,([^"]+)">(.+)</a>', link)
    assert match, link
    assert AugSpec.from_json(urllib.parse.unquote(match.group(1))) == spec
    assert html_module.unescape(match.group(2)) == "⬇ 下载设置（JSON）"


def test_the_original_is_inline_with_its_boxes_drawn_over_it():
    import base64
    import io
    import re

    cat = service_pictures.images.get(service_pictures.DEFAULT_IMAGE)
    spec = AugSpec(samples=3)
    shown = explore_html.render_grid(cat, spec, "en")
    data, width, height, svg = re.fullmatch(
        r'<figure class="augtune-original-picture" title="Click to see it full screen">'
        r'<img src="data:image/jpeg;base64,([^"]+)" width="(\d+)" height="(\d+)" '
        r'alt="Original, with each sample&#x27;s crop box">(<svg .*</svg>)</figure>', shown["original"]
    ).groups()
    picture = Image.open(io.BytesIO(base64.b64decode(data)))
    assert picture.size == cat.size == (int(width), int(height))  # 451 x 300: under ORIGINAL_MAX_SIDE
    difference = np.abs(np.asarray(picture.convert("RGB"), np.int16) - np.asarray(cat, np.int16))
    assert difference.mean() < 2, "the picture is the cat itself: the boxes are not in its pixels"
    # Over it, each tile's crop box in its tile's colour, at the box's own pixels.
    assert svg.startswith('<svg viewBox="0 0 451 300"')
    boxes = [tile.params["crop_box"] for tile in sample_grid(cat, spec)]
    polygons = re.findall(r'<polygon points="([^"]+)" stroke="rgb\((\d+),(\d+),(\d+)\)"/>', svg)
    assert len(polygons) == 3
    for number, ((points, *colour), (x0, y0, x1, y1)) in enumerate(zip(polygons, boxes, strict=True), 1):
        assert tuple(map(int, colour)) == box_colour(number)
        assert [tuple(map(float, point.split(","))) for point in points.split()] == [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    assert re.findall(r"<text [^>]*>(\d+)</text>", svg) == ["1", "2", "3"]


def test_the_original_of_a_big_photo_is_shrunk_and_its_boxes_scaled():
    import re

    photo = Image.new("RGB", (1800, 900), (90, 120, 150))
    photo.info["original_size"] = (3600, 1800)  # a reduced copy, as uploads of big photos are
    shown = explore_html.boxed_original_html(photo, [Tile(photo, {"crop_box": [360, 180, 3600, 1800]})], (3600, 1800), "en")
    assert 'width="720" height="360"' in shown and '<svg viewBox="0 0 720 360"' in shown
    assert re.search(r'points="72.0,36.0 720.0,36.0 720.0,360.0 72.0,360.0"', shown)


@pytest.mark.parametrize("example", service_pictures.EXAMPLES, ids=lambda path: path.name)
def test_the_examples_gallery_shows_a_small_copy_of_each_example(example):
    """The page sends the thumbnails, not the pictures; a changed example needs its thumbnail made again:
    Image.open(example).convert("RGB").resize((round(240 * w / h), 240), Image.Resampling.LANCZOS).save(thumb, quality=85)"""
    thumbnail = service_pictures.EXAMPLE_THUMBNAILS[service_pictures.EXAMPLES.index(example)]
    assert thumbnail.stat().st_size < 30_000
    with Image.open(example) as picture, Image.open(thumbnail) as small:
        assert small.height == 240 and abs(small.width / small.height - picture.width / picture.height) < 0.01
        seen = [np.asarray(image.convert("RGB").resize((48, 32), Image.Resampling.BOX), np.float32) for image in (picture, small)]
    assert np.abs(seen[0] - seen[1]).mean() < 3, "the thumbnail is that picture"


# ------------------------------------------------------------------------------------ callbacks


def test_loading_a_settings_file_sets_every_control(tmp_path):
    path = tmp_path / "augtune-settings.json"
    path.write_text(PRESETS["hotdog_train"].to_json())
    outputs = explore_events.on_settings_upload("zh-CN", None, str(path), None)
    assert len(outputs) == len(FIELDS) + 9  # the sliders, the pipeline, mode, editor, then what the grid shows
    assert [update["value"] for update in outputs[: len(FIELDS)]] == widgets_from_spec(PRESETS["hotdog_train"])
    assert outputs[len(FIELDS): len(FIELDS) + 2] == [None, "lesson"]
    assert outputs[-1].startswith("设置已载入。")
    assert "RandomResizedCrop(size=224" in outputs[len(FIELDS) + 6]


def test_a_bad_settings_file_changes_nothing_and_says_why(tmp_path):
    import gradio as gr

    path = tmp_path / "augtune-settings.json"
    path.write_text('{"hue": 3}')
    outputs = explore_events.on_settings_upload("zh-CN", None, str(path), None)
    assert outputs[:-1] == [gr.skip()] * (len(FIELDS) + 8)
    assert outputs[-1] == "⚠ “色调”必须在 0 到 0.5 之间，当前为 3。"


def test_a_settings_file_of_steps_opens_the_step_editor(tmp_path):
    path = tmp_path / "steps.json"
    steps = [{"op": "RandomRotation", "degrees": 30}, {"op": "RandomApply", "p": 0.5, "transforms": [{"op": "RandomInvert", "p": 1}]}]
    path.write_text(json.dumps({"steps": steps, "samples": 4, "seed": 3}))
    outputs = explore_events.on_settings_upload("en", None, str(path), None)
    pipeline, mode, editor = outputs[len(FIELDS): len(FIELDS) + 3]
    assert [step["op"] for step in pipeline] == ["RandomRotation", "RandomApply"] and mode == "steps"
    assert editor["steps"] == pipeline
    assert outputs[FIELDS.index("samples")]["value"] == 4 and outputs[FIELDS.index("seed")]["value"] == 3
    assert outputs[-1].startswith("Settings loaded.") and "v2.RandomApply([v2.RandomInvert(p=1" in outputs[len(FIELDS) + 6]


def test_an_unreadable_upload_keeps_the_current_image(tmp_path):
    import gradio as gr

    bad = tmp_path / "broken.jpg"
    bad.write_bytes((service_pictures.ASSETS / "rocket.jpg").read_bytes()[:3000])  # cut short, as by a dropped upload
    values = widgets_from_spec(AugSpec())
    outputs = explore_events.on_image_upload("en", str(service_pictures.DEFAULT_IMAGE), str(bad), None, *values)
    assert outputs[0] == gr.skip() and outputs[1] is None, "the image stays, the upload box is emptied"
    assert outputs[2:-1] == [gr.skip()] * 5
    assert outputs[-1] == "⚠ The image file is incomplete (truncated); please upload it again."


def test_old_temp_files_are_deleted_while_requests_keep_adding_files(tmp_path):
    """Requests add files to Gradio's sets while the deletion walks them: the walk must not fail."""
    import threading

    from augtune.ui.app import build_app, delete_old_temp_files

    demo = build_app()
    kept = {file for component in demo.blocks.values() for file in getattr(component, "keep_in_cache", ())}
    assert kept and all(os.path.exists(file) for file in kept)  # the example images
    tiles = []
    for index in range(300):
        tiles.append(tmp_path / f"tile-{index}.jpeg")
        tiles[-1].write_bytes(b"\xff\xd8")
        demo.upload_file_set.add(str(tiles[-1]))
    demo.upload_file_set.add(str(tmp_path / "already-gone.jpeg"))
    demo.upload_file_set.update(kept)
    assert delete_old_temp_files(demo, max_age_s=3600) == 0  # all fresh

    stop = threading.Event()

    def busy_server():
        for index in range(200_000):
            if stop.is_set():
                break
            demo.upload_file_set.add(str(tmp_path / f"new-{index}"))

    adder = threading.Thread(target=busy_server)
    adder.start()
    try:
        removed = delete_old_temp_files(demo, max_age_s=-1)  # everything counts as old
    finally:
        stop.set()
        adder.join()
    assert removed == 300
    assert not any(tile.exists() for tile in tiles)
    assert all(os.path.exists(file) for file in kept)
    assert str(tmp_path / "already-gone.jpeg") not in demo.upload_file_set


def test_a_tile_saved_by_many_requests_at_once_is_never_seen_half_written(tmp_path):
    """Gradio names saved pictures by their content; fifty pages showing the same grid save the same
    tile at once. A reader must always get the whole file."""
    import threading
    from pathlib import Path

    from augtune.ui.app import save_pil_to_cache_atomically

    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (1200, 1200, 3), dtype=np.uint8))
    path = save_pil_to_cache_atomically(noise, str(tmp_path), format="jpeg")
    whole = Path(path).read_bytes()
    stop, seen = threading.Event(), []

    def read_while_written() -> None:
        while not stop.is_set():
            seen.append(len(Path(path).read_bytes()))

    reader = threading.Thread(target=read_while_written)
    reader.start()
    writers = [threading.Thread(target=lambda: [save_pil_to_cache_atomically(noise, str(tmp_path), format="jpeg")
                                                for _ in range(10)]) for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    stop.set()
    reader.join()
    assert len(seen) > 20 and set(seen) == {len(whole)}
    assert [p.name for p in Path(path).parent.iterdir()] == [Path(path).name]  # no temporary names left


def test_sessions_idle_past_the_temp_file_age_are_forgotten():
    """Gradio keeps every session's state, with the last grid HTML it was sent, until 10 000 newer ones
    exist; the sweep forgets those idle past the age at which their uploads are deleted too."""
    import datetime

    from gradio.state_holder import StateHolder

    from augtune.ui.app import build_app, forget_idle_sessions

    demo = build_app()
    assert forget_idle_sessions(demo, 60) == 0  # not launched: nothing to forget, nothing fails
    holder = StateHolder()
    holder.set_blocks(demo)
    html_output = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "augtune-grid")
    for session in ("left the lesson", "still working"):
        state = holder[session]
        state[html_output._id] = html_output
        state._update_value_in_config(html_output._id, "<div>" + "x" * 400_000 + "</div>")
    holder.time_last_used["left the lesson"] -= datetime.timedelta(hours=3)
    assert forget_idle_sessions(demo, max_idle_s=7200) == 1
    assert "left the lesson" not in holder and "still working" in holder
    assert "left the lesson" not in holder.time_last_used
    assert forget_idle_sessions(demo, max_idle_s=7200) == 0


def test_gradio_does_not_summarise_its_events_after_every_event():
    """Gradio 6.31 rebuilds a pandas summary of up to 10 000 events after each one (5 ms of the GIL with
    4 000 behind it) for a monitoring page the app never enables."""
    from augtune.ui.app import build_app

    queue = build_app()._queue
    assert queue.ANAYLTICS_CACHE_FREQUENCY >= 1000  # sic: Gradio's spelling
    assert queue.ANALYTICS_MAX_EVENTS <= 1000


# ------------------------------------------------------------------------------------ serving speed (behaviour only)


def test_the_page_carries_the_default_grid_and_grid_events_skip_value_processing():
    from augtune.ui.app import build_app, translations

    demo = build_app()
    values = {c["props"].get("elem_id"): c["props"].get("value") for c in demo.config["components"]}
    tables = translations().translations
    for locale in ("en", "zh-CN"):
        expected = grids.default_grid(locale)
        for name, elem_id in [("grid", "augtune-grid"), ("original", "augtune-original"), ("status", "augtune-status")]:
            key = json.loads(str(values[elem_id]).removeprefix("__i18n__"))["key"]  # Gradio's translation marker
            assert tables[locale][key] == expected[name]
        assert tables[locale]["first.grid"].count("<img ") == AugSpec().samples
    assert "8 samples" in tables["en"]["first.status"] and "随机种子 0" in tables["zh-CN"]["first.status"]
    assert not any(trigger == "load" for fn in demo.fns.values() for _, trigger in fn.targets), "no load event"
    by_name = {}
    for fn in demo.fns.values():
        by_name.setdefault(fn.name, set()).add((fn.preprocess, fn.postprocess))
    assert by_name["on_change"] == {(False, False)} and by_name["on_preset"] == {(False, False)}
    # a file in, or a picture out: Gradio's own processing stays
    assert by_name["on_image_upload"] == {(True, True)} and by_name["augment"] == {(True, True)}
    assert by_name["on_distributions"] == {(True, True)}


def test_grid_events_refuse_raw_bad_values_in_the_specs_sentence():
    """Without Gradio's preprocessing a slider's value comes as the browser sent it; the spec says what is wrong."""
    values = dict(zip(FIELDS, widgets_from_spec(AugSpec())))
    values.update(brightness=7.0, seed=7.5)
    outputs = explore_events.on_change("en", None, None, *[values[name] for name in FIELDS])
    assert outputs[-1].startswith("⚠ ") and "7" in outputs[-1] and "Traceback" not in outputs[-1]
    values.update(brightness=0.5, seed=7.0, samples=4.0)
    outputs = explore_events.on_change("en", None, None, *[values[name] for name in FIELDS])
    assert outputs[0].count("<img ") == 4 and "seed 7" in outputs[-1]


def test_a_colour_change_reuses_the_boxed_original_and_a_new_seed_redraws_it():
    cat = service_pictures.images.get(service_pictures.DEFAULT_IMAGE)
    first = explore_html.render_grid(cat, AugSpec(samples=6, seed=11), "en")
    brighter = explore_html.render_grid(cat, AugSpec(samples=6, seed=11, brightness=0.9), "en")
    reseeded = explore_html.render_grid(cat, AugSpec(samples=6, seed=12), "en")
    assert brighter["original"] == first["original"] and brighter["grid"] != first["grid"]
    assert reseeded["original"] != first["original"]


def test_augment_tiles_are_files_gradio_serves_from_its_upload_folder(client):
    tiles, _ = client.predict(None, "", 3, 0, api_name="/augment")
    assert len({tile["image"] for tile in tiles}) == 3
    for tile in tiles:
        with Image.open(tile["image"]) as image:
            assert image.format == "JPEG" and image.size == (200, 200)


def test_a_steps_grid_draws_each_tiles_outline_on_the_original_and_a_new_angle_redraws_it():
    cat = service_pictures.images.get(service_pictures.DEFAULT_IMAGE)
    turned = AugSpec.from_dict({"steps": [{"op": "RandomRotation", "degrees": 90}], "samples": 3, "seed": 1})
    shown = explore_html.render_grid(cat, turned, "en")
    again = explore_html.render_grid(cat, turned.replace(columns=2), "en")
    tilted = explore_html.render_grid(cat, AugSpec.from_dict({"steps": [{"op": "RandomRotation", "degrees": 5}],
                                                              "samples": 3, "seed": 1}), "en")
    assert again["original"] == shown["original"] and tilted["original"] != shown["original"]
