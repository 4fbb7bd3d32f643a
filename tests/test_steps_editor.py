"""Explore's step editor without a browser: its edits as functions of the pipeline (augtune.service.steps_form),
the controls each op gets, and the callbacks that turn an edit into a grid (augtune.ui.explore_events)."""

from __future__ import annotations

import re

import gradio as gr
import pytest

from augtune import PRESETS, AugSpec
from augtune.ops import OPS
from augtune.pipeline import as_steps
from augtune.service import steps_form
from augtune.service.explore_form import FIELDS, pipeline_of, spec_from_widgets, widgets_from_spec
from augtune.service.i18n import STRINGS
from augtune.ui import explore_events

from .test_ops import EXAMPLES


def ops_of(pipeline):
    return [step["op"] for step in pipeline]


def grid_captions(outputs) -> list[str]:
    """The tiles' captions in the grid HTML a callback returned (its last six outputs: grid first)."""
    return re.findall(r'alt="([^"]*)"', outputs[-6])


# ---------------------------------------------------------------------------- the edits


def test_adding_moving_and_removing_steps_keeps_a_mixing_op_last():
    pipeline = steps_form.with_step_added([], "RandomRotation")
    assert pipeline == [{"op": "RandomRotation", "degrees": 30.0, "interpolation": "nearest", "expand": False, "fill": 0}]
    pipeline = steps_form.with_step_added(pipeline, "CutMix")
    pipeline = steps_form.with_step_added(pipeline, "ColorJitter")
    assert ops_of(pipeline) == ["RandomRotation", "ColorJitter", "CutMix"], "a new op goes before the mixing one"
    assert ops_of(steps_form.with_step_added(pipeline, "MixUp")) == ["RandomRotation", "ColorJitter", "MixUp"]
    assert ops_of(steps_form.with_step_moved(pipeline, 1, -1)) == ["ColorJitter", "RandomRotation", "CutMix"]
    assert steps_form.with_step_moved(pipeline, 1, +1) == pipeline, "CutMix stays last"
    assert steps_form.with_step_moved(pipeline, 0, -1) == pipeline
    assert ops_of(steps_form.with_step_removed(pipeline, 0)) == ["ColorJitter", "CutMix"]
    with pytest.raises(ValueError, match="no op"):
        steps_form.with_step_added(pipeline, "RandomTeleport")


def test_a_probability_below_one_wraps_the_step_in_random_apply_and_one_unwraps_it():
    pipeline = steps_form.with_step_added([], "RandomInvert")
    wrapped = steps_form.with_apply_p(pipeline, 0, 0.25)
    assert wrapped == [{"op": "RandomApply", "p": 0.25, "transforms": pipeline}]
    rows = steps_form.rows(wrapped)
    assert rows[0].apply_p == 0.25 and rows[0].inner == [((0, 0), pipeline[0])]
    edited = steps_form.with_value(wrapped, (0, 0), "p", 0.75)
    assert edited[0]["transforms"][0]["p"] == 0.75
    assert steps_form.with_apply_p(edited, 0, 1.0) == [{**pipeline[0], "p": 0.75}]


def test_a_value_is_checked_by_the_op_and_a_bad_one_named():
    pipeline = steps_form.with_step_added([], "RandomAffine")
    assert steps_form.with_value(pipeline, (0,), "scale", 0.5, part=0)[0]["scale"] == [0.5, 1.0]
    with pytest.raises(ValueError, match=r"^RandomAffine.degrees must be between 0 and 180, got 500"):
        steps_form.with_value(pipeline, (0,), "degrees", 500)
    with pytest.raises(ValueError, match=r"RandomAffine.scale must be a pair \[low, high\] with low not above high"):
        steps_form.with_value(pipeline, (0,), "scale", 2.0, part=0)


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_param_of_every_op_has_a_control_that_sets_it(name):
    """Registered means editable: each param gets a widget with words in both languages, and the value a widget
    shows, sent back as a user's edit, is the op's value again."""
    pipeline = steps_form.normalized([{"op": name, **EXAMPLES[name]}])
    step, path = pipeline[0], (0,)
    controls = steps_form.controls(name, step)
    assert {control.param for control in controls} == {param.name for param in OPS[name].params}
    for control in controls:
        for table in STRINGS.values():
            assert table[control.label] and (control.info is None or table[control.info])
        if control.kind == "slider":
            assert control.minimum <= control.value <= control.maximum
        if control.kind == "dropdown":
            assert control.value in control.choices
        assert steps_form.with_value(pipeline, path, control.param, control.value, control.part) == pipeline
    for table in STRINGS.values():
        assert table[f"op.{name}.help"] and name in table[f"op.{name}.choice"]


def test_the_add_list_holds_every_op_once():
    assert sorted(name for _key, name in steps_form.op_choices()) == sorted(OPS)


# ---------------------------------------------------------------------------- the callbacks


def sliders(spec: AugSpec = AugSpec()) -> list:
    return widgets_from_spec(spec)


@pytest.mark.parametrize("name", ["combined", "hotdog_test", "color_aug"])
def test_leaving_the_sliders_for_steps_keeps_the_grid_tile_for_tile(name):
    values = sliders(PRESETS[name].replace(samples=4))
    lesson = explore_events.on_change("en", None, None, *values, None)
    pipeline, editor, *shown = explore_events.on_mode("en", None, None, "steps", *values, None)
    assert pipeline == pipeline_of(as_steps(PRESETS[name])) and editor["steps"] == pipeline
    assert re.findall(r'src="([^"]*)"', shown[0]) == re.findall(r'src="([^"]*)"', lesson[0]), "the same pictures"
    assert spec_from_widgets([*values, pipeline]).steps == as_steps(PRESETS[name]).steps
    back = explore_events.on_mode("en", None, None, "lesson", *values, pipeline)
    assert back[:2][0] is None and back[2] == lesson[0]


