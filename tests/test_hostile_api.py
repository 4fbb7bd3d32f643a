"""Hostile and broken input through the HTTP API of the launched app, as a class of students sends it.

Every upload a phone or a prankster can produce, and every bad setting, gets one sentence that says what is
wrong (asserted word for word; no traceback, no server path), or works. Afterwards the server still serves.
Inputs are generated here, in temporary folders; nothing large is committed.

Cases marked xfail(strict=True) are bugs found by these tests in files owned by others; each reason names
the file and the fix. When the fix lands, the test passes, strict xfail fails, and the mark must go.
"""

from __future__ import annotations

import io
import json
import math
import struct
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import augtune
from augtune import AugSpec
from augtune.spec import INT_FIELDS, RANGES
from augtune.train import INT_FIELDS as TRAIN_INT_FIELDS
from augtune.train import RANGES as TRAIN_RANGES

from tests.conftest import AppServer

SUPPORTED = "please upload a JPEG, PNG, WebP, GIF, BMP or TIFF file."
# A spec with nothing random: each tile is the uploaded picture itself, so its pixels can be checked.
UNCHANGED = json.dumps({"crop_mode": "none", "hflip_p": 0, "vflip_p": 0, "brightness": 0, "contrast": 0,
                        "saturation": 0, "hue": 0})
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


# ----------------------------------------------------------------------------------- inputs


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and header claiming width x height, with a token of pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(100))) + chunk(b"IEND", b"")


def large_photo(size: tuple[int, int]) -> Image.Image:
    """A photo-sized picture with detail everywhere, made in about a second."""
    ramp, rings = Image.linear_gradient("L"), Image.radial_gradient("L")
    return Image.merge("RGB", (ramp.resize(size), ramp.transpose(Image.Transpose.ROTATE_90).resize(size),
                               rings.resize(size)))


