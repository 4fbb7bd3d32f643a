"""load_image: every ordinary photo becomes RGB the right way up; everything else gets one sentence."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from augtune import imageio, load_image
from augtune.imageio import ImageError


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def gradient(width=64, height=48) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float64)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float64)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1).astype(np.uint8), "RGB")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_each_format_decodes_to_rgb(fmt):
    image = load_image(encode(gradient(), fmt))
    assert image.mode == "RGB" and image.size == (64, 48)
    # Lossy formats and GIF's palette move colours a little; the picture must still be the gradient.
    left, right = np.asarray(image)[:, :4, 0].mean(), np.asarray(image)[:, -4:, 0].mean()
    assert left < 40 and right > 215


def test_rgba_transparency_goes_on_white():
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 5, 10))
    image = load_image(encode(rgba, "PNG"))
    assert image.getpixel((8, 5)) == (255, 255, 255)
    assert image.getpixel((2, 5)) == (0, 0, 255)


def test_palette_png_with_transparency():
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    palette.paste(0, (0, 0, 4, 8))
    image = load_image(encode(palette, "PNG", transparency=0))
    assert image.getpixel((1, 1)) == (255, 255, 255)
    assert image.getpixel((6, 1)) == (10, 200, 30)


def test_grayscale_and_la():
    grey = load_image(encode(Image.new("L", (5, 5), 77), "PNG"))
    assert grey.getpixel((0, 0)) == (77, 77, 77)
    la = load_image(encode(Image.new("LA", (5, 5), (77, 255)), "PNG"))
    assert la.getpixel((0, 0)) == (77, 77, 77)


def test_16_bit_grayscale_png_keeps_its_tones():
    values = np.array([[0, 65535], [32896, 16448]], dtype=np.uint16)
    image = load_image(encode(Image.fromarray(values), "PNG"))
    assert [image.getpixel(p)[0] for p in ((0, 0), (1, 0), (0, 1), (1, 1))] == [0, 255, 128, 64]


def test_16_bit_rgb_png():
    # Pillow cannot write 48-bit PNGs, so write the chunks by hand: a 2x1 image, red then half-grey.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 2, 1, 16, 2, 0, 0, 0)
    row = b"\x00" + struct.pack(">6H", 65535, 0, 0, 32896, 32896, 32896)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row)) + chunk(b"IEND", b"")
    image = load_image(png)
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (255, 0, 0)
    assert all(abs(c - 128) <= 1 for c in image.getpixel((1, 0)))


def test_cmyk_jpeg():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    image = load_image(encode(cmyk, "JPEG", quality=95))
    r, g, b = image.getpixel((8, 8))
    assert r > 200 and g < 60 and b < 60


def test_exif_orientation_is_applied():
    picture = Image.new("RGB", (40, 20), (0, 0, 0))
    picture.paste((255, 255, 255), (0, 0, 10, 20))  # white on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image = load_image(encode(picture, "JPEG", exif=exif.tobytes(), quality=95))
    assert image.size == (20, 40)
    assert np.asarray(image)[:5, :, 0].mean() > 200  # the white strip is now at the top


def test_animated_gif_and_multipage_tiff_give_the_first_frame():
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    for fmt in ("GIF", "TIFF"):
        data = encode(frames[0], fmt, save_all=True, append_images=frames[1:])
        assert Image.open(io.BytesIO(data)).n_frames == 3
        r, g, b = load_image(data).getpixel((4, 4))
        assert r > 200 and g < 50 and b < 50, fmt


def test_max_side_reduces_large_photos_quickly():
    photo = encode(gradient(4000, 3000), "JPEG", quality=90)
    image = load_image(photo, max_side=1024)
    assert max(image.size) == 1024 and image.size == (1024, 768)
    assert load_image(photo).size == (4000, 3000)


def test_pixel_cap_below_pillows_own_guard(monkeypatch):
    monkeypatch.setattr(imageio, "MAX_PIXELS", 1000)
    with pytest.raises(ImageError, match=r"too large \(0.0016 megapixels\): at most 0.001 megapixels"):
        load_image(encode(Image.new("RGB", (40, 40)), "PNG"))
    assert load_image(encode(Image.new("RGB", (20, 20)), "PNG")).size == (20, 20)


def test_tiny_and_thin_images():
    assert load_image(encode(Image.new("RGB", (1, 1), (9, 8, 7)), "PNG")).getpixel((0, 0)) == (9, 8, 7)
    assert load_image(encode(Image.new("RGB", (10000, 10)), "PNG")).size == (10000, 10)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"Hello, this is a text file pretending to be a photo.\n" * 3, "not an image"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG images are not supported"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "HEIC images are not supported"),
    ],
)
def test_refusals_are_one_sentence(data, words):
    with pytest.raises(ImageError) as caught:
        load_image(data)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)


def test_truncated_jpeg():
    data = encode(gradient(256, 256), "JPEG")
    with pytest.raises(ImageError, match="incomplete|damaged"):
        load_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    # A PNG header claiming 30000 x 30000 pixels, with almost no data behind it.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
    with pytest.raises(ImageError, match=f"too large \\(900 megapixels\\).*at most {imageio.MAX_PIXELS / 1e6:g} megapixels"):
        load_image(png)


def test_pil_images_pass_through_with_mode_conversion():
    assert load_image(Image.new("L", (3, 3), 5)).mode == "RGB"
    rgb = gradient()
    assert load_image(rgb).tobytes() == rgb.tobytes()


def test_missing_file_is_a_sentence(tmp_path):
    with pytest.raises(ImageError, match="No image file"):
        load_image(tmp_path / "nope.jpg")