def test_a_policy_preset_opens_the_editor_and_each_tile_says_what_the_policy_drew():
    outputs = explore_events.preset_handler("randaugment")("zh-CN", None, None)
    pipeline, mode, editor = outputs[len(FIELDS): len(FIELDS) + 3]
    assert pipeline == [{"op": "RandAugment", "num_ops": 2, "magnitude": 9, "num_magnitude_bins": 31,
                         "interpolation": "nearest", "fill": 0}]
    assert mode == "steps" and editor["steps"] == pipeline
    assert all("RandAugment" in caption and "ops" in caption for caption in grid_captions(outputs))
    assert "v2.RandAugment(num_ops=2, magnitude=9" in outputs[-3]


def test_an_edit_redraws_the_grid_and_a_refused_one_changes_nothing():
    values = [*sliders(AugSpec(samples=3)), steps_form.with_step_added([], "RandomRotation")]
    pipeline, *shown = explore_events.value_handler((0,), "degrees", None)("en", None, None, 90, *values)
    assert pipeline[0]["degrees"] == 90.0 and "degrees=90.0" in shown[3]
    angles = [float(re.search(r"angle (-?[\d.]+)", caption)[1]) for caption in grid_captions(shown)]
    assert len(angles) == 3 and all(-90 <= angle <= 90 for angle in angles) and max(map(abs, angles)) > 30
    refused = explore_events.value_handler((0,), "degrees", None)("zh-CN", None, None, 500, *values)
    assert refused[:-1] == [gr.skip()] * 6
    assert refused[-1] == "⚠ “RandomRotation.degrees”必须在 0 到 180 之间，当前为 500。"


def test_adding_moving_and_removing_through_the_callbacks_redraws_the_editor():
    values = [*sliders(AugSpec(samples=2)), []]
    pipeline, editor, *shown = explore_events.on_add_step("en", None, None, "RandomInvert", *values)
    assert ops_of(pipeline) == ["RandomInvert"] and editor["steps"] == pipeline
    values[-1] = pipeline
    pipeline, second, *_ = explore_events.on_add_step("en", None, None, "MixUp", *values)
    assert second["version"] > editor["version"]
    values[-1] = pipeline
    moved = explore_events.structure_handler(0, "down")("en", None, None, *values)
    assert ops_of(moved[0]) == ["RandomInvert", "MixUp"], "MixUp stays last"
    removed = explore_events.structure_handler(0, "remove")("en", None, None, *values)
    assert ops_of(removed[0]) == ["MixUp"]
    captions = grid_captions(removed)
    assert all("partner rocket" in caption and "× this picture +" in caption for caption in captions)


def test_histograms_of_a_pipeline_of_steps_hold_the_displacement_fields_to_a_budget():
    from augtune.service.explore_form import HISTOGRAM_DRAWS, histogram_draws

    elastic = AugSpec.from_dict({"steps": [{"op": "RandomApply", "p": 0.5, "transforms": [{"op": "ElasticTransform"}]}]})
    assert histogram_draws(elastic, (451, 300)) < HISTOGRAM_DRAWS
    assert histogram_draws(elastic, (4032, 3024)) == 4
    assert histogram_draws(PRESETS["augmix"], (4032, 3024)) == HISTOGRAM_DRAWS
    picture, status = explore_events.on_distributions("en", None, *sliders(), [{"op": "RandomRotation"}])
    assert picture.width > 200 and status == gr.skip()


def test_a_steps_histogram_key_names_the_same_step_whatever_a_coin_skipped():
    """A second RandomInvert is "RandomInvert#2" in every sample, also where RandomApply skipped the first one,
    and each key has its panel."""
    from augtune import sample_params
    from augtune.figures import _step_panels

    spec = AugSpec.from_dict({"steps": [{"op": "RandomApply", "p": 0.5, "transforms": [{"op": "RandomInvert"}]},
                                        {"op": "RandomInvert"}], "seed": 4})
    draws = sample_params((64, 48), spec, 40, spec.seed)
    skipped = [draw for draw in draws if not draw["RandomApply.applied"]]
    assert skipped and all("RandomInvert#2.applied" in draw and "RandomInvert.applied" not in draw for draw in skipped)
    panel_keys = {panel.key for panel in _step_panels(spec.steps)}
    assert panel_keys == {"RandomApply.applied", "RandomInvert.applied", "RandomInvert#2.applied"}
    assert all(set(draw) <= panel_keys for draw in draws)


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_added_in_the_editor_shows_a_grid_with_its_captions_and_code(name, locale):
    values = [*sliders(AugSpec(samples=3, seed=2)), [{"op": name, **EXAMPLES[name]}]]
    grid, original, legend, code, download, status = explore_events.on_change(locale, None, None, *values)
    captions = grid_captions([grid, original, legend, code, download, status])
    label = OPS[name].label[locale]
    assert len(captions) == 3 and all(label in caption for caption in captions), captions
    assert f"v2.{name}(" in code and not status.startswith("⚠")
