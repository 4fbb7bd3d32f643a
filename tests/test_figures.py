"""augtune.figures: crop boxes land where the params say, histograms show what was drawn and from where."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import augtune
from augtune import PRESETS, AugSpec
from augtune.figures import box_colour, distributions_figure, draw_crop_boxes, figure_to_image

GREY = (128, 128, 128)


def grey(width: int, height: int) -> Image.Image:
    return Image.new("RGB", (width, height), GREY)


def pixel(image: Image.Image, x: float, y: float) -> tuple[int, int, int]:
    return image.getpixel((int(x), int(y)))


def test_box_is_drawn_on_the_crop_edges_and_nowhere_else():
    image = grey(200, 100)
    boxed = draw_crop_boxes(image, [{"crop_box": [40, 10, 160, 90]}])
    colour = box_colour(1)
    assert boxed.size == image.size
    assert pixel(boxed, 40, 50) == colour  # left edge
    assert pixel(boxed, 159, 50) == colour  # right edge: the crop covers pixels 40..159
    assert pixel(boxed, 100, 89) == colour  # bottom edge
    assert pixel(boxed, 100, 10) == colour  # top edge
    assert pixel(boxed, 37, 50) == GREY  # just outside
    assert pixel(boxed, 162, 50) == GREY
    assert pixel(boxed, 100, 50) == GREY  # inside, away from the number label
    assert image.getpixel((40, 50)) == GREY, "the caller's image must not be drawn on"


def test_boxes_are_numbered_in_tile_order_with_their_own_colours():
    boxed = draw_crop_boxes(grey(300, 300), [{"crop_box": [10, 10, 100, 100]}, {"crop_box": [150, 150, 290, 290]}])
    assert pixel(boxed, 10, 60) == box_colour(1)
    assert pixel(boxed, 150, 220) == box_colour(2)
    assert box_colour(1) != box_colour(2)
    label = np.asarray(boxed.crop((150, 150, 175, 175)))
    assert (label.min(axis=-1) > 200).any(), "the number of box 2 is written in white in its corner"


def test_boxes_scale_with_a_shrunk_picture():
    boxed = draw_crop_boxes(grey(1000, 500), [{"crop_box": [200, 100, 800, 400]}], max_side=500)
    assert boxed.size == (500, 250)
    assert pixel(boxed, 100, 125) == box_colour(1)  # 200 * 0.5
    assert pixel(boxed, 399, 125) == box_colour(1)  # (800 - 1) * 0.5
    assert pixel(boxed, 95, 125) == GREY


def test_tiles_without_a_crop_leave_the_picture_unchanged():
    image = grey(64, 48)
    tiles = augtune.sample_grid(image, PRESETS["horizontal_flip"], 4, 0)
    assert np.array_equal(np.asarray(draw_crop_boxes(image, tiles)), np.asarray(image))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_boxes_of_real_tiles_match_their_sampled_crop(seed):
    image = grey(320, 240)
    tile = augtune.sample_grid(image, PRESETS["shape_aug"], 1, seed)[0]
    x0, y0, x1, y1 = tile.params["crop_box"]
    top, left = tile.params["crop"]["top"], tile.params["crop"]["left"]
    assert (x0, y0) == (left, top)  # no flip before the crop: the box is the crop itself
    boxed = draw_crop_boxes(image, [tile])
    middle_y = (y0 + y1) // 2
    assert pixel(boxed, x0, middle_y) == box_colour(1)
    assert pixel(boxed, x1 - 1, middle_y) == box_colour(1)
    if x0 >= 3:
        assert pixel(boxed, x0 - 3, middle_y) == GREY


def draws(spec: AugSpec, n: int = 2000, size=(320, 240)):
    return augtune.sample_params(size, spec, n, 0)


def test_one_axis_per_randomly_drawn_parameter():
    figure = distributions_figure(draws(AugSpec()), AugSpec())
    titles = [axis.get_title() for axis in figure.axes]
    assert len(figure.axes) == 7, titles  # hflip, 4 jitter factors, crop scale, crop ratio
    for word in ("horizontal flip", "brightness", "contrast", "saturation", "hue", "crop area", "crop width"):
        assert sum(word in title for title in titles) == 1, (word, titles)
    assert len(distributions_figure(draws(PRESETS["brightness"]), PRESETS["brightness"]).axes) == 1
    flips = AugSpec(hflip_p=0.3, vflip_p=0.7, brightness=0, contrast=0, saturation=0, hue=0, crop_mode="none")
    assert len(distributions_figure(draws(flips), flips).axes) == 2


def test_histograms_count_every_draw_inside_the_marked_range():
    spec = PRESETS["color_aug"]
    params = draws(spec)
    figure = distributions_figure(params, spec)
    by_title = {axis.get_title().split(":")[0]: axis for axis in figure.axes}
    for name, (low, high) in {
        "brightness factor": (0.5, 1.5),
        "contrast factor": (0.5, 1.5),
        "saturation factor": (0.5, 1.5),
        "hue shift": (-0.5, 0.5),
    }.items():
        axis = by_title[name]
        assert f"uniform on [{low:g}, {high:g}]" in axis.get_title()
        counts = [patch.get_height() for patch in axis.patches if patch.get_width() < (high - low)]
        assert sum(counts) == len(params), name
        left, right = axis.get_xlim()
        assert left <= low and right >= high
        lines = sorted(line.get_xdata()[0] for line in axis.get_lines())
        assert lines == pytest.approx([low, high]), "the range is marked at both ends"


def test_flip_panel_shows_the_share_of_flips_against_p():
    spec = AugSpec(hflip_p=0.3, brightness=0, contrast=0, saturation=0, hue=0, crop_mode="none")
    params = draws(spec)
    axis = distributions_figure(params, spec).axes[0]
    heights = [patch.get_height() for patch in axis.patches]
    share = np.mean([p["hflip"] for p in params])
    assert heights == pytest.approx([1 - share, share])
    assert abs(share - 0.3) < 0.05


def test_log_uniform_ratio_panel_uses_a_log_axis():
    spec = PRESETS["shape_aug"]
    axis = next(a for a in distributions_figure(draws(spec), spec).axes if a.get_title().startswith("crop width"))
    assert axis.get_xscale() == "log"
    assert "log-uniform on [0.5, 2]" in axis.get_title()


def test_nothing_random_says_so():
    spec = PRESETS["hotdog_test"]
    figure = distributions_figure(draws(spec, 10), spec)
    assert len(figure.axes) == 1 and not figure.axes[0].axison
    assert "Nothing is drawn at random" in figure.axes[0].texts[0].get_text()


def test_figure_to_image_renders_the_figure():
    spec = PRESETS["brightness"]
    image = figure_to_image(distributions_figure(draws(spec, 200), spec), dpi=50)
    assert image.mode == "RGB"
    assert image.size == (210, 150)  # 4.2 x 3.0 inches at 50 dpi
    assert len(set(image.getdata())) > 10