@pytest.fixture(scope="module")
def uploads(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile-uploads")
    files: dict[str, Path] = {}

    def keep(name: str, data: bytes | None = None) -> Path:
        files[name.split(".")[0]] = path = folder / name
        if data is not None:
            path.write_bytes(data)
        return path

    keep("empty.jpg", b"")
    keep("text-named.jpg", b"Dear diary, today we learned about image augmentation.\n")
    photo = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 300, 3), np.uint8)).save(photo, "JPEG")
    keep("truncated.jpg", photo.getvalue()[: len(photo.getvalue()) // 2])
    keep("bomb.png", png_header_only(30000, 30000))
    keep("drawing.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9" height="9">'
                        b'<rect width="9" height="9"/></svg>')
    keep("phone.heic", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(300))

    large_photo((8000, 6000)).save(keep("large.jpg"), quality=85)
    Image.new("RGB", (1, 1), RED).save(keep("dot.png"))
    Image.new("RGB", (10000, 10), GREEN).save(keep("thin.png"))
    frames = [Image.new("RGB", (64, 48), colour) for colour in (RED, GREEN, BLUE)]
    frames[0].save(keep("animated.gif"), save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(keep("pages.tif"), save_all=True, append_images=frames[1:])
    Image.new("CMYK", (64, 48), (0, 255, 255, 0)).save(keep("cmyk.jpg"))  # pure red in ink
    levels = (np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16)  # 0 .. 61420 of 65535
    Image.fromarray(levels).save(keep("deep.png"))
    palette = Image.new("P", (64, 48), 0)
    palette.putpalette([*RED, *BLUE] + [0] * 762)
    palette.paste(1, (0, 0, 32, 48))  # left half blue, right half colour 0: transparent
    palette.save(keep("palette.png"), transparency=0)
    return files


def leaks_nothing(message: str, server: AppServer) -> bool:
    return not any(secret in message for secret in ("Traceback", 'File "', str(server.tmp), "/tmp/", "gradio_tmp"))


def refusal(client: Client, *args) -> str:
    with pytest.raises(Exception) as caught:
        client.predict(*args, api_name="/augment")
    return str(caught.value)


def tile_pixels(tile: dict) -> np.ndarray:
    with Image.open(tile["image"]) as image:
        return np.asarray(image.convert("RGB"), dtype=int)


def raw_augment(server: AppServer, body: str, endpoint: str = "augment") -> tuple[str, str]:
    """POST a hand-written JSON body to an endpoint (for values gradio_client refuses to send, like NaN);
    returns the SSE event's kind ("complete" or "error") and its message or data."""
    url = server.url + f"gradio_api/call/{endpoint}"
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{url}/{event_id}", timeout=120) as response:
        stream = response.read().decode()
    kind = data = ""
    for line in stream.splitlines():
        if line.startswith("event: "):
            kind = line[len("event: "):].strip()
        elif line.startswith("data: ") and kind in ("complete", "error"):
            data = line[len("data: "):]
    if kind == "error":
        message = (json.loads(data) if data.strip() not in ("", "null") else {}) or {}
        return kind, message.get("error") or ""
    return kind, data


def raw_upload(server: AppServer, name: str, data: bytes) -> tuple[int, str]:
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(server.url + "gradio_api/upload", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


# ----------------------------------------------------------------------------------- uploads refused


@pytest.mark.parametrize(
    "name, sentence",
    [
        ("empty", "The file is empty."),
        ("text-named", f"This file is not an image augtune can read; {SUPPORTED}"),
        ("truncated", "The image file is incomplete (truncated); please upload it again."),
        ("bomb", "The image is too large (900 megapixels): at most 50 megapixels are accepted."),
        ("drawing", f"SVG images are not supported; {SUPPORTED}"),
        ("phone", f"HEIC images are not supported; {SUPPORTED}"),
    ],
)
def test_an_unusable_upload_gets_one_sentence(client, app_server, uploads, name, sentence):
    message = refusal(client, handle_file(str(uploads[name])), "", 2, 0)
    assert message == sentence
    assert leaks_nothing(message, app_server)
    assert app_server.alive()


def test_the_decompression_bomb_is_refused_before_it_is_decoded(client, app_server, uploads):
    refusal(client, handle_file(str(uploads["bomb"])), "", 2, 0)
    # Decoding 30000 x 30000 RGB pixels would need 2.7 GB; the server never came near that.
    assert peak_rss_mb(app_server.process.pid) < 2000


def test_the_ui_says_the_same_sentences_in_both_languages(uploads):
    from augtune.service.explore_form import widgets_from_spec
    from augtune.service.explore_text import localize_error
    from augtune.ui import explore_events

    values = widgets_from_spec(AugSpec(samples=2))
    for name in ("empty", "text-named", "truncated", "bomb", "drawing", "phone"):
        core_sentence = None
        try:
            augtune.load_image(uploads[name])
        except ValueError as error:
            core_sentence = str(error)
        assert core_sentence, name
        for locale in ("en", "zh-CN"):
            outputs = explore_events.on_image_upload(locale, None, str(uploads[name]), None, *values)
            assert outputs[-1] == "⚠ " + localize_error(core_sentence, locale)
            assert outputs[-1] != "⚠ " + core_sentence or locale == "en", f"{name}: not translated"
            assert outputs[0] is not None and outputs[1] is None  # current image kept, drop zone emptied


# ----------------------------------------------------------------------------------- uploads accepted


@pytest.mark.parametrize(
    "name, size, top_left, right_middle",
    [
        ("dot", (1, 1), RED, RED),
        ("thin", (1024, 1), GREEN, GREEN),  # 10000 x 10, shown reduced to the 1024-pixel tile limit
        ("animated", (64, 48), RED, RED),  # the first frame
        ("pages", (64, 48), RED, RED),  # the first page
        ("cmyk", (64, 48), RED, RED),
        ("deep", (64, 48), (0, 0, 0), (124, 124, 124)),  # 16-bit grey levels scaled to 8 bits
        ("palette", (64, 48), BLUE, (255, 255, 255)),  # transparency on white
    ],
)
def test_an_unusual_but_valid_upload_works(client, app_server, uploads, name, size, top_left, right_middle):
    tiles, params = client.predict(handle_file(str(uploads[name])), UNCHANGED, 1, 0, api_name="/augment")
    assert len(tiles) == 1 and params == [{}]
    pixels = tile_pixels(tiles[0])
    assert pixels.shape[:2] == (size[1], size[0])
    assert np.abs(pixels[0, 0] - top_left).max() <= 3  # JPEG on the way out
    assert np.abs(pixels[pixels.shape[0] // 2, -1] - right_middle).max() <= 3
    tiles, params = client.predict(handle_file(str(uploads[name])), "", 4, 1, api_name="/augment")
    assert len(tiles) == 4 and all("crop_box" in tile for tile in params)


def test_a_large_photo_is_accepted_and_worked_on_a_reduced_copy(client, app_server, uploads):
    tiles, params = client.predict(handle_file(str(uploads["large"])), "", 16, 0, api_name="/augment")
    assert len(tiles) == 16 and all(tile_pixels(tile).shape == (200, 200, 3) for tile in tiles)
    whole, _ = client.predict(handle_file(str(uploads["large"])), UNCHANGED, 1, 0, api_name="/augment")
    assert tile_pixels(whole[0]).shape == (768, 1024, 3)  # 8000 x 6000, never sent back at full size
    assert peak_rss_mb(app_server.process.pid) < 2000


def test_a_large_photo_reports_crop_boxes_in_its_own_pixels(client, uploads):
    _, params = client.predict(handle_file(str(uploads["large"])), "", 4, 0, api_name="/augment")
    original = augtune.load_image(uploads["large"])
    expected = [tile.params for tile in augtune.sample_grid(original, AugSpec(), 4, 0)]
    assert [tile["crop_box"] for tile in params] == [tile["crop_box"] for tile in expected]


# ----------------------------------------------------------------------------------- caps (a second server)


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory):
    server = AppServer(tmp_path_factory.mktemp("capped"), {"AUGTUNE_MAX_UPLOAD": "200kb",
                                                            "AUGTUNE_MAX_PIXELS": "2000000"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def capped_client(capped_server):
    return Client(capped_server.url, verbose=False)


def test_a_file_over_the_upload_cap_is_refused(capped_client, capped_server, tmp_path):
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (400, 400, 3), np.uint8)).save(noise)
    assert noise.stat().st_size > 200 * 1024
    # gradio_client and the browser check the cap the server announces before sending a byte...
    message = refusal(capped_client, handle_file(str(noise)), "", 2, 0)
    assert "exceeds the maximum file size of 204800 bytes" in message
    # ...and the server refuses a request that ignores it, keeping nothing of it.
    before = {path for path in (capped_server.tmp / "gradio_tmp").rglob("*") if path.is_file()}
    status, body = raw_upload(capped_server, "noise.png", noise.read_bytes())
    assert status == 413 and body == "File size exceeded maximum allowed size of 204800 bytes."
    after = {path for path in (capped_server.tmp / "gradio_tmp").rglob("*") if path.is_file()}
    assert not [path for path in after - before if path.stat().st_size > 0]
    assert capped_server.alive()


def test_the_pixel_cap_is_set_by_the_environment(capped_client, capped_server, tmp_path):
    over, under = tmp_path / "over.png", tmp_path / "under.png"
    Image.new("RGB", (1500, 1500), (90, 90, 90)).save(over)
    Image.new("RGB", (1000, 1000), (90, 90, 90)).save(under)
    message = refusal(capped_client, handle_file(str(over)), "", 2, 0)
    assert message == "The image is too large (2.25 megapixels): at most 2 megapixels are accepted."
    tiles, _ = capped_client.predict(handle_file(str(under)), "", 2, 0, api_name="/augment")
    assert len(tiles) == 2 and capped_server.alive()


def test_an_upload_name_cannot_climb_out_of_the_upload_folder(app_server):
    status, body = raw_upload(app_server, "../../../escaped.png", png_header_only(4, 4))
    assert status == 200
    (stored,) = json.loads(body)
    assert Path(stored).resolve().is_relative_to((app_server.tmp / "gradio_tmp").resolve())
    assert Path(stored).name == "escaped.png"


@pytest.mark.parametrize("path", ["/etc/passwd", str(Path(__file__).resolve()), "../../../../etc/passwd",
                                  "http://127.0.0.1:9/x.png"])
def test_the_api_reads_no_file_it_was_not_given(app_server, path):
    kind, message = raw_augment(app_server, json.dumps(
        {"data": [{"path": path, "meta": {"_type": "gradio.FileData"}}, "", 2, 0]}))
    assert kind == "error"
    assert "root:" not in message and "import" not in message and leaks_nothing(message, app_server)


# ----------------------------------------------------------------------------------- settings


def fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def outside(name: str) -> tuple:
    low, high = RANGES[name]
    step = 1 if name in INT_FIELDS else 0.01
    return round(low - step, 6) if step < 1 else low - step, round(high + step, 6) if step < 1 else high + step


# Values that must go with a field at an end of its range, so that only that field is being tested.
PARTNERS = {
    ("scale_max", "low"): {"scale_min": 0.01},
    ("ratio_max", "low"): {"ratio_min": 0.1},
    ("ratio_min", "high"): {"ratio_max": 10.0},
    ("resize_size", "low"): {"crop_mode": "center", "crop_size": 32},
    ("resize_size", "high"): {"crop_mode": "center"},
    ("crop_size", "low"): {"crop_mode": "center"},
    ("crop_size", "high"): {"crop_mode": "center", "resize_size": 512},
}


@pytest.mark.parametrize("name", sorted(RANGES))
def test_each_numeric_setting_at_its_limits_works(client, name):
    for end, value in zip(("low", "high"), RANGES[name]):
        settings = {name: value, **PARTNERS.get((name, end), {})}
        n = None if name == "samples" else 1
        if name == "samples" and end == "high":
            settings["crop_size"] = 32  # 64 small tiles
        tiles, params = client.predict(None, json.dumps(settings), n, None, api_name="/augment")
        assert len(tiles) == (value if name == "samples" else 1), (name, end)


@pytest.mark.parametrize("name", sorted(RANGES))
def test_each_numeric_setting_outside_its_range_or_not_finite_gets_one_sentence(client, app_server, name):
    low, high = RANGES[name]
    for value in outside(name):
        message = refusal(client, None, json.dumps({name: value}), 1, None)
        assert message == f"{name} must be between {fmt(low)} and {fmt(high)}, got {fmt(value)}."
    for literal, shown in (("NaN", "nan"), ("Infinity", "inf")):
        message = refusal(client, None, f'{{"{name}": {literal}}}', 1, None)
        assert message == f"{name} must be a finite number, got {shown}."
        assert leaks_nothing(message, app_server)


@pytest.mark.parametrize("name", ["brightness", "crop_size"])  # one float and one whole-number field
def test_a_setting_that_is_not_a_number_gets_one_sentence(client, name):
    assert refusal(client, None, f'{{"{name}": -Infinity}}', 1, None) == f"{name} must be a finite number, got -inf."
    for literal, shown in (('"0.5"', "'0.5'"), ("true", "True"), ("null", "None"), ("[1]", "[1]")):
        assert refusal(client, None, f'{{"{name}": {literal}}}', 1, None) == f"{name} must be a number, got {shown}."


def test_whole_number_settings_refuse_fractions(client):
    for name in sorted(INT_FIELDS):
        assert refusal(client, None, json.dumps({name: 40.5}), 1, None) == f"{name} must be a whole number, got 40.5."


@pytest.mark.parametrize(
    "settings, sentence",
    [
        ({"scale_min": 0.9, "scale_max": 0.5}, "scale_min (0.9) must not be larger than scale_max (0.5)."),
        ({"ratio_min": 3, "ratio_max": 2}, "ratio_min (3) must not be larger than ratio_max (2)."),
        ({"crop_mode": "center", "resize_size": 100, "crop_size": 200},
         "resize_size (100) must be at least crop_size (200) for a centre crop."),
        ({"crop_mode": "zoom"}, "crop_mode must be one of random, center, none, got 'zoom'."),
        ({"crop_mode": []}, "crop_mode must be one of random, center, none, got []."),
        ({"order": ["flip", "flip", "crop"]}, "order must list the stages flip, color, crop once each, got ['flip', 'flip', 'crop']."),
        ({"order": "flip"}, "order must list the stages flip, color, crop once each, got 'flip'."),
    ],
)
def test_settings_that_contradict_each_other_get_one_sentence(client, settings, sentence):
    assert refusal(client, None, json.dumps(settings), 1, None) == sentence


@pytest.mark.parametrize(
    "n, sentence",
    [
        (0, "samples must be between 1 and 64, got 0."),
        (-1, "samples must be between 1 and 64, got -1."),
        (65, "samples must be between 1 and 64, got 65."),
        (10**12, "samples must be between 1 and 64, got 1000000000000."),
    ],
)
def test_n_outside_one_to_the_cap_gets_one_sentence(client, n, sentence):
    assert refusal(client, None, "", n, 0) == sentence


def test_n_at_the_cap_works(client):
    tiles, params = client.predict(None, json.dumps({"crop_size": 32}), 64, 0, api_name="/augment")
    assert len(tiles) == 64 and len(params) == 64


@pytest.mark.parametrize("seed", [-1, 2**63, 2**64, 10**30])
def test_a_seed_outside_64_bits_gets_one_sentence(client, seed):
    assert refusal(client, None, "", 1, seed) == f"seed must be between 0 and 9223372036854775807, got {seed}."


def test_the_largest_seed_works_and_repeats(client):
    first = client.predict(None, "", 2, 2**63 - 1, api_name="/augment")[1]
    again = client.predict(None, "", 2, 2**63 - 1, api_name="/augment")[1]
    assert first == again and len(first) == 2


@pytest.mark.parametrize("n, seed", [("NaN", "0"), ("Infinity", "0"), ('"two"', "0"), ("2", "NaN"), ("2", "-Infinity")])
def test_nan_infinity_and_text_for_n_or_seed_get_one_sentence(app_server, n, seed):
    kind, message = raw_augment(app_server, f'{{"data": [null, "", {n}, {seed}]}}')
    assert kind == "error"
    assert ("samples must be" in message or "seed must be" in message), repr(message)


@pytest.mark.parametrize(
    "spec_json",
    ["{not json", '{"hue": 0.2', '{"hue": 0.2,}', "{'hue': 0.2}", '{"hue": 0.2} trailing', "\x00\x01", "[", "{}}"],
)
def test_malformed_json_gets_one_sentence(client, app_server, spec_json):
    message = refusal(client, None, spec_json, 1, 0)
    assert message.startswith("Settings are not valid JSON: ") and message.endswith(".")
    assert leaks_nothing(message, app_server)


def test_deeply_nested_json_gets_one_sentence(client):
    message = refusal(client, None, "[" * 100_000 + "]" * 100_000, 1, 0)
    assert message.startswith("Settings are not valid JSON")


@pytest.mark.parametrize(
    "spec_json, sentence",
    [
        ('{"brightnes": 0.5, "hue": 0.1}', "Unknown setting(s): brightnes."),
        ('{"zoom": 2, "tilt": 1}', "Unknown setting(s): tilt, zoom."),
        ("null", "Settings must be a JSON object of named fields, got NoneType."),
        ("[1, 2]", "Settings must be a JSON object of named fields, got list."),
        ('"hue"', "Settings must be a JSON object of named fields, got str."),
        ("5", "Settings must be a JSON object of named fields, got int."),
    ],
)
def test_unknown_keys_and_non_objects_get_one_sentence(client, spec_json, sentence):
    assert refusal(client, None, spec_json, 1, 0).startswith(sentence)


def test_a_huge_unknown_key_gets_a_short_sentence(client):
    message = refusal(client, None, json.dumps({"k" * 10_000: 1}), 1, 0)
    assert message.startswith("Unknown setting(s): ") and len(message) < 500


def test_empty_settings_mean_the_lessons_pipeline(client):
    for spec_json in ("", "   ", "{}"):
        tiles, params = client.predict(None, spec_json, 2, 0, api_name="/augment")
        assert len(tiles) == 2 and set(params[0]) >= {"hflip", "brightness", "crop_box"}


# ----------------------------------------------------------------------------------- training settings


def raw_call(server: AppServer, endpoint: str, body: str) -> tuple[str, str]:
    return raw_augment(server, body, endpoint)


def train_refusal(client: Client, config) -> str:
    with pytest.raises(Exception) as caught:
        client.predict(None, config, api_name="/finetune_start")
    return str(caught.value)


def train_fmt(name: str, value) -> str:
    return str(int(value)) if name in TRAIN_INT_FIELDS else f"{value:g}"


TINY_RUN = {"data": "synthetic", "pretrained": False, "epochs": 1, "batch_size": 8, "image_size": 32}


@pytest.mark.parametrize(
    "name", sorted(TRAIN_RANGES))
def test_each_training_setting_outside_its_range_gets_one_sentence(client, app_server, name):
    low, high = TRAIN_RANGES[name]
    below = low - 1 if name in TRAIN_INT_FIELDS else (low / 10 if low > 0 else -0.5)
    above = high + 1 if name in TRAIN_INT_FIELDS else high * 2
    for value in (below, above):
        message = train_refusal(client, {**TINY_RUN, name: value})
        assert message == (f"{name} must be between {train_fmt(name, low)} and {train_fmt(name, high)}, "
                           f"got {train_fmt(name, value)}.")
        assert leaks_nothing(message, app_server)


@pytest.mark.parametrize("name", sorted(TRAIN_RANGES))
def test_each_training_setting_that_is_not_a_finite_number_gets_one_sentence(client, app_server, name):
    for literal, shown in (("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf")):
        kind, message = raw_call(app_server, "finetune_start",
                                 f'{{"data": [null, {{"data": "synthetic", "{name}": {literal}}}]}}')
        assert (kind, message) == ("error", f"{name} must be a finite number, got {shown}.")
    # A number sent as text: the one number check's sentence (augtune.numbers), as for the Explore settings
    assert train_refusal(client, {**TINY_RUN, name: "5"}) == f"{name} must be a number, got '5'."


@pytest.mark.parametrize(
    "config, sentence",
    [
        ([1, 2], "config must be a JSON object of training settings."),
        ({"data": "synthetic", "dropout": 0.5}, "Unknown training setting(s): dropout."),
        ({"data": "synthetic", "augment": "zoom"}, "augment must be a preset"),
        ({"data": "synthetic", "augment": {"hue": 0.9}}, "hue must be between 0 and 0.5, got 0.9."),
        ({"data": "synthetic", "optimizer": "rmsprop"}, "optimizer must be one of sgd, adam, got 'rmsprop'."),
        ({"data": "synthetic", "device": "tpu"}, "device must be one of auto, cpu, cuda, mps or cuda:N, got 'tpu'."),
        ({"data": "synthetic", "label": "x" * 201}, "label must be a short text (at most 200 characters)."),
        ({"data": ""}, "data must name a data set"),
        ({"data": "synthetic", "weights_path": "/etc/passwd"}, "weights_path cannot be set through the API"),
    ],
)
def test_bad_training_requests_get_one_sentence(client, app_server, config, sentence):
    message = train_refusal(client, config)
    assert message.startswith(sentence)
    assert leaks_nothing(message, app_server)


def test_a_data_path_that_leaves_the_data_folder_is_refused(client, app_server, tmp_path):
    outside = tmp_path / "elsewhere"
    (outside / "cat").mkdir(parents=True)
    shortcut = app_server.tmp / "data" / "shortcut"
    shortcut.symlink_to(outside, target_is_directory=True)
    try:
        for data in ("/etc", "../../../../etc", "shortcut", str(outside), "shortcut/../../elsewhere"):
            with pytest.raises(Exception) as refused:
                client.predict(data, api_name="/finetune_data")
            assert str(refused.value) == f"The data path {data!r} is outside the data folder, so it cannot be used."
    finally:
        shortcut.unlink()  # the data root is shared with the other tests of the session


# ----------------------------------------------------------------------------------- memory over a lesson


def test_a_picture_nobody_uses_any_more_is_not_kept_by_the_grid_cache():
    import gc
    import weakref

    pictures = [Image.new("RGB", (640, 480), (shade, 0, 0)) for shade in (10, 20, 30)]
    for picture in pictures:
        augtune.sample_grid(picture, AugSpec(samples=1))
    kept = [weakref.ref(picture) for picture in pictures]
    del pictures, picture
    gc.collect()
    assert [ref() for ref in kept] == [None, None, None]


# ----------------------------------------------------------------------------------- afterwards


def test_after_all_of_that_the_server_still_serves(client, app_server):
    assert app_server.alive()
    spec = AugSpec(crop_size=64)
    tiles, params = client.predict(None, spec.to_json(), 3, 7, api_name="/augment")
    assert len(tiles) == 3 and len(params) == 3
    cat = augtune.load_image(Path(augtune.__file__).resolve().parents[1] / "assets" / "cat.png")
    assert params == json.loads(json.dumps([tile.params for tile in augtune.sample_grid(cat, spec, 3, 7)]))
    assert math.isfinite(peak_rss_mb(app_server.process.pid))


# ----------------------------------------------------------------------------------- pipelines of steps


from augtune.ops import OPS  # noqa: E402
from tests.test_ops import EXAMPLES  # noqa: E402

# Per kind of param: what a prankster sends, and the start of the sentence it gets.
HOSTILE = {
    "float": [(1e30, "must be between"), ("NaN", "must be a finite number"), ('"x"', "must be a number")],
    "int": [(-(10**9), "must be between"), (2.5, "must be a whole number"), ("[1, 2]", "must be a number")],
    "bool": [('"yes"', "must be true or false")],
    "choice": [('"sideways"', "must be one of")],
    "range": [("[1e30, 1e31]", "must be"), ("[0.5]", "must be a pair"), ("null", "must be a pair")],
    "pair": [("[-5, 1e30]", "must be between"), ('"0.1"', "must be a pair")],
    "spread": [("1e30", "must be between"), ("[Infinity, 1]", "must be a finite number")],
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_param_of_every_op_answers_hostile_values_with_a_sentence(client, app_server, name):
    """Each op, each param, each hostile value through /augment: one sentence naming the op's field; then the
    op's example still draws a grid (the server still serves)."""
    example = json.dumps({"op": name, **EXAMPLES[name]})
    for param in OPS[name].params:
        for literal, start in HOSTILE[param.kind]:
            settings = example[:-1] + f', "{param.name}": {literal}}}'
            message = refusal(client, None, f'{{"steps": [{settings}], "samples": 1}}', 1, None)
            assert message.startswith(f"{name}.{param.name} {start}"), (param.name, literal, message)
            assert message.endswith(".") and "\n" not in message and leaks_nothing(message, app_server)
    tiles, params = client.predict(None, json.dumps({"steps": [json.loads(example)], "samples": 2}), 2, 0,
                                   api_name="/augment")
    assert len(tiles) == 2 and params[0]["steps"][0]["op"] == name


def test_a_grid_of_steps_comes_back_with_each_ops_values_and_captions(client):
    settings = {"steps": [{"op": "RandomRotation", "degrees": 30},
                          {"op": "RandomApply", "p": 0.5, "transforms": [{"op": "GaussianBlur", "kernel_size": 5}]},
                          {"op": "RandomResizedCrop", "size": 64}], "samples": 4, "columns": 2, "seed": 0}
    tiles, params = client.predict(None, json.dumps(settings), 4, 3, api_name="/augment")
    assert [entry["op"] for entry in params[0]["steps"]][:2] == ["RandomRotation", "RandomApply"]
    assert all(tile["caption"].startswith(f"#{number} · Random rotation: angle") for number, tile in enumerate(tiles, 1))
    local = augtune.sample_grid(augtune.load_image(Path(augtune.__file__).parents[1] / "assets" / "cat.png"),
                                AugSpec.from_dict({**settings, "seed": 3}))
    assert [tile.params for tile in local] == params


def test_steps_that_cannot_run_on_the_picture_get_one_sentence(client, app_server):
    message = refusal(client, None, json.dumps({"steps": [{"op": "RandomCrop", "size": 2000}]}), 1, None)
    assert message.startswith("RandomCrop cannot run on a picture of 451 x 300 pixels: ")
    assert leaks_nothing(message, app_server)
    message = refusal(client, None, json.dumps({"steps": [{"op": "Sharpen"}]}), 1, None)
    assert message.startswith("step 1: there is no op 'Sharpen'; the ops are ")
